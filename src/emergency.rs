//! What PID 1 does when the boot cannot go on: say so plainly, then open a shell
//! (`rd.shell=1`, when the image carries one) or reboot, power off or halt
//! (`rd.emergency=`, default reboot so an unattended node tries again). It never returns.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::cmdline::Param;
use crate::config::{self, EmergencyAction};
use crate::sys;

const SHELL: &str = "/bin/sh";
const COUNTDOWN: Duration = Duration::from_secs(5);

/// The failure policy, read leniently from the raw command line: it must work even when the
/// rest of the command line is what failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub shell: bool,
    pub action: EmergencyAction,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            shell: false,
            action: EmergencyAction::Reboot,
        }
    }
}

impl Policy {
    /// Same rules as [`config::BootConfig`] (last occurrence wins), but an unreadable value
    /// keeps the default instead of failing: `config` reports it, and then we need a policy.
    pub fn from_params(params: &[Param]) -> Policy {
        let mut policy = Policy::default();
        for param in params {
            match param.key.as_str() {
                "rd.shell" => {
                    policy.shell =
                        config::parse_flag(param.value.as_deref()).unwrap_or(policy.shell)
                }
                "rd.emergency" => {
                    policy.action = param
                        .value
                        .as_deref()
                        .and_then(EmergencyAction::parse)
                        .unwrap_or(policy.action);
                }
                _ => {}
            }
        }
        policy
    }
}

static POLICY: OnceLock<Policy> = OnceLock::new();

/// Remembers the policy for [`fatal`] calls that come from a panic.
pub fn set_policy(policy: Policy) {
    let _ = POLICY.set(policy);
}

/// Routes panics to the same place as every other fatal error. With `panic = "abort"` the
/// hook runs before the abort, and it never returns, so PID 1 never dies.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
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
        fatal("panic", &format!("{message}{location}"));
    }));
}

/// Prints `diskless: FATAL <step>: <cause>` on the console and in kmsg, then follows the
/// policy. Never returns.
pub fn fatal(step: &str, cause: &str) -> ! {
    let policy = POLICY.get().copied().unwrap_or_default();
    eprintln!("diskless: FATAL {step}: {cause}");
    log::error!("FATAL {step}: {cause}");
    if policy.shell {
        if Path::new(SHELL).exists() {
            run_shell();
        } else {
            eprintln!(
                "diskless: rd.shell=1 but this image has no {SHELL} (build it with `cargo xtask initrd --shell /bin/busybox`)"
            );
        }
    }
    let verb = match policy.action {
        EmergencyAction::Reboot => "rebooting",
        EmergencyAction::Poweroff => "powering off",
        EmergencyAction::Halt => "halting",
    };
    eprintln!(
        "diskless: {verb} in {} s (rd.emergency=reboot|poweroff|halt; rd.shell=1 opens a shell instead)",
        COUNTDOWN.as_secs()
    );
    std::thread::sleep(COUNTDOWN);
    let err = sys::power(policy.action);
    eprintln!("diskless: {verb} failed: {err}; stopping here");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn run_shell() {
    eprintln!(
        "diskless: opening a rescue shell; `dmesg | grep diskless` shows what happened; exit to continue with rd.emergency"
    );
    match std::process::Command::new(SHELL)
        .env("PS1", "diskless# ")
        .status()
    {
        Ok(status) => eprintln!("diskless: rescue shell exited ({status})"),
        Err(err) => eprintln!("diskless: cannot start {SHELL}: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline;

    #[test]
    fn policy_follows_dracut_keys_and_defaults_to_reboot() {
        let cases = [
            (
                "",
                Policy {
                    shell: false,
                    action: EmergencyAction::Reboot,
                },
            ),
            (
                "rd.shell",
                Policy {
                    shell: true,
                    action: EmergencyAction::Reboot,
                },
            ),
            (
                "rd.shell=1 rd.shell=0",
                Policy {
                    shell: false,
                    action: EmergencyAction::Reboot,
                },
            ),
            (
                "rd.emergency=poweroff",
                Policy {
                    shell: false,
                    action: EmergencyAction::Poweroff,
                },
            ),
            (
                "rd.emergency=halt rd.shell=yes",
                Policy {
                    shell: true,
                    action: EmergencyAction::Halt,
                },
            ),
            (
                "rd.emergency=bogus",
                Policy {
                    shell: false,
                    action: EmergencyAction::Reboot,
                },
            ),
            (
                "rd.shell=on rd.emergency=poweroff rd.emergency=",
                Policy {
                    shell: true,
                    action: EmergencyAction::Poweroff,
                },
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(
                Policy::from_params(&cmdline::parse(line)),
                expected,
                "{line}"
            );
        }
    }
}
