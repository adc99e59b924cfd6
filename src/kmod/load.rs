//! Loading the kernel modules the image carries: drivers for the hardware present (matched by
//! modalias, as udev's coldplug would), the modules the root needs, and the kernel's own
//! requests (it runs /sbin/modprobe, a link to this binary, for things like `fs-overlay`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::KmodError;
use super::index::ModuleIndex;
use crate::cmdline::{self, config};
use crate::sys;

/// What one [`Modules::load`] did.
#[derive(Debug, Default)]
pub struct Loaded {
    pub newly: Vec<String>,
    pub unknown: Vec<String>,
    /// Modules the kernel refused, each with why (a module that depends on one of them is
    /// not tried, and is listed too).
    pub failed: Vec<String>,
}

/// The image's module directory and its parsed index.
#[derive(Debug, Clone)]
pub struct Modules {
    dir: PathBuf,
    index: ModuleIndex,
    blacklist: Vec<String>,
    loaded: BTreeSet<String>,
    /// Modules that failed this boot, with why: not tried again.
    failed: Vec<String>,
    failed_names: BTreeSet<String>,
}

/// What a copy of the index (a worker's) loaded and saw fail: [`Modules::absorb`] takes it in.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    loaded: BTreeSet<String>,
    failed: Vec<String>,
    failed_names: BTreeSet<String>,
}

impl Modules {
    /// Reads `/lib/modules/<release>/modules.{dep,alias,builtin}`. An image without modules
    /// (a kernel with everything built in) gives an empty index.
    pub fn open(release: &str, blacklist: &[String]) -> Result<Modules, KmodError> {
        let dir = Path::new("/lib/modules").join(release);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let index = ModuleIndex::parse(
            &read("modules.dep"),
            &read("modules.alias"),
            &read("modules.builtin"),
        )
        .map_err(|source| KmodError::Index {
            dir: dir.clone(),
            source,
        })?;
        Ok(Modules {
            dir,
            index,
            blacklist: blacklist.to_vec(),
            loaded: BTreeSet::new(),
            failed: Vec::new(),
            failed_names: BTreeSet::new(),
        })
    }

    /// For the boot: the index, with `rd.driver.pre=` loaded first (before anything else,
    /// as dracut does). The drivers for the hardware ([`Modules::coldplug`]) and the root's
    /// modules ([`Modules::load_ahead`]) come next.
    pub fn open_for_boot(pre: &[String], blacklist: &[String]) -> Result<Modules, KmodError> {
        let mut modules = Modules::open(&sys::kernel_release(), blacklist)?;
        for name in modules.load(pre).unknown {
            log::warn!("rd.driver.pre={name}: no such module in this image");
        }
        Ok(modules)
    }

