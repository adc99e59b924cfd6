//! What GNU long-name entries (`L` for a path, `K` for a link target) and a PAX extended
//! header (`x`) say about the entry after them, gathered record by record. The walker reads
//! each record only once its header's size is within [`Record::bound`], so nothing here
//! grows past [`MAX_LONG_NAME`] or [`MAX_PAX_HEADER`]; pure.

use super::policy::{MAX_LONG_NAME, MAX_PAX_HEADER, Refusal};

/// An extension record's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    LongName,
    LongLink,
    Pax,
}

impl Record {
    /// The record an entry of type `kind` carries, if it is one.
    pub fn of(kind: tar::EntryType) -> Option<Record> {
        if kind.is_gnu_longname() {
            Some(Record::LongName)
        } else if kind.is_gnu_longlink() {
            Some(Record::LongLink)
        } else if kind.is_pax_local_extensions() {
            Some(Record::Pax)
        } else {
            None
        }
    }

    /// What it is called in errors, and the most bytes it may have.
    pub fn bound(self) -> (&'static str, u64) {
        match self {
            Record::LongName => ("a GNU long name", MAX_LONG_NAME),
            Record::LongLink => ("a GNU long link name", MAX_LONG_NAME),
            Record::Pax => ("a PAX extended header", MAX_PAX_HEADER),
        }
    }
}

/// The records read since the last entry.
#[derive(Debug, Default)]
pub struct Extended {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Pax>,
}

/// The PAX keywords the walker uses; the rest (times, names, extended attributes) are
/// not kept.
#[derive(Debug, Default)]
struct Pax {
    path: Option<Vec<u8>>,
    linkpath: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

impl Extended {
    /// Adds one record's bytes (a long name without its NUL, as GNU tar reads it).
    pub fn add(&mut self, record: Record, mut data: Vec<u8>) -> Result<(), Refusal> {
        match record {
            Record::LongName | Record::LongLink => {
                let (slot, twice) = if record == Record::LongName {
                    (
                        &mut self.long_name,
                        "a second GNU long name for the same entry",
                    )
                } else {
                    (
                        &mut self.long_link,
                        "a second GNU long link name for the same entry",
                    )
                };
                if slot.is_some() {
                    return Err(Refusal::BadExtension(twice));
                }
                if data.last() == Some(&0) {
                    data.pop();
                }
                *slot = Some(data);
            }
            Record::Pax => {
                if self.pax.is_some() {
                    return Err(Refusal::BadExtension(
                        "a second PAX extended header for the same entry",
                    ));
                }
                self.pax = Some(parse_pax(&data)?);
            }
        }
        Ok(())
    }

    /// Whether any record waits for its entry.
    pub fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }

    /// The entry's path: the long name, else PAX's `path`, else the header's own.
    pub fn path<'a>(&'a self, header: &'a [u8]) -> &'a [u8] {
        self.long_name
            .as_deref()
            .or_else(|| self.pax.as_ref()?.path.as_deref())
            .unwrap_or(header)
    }

    /// The entry's link target, in the same order.
    pub fn link<'a>(&'a self, header: Option<&'a [u8]>) -> Option<&'a [u8]> {
        self.long_link
            .as_deref()
            .or_else(|| self.pax.as_ref()?.linkpath.as_deref())
            .or(header)
    }

    /// PAX's owner and group, which replace the header's.
    pub fn uid(&self) -> Option<u64> {
        self.pax.as_ref()?.uid
    }

    pub fn gid(&self) -> Option<u64> {
        self.pax.as_ref()?.gid
    }

    /// A PAX `size` must be the header's: the tar reader steps over the header's size, so
    /// taking another would read the contents from the wrong place.
    pub fn check_size(&self, header: u64) -> Result<(), Refusal> {
        match self.pax.as_ref().and_then(|p| p.size) {
            Some(size) if size != header => Err(Refusal::BadExtension(
                "a PAX size other than its header's (files over 8 GiB are not supported)",
            )),
            _ => Ok(()),
        }
    }
}

