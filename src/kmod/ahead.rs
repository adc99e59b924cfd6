//! Loading the modules the root will need while the network comes up. On a node the NIC's
//! driver, the link and the fetch are the critical path; the root's file systems (loop,
//! squashfs, overlay, the NFS stack) are needed only once the image is in or the server
//! answers. A thread of lowest priority loads them: on one CPU it runs while the boot waits
//! for the network, on more CPUs beside it. The boot waits for it before it mounts, so the
//! kernel never has to run /sbin/modprobe for them (a fork and exec of this binary, and the
//! index read again, each time).

use std::sync::mpsc;

use super::load::Modules;
use crate::emergency;
use crate::error::BootError;
use crate::sys;

/// The modules loading ahead; [`Ahead::wait`] collects them.
#[derive(Debug)]
pub struct Ahead {
    names: Vec<String>,
    required: Vec<String>,
    /// The worker's answer; `None` when there was nothing to load or no thread could start
    /// (then [`Ahead::wait`] loads them itself).
    outcome: Option<mpsc::Receiver<Result<Modules, String>>>,
}

impl Modules {
    /// Starts loading `names` (module names or the kernel's aliases, such as `fs-nfs`) on a
    /// worker thread. A module in `required` must load (nothing would ask for it later); the
    /// others, if they fail, fail again with a clear error where they are used.
    pub fn load_ahead(&self, names: Vec<String>, required: &[&str]) -> Ahead {
        let required = required.iter().map(|r| (*r).to_owned()).collect();
        if names.is_empty() {
            return Ahead {
                names,
                required,
                outcome: None,
            };
        }
        let (tx, rx) = mpsc::channel();
        let crashed = tx.clone();
        let mut worker = self.clone();
        let wanted = names.clone();
        let spawned = emergency::spawn_worker(
            "modules-ahead".to_owned(),
            move || {
                if let Err(err) = sys::lower_this_threads_priority() {
                    log::debug!("modules ahead: cannot lower the thread's priority: {err}");
                }
                let started = std::time::Instant::now();
                let loaded = worker.load(&wanted);
                if !loaded.newly.is_empty() {
                    log::info!(
                        "loaded modules for the root, beside the network, in {:.0} ms: {}",
                        started.elapsed().as_secs_f64() * 1000.0,
                        loaded.newly.join(" ")
                    );
                }
                let _ = tx.send(Ok(worker));
            },
            move |panic| {
                let _ = crashed.send(Err(format!("the thread loading them crashed: {panic}")));
            },
        );
        let outcome = match spawned {
            Ok(()) => Some(rx),
            Err(err) => {
                log::warn!("modules ahead: cannot start a thread ({err}); loading them later");
                None
            }
        };
        Ahead {
            names,
            required,
            outcome,
        }
    }
}

impl Ahead {
    /// Waits for the modules loading ahead and merges what they did into `modules`. Fails
    /// only for a required module that did not load.
    pub fn wait(self, modules: &mut Modules) -> Result<(), BootError> {
        match self.outcome.map(|rx| rx.recv()) {
            Some(Ok(Ok(worker))) => modules.absorb(worker),
            Some(Ok(Err(why))) => {
                return Err(BootError::LoadModule {
                    failure: format!("{} ({why})", self.names.join(" ")),
                });
            }
            // No worker, or one that ended without a word: load them here (nothing to do
            // when the list is empty).
            None | Some(Err(mpsc::RecvError)) => {
                modules.load(&self.names);
            }
        }
        required_loaded(modules, &self.required)
    }
}

/// The first failure among the required modules, as the boot's error.
fn required_loaded(modules: &Modules, required: &[String]) -> Result<(), BootError> {
    match modules.failure_of_any(required) {
        Some(failure) => Err(BootError::LoadModule { failure }),
        None => Ok(()),
    }
}
