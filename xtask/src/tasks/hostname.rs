//! `cargo xtask hostname [--template T] [MAC...]`: the host names nodes will take.
//!
//! Prints `MAC  NAME` per MAC with the same code the init uses, so an admin can check a
//! template against the inventory before booting, and warns about MACs that would share a
//! name. Reads MACs from stdin (one per line) when none are given.

use anyhow::{Context, Result, bail};
use diskless::identity::{HostnameTemplate, Mac};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::io::{BufRead, IsTerminal, Write};

const HELP: &str = "\
cargo xtask hostname: print the host names nodes will take for their MACs

usage: cargo xtask hostname [--template T] [MAC...]

Prints `MAC  NAME` for each MAC, as the init names the node. Without MACs, reads them
from stdin, one per line (blank lines and lines starting with # are skipped), so a list
can be piped in. Two MACs that get the same name are reported on stderr with a WARNING
line per name (the exit status stays 0).

options:
  -t, --template T   host name template (default: worker-{sha1:6}); placeholders:
                     {sha1:N}  first N hex digits of sha1 over the MAC as sysfs shows it
                     {mac}     the MAC as 12 hex digits
                     the template `dhcp` means the DHCP name, else the default template
  -h, --help         this text

MACs: aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabbccddeeff, any case.
";

#[derive(Debug, PartialEq, Eq)]
enum Invocation {
    Help,
    Names { template: String, macs: Vec<String> },
}

fn parse_args(args: Vec<OsString>) -> Result<Invocation> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut template = None;
    let mut macs = Vec::new();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('t') | Long("template") => {
                let value = parser.value()?.string().context("reading --template")?;
                template = Some(value);
            }
            Value(mac) => macs.push(mac.string().context("reading a MAC argument")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let template = template.unwrap_or_else(|| HostnameTemplate::DEFAULT.to_owned());
    Ok(Invocation::Names { template, macs })
}

pub fn run(args: Vec<OsString>) -> Result<()> {
    let (template, mac_args) = match parse_args(args)? {
        Invocation::Help => {
            print!("{HELP}");
            return Ok(());
        }
        Invocation::Names { template, macs } => (template, macs),
    };
    let template = HostnameTemplate::parse(&template)?;

    let inputs: Vec<(String, String)> = if mac_args.is_empty() {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("reading MACs from stdin, one per line (end with Ctrl-D); --help for usage");
        }
        read_mac_lines(stdin.lock())?
    } else {
        mac_args
            .into_iter()
            .map(|m| (format!("argument {m:?}"), m))
            .collect()
    };

    let mut rows = Vec::with_capacity(inputs.len());
    for (origin, text) in &inputs {
        let mac: Mac = text.parse().with_context(|| origin.clone())?;
        let name = template
            .render(&mac, None)
            .with_context(|| format!("naming {mac} with template {:?}", template.as_str()))?;
        rows.push((mac, name));
    }

    let mut out = std::io::stdout().lock();
    out.write_all(format_rows(&rows).as_bytes())
        .context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    for (name, macs) in collisions(&rows) {
        eprintln!("{}", collision_warning(&name, &macs));
    }
    Ok(())
}

/// Non-empty, non-comment lines of `input` with where each came from (`line N`).
fn read_mac_lines(input: impl BufRead) -> Result<Vec<(String, String)>> {
    let mut macs = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.context("reading MACs from stdin")?;
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        macs.push((format!("stdin line {}", i + 1), text.to_owned()));
    }
    if macs.is_empty() {
        bail!("no MACs given (as arguments or on stdin); see --help");
    }
    Ok(macs)
}

/// `MAC  NAME` lines, in input order.
fn format_rows<K: Display>(rows: &[(K, String)]) -> String {
    rows.iter()
        .map(|(mac, name)| format!("{mac}  {name}\n"))
        .collect()
}

