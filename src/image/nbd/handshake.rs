//! The NBD protocol's fixed newstyle handshake, as bytes: what the client sends and what it
//! accepts from the server (the NBD project's doc/proto.md). Pure: the connection in
//! [`super`] reads and writes; this decides.
//!
//! The client asks with `NBD_OPT_GO` for the export's size and transmission flags (Debian's
//! nbd-server 3.24 answers `NBD_OPT_INFO` with size 0; `NBD_OPT_GO` gives the right one),
//! falling back to `NBD_OPT_EXPORT_NAME` for a server that does not know `NBD_OPT_GO`. A
//! server's reply is bounded before it is read ([`MAX_REPLY`]): a hostile server cannot make
//! PID 1 allocate much.

use crate::cmdline::nbd::MAX_NAME;

/// "NBDMAGIC", then "IHAVEOPT": a newstyle server's greeting.
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Every option reply starts with this.
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;

/// The greeting: two magics and the handshake flags.
pub const GREETING_LEN: usize = 18;
/// An option reply's header: magic, option, reply type, length.
pub const REPLY_HEADER_LEN: usize = 20;
/// The largest option reply payload read: an info reply is 12 or 14 bytes, a name or
/// description or an error's message at most [`MAX_NAME`] bytes plus its fields.
pub const MAX_REPLY: u32 = MAX_NAME as u32 + 16;
/// How many replies one `NBD_OPT_GO` may take before the server is given up on.
pub const MAX_REPLIES: usize = 16;
/// `NBD_OPT_EXPORT_NAME`'s reply: size and transmission flags, then 124 zero bytes unless
/// both sides agreed to `NO_ZEROES`.
pub const EXPORT_NAME_REPLY_LEN: usize = 10;
pub const EXPORT_NAME_ZEROES: usize = 124;

/// Handshake flags (server) and client flags.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;

pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_GO: u32 = 7;

const REP_ACK: u32 = 1;
const REP_INFO: u32 = 3;
const REP_ERR: u32 = 1 << 31;
const REP_ERR_UNSUP: u32 = REP_ERR | 1;

const INFO_EXPORT: u16 = 0;

/// Transmission flags: the kernel reads them; the node always adds `READ_ONLY`.
pub const TRANSMIT_HAS_FLAGS: u16 = 1 << 0;
pub const TRANSMIT_READ_ONLY: u16 = 1 << 1;

/// An export as the server describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Export {
    pub size: u64,
    /// The transmission flags.
    pub flags: u16,
}

/// What the server said that ends the handshake without an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("not an NBD server: its greeting starts {found:#018x}, not \"NBDMAGIC\"")]
    NotNbd { found: u64 },
    #[error(
        "an oldstyle NBD server (or one without \"IHAVEOPT\": {found:#018x}): only the newstyle \
         handshake is spoken"
    )]
    Oldstyle { found: u64 },
    #[error("the server does not offer the fixed newstyle handshake (flags {flags:#06x})")]
    NotFixedNewstyle { flags: u16 },
    #[error("a reply without the reply magic ({found:#018x})")]
    ReplyMagic { found: u64 },
    #[error("a reply to option {got} while option {sent} was asked")]
    WrongOption { sent: u32, got: u32 },
    #[error("a reply of {len} bytes: more than the {MAX_REPLY} a handshake reply may have")]
    TooLong { len: u32 },
    #[error("an export info reply of {len} bytes, too short")]
    ShortInfo { len: usize },
    #[error("the server refused the export: {kind}{message}")]
    Refused { kind: String, message: String },
    #[error("an unexpected reply type {kind:#x}")]
    Unexpected { kind: u32 },
    #[error("the server ended NBD_OPT_GO without the export's size")]
    NoSize,
    #[error("more than {MAX_REPLIES} replies to one option")]
    TooManyReplies,
}

fn be_u16(bytes: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    if let Some(src) = bytes.get(at..at + 2) {
        b.copy_from_slice(src);
    }
    u16::from_be_bytes(b)
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_be_bytes(b)
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_be_bytes(b)
}

