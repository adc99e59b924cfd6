//! What PID 1 does when the boot cannot go on: say so plainly, then open a shell
//! (`rd.shell=1`, when the image carries one) or reboot, power off or halt
//! (`rd.emergency=`, default reboot so an unattended node tries again). It never returns.
//!
//! Nothing here may panic or return: a panic in PID 1 aborts, and the kernel panics when its
//! init dies. So the console is written without `eprintln!` (which panics when the write
//! fails), a panic of the main thread ends here too, and a panic in a worker thread is
//! reported to whoever waits for that worker ([`worker::spawn`]) instead of ending the boot
//! from a thread the boot does not wait on.

use std::io::{self, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cmdline::config::{EmergencyAction, FailurePolicy};
use crate::sys::{self, PowerAction};
use crate::worker;

const SHELL: &str = "/bin/sh";
const COUNTDOWN: Duration = Duration::from_secs(5);

static POLICY: OnceLock<FailurePolicy> = OnceLock::new();
/// Set by the first [`fatal`]: the boot stops at its next step ([`stop_if_failed`]).
static FAILED: AtomicBool = AtomicBool::new(false);

/// Remembers the policy for [`fatal`] calls, panics included. The first call wins.
pub fn set_policy(policy: FailurePolicy) {
    let _ = POLICY.set(policy);
}

/// Writes a line to the console and ignores failure: there is nowhere else to say it, and a
/// failed write must not become a panic inside the failure path.
pub fn say(out: &mut dyn Write, line: &str) {
    let _ = out.write_all(format!("diskless: {line}\n").as_bytes());
    let _ = out.flush();
}

fn console(line: &str) {
    say(&mut io::stderr(), line);
}

/// Routes panics to the same place as every other fatal error. With `panic = "abort"` the
/// hook runs before the abort, and it never returns, so PID 1 never dies. Outside PID 1
/// (tests, the modprobe helper) a panic that no worker report takes is left to the default
/// hook.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let message = format!("{message}{location}");
        if let Some(report) = worker::take_panic_report() {
            let thread = std::thread::current();
            log::error!(
                "thread {} panicked: {message}",
                thread.name().unwrap_or("(unnamed)")
            );
            report(message);
            // Its work is abandoned. With `panic = "abort"` (the init's release build)
            // returning would abort PID 1, so the thread waits for good; where panics unwind,
            // the unwinding ends the thread (and parking would hold the hook's lock).
            #[cfg(panic = "abort")]
            loop {
                std::thread::park();
            }
            #[cfg(not(panic = "abort"))]
            return;
        }
        if std::process::id() == 1 {
            fatal("panic", &message);
        }
        default_hook(info);
    }));
}

/// Called between steps: once [`fatal`] runs in another thread, the boot goes no further.
pub fn stop_if_failed() {
    if FAILED.load(Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// Prints `diskless: FATAL <step>: <cause>` on the console and in kmsg, then follows the
/// policy. Never returns; a second caller (another thread) waits here for good.
pub fn fatal(step: &str, cause: &str) -> ! {
    if FAILED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    let policy = POLICY.get().copied().unwrap_or_default();
    console(&format!("FATAL {step}: {cause}"));
    log::error!("FATAL {step}: {cause}");
    if policy.shell {
        if Path::new(SHELL).exists() {
            run_shell();
        } else {
            console(&format!(
                "rd.shell=1 but this image has no {SHELL} (build it with `cargo xtask initrd --shell /bin/busybox`)"
            ));
        }
    }
    let (verb, action) = match policy.action {
        EmergencyAction::Reboot => ("rebooting", PowerAction::Reboot),
        EmergencyAction::Poweroff => ("powering off", PowerAction::PowerOff),
        EmergencyAction::Halt => ("halting", PowerAction::Halt),
    };
    console(&format!(
        "{verb} in {} s (rd.emergency=reboot|poweroff|halt; rd.shell=1 opens a shell instead)",
        COUNTDOWN.as_secs()
    ));
    std::thread::sleep(COUNTDOWN);
    let err = sys::power(action);
    console(&format!("{verb} failed: {err}; stopping here"));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn run_shell() {
    console(
        "opening a rescue shell; `dmesg | grep diskless` shows what happened; exit to continue with rd.emergency",
    );
    match std::process::Command::new(SHELL)
        .env("PS1", "diskless# ")
        .status()
    {
        Ok(status) => console(&format!("rescue shell exited ({status})")),
        Err(err) => console(&format!("cannot start {SHELL}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A console that fails every write, as a console without a device does.
    struct Unwritable;

    impl Write for Unwritable {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(nix::libc::EIO))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(nix::libc::EIO))
        }
    }

    #[test]
    fn a_failing_console_is_not_a_panic() {
        say(&mut Unwritable, "FATAL cmdline: nobody reads this");
        let mut seen = Vec::new();
        say(&mut seen, "FATAL fetch: why");
        assert_eq!(seen, b"diskless: FATAL fetch: why\n");
    }

    /// The DHCP workers' case: a panic in a worker reaches the thread that waits for it, as
    /// a message, and the worker never returns to the boot.
    #[test]
    fn a_panicking_worker_reports_to_whoever_waits_for_it() {
        install_panic_hook();
        let (tx, rx) = mpsc::channel();
        let (done, returned) = mpsc::channel();
        worker::spawn(
            "worker-test".to_owned(),
            move || {
                let empty: Vec<u8> = Vec::new();
                // An out-of-bounds index, as a bug in a parser would make.
                let byte = empty.get(3).copied().map(u32::from);
                let _ = done.send(byte.expect("a fourth byte"));
            },
            move |message| {
                let _ = tx.send(message);
            },
        )
        .expect("spawning a thread");
        let message = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the panic is reported");
        assert!(message.contains("a fourth byte"), "{message}");
        assert!(message.contains("emergency.rs"), "{message}");
        assert!(
            returned.recv_timeout(Duration::from_millis(200)).is_err(),
            "the worker must not go on after its panic"
        );
    }
}
