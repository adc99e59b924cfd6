//! A `log` backend writing to /dev/kmsg, so `dmesg` tells the whole story of a boot.
//!
//! Each record is one write(2) of `<N>diskless: message\n` (N = syslog level), cut below the
//! kernel's 1 KiB limit on a character boundary. The kernel rate-limits writers of /dev/kmsg
//! (10 lines per 5 s per open file) unless `printk.devkmsg=on`; [`KmsgGuard`] lifts that
//! for the initramfs stage and puts the admin's setting back before the real init runs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

/// The kernel rejects longer writes to /dev/kmsg (LOG_LINE_MAX is 1024 minus the prefix).
const MAX_LINE: usize = 1000;
const PREFIX: &str = "diskless: ";
const DEVKMSG_SYSCTL: &str = "/proc/sys/kernel/printk_devkmsg";
const PRINTK_SYSCTL: &str = "/proc/sys/kernel/printk";

/// Formats one record as the bytes written to /dev/kmsg.
pub fn format_line(level: log::Level, message: &str) -> Vec<u8> {
    let priority = match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    };
    let mut line = format!("<{priority}>{PREFIX}");
    // Newlines would split one record into several kmsg entries with no prefix.
    let flat: String = message
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let room = MAX_LINE - line.len() - 1;
    let mut cut = flat.len().min(room);
    while !flat.is_char_boundary(cut) {
        cut -= 1;
    }
    line.push_str(&flat[..cut]);
    line.push('\n');
    line.into_bytes()
}

/// The logger: /dev/kmsg when it can be opened, else standard error (the console). Its
/// level is the `log` crate's one global level, so raising that (`rd.debug`) is enough.
pub struct KmsgLogger {
    sink: Mutex<Option<Box<dyn Write + Send>>>,
}

impl KmsgLogger {
    /// A logger writing kmsg lines to `sink` (standard error when `None`).
    pub fn new(sink: Option<Box<dyn Write + Send>>) -> KmsgLogger {
        KmsgLogger {
            sink: Mutex::new(sink),
        }
    }

    /// Installs the logger on /dev/kmsg at `level`. Safe to call once; later calls are
    /// ignored.
    pub fn install(level: log::LevelFilter) {
        let kmsg = OpenOptions::new().write(true).open("/dev/kmsg").ok();
        let logger =
            KmsgLogger::new(kmsg.map(|file: File| Box::new(file) as Box<dyn Write + Send>));
        if log::set_boxed_logger(Box::new(logger)).is_ok() {
            log::set_max_level(level);
        }
    }
}

impl log::Log for KmsgLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), &record.args().to_string());
        let mut sink = self
            .sink
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let written = sink.as_mut().map(|file| file.write_all(&line));
        if !matches!(written, Some(Ok(()))) {
            // No kmsg (or it failed): the console is the next best witness.
            let text = String::from_utf8_lossy(&line);
            let _ = io::stderr().write_all(
                text.trim_start_matches(|c: char| c != '>')
                    .trim_start_matches('>')
                    .as_bytes(),
            );
        }
    }

    fn flush(&self) {}
}

/// The kernel's logging settings for the initramfs stage: the /dev/kmsg rate limit off, and
/// with `rd.debug` the console showing debug lines too. [`KmsgGuard::restore`] puts the
/// admin's settings back before the real init runs (a rate limit pinned on the command line
/// with `printk.devkmsg=` stays as it is).
#[derive(Debug)]
pub struct KmsgGuard {
    devkmsg: Option<String>,
    /// The console log level before `rd.debug` raised it.
    console_level: Option<String>,
}

impl KmsgGuard {
    pub fn lift() -> KmsgGuard {
        let path = Path::new(DEVKMSG_SYSCTL);
        let devkmsg = std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned());
        if devkmsg.as_deref() == Some("ratelimit") {
            // The kernel wants the trailing newline; this fails harmlessly when
            // printk.devkmsg= on the command line locked the setting.
            let _ = crate::sys::write_existing(path, b"on\n");
        }
        KmsgGuard {
            devkmsg,
            console_level: None,
        }
    }

    /// `rd.debug`: the console prints debug lines (level 7) too, as dracut's does.
    pub fn show_debug_on_console(&mut self) {
        let printk = Path::new(PRINTK_SYSCTL);
        let Some(level) = std::fs::read_to_string(printk)
            .ok()
            .and_then(|text| console_level(&text))
        else {
            return;
        };
        if crate::sys::write_existing(printk, b"8\n").is_ok() {
            self.console_level = Some(level);
        }
    }

    pub fn restore(&self) {
        if self.devkmsg.as_deref() == Some("ratelimit") {
            let _ = crate::sys::write_existing(Path::new(DEVKMSG_SYSCTL), b"ratelimit\n");
        }
        if let Some(level) = &self.console_level {
            let _ = crate::sys::write_existing(
                Path::new(PRINTK_SYSCTL),
                format!("{level}\n").as_bytes(),
            );
        }
    }
}

/// The console log level: the first of the four numbers in `/proc/sys/kernel/printk`.
fn console_level(printk: &str) -> Option<String> {
    printk
        .split_whitespace()
        .next()
        .filter(|level| !level.is_empty() && level.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log as _;
    use std::sync::Arc;

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// `rd.debug` raises the global level; the logger must follow it, not keep its own.
    #[test]
    fn debug_lines_pass_once_the_global_level_allows_them() {
        let seen = Shared::default();
        let logger = KmsgLogger::new(Some(Box::new(seen.clone())));
        let debug = |text: &str| {
            logger.log(
                &log::Record::builder()
                    .level(log::Level::Debug)
                    .args(format_args!("{text}"))
                    .build(),
            )
        };
        log::set_max_level(log::LevelFilter::Info);
        debug("hidden");
        log::set_max_level(log::LevelFilter::Debug);
        debug("dhcp: eth0: packet socket on ifindex 2");
        let text = String::from_utf8(seen.0.lock().expect("lock").clone()).expect("utf8");
        assert_eq!(
            text,
            "<7>diskless: dhcp: eth0: packet socket on ifindex 2\n"
        );
    }

    #[test]
    fn the_console_level_is_the_first_printk_number() {
        assert_eq!(console_level("4\t4\t1\t7\n").as_deref(), Some("4"));
        assert_eq!(console_level("15 4 1 7").as_deref(), Some("15"));
        assert_eq!(console_level(""), None);
        assert_eq!(console_level("x 4 1 7"), None);
    }

    #[test]
    fn lines_carry_priority_and_prefix() {
        let cases = [
            (log::Level::Error, "boom", "<3>diskless: boom\n"),
            (log::Level::Warn, "careful", "<4>diskless: careful\n"),
            (
                log::Level::Info,
                "mounting /proc",
                "<6>diskless: mounting /proc\n",
            ),
            (log::Level::Debug, "detail", "<7>diskless: detail\n"),
            (log::Level::Info, "two\nlines", "<6>diskless: two lines\n"),
        ];
        for (level, message, expected) in cases {
            assert_eq!(
                String::from_utf8(format_line(level, message)).expect("utf8"),
                expected
            );
        }
    }

    #[test]
    fn long_lines_are_cut_below_the_kernel_limit_on_a_char_boundary() {
        let message = "é".repeat(2000);
        let line = format_line(log::Level::Info, &message);
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        assert!(String::from_utf8(line.clone()).is_ok());
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