/// The server's greeting; the handshake flags, which must offer the fixed newstyle.
pub fn parse_greeting(greeting: &[u8; GREETING_LEN]) -> Result<u16, HandshakeError> {
    let found = be_u64(greeting, 0);
    if found != NBDMAGIC {
        return Err(HandshakeError::NotNbd { found });
    }
    let found = be_u64(greeting, 8);
    if found != IHAVEOPT {
        return Err(HandshakeError::Oldstyle { found });
    }
    let flags = be_u16(greeting, 16);
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(HandshakeError::NotFixedNewstyle { flags });
    }
    Ok(flags)
}

/// The client's flags for the server's handshake `flags`: fixed newstyle, and no zeroes
/// when the server offers to skip them.
pub fn client_flags(flags: u16) -> [u8; 4] {
    u32::from(FLAG_FIXED_NEWSTYLE | (flags & FLAG_NO_ZEROES)).to_be_bytes()
}

fn option(option: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + data.len());
    out.extend_from_slice(&IHAVEOPT.to_be_bytes());
    out.extend_from_slice(&option.to_be_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// `NBD_OPT_GO` for `export` (empty: the default export), asking for no information beyond
/// what every server sends (`NBD_INFO_EXPORT`).
pub fn opt_go(export: &str) -> Vec<u8> {
    let name = export.as_bytes();
    let mut data = Vec::with_capacity(6 + name.len());
    data.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    data.extend_from_slice(name);
    data.extend_from_slice(&0u16.to_be_bytes());
    option(OPT_GO, &data)
}

/// `NBD_OPT_EXPORT_NAME`: the old way to pick an export, for servers without `NBD_OPT_GO`.
pub fn opt_export_name(export: &str) -> Vec<u8> {
    option(OPT_EXPORT_NAME, export.as_bytes())
}

/// An option reply's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    pub kind: u32,
    /// The payload's length, at most [`MAX_REPLY`].
    pub len: u32,
}

/// Checks a reply header: the magic, the option it answers, a payload length within bounds.
pub fn parse_reply_header(
    header: &[u8; REPLY_HEADER_LEN],
    sent: u32,
) -> Result<ReplyHeader, HandshakeError> {
    let found = be_u64(header, 0);
    if found != REPLY_MAGIC {
        return Err(HandshakeError::ReplyMagic { found });
    }
    let got = be_u32(header, 8);
    if got != sent {
        return Err(HandshakeError::WrongOption { sent, got });
    }
    let len = be_u32(header, 16);
    if len > MAX_REPLY {
        return Err(HandshakeError::TooLong { len });
    }
    Ok(ReplyHeader {
        kind: be_u32(header, 12),
        len,
    })
}

/// One reply to `NBD_OPT_GO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoReply {
    /// Information: the export's size and flags, or something else (a name, block sizes)
    /// the node does not need.
    Info(Option<Export>),
    /// The handshake is over; transmission starts.
    Done,
    /// The server does not know `NBD_OPT_GO`: ask with `NBD_OPT_EXPORT_NAME`.
    Unsupported,
}

/// Reads one reply to `NBD_OPT_GO`; an error reply ends the handshake with the server's
/// words.
pub fn go_reply(header: ReplyHeader, payload: &[u8]) -> Result<GoReply, HandshakeError> {
    match header.kind {
        REP_ACK => Ok(GoReply::Done),
        REP_INFO if be_u16(payload, 0) == INFO_EXPORT => {
            if payload.len() < 12 {
                return Err(HandshakeError::ShortInfo { len: payload.len() });
            }
            Ok(GoReply::Info(Some(Export {
                size: be_u64(payload, 2),
                flags: be_u16(payload, 10),
            })))
        }
        REP_INFO => Ok(GoReply::Info(None)),
        REP_ERR_UNSUP => Ok(GoReply::Unsupported),
        kind if kind & REP_ERR != 0 => Err(HandshakeError::Refused {
            kind: error_name(kind),
            message: server_message(payload),
        }),
        kind => Err(HandshakeError::Unexpected { kind }),
    }
}

