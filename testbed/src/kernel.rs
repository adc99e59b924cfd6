//! The Debian cloud kernel the tests and the demo boot: fetched with apt into
//! `target/kernel/<package>/`, extracted once and reused.
//!
//! The versioned package comes from the meta package's dependency
//! (`linux-image-cloud-amd64` -> `linux-image-6.1.0-N-cloud-amd64`), or from
//! `DISKLESS_KERNEL_PACKAGE`. A finished extraction holds a stamp file; extraction happens in
//! a private directory renamed into place, so concurrent callers (parallel tests, another
//! engineer's QEMU test) never see half a tree.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xshell::{Shell, cmd};

use crate::arch::Arch;

/// The meta package that always depends on the current cloud kernel (x86_64).
pub const META_PACKAGE: &str = "linux-image-cloud-amd64";
/// Overrides the versioned package (`linux-image-6.1.0-56-cloud-amd64`).
pub const PACKAGE_ENV: &str = "DISKLESS_KERNEL_PACKAGE";
/// The same for arm64 (`linux-image-6.1.0-56-cloud-arm64`).
pub const PACKAGE_ENV_ARM64: &str = "DISKLESS_KERNEL_PACKAGE_ARM64";

/// The meta package of `arch`'s cloud kernel.
pub fn meta_package(arch: Arch) -> String {
    format!("linux-image-cloud-{}", arch.debian())
}

fn package_env(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => PACKAGE_ENV,
        Arch::Arm64 => PACKAGE_ENV_ARM64,
    }
}
/// Written last into a complete extraction.
const STAMP: &str = "diskless-kernel.stamp";

/// An extracted kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    /// Kernel release (`6.1.0-56-cloud-amd64`), as `uname -r` prints it.
    pub version: String,
    pub vmlinuz: PathBuf,
    /// `.../lib/modules/<version>`.
    pub modules_dir: PathBuf,
}

/// Where fetched kernels are kept.
pub fn cache_dir() -> PathBuf {
    crate::dirs::project_root().join("target").join("kernel")
}

/// Serialises callers within one process; across processes the rename decides.
static ENSURE: Mutex<()> = Mutex::new(());

/// Returns the cached x86_64 kernel, fetching and extracting it first if needed.
pub fn ensure() -> Result<Kernel> {
    ensure_for(Arch::X86_64)
}

/// Returns the cached kernel for `arch`, fetching and extracting it first if needed. A
/// foreign architecture's package needs it added to dpkg (`dpkg --add-architecture arm64`,
/// `apt-get update`); nothing is installed.
pub fn ensure_for(arch: Arch) -> Result<Kernel> {
    let _guard = ENSURE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let sh = Shell::new()?;
    let cache = cache_dir();
    let package = match std::env::var(package_env(arch)) {
        Ok(p) if !p.trim().is_empty() => p.trim().to_owned(),
        _ => match resolve_package(&sh, arch) {
            Ok(p) => p,
            // Offline, or apt lists cleaned: one kernel already fetched is still the answer.
            Err(e) => match cached_packages(&cache, arch).as_slice() {
                [only] => {
                    eprintln!("note: {e:#}\nnote: using the kernel already fetched, {only}");
                    only.clone()
                }
                _ => return Err(e),
            },
        },
    };
    let root = cache.join(&package);
    if root.join(STAMP).is_file() {
        return locate(&root)
            .with_context(|| format!("using the cached kernel {}", root.display()));
    }
    fetch(&sh, &package, arch, &cache, &root)?;
    locate(&root)
}

/// Packages of `arch` with a complete extraction in `cache`.
fn cached_packages(cache: &Path, arch: Arch) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STAMP).is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.ends_with(&format!("-{}", arch.debian())))
        .collect();
    found.sort();
    found
}

/// Asks apt which versioned package the meta package depends on.
fn resolve_package(sh: &Shell, arch: Arch) -> Result<String> {
    let meta = format!("{}:{}", meta_package(arch), arch.debian());
    let output = cmd!(sh, "apt-cache depends {meta}")
        .ignore_status()
        .output()
        .context("running apt-cache (fetching the kernel needs Debian's apt)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match package_from_depends(&stdout) {
        // A foreign architecture's dependency carries it (`...-cloud-arm64:arm64`).
        Some(p) if output.status.success() => Ok(p
            .strip_suffix(&format!(":{}", arch.debian()))
            .map_or(p.clone(), str::to_owned)),
        _ => bail!(
            "apt-cache found no kernel package for {meta}: run {}apt-get update (or set {}){}",
            match arch {
                Arch::X86_64 => "",
                Arch::Arm64 => "dpkg --add-architecture arm64 and ",
            },
            package_env(arch),
            String::from_utf8_lossy(&output.stderr)
                .trim()
                .lines()
                .map(|l| format!("\n  {l}"))
                .collect::<String>()
        ),
    }
}

/// The first `Depends: linux-image-...` of `apt-cache depends` output.
pub fn package_from_depends(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let dep = line
            .trim()
            .trim_start_matches('|')
            .strip_prefix("Depends:")?
            .trim();
        (dep.starts_with("linux-image-") && !dep.starts_with('<')).then(|| dep.to_owned())
    })
}

