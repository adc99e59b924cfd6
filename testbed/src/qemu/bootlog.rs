//! The serial console of a finished boot: its lines, markers and values, as tests read them.

use super::*;

/// The serial console of one boot.
#[derive(Debug, Clone)]
pub struct BootLog {
    /// Console lines (without line endings) with the host time, in seconds since QEMU was
    /// started, at which each line was complete.
    pub lines: Vec<(f64, String)>,
    /// The timeout hit and QEMU was killed.
    pub timed_out: bool,
    /// QEMU's exit status when it exited on its own (the guest powered off or rebooted);
    /// `None` when the test bed killed it (timeout or stop marker).
    pub exit: Option<ExitStatus>,
    /// The stop marker whose line ended the run.
    pub stopped_at: Option<String>,
    /// What QEMU wrote to stderr (its own warnings and errors, not the guest's).
    pub stderr: String,
    /// Where the full log was written.
    pub log_path: PathBuf,
    /// Wall time from launch to the end of the run.
    pub elapsed: Duration,
}

impl BootLog {
    /// Whether any console line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|(_, l)| l.contains(needle))
    }

    /// The first console line starting with `prefix` (the whole line).
    pub fn line_starting(&self, prefix: &str) -> Option<&str> {
        self.lines
            .iter()
            .map(|(_, l)| l.as_str())
            .find(|l| l.starts_with(prefix))
    }

    /// The value of the first `KEY=value` line the guest printed for `key`.
    pub fn value(&self, key: &str) -> Option<String> {
        self.lines.iter().find_map(|(_, l)| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_owned)
        })
    }

    /// Every line starting with `prefix`, with the prefix removed, in order: for the checker's
    /// blocks, such as `prefixed("ROOT-MOUNT: ")`.
    pub fn prefixed(&self, prefix: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|(_, l)| l.strip_prefix(prefix))
            .collect()
    }

    /// Host seconds since launch of the first line containing `needle`.
    pub fn time_of(&self, needle: &str) -> Option<f64> {
        self.lines
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(t, _)| *t)
    }

    /// The guest ended the run itself (power-off or reboot) and QEMU exited cleanly.
    pub fn exited_cleanly(&self) -> bool {
        self.exit.is_some_and(|s| s.success())
    }

    /// The last `n` console lines with their timestamps, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let skip = self.lines.len().saturating_sub(n);
        let mut out = String::new();
        for (t, line) in &self.lines[skip..] {
            out.push_str(&format!("[{t:8.3}] {line}\n"));
        }
        out
    }

    /// Panics, showing the end of the console, unless a line contains `needle`.
    #[track_caller]
    pub fn assert_contains(&self, needle: &str) {
        if !self.contains(needle) {
            panic!(
                "{}",
                self.failure_report(&format!("the console never showed {needle:?}"))
            );
        }
    }

    /// Panics, showing the end of the console, if a line contains `needle`.
    #[track_caller]
    pub fn assert_not_contains(&self, needle: &str) {
        if self.contains(needle) {
            panic!(
                "{}",
                self.failure_report(&format!("the console showed {needle:?}"))
            );
        }
    }

    /// A description of the run for a failed assertion: what was wrong, how the run ended,
    /// the last console lines, QEMU's stderr, and where the full log is.
    pub fn failure_report(&self, what: &str) -> String {
        let shown = self.lines.len().min(TAIL_LINES);
        let mut out = format!(
            "{what}\nrun: {} after {:.1} s\n--- last {shown} of {} console lines ---\n{}",
            self.outcome(),
            self.elapsed.as_secs_f64(),
            self.lines.len(),
            self.tail(TAIL_LINES)
        );
        if !self.stderr.trim().is_empty() {
            out.push_str(&format!(
                "--- QEMU stderr ---\n{}\n",
                self.stderr.trim_end()
            ));
        }
        out.push_str(&format!("--- full log: {} ---", self.log_path.display()));
        out
    }

    /// How the run ended, in words.
    pub fn outcome(&self) -> String {
        match (&self.stopped_at, self.timed_out, self.exit) {
            (Some(marker), _, _) => format!("stopped at {marker:?}"),
            (None, true, _) => "TIMED OUT".to_owned(),
            (None, false, Some(status)) => format!("QEMU exited ({status})"),
            (None, false, None) => "ended".to_owned(),
        }
    }
}

/// Splits `line` before every kernel message (`[    3.664486] ...`) glued to the end of
/// another program's output.
pub fn split_kernel_messages(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let mut starts = vec![0];
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        // After white space it is a program printing a stamp (`ROOT-DMESG: [ 1.0] ...`).
        if b == b'[' && !bytes[i - 1].is_ascii_whitespace() && is_kernel_stamp(&bytes[i..]) {
            starts.push(i);
        }
    }
    starts.push(line.len());
    starts
        .windows(2)
        .map(|w| &line[w[0]..w[1]])
        .filter(|part| !part.is_empty())
        .collect()
}

/// `[`, optional spaces, digits, `.`, six digits, `] `: the printk timestamp.
fn is_kernel_stamp(bytes: &[u8]) -> bool {
    let mut i = 1;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || bytes.get(i + digits) != Some(&b'.') {
        return false;
    }
    let frac = i + digits + 1;
    let micros = bytes.get(frac..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    });
    micros == 6 && bytes.get(frac + 6) == Some(&b']')
}