/// Names given to more than one distinct MAC, each with its MACs in input order; names in
/// order. The same MAC listed twice is not a collision.
fn collisions<K: PartialEq + Clone>(rows: &[(K, String)]) -> Vec<(String, Vec<K>)> {
    let mut by_name: BTreeMap<&str, Vec<K>> = BTreeMap::new();
    for (mac, name) in rows {
        let macs = by_name.entry(name.as_str()).or_default();
        if !macs.contains(mac) {
            macs.push(mac.clone());
        }
    }
    by_name
        .into_iter()
        .filter(|(_, macs)| macs.len() > 1)
        .map(|(name, macs)| (name.to_owned(), macs))
        .collect()
}

fn collision_warning<K: Display>(name: &str, macs: &[K]) -> String {
    let list: Vec<String> = macs.iter().map(ToString::to_string).collect();
    format!(
        "WARNING: {} MACs get the same host name {name:?}: {} \
         (use more digits in {{sha1:N}}, or {{mac}})",
        macs.len(),
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_give_template_and_macs() {
        assert_eq!(
            parse_args(os(&[
                "--template",
                "n-{mac}",
                "52:54:00:12:34:56",
                "aa-bb-cc-dd-ee-ff"
            ]))
            .expect("valid"),
            Invocation::Names {
                template: "n-{mac}".into(),
                macs: vec!["52:54:00:12:34:56".into(), "aa-bb-cc-dd-ee-ff".into()],
            }
        );
        assert_eq!(
            parse_args(os(&["-t=x-{sha1:8}"])).expect("valid"),
            Invocation::Names {
                template: "x-{sha1:8}".into(),
                macs: vec![]
            }
        );
        assert_eq!(
            parse_args(os(&[])).expect("valid"),
            Invocation::Names {
                template: HostnameTemplate::DEFAULT.into(),
                macs: vec![]
            }
        );
        assert_eq!(
            parse_args(os(&["a", "--help"])).expect("valid"),
            Invocation::Help
        );
        assert!(parse_args(os(&["--tempalte", "x"])).is_err());
        assert!(parse_args(os(&["--template"])).is_err());
    }

    #[test]
    fn stdin_lines_skip_blanks_and_comments_and_say_where_they_came_from() {
        let input = "# rack 1\n52:54:00:12:34:56\n\n  aa-bb-cc-dd-ee-ff  \n";
        assert_eq!(
            read_mac_lines(input.as_bytes()).expect("has MACs"),
            [
                ("stdin line 2".to_owned(), "52:54:00:12:34:56".to_owned()),
                ("stdin line 4".to_owned(), "aa-bb-cc-dd-ee-ff".to_owned()),
            ]
        );
        assert!(read_mac_lines("# nothing\n\n".as_bytes()).is_err());
    }

    #[test]
    fn rows_are_mac_two_spaces_name() {
        let rows = [
            ("52:54:00:12:34:56", "worker-64e59a".to_owned()),
            ("b", "y".to_owned()),
        ];
        assert_eq!(
            format_rows(&rows),
            "52:54:00:12:34:56  worker-64e59a\nb  y\n"
        );
    }

    #[test]
    fn collisions_group_distinct_macs_by_name() {
        let rows = [
            ("m1", "a".to_owned()),
            ("m2", "b".to_owned()),
            ("m3", "a".to_owned()),
            ("m2", "b".to_owned()),
            ("m4", "c".to_owned()),
            ("m5", "c".to_owned()),
            ("m6", "a".to_owned()),
        ];
        assert_eq!(
            collisions(&rows),
            [
                ("a".to_owned(), vec!["m1", "m3", "m6"]),
                ("c".to_owned(), vec!["m4", "m5"]),
            ]
        );
        assert_eq!(
            collision_warning("a", &["m1", "m3"]),
            "WARNING: 2 MACs get the same host name \"a\": m1, m3 \
             (use more digits in {sha1:N}, or {mac})"
        );
    }
}