/// Downloads and extracts `package` into a private directory, then renames it to `root`.
fn fetch(sh: &Shell, package: &str, arch: Arch, cache: &Path, root: &Path) -> Result<()> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let work = cache.join(format!(".partial-{package}-{}", std::process::id()));
    if work.exists() {
        std::fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = (|| -> Result<()> {
        eprintln!(
            "fetching {package} with apt-get download into {}",
            cache.display()
        );
        let _cwd = sh.push_dir(&work);
        // apt warns that the download is "unsandboxed" when root cannot hand the directory
        // to _apt: harmless, so the output is shown only on failure.
        let qualified = format!("{package}:{}", arch.debian());
        let output = cmd!(sh, "apt-get download {qualified}")
            .ignore_status()
            .output()
            .context("running apt-get download")?;
        if !output.status.success() {
            bail!(
                "apt-get download {qualified} failed (run apt-get update?):\n{}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let deb = std::fs::read_dir(&work)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| {
                format!(
                    "apt-get download {package} left no .deb in {}",
                    work.display()
                )
            })?;
        let tree = work.join("root");
        cmd!(sh, "dpkg-deb -x {deb} {tree}")
            .quiet()
            .run()
            .with_context(|| format!("extracting {}", deb.display()))?;
        let kernel = locate(&tree)?;
        let deb_name = deb
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(
            tree.join(STAMP),
            format!(
                "package={package}\ndeb={deb_name}\nversion={}\n",
                kernel.version
            ),
        )
        .context("writing the kernel stamp")?;
        if root.exists() && !root.join(STAMP).exists() {
            // A tree without a stamp is not ours to trust (an interrupted manual copy?).
            std::fs::remove_dir_all(root)
                .with_context(|| format!("removing incomplete {}", root.display()))?;
        }
        if let Err(e) = std::fs::rename(&tree, root) {
            // Another process may have finished first; its tree is as good as ours.
            if !root.join(STAMP).is_file() {
                return Err(e)
                    .with_context(|| format!("moving the kernel into {}", root.display()));
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The kernel's own package file (`linux-image-<version>_..._amd64.deb`), downloaded into
/// `target/kernel/debs/` if it is not there yet: a test root installs it as an admin would.
pub fn package_file(kernel: &Kernel) -> Result<PathBuf> {
    let package = format!("linux-image-{}", kernel.version);
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let find = || {
        std::fs::read_dir(&debs).ok().and_then(|entries| {
            entries.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
        })
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    let sh = Shell::new()?;
    let _cwd = sh.push_dir(&debs);
    let output = cmd!(sh, "apt-get download {package}")
        .ignore_status()
        .output()
        .context("running apt-get download")?;
    if !output.status.success() {
        bail!(
            "apt-get download {package} failed (run apt-get update?):\n{}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    find().with_context(|| {
        format!(
            "apt-get download {package} left no .deb in {}",
            debs.display()
        )
    })
}

/// Finds the kernel release, vmlinuz and module tree in an extracted package.
pub fn locate(root: &Path) -> Result<Kernel> {
    // Bookworm's packages use /lib/modules, later ones /usr/lib/modules.
    let modules_parent = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|p| root.join(p))
        .find(|p| p.is_dir())
        .with_context(|| format!("no lib/modules in {}", root.display()))?;
    let mut versions: Vec<String> = std::fs::read_dir(&modules_parent)
        .with_context(|| format!("listing {}", modules_parent.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    versions.sort();
    let [version] = versions.as_slice() else {
        bail!(
            "expected one kernel in {}, found {versions:?}",
            modules_parent.display()
        );
    };
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{version}"));
    if !vmlinuz.is_file() {
        bail!(
            "no {} for the modules in {}",
            vmlinuz.display(),
            modules_parent.display()
        );
    }
    Ok(Kernel {
        version: version.clone(),
        vmlinuz,
        modules_dir: modules_parent.join(version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_package_is_read_from_apt_cache_depends() {
        let table: &[(&str, Option<&str>)] = &[
            (
                "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n",
                Some("linux-image-6.1.0-56-cloud-amd64"),
            ),
            (
                "linux-image-cloud-amd64\n  Depends: <linux-image-6.1.0-9-cloud-amd64-unsigned>\n |Depends: linux-image-6.1.0-10-cloud-amd64\n",
                Some("linux-image-6.1.0-10-cloud-amd64"),
            ),
            ("linux-image-cloud-amd64\n  Recommends: foo\n", None),
            ("", None),
        ];
        for (output, want) in table {
            assert_eq!(package_from_depends(output).as_deref(), *want, "{output}");
        }
    }

    #[test]
    fn locate_finds_the_single_kernel() {
        let root = std::env::temp_dir().join(format!("diskless-kernel-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("usr/lib/modules/6.9.0-1-cloud-amd64/kernel"))
            .expect("mkdir");
        std::fs::create_dir_all(root.join("boot")).expect("mkdir");
        let err = locate(&root).expect_err("no vmlinuz yet");
        assert!(
            err.to_string().contains("vmlinuz-6.9.0-1-cloud-amd64"),
            "{err}"
        );
        std::fs::write(root.join("boot/vmlinuz-6.9.0-1-cloud-amd64"), b"MZ").expect("write");
        let k = locate(&root).expect("found");
        assert_eq!(k.version, "6.9.0-1-cloud-amd64");
        assert_eq!(
            k.modules_dir,
            root.join("usr/lib/modules/6.9.0-1-cloud-amd64")
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