/// PAX records, `<length> <keyword>=<value>\n` each, the length counting the whole record
/// (a value may hold newlines). A later record replaces an earlier one of the same keyword.
fn parse_pax(mut data: &[u8]) -> Result<Pax, Refusal> {
    const MALFORMED: Refusal = Refusal::BadExtension(
        "a malformed PAX extended header (records are `<length> <keyword>=<value>` and a newline)",
    );
    const NOT_A_NUMBER: Refusal = Refusal::BadExtension(
        "a PAX extended header whose size, uid or gid is not a decimal number",
    );
    let number = |value: &[u8]| -> Result<u64, Refusal> {
        std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .ok_or(NOT_A_NUMBER)
    };
    let mut pax = Pax::default();
    // GNU tar pads the header's last block with NULs after the records.
    while data.first().is_some_and(|&b| b != 0) {
        let space = data.iter().position(|&b| b == b' ').ok_or(MALFORMED)?;
        let length: usize = std::str::from_utf8(data.get(..space).unwrap_or_default())
            .ok()
            .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|l| l.parse().ok())
            .ok_or(MALFORMED)?;
        let record = data
            .get(space + 1..length)
            .and_then(|r| r.strip_suffix(b"\n"))
            .ok_or(MALFORMED)?;
        let equals = record.iter().position(|&b| b == b'=').ok_or(MALFORMED)?;
        let (key, value) = (
            record.get(..equals).unwrap_or_default(),
            record.get(equals + 1..).unwrap_or_default(),
        );
        match key {
            b"path" => pax.path = Some(value.to_vec()),
            b"linkpath" => pax.linkpath = Some(value.to_vec()),
            b"size" => pax.size = Some(number(value)?),
            b"uid" => pax.uid = Some(number(value)?),
            b"gid" => pax.gid = Some(number(value)?),
            _ => {}
        }
        data = data.get(length..).unwrap_or_default();
    }
    Ok(pax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_are_counted_not_split_at_newlines() {
        let data = b"21 path=etc/a\nb.conf\n15 linkpath=/x\n12 uid=1000\n14 size=12345\n\
                     18 path=etc/later\n\0\0\0";
        let pax = parse_pax(data).expect("well formed");
        assert_eq!(pax.path.as_deref(), Some(&b"etc/later"[..]));
        assert_eq!(pax.linkpath.as_deref(), Some(&b"/x"[..]));
        assert_eq!(
            (pax.uid, pax.size, pax.gid),
            (Some(1000), Some(12345), None)
        );
        for bad in [
            &b"30 path=short\n"[..],
            b"5 path=x\n",
            b"x path=y\n",
            b"8 pathx\n",
            b"13 path=abc\nX",
            b" 9 a=b\n",
            b"10 uid=-1\n",
            b"99999999999999999999999 a=b\n",
        ] {
            assert!(parse_pax(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn records_apply_to_the_next_entry_once() {
        let mut ext = Extended::default();
        assert!(ext.is_empty());
        ext.add(Record::LongName, b"etc/long\0".to_vec())
            .expect("a long name");
        ext.add(Record::Pax, b"16 path=etc/pax\n".to_vec())
            .expect("a PAX header");
        // GNU's long name wins over PAX's path, as GNU tar and the tar crate read them.
        assert_eq!(ext.path(b"short"), b"etc/long");
        assert_eq!(ext.link(Some(b"header")), Some(&b"header"[..]));
        assert!(
            ext.add(Record::LongName, b"again".to_vec()).is_err(),
            "two long names"
        );
        assert!(ext.add(Record::Pax, Vec::new()).is_err(), "two PAX headers");
        assert!(ext.check_size(0).is_ok());
        let mut sized = Extended::default();
        sized
            .add(Record::Pax, b"9 size=5\n".to_vec())
            .expect("a size");
        assert!(sized.check_size(5).is_ok() && sized.check_size(6).is_err());
    }
}