    /// What this copy of the index loaded and saw fail so far.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            loaded: self.loaded.clone(),
            failed: self.failed.clone(),
            failed_names: self.failed_names.clone(),
        }
    }

    /// Takes in what another copy of this index (a worker's) loaded and saw fail.
    pub fn absorb(&mut self, other: Outcome) {
        self.loaded.extend(other.loaded);
        self.failed_names.extend(other.failed_names);
        for failure in other.failed {
            if !self.failed.contains(&failure) {
                self.failed.push(failure);
            }
        }
    }

    /// The failure (module and why) of the first module `names` resolve to that failed.
    pub fn failure_of_any(&self, names: &[String]) -> Option<String> {
        names
            .iter()
            .flat_map(|name| self.index.resolve(name))
            .find(|module| self.failed_names.contains(module))
            .and_then(|module| {
                let prefix = format!("{module} (");
                self.failed.iter().find(|f| f.starts_with(&prefix)).cloned()
            })
    }

    pub fn is_empty(&self) -> bool {
        self.index.modules.is_empty()
    }

    /// Loads `names` (module names or aliases) with their dependencies; returns the modules
    /// newly loaded, the names the image does not carry (not errors: the kernel may have them
    /// built in) and the modules that failed. One failure does not stop the others: a node
    /// with an odd device must still boot.
    pub fn load(&mut self, names: &[String]) -> Loaded {
        let mut wanted = Vec::new();
        let mut unknown = Vec::new();
        for name in names {
            let resolved = self.index.resolve(name);
            if resolved.is_empty() && !self.index.is_builtin(name) {
                unknown.push(name.clone());
            }
            wanted.extend(resolved);
        }
        let (order, missing) = self.index.load_order(&wanted, &self.blacklist);
        unknown.extend(missing);
        let mut newly = Vec::new();
        let mut failed = Vec::new();
        for entry in order {
            if self.loaded.contains(&entry.name) || self.failed_names.contains(&entry.name) {
                continue;
            }
            // Loaded earlier, e.g. by another /sbin/modprobe the kernel ran: nothing to do.
            if Path::new("/sys/module").join(&entry.name).exists() {
                self.loaded.insert(entry.name.clone());
                continue;
            }
            let broken_dep = entry
                .depends
                .iter()
                .find(|dep| self.failed_names.contains(dep.as_str()));
            let started = std::time::Instant::now();
            let outcome = match broken_dep {
                Some(dep) => Err(format!("needs {dep}, which failed")),
                None => sys::load_module(&self.dir.join(&entry.path)).map_err(|e| e.to_string()),
            };
            // With rd.debug: which module's load (and the kernel's probe inside it) costs.
            log::debug!(
                "module {}: {:.1} ms",
                entry.name,
                started.elapsed().as_secs_f64() * 1000.0
            );
            match outcome {
                Ok(()) => {
                    self.loaded.insert(entry.name.clone());
                    newly.push(entry.name.clone());
                }
                Err(why) => {
                    log::warn!("module {}: {why}; going on without it", entry.name);
                    let failure = format!("{} ({why})", entry.name);
                    self.failed_names.insert(entry.name.clone());
                    self.failed.push(failure.clone());
                    failed.push(failure);
                }
            }
        }
        Loaded {
            newly,
            unknown,
            failed,
        }
    }

    /// Loads the drivers for the devices present, again and again until no new module comes
    /// in (a bus driver such as virtio_pci makes new devices appear for the next round). Each
    /// round reads only the devices that appeared since the last (sysfs reads are slow early
    /// in boot, and slower under emulation).
    pub fn coldplug(&mut self) {
        let mut seen = BTreeSet::new();
        for _round in 0..8 {
            let before = self.loaded.len();
            let aliases = new_device_modaliases(&mut seen);
            let wanted: Vec<String> = aliases
                .iter()
                .flat_map(|alias| self.index.resolve(alias))
                .filter(|name| !self.loaded.contains(name))
                .collect();
            if wanted.is_empty() {
                break;
            }
            let loaded = self.load(&wanted);
            if !loaded.newly.is_empty() {
                log::info!(
                    "loaded modules for the hardware present: {}",
                    loaded.newly.join(" ")
                );
            }
            if self.loaded.len() == before {
                break;
            }
        }
    }

    pub fn loaded(&self) -> Vec<String> {
        self.loaded.iter().cloned().collect()
    }

    /// Every module that failed this boot, with why.
    pub fn failed(&self) -> &[String] {
        &self.failed
    }
}

/// The `modalias` of every device on every bus not in `seen` (which they join),
/// deduplicated.
fn new_device_modaliases(seen: &mut BTreeSet<PathBuf>) -> BTreeSet<String> {
    let mut aliases = BTreeSet::new();
    let Ok(buses) = std::fs::read_dir("/sys/bus") else {
        return aliases;
    };
    for bus in buses.filter_map(Result::ok) {
        let Ok(devices) = std::fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for device in devices.filter_map(Result::ok) {
            let path = device.path();
            if seen.contains(&path) {
                continue;
            }
            if let Ok(alias) = std::fs::read_to_string(path.join("modalias")) {
                let alias = alias.trim();
                if !alias.is_empty() {
                    aliases.insert(alias.to_owned());
                }
            }
            seen.insert(path);
        }
    }
    aliases
}

/// `/sbin/modprobe [-q] [--] NAME`, as the kernel runs it for its own requests. Returns the
/// exit code: 0 when loaded (or built in), 1 otherwise. `rd.driver.blacklist=` holds here
/// too: the kernel asking is no reason to load what the admin ruled out.
pub fn modprobe_main(args: &[String]) -> i32 {
    let Some(name) = args.iter().skip(1).find(|arg| !arg.starts_with('-')) else {
        log::warn!("modprobe: no module named (usage: modprobe [-q] [--] MODULE)");
        return 1;
    };
    let release = sys::kernel_release();
    let blacklist = std::fs::read("/proc/cmdline")
        .map(|line| config::blacklist(&cmdline::parse_bytes(&line)))
        .unwrap_or_default();
    let mut modules = match Modules::open(&release, &blacklist) {
        Ok(modules) => modules,
        Err(err) => {
            log::warn!("modprobe {name}: {err}");
            return 1;
        }
    };
    let loaded = modules.load(std::slice::from_ref(name));
    if !loaded.newly.is_empty() {
        log::info!(
            "modprobe: loaded {} for the kernel's request {name}",
            loaded.newly.join(" ")
        );
    }
    let resolved = modules.index.resolve(name);
    let present = resolved
        .iter()
        .any(|m| modules.loaded.contains(m) || modules.index.is_builtin(m));
    if !present && resolved.iter().any(|m| blacklist.contains(m)) {
        log::info!("modprobe {name}: not loaded: rd.driver.blacklist= names it");
    }
    i32::from(!present)
}
