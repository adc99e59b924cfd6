//! Loading the modules the root will need while the network comes up. On a node the NIC's
//! driver, the link and the fetch are the critical path; the root's file systems (loop,
//! squashfs, overlay, the NFS stack) are needed only once the image is in or the server
//! answers. A thread of lowest priority loads them: on one CPU it runs while the boot waits
//! for the network, on more CPUs beside it. The boot waits for it before it mounts, so the
//! kernel never has to run /sbin/modprobe for them (a fork and exec of this binary, and the
//! index read again, each time). It loads in two stages: the root's modules, then what the
//! node's shares need beyond them, so the root mounts while the shares' NFS version loads.

use std::sync::mpsc;

use super::error::KmodError;
use super::load::{Modules, Outcome};
use crate::plan::ModulesAhead;
use crate::sys;
use crate::worker;

/// The modules loading ahead; [`Ahead::wait_for_root`] and [`Ahead::wait_for_shares`]
/// collect each stage.
#[derive(Debug)]
pub struct Ahead {
    root: Vec<String>,
    shares: Vec<String>,
    required: Vec<String>,
    /// The worker's answers, one per stage; `None` when there was nothing to load or no
    /// thread could start (then each wait loads its stage itself).
    outcome: Option<mpsc::Receiver<Result<Outcome, String>>>,
    /// Stages collected so far.
    collected: usize,
}

impl Modules {
    /// Starts loading `names` (module names or the kernel's aliases, such as `fs-nfs`) on a
    /// worker thread, the root's first. A module in `required` must load (nothing would ask
    /// for it later); the others, if they fail, fail again with a clear error where they
    /// are used.
    pub fn load_ahead(&self, names: ModulesAhead, required: &[&str]) -> Ahead {
        let ModulesAhead { root, shares } = names;
        let mut ahead = Ahead {
            required: required.iter().map(|r| (*r).to_owned()).collect(),
            root,
            shares,
            outcome: None,
            collected: 0,
        };
        if ahead.root.is_empty() && ahead.shares.is_empty() {
            return ahead;
        }
        let (tx, rx) = mpsc::channel();
        let crashed = tx.clone();
        let mut loader = self.clone();
        let stages = [ahead.root.clone(), ahead.shares.clone()];
        let spawned = worker::spawn(
            "modules-ahead".to_owned(),
            move || {
                if let Err(err) = sys::lower_this_threads_priority() {
                    log::debug!("modules ahead: cannot lower the thread's priority: {err}");
                }
                for (stage, names) in ["the root", "the shares"].into_iter().zip(&stages) {
                    let started = std::time::Instant::now();
                    let loaded = loader.load(names);
                    if !loaded.newly.is_empty() {
                        log::info!(
                            "loaded modules for {stage}, beside the network, in {:.0} ms: {}",
                            started.elapsed().as_secs_f64() * 1000.0,
                            loaded.newly.join(" ")
                        );
                    }
                    if tx.send(Ok(loader.outcome())).is_err() {
                        return;
                    }
                }
            },
            move |panic| {
                let _ = crashed.send(Err(format!("the thread loading them crashed: {panic}")));
            },
        );
        match spawned {
            Ok(()) => ahead.outcome = Some(rx),
            Err(err) => {
                log::warn!("modules ahead: cannot start a thread ({err}); loading them later");
            }
        }
        ahead
    }
}

impl Ahead {
    /// Whether the shares need modules the root does not.
    pub fn has_shares(&self) -> bool {
        !self.shares.is_empty()
    }

    /// Waits for the root's modules and merges what they did into `modules`. Fails only for
    /// a required module that did not load.
    pub fn wait_for_root(&mut self, modules: &mut Modules) -> Result<(), KmodError> {
        let root = std::mem::take(&mut self.root);
        self.collect(modules, &root, 1)?;
        required_loaded(modules, &self.required)
    }

    /// Waits for the shares' modules (after the root's, which it collects if nobody has).
    pub fn wait_for_shares(mut self, modules: &mut Modules) -> Result<(), KmodError> {
        let shares = std::mem::take(&mut self.shares);
        if self.collected == 0 {
            self.wait_for_root(modules)?;
        }
        self.collect(modules, &shares, 2)
    }

    /// Takes in the worker's answers up to stage `upto`; without a worker, or after one that
    /// ended without a word, loads `names` here (nothing to do when the list is empty).
    fn collect(
        &mut self,
        modules: &mut Modules,
        names: &[String],
        upto: usize,
    ) -> Result<(), KmodError> {
        while self.collected < upto {
            self.collected += 1;
            match self.outcome.as_ref().map(mpsc::Receiver::recv) {
                Some(Ok(Ok(outcome))) => modules.absorb(outcome),
                Some(Ok(Err(why))) => {
                    return Err(KmodError::Required {
                        failure: format!("{} ({why})", names.join(" ")),
                    });
                }
                None | Some(Err(mpsc::RecvError)) => {
                    modules.load(names);
                }
            }
        }
        Ok(())
    }
}

/// The first failure among the required modules, as the boot's error.
fn required_loaded(modules: &Modules, required: &[String]) -> Result<(), KmodError> {
    match modules.failure_of_any(required) {
        Some(failure) => Err(KmodError::Required { failure }),
        None => Ok(()),
    }
}
