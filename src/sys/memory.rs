//! The init's own memory use, from /proc/self/status: the boot record reports its peak so that
//! a big image's fetch can be checked against the init's RAM budget.

/// The peak resident set size of this process in KiB (`VmHWM`), or `None` when /proc is not
/// mounted or the line is missing.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kib(&status)
}

/// `VmHWM:\t    1234 kB` → 1234. The kernel always writes the value in kB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim();
    value.strip_suffix("kB")?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm_in_kib() {
        let status =
            "Name:\tinit\nVmPeak:\t   12000 kB\nVmHWM:\t    3412 kB\nVmRSS:\t    3100 kB\n";
        for (text, want) in [
            (status, Some(3412)),
            ("VmHWM:\t0 kB\n", Some(0)),
            // A kernel thread has no Vm lines at all.
            ("Name:\tkthreadd\nState:\tS (sleeping)\n", None),
            ("VmHWM:\t    3412\n", None),
            ("VmHWM:\t  x kB\n", None),
            ("VmHWMX:\t 1 kB\n", None),
            ("", None),
        ] {
            assert_eq!(vm_hwm_kib(text), want, "{text:?}");
        }
        // The test process itself has one.
        assert!(peak_rss_kib().is_some_and(|k| k > 0));
    }
}