/// `NBD_OPT_EXPORT_NAME`'s reply.
pub fn export_name_reply(reply: &[u8; EXPORT_NAME_REPLY_LEN]) -> Export {
    Export {
        size: be_u64(reply, 0),
        flags: be_u16(reply, 8),
    }
}

/// The NBD protocol's names for the error replies.
fn error_name(kind: u32) -> String {
    match kind & !REP_ERR {
        1 => "unsupported option".to_owned(),
        2 => "not allowed by the server's policy".to_owned(),
        3 => "invalid request".to_owned(),
        4 => "not supported on this platform".to_owned(),
        5 => "TLS required".to_owned(),
        6 => "unknown export".to_owned(),
        7 => "the server is shutting down".to_owned(),
        8 => "block size negotiation required".to_owned(),
        9 => "request too big".to_owned(),
        n => format!("error {n}"),
    }
}

/// An error reply's message, as text for a log line: printable, at most 200 bytes.
fn server_message(payload: &[u8]) -> String {
    let mut text = String::new();
    for c in String::from_utf8_lossy(payload)
        .chars()
        .filter(|c| !c.is_control())
    {
        if text.len() + c.len_utf8() > 200 {
            break;
        }
        text.push(c);
    }
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text:?})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting(first: u64, second: u64, flags: u16) -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[..8].copy_from_slice(&first.to_be_bytes());
        g[8..16].copy_from_slice(&second.to_be_bytes());
        g[16..].copy_from_slice(&flags.to_be_bytes());
        g
    }

    fn header(option: u32, kind: u32, len: u32) -> [u8; REPLY_HEADER_LEN] {
        let mut h = [0u8; REPLY_HEADER_LEN];
        h[..8].copy_from_slice(&REPLY_MAGIC.to_be_bytes());
        h[8..12].copy_from_slice(&option.to_be_bytes());
        h[12..16].copy_from_slice(&kind.to_be_bytes());
        h[16..].copy_from_slice(&len.to_be_bytes());
        h
    }

    #[test]
    fn greetings() {
        // nbd-server 3.24's: fixed newstyle and no zeroes.
        assert_eq!(parse_greeting(&greeting(NBDMAGIC, IHAVEOPT, 3)), Ok(3));
        assert_eq!(client_flags(3), [0, 0, 0, 3]);
        assert_eq!(client_flags(1), [0, 0, 0, 1]);
        let cases = [
            (
                greeting(0x4854_5450_2f31_2e31, IHAVEOPT, 3),
                "not an NBD server",
            ),
            // Oldstyle servers send a constant and the size where IHAVEOPT goes.
            (greeting(NBDMAGIC, 0x0000_4202_8186_1253, 3), "oldstyle"),
            (greeting(NBDMAGIC, IHAVEOPT, 2), "fixed newstyle"),
        ];
        for (bytes, want) in cases {
            let err = parse_greeting(&bytes).expect_err(want).to_string();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn options_on_the_wire() {
        let go = opt_go("root");
        assert_eq!(&go[..8], b"IHAVEOPT");
        assert_eq!(&go[8..12], &[0, 0, 0, 7]);
        assert_eq!(&go[12..16], &[0, 0, 0, 10]);
        assert_eq!(&go[16..20], &[0, 0, 0, 4]);
        assert_eq!(&go[20..24], b"root");
        assert_eq!(&go[24..], &[0, 0]);
        assert_eq!(go.len(), 26);
        let default = opt_go("");
        assert_eq!(&default[12..], &[0, 0, 0, 6, 0, 0, 0, 0, 0, 0]);
        let old = opt_export_name("root");
        assert_eq!(&old[8..16], &[0, 0, 0, 1, 0, 0, 0, 4]);
        assert_eq!(&old[16..], b"root");
    }

    /// nbd-server 3.24's answer to NBD_OPT_GO for a 1 MiB read-only export, then the
    /// errors and the replies the node skips.
    #[test]
    fn replies_to_go() {
        let info = header(OPT_GO, REP_INFO, 12);
        let h = parse_reply_header(&info, OPT_GO).expect("header");
        assert_eq!(h, ReplyHeader { kind: 3, len: 12 });
        let payload = [0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x43];
        assert_eq!(
            go_reply(h, &payload),
            Ok(GoReply::Info(Some(Export {
                size: 1 << 20,
                flags: 0x143
            })))
        );
        let ack = parse_reply_header(&header(OPT_GO, REP_ACK, 0), OPT_GO).expect("ack");
        assert_eq!(go_reply(ack, &[]), Ok(GoReply::Done));
        // NBD_INFO_BLOCK_SIZE (type 3): not needed, skipped.
        let block = ReplyHeader { kind: 3, len: 14 };
        assert_eq!(
            go_reply(block, &[0, 3, 0, 0, 2, 0, 0, 0, 16, 0, 0, 0, 0x80, 0]),
            Ok(GoReply::Info(None))
        );
        let unsup = ReplyHeader {
            kind: REP_ERR_UNSUP,
            len: 0,
        };
        assert_eq!(go_reply(unsup, &[]), Ok(GoReply::Unsupported));
        let unknown = ReplyHeader {
            kind: REP_ERR | 6,
            len: 14,
        };
        let err = go_reply(unknown, b"Export unknown").expect_err("refused");
        assert_eq!(
            err.to_string(),
            "the server refused the export: unknown export (\"Export unknown\")"
        );
        let tls = ReplyHeader {
            kind: REP_ERR | 5,
            len: 0,
        };
        assert_eq!(
            go_reply(tls, &[]).expect_err("tls").to_string(),
            "the server refused the export: TLS required"
        );
        let short = ReplyHeader { kind: 3, len: 4 };
        assert!(matches!(
            go_reply(short, &[0, 0, 0, 0]),
            Err(HandshakeError::ShortInfo { len: 4 })
        ));
        let odd = ReplyHeader { kind: 9, len: 0 };
        assert!(matches!(
            go_reply(odd, &[]),
            Err(HandshakeError::Unexpected { kind: 9 })
        ));
    }

    #[test]
    fn reply_headers_are_held_to_the_option_and_a_bound() {
        let mut bad_magic = header(OPT_GO, REP_ACK, 0);
        bad_magic[0] = 0xff;
        assert!(matches!(
            parse_reply_header(&bad_magic, OPT_GO),
            Err(HandshakeError::ReplyMagic { .. })
        ));
        assert_eq!(
            parse_reply_header(&header(6, REP_ACK, 0), OPT_GO),
            Err(HandshakeError::WrongOption { sent: 7, got: 6 })
        );
        assert_eq!(
            parse_reply_header(&header(OPT_GO, REP_INFO, u32::MAX), OPT_GO),
            Err(HandshakeError::TooLong { len: u32::MAX })
        );
        assert!(parse_reply_header(&header(OPT_GO, REP_INFO, MAX_REPLY), OPT_GO).is_ok());
    }

    #[test]
    fn export_name_replies_and_messages() {
        let mut reply = [0u8; EXPORT_NAME_REPLY_LEN];
        reply[..8].copy_from_slice(&4096u64.to_be_bytes());
        reply[8..].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            export_name_reply(&reply),
            Export {
                size: 4096,
                flags: 3
            }
        );
        assert_eq!(server_message(b"a\x1b[31mb\n"), " (\"a[31mb\")");
        assert_eq!(server_message(&[b'x'; 300]).len(), 200 + 5);
        // Not UTF-8: each bad byte is a 3-byte replacement character, still within 200 bytes.
        assert_eq!(server_message(&[0xe7; 300]).len(), 198 + 5);
        assert_eq!(error_name(REP_ERR | 99), "error 99");
    }
}
