//! The test root: busybox-static, a few /etc files, and a checker `/sbin/init` that prints
//! facts about the booted system on the console and powers off.
//!
//! [`RootSpec::build`] writes the tree to a directory (usable as an NFS export);
//! [`squashfs`] packs a tree into a reproducible zstd squashfs (what `root=` URLs serve).
//!
//! The checker's output format (one fact per line; the integration tests parse it):
//! ```text
//! ROOT-INIT-REACHED <first field of /proc/uptime>     (after writing ROOT-INIT-KMSG to /dev/kmsg)
//! ROOT-PREMOUNTED=<proc dev sys run: those already mounted when the checker started>
//! ROOT-CMDLINE=<cat /proc/cmdline>
//! ROOT-HOSTNAME=<hostname>
//! ROOT-ETC-HOSTNAME=<cat /etc/hostname>
//! ROOT-MACHINE-ID=<cat /etc/machine-id>
//! ROOT-MACHINE-ID-FILE=absent|empty|present
//! ROOT-HOSTS-BEGIN, "ROOT-HOSTS: <line>" per /etc/hosts line, ROOT-HOSTS-END
//! ROOT-ETC-WRITABLE=yes|no
//! ROOT-RESOLV-BEGIN, "ROOT-RESOLV: <line>" per /etc/resolv.conf line, ROOT-RESOLV-END
//! ROOT-RECORD-BEGIN, "ROOT-RECORD: <line>" per /run/diskless/boot.json line, ROOT-RECORD-END
//! ROOT-MOUNTS-BEGIN, "ROOT-MOUNT: <line>" per /proc/mounts line, ROOT-MOUNTS-END
//! ROOT-DMESG: <dmesg lines matching "Run /init as init process|ROOT-INIT-KMSG|diskless:">
//! ROOT-PID1=<readlink /proc/1/exe, or /proc/1/cmdline>
//! ROOT-PID1-CMDLINE=<cat /proc/1/cmdline, NULs as spaces>
//! ROOT-SELF-PID=<the checker's pid: 1 when the initramfs exec'd it>
//! <the hook's output>
//! ROOT-INIT-DONE
//! ```

use anyhow::{Context, Result, bail, ensure};

use crate::arch::Arch;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The host name baked into the image, which the node's own name must replace.
pub const IMAGE_HOSTNAME: &str = "image-build-host";

/// The checker's second line; also how [`RootSpec::build`] recognises a tree it may replace.
pub const CHECKER_TAG: &str = "# diskless testbed checker";

/// The mtime of every squashfs entry but the root directory, so that the same tree gives the
/// same bytes (2023-11-14T22:13:20Z; any fixed value would do).
pub const SQUASHFS_MTIME: u32 = 1_700_000_000;

/// What `/etc/machine-id` holds in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineIdFile {
    /// An empty file: systemd's convention for "generate one at boot" in images.
    Empty,
    /// `uninitialized\n`: systemd's "first boot" marker.
    Uninitialized,
    /// A fixed id (written with a trailing newline).
    Fixed(String),
    /// No file.
    Absent,
}

/// What goes into the test root. `RootSpec::default()` is the standard one.
#[derive(Debug, Clone)]
pub struct RootSpec {
    /// The static busybox to copy in.
    pub busybox: PathBuf,
    /// A busybox of the same version this machine can run, to list the applets of a
    /// foreign-architecture `busybox` (Debian builds one applet set for every architecture).
    pub applets_from: Option<PathBuf>,
    /// `/etc/hostname` and the `127.0.1.1` line of `/etc/hosts`.
    pub hostname: String,
    pub machine_id: MachineIdFile,
    /// Shell lines the checker runs before printing `ROOT-INIT-DONE` (for example to write
    /// and read back a file on an NFS root).
    pub hook: String,
    /// A `/sbin/init` of its own instead of the checker (the demo's friendly one).
    pub init: Option<String>,
}

impl Default for RootSpec {
    fn default() -> Self {
        RootSpec {
            busybox: PathBuf::from("/bin/busybox"),
            applets_from: None,
            hostname: IMAGE_HOSTNAME.to_owned(),
            machine_id: MachineIdFile::Empty,
            hook: String::new(),
            init: None,
        }
    }
}

/// A test root tree written to a directory.
#[derive(Debug, Clone)]
pub struct RootTree {
    path: PathBuf,
}

impl RootTree {
    /// Writes the standard test root ([`RootSpec::default`]) to `dest`.
    pub fn busybox(dest: impl AsRef<Path>) -> Result<RootTree> {
        RootSpec::default().build(dest)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packs the tree into a zstd squashfs at `out` (see [`squashfs`]).
    pub fn squashfs(&self, out: impl AsRef<Path>) -> Result<()> {
        squashfs(&self.path, out.as_ref())
    }
}

impl RootSpec {
    /// The standard root for nodes of `arch`: arm64's busybox is Debian's busybox-static
    /// for arm64, fetched once ([`busybox_for`]).
    pub fn for_arch(arch: Arch) -> Result<RootSpec> {
        let default = RootSpec::default();
        Ok(match arch {
            Arch::X86_64 => default,
            Arch::Arm64 => RootSpec {
                busybox: busybox_for(arch)?,
                applets_from: Some(default.busybox.clone()),
                ..default
            },
        })
    }

    pub fn machine_id(mut self, machine_id: MachineIdFile) -> RootSpec {
        self.machine_id = machine_id;
        self
    }

    /// Adds shell lines for the checker to run before `ROOT-INIT-DONE` (repeatable).
    pub fn hook(mut self, lines: &str) -> RootSpec {
        self.hook.push_str(lines);
        if !self.hook.ends_with('\n') {
            self.hook.push('\n');
        }
        self
    }

    /// Writes the tree to `dest`. `dest` must be absent, empty, or a tree this function wrote
    /// before (recognised by its checker), which is then replaced.
    pub fn build(&self, dest: impl AsRef<Path>) -> Result<RootTree> {
        let dest = dest.as_ref();
        prepare_dest(dest)?;
        let dir = |rel: &str, mode: u32| -> Result<()> {
            let path = dest.join(rel);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
            set_mode(&path, mode)
        };
        for rel in [
            "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "run",
        ] {
            dir(rel, 0o755)?;
        }
        for rel in ["var/log", "var/local", "home", "mnt"] {
            dir(rel, 0o755)?;
        }
        dir("root", 0o700)?;
        dir("tmp", 0o1777)?;
        // create_dir_all leaves the root of the tree with the umask's mode.
        set_mode(dest, 0o755)?;

        let busybox = dest.join("bin/busybox");
        fs::copy(&self.busybox, &busybox).with_context(|| {
            format!(
                "copying {} (apt-get install busybox-static)",
                self.busybox.display()
            )
        })?;
        set_mode(&busybox, 0o755)?;
        for applet in busybox_applets(self.applets_from.as_ref().unwrap_or(&self.busybox))? {
            // The checker is /sbin/init; busybox's own would be the wrong init.
            if applet == "sbin/init" || applet == "bin/busybox" {
                continue;
            }
            let link = dest.join(&applet);
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            symlink(applet_link_target(&applet), &link)
                .with_context(|| format!("linking {}", link.display()))?;
        }

        let hostname = &self.hostname;
        write(dest, "etc/os-release", 0o644, OS_RELEASE)?;
        write(dest, "etc/hostname", 0o644, &format!("{hostname}\n"))?;
        write(dest, "etc/hosts", 0o644, &hosts_file(hostname))?;
        // nobody: the checker reads what an unprivileged user of the node can.
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n";
        write(dest, "etc/passwd", 0o644, passwd)?;
        write(dest, "etc/group", 0o644, "root:x:0:\nnogroup:x:65534:\n")?;
        match &self.machine_id {
            MachineIdFile::Empty => write(dest, "etc/machine-id", 0o444, "")?,
            MachineIdFile::Uninitialized => {
                write(dest, "etc/machine-id", 0o444, "uninitialized\n")?
            }
            MachineIdFile::Fixed(id) => write(dest, "etc/machine-id", 0o444, &format!("{id}\n"))?,
            MachineIdFile::Absent => {}
        }
        let init = self
            .init
            .clone()
            .unwrap_or_else(|| checker_script(&self.hook));
        write(dest, "sbin/init", 0o755, &init)?;
        Ok(RootTree {
            path: dest.to_path_buf(),
        })
    }
}

const OS_RELEASE: &str = "\
PRETTY_NAME=\"diskless test root (busybox)\"
NAME=\"diskless test root\"
ID=diskless-testroot
VERSION_ID=1
";

/// Debian's standard /etc/hosts, with the host's own name on 127.0.1.1.
fn hosts_file(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n\
         127.0.1.1\t{hostname}\n\
         \n\
         # The following lines are desirable for IPv6 capable hosts\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n"
    )
}

/// Refuses to clear anything but an empty directory or an earlier test root.
fn prepare_dest(dest: &Path) -> Result<()> {
    let mut entries = match fs::read_dir(dest) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dest.display())),
    };
    if entries.next().is_none() {
        return Ok(());
    }
    let init = dest.join("sbin/init");
    let ours = fs::read_to_string(&init)
        .is_ok_and(|s| s.lines().nth(1).is_some_and(|l| l.starts_with(CHECKER_TAG)));
    ensure!(
        ours,
        "{} is not empty and not a test root built before ({} is not the checker); \
         refusing to delete it",
        dest.display(),
        init.display()
    );
    fs::remove_dir_all(dest)
        .with_context(|| format!("removing the old test root {}", dest.display()))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting mode {mode:o} on {}", path.display()))
}

fn write(dest: &Path, rel: &str, mode: u32, text: &str) -> Result<()> {
    let path = dest.join(rel);
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    set_mode(&path, mode)
}

/// The applets as paths relative to the root (`bin/ls`, `usr/sbin/chroot`), from
/// A static busybox for `arch`: this machine's for x86_64; for arm64, Debian's
/// busybox-static:arm64 (`apt-get download`, after `dpkg --add-architecture arm64`),
/// extracted once into `target/busybox-arm64/`.
pub fn busybox_for(arch: Arch) -> Result<PathBuf> {
    if arch == Arch::X86_64 {
        return Ok(PathBuf::from("/bin/busybox"));
    }
    let dir = crate::dirs::project_root()
        .join("target")
        .join(format!("busybox-{}", arch.debian()));
    let binary = dir.join("bin/busybox");
    // Tests of one binary run in threads of one process: one fetch at a time, and the others
    // find its result (the work directory is named by the process, not the thread).
    static FETCHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _fetching = FETCHING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if binary.is_file() {
        return Ok(binary);
    }
    let work = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let sh = xshell::Shell::new()?;
    sh.change_dir(&work);
    let package = format!("busybox-static:{}", arch.debian());
    xshell::cmd!(sh, "apt-get download {package}")
        .quiet()
        .ignore_stderr()
        .run()
        .with_context(|| {
            format!(
                "apt-get download {package} (dpkg --add-architecture {} && apt-get update)",
                arch.debian()
            )
        })?;
    let deb = fs::read_dir(&work)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb"))?;
    let tree = work.join("root");
    xshell::cmd!(sh, "dpkg-deb -x {deb} {tree}")
        .quiet()
        .run()
        .with_context(|| format!("extracting {}", deb.display()))?;
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("bin"))?;
    // Whoever renames first wins; the other's copy is the same package.
    let _ = fs::rename(tree.join("bin/busybox"), &binary);
    let _ = fs::remove_dir_all(&work);
    if !binary.is_file() {
        bail!("{package} has no bin/busybox");
    }
    Ok(binary)
}

/// `busybox --list-full`.
fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let output = Command::new(busybox)
        .arg("--list-full")
        .output()
        .with_context(|| format!("running {} --list-full", busybox.display()))?;
    ensure!(
        output.status.success(),
        "{} --list-full failed: {}",
        busybox.display(),
        output.status
    );
    let text = String::from_utf8(output.stdout).context("reading busybox --list-full")?;
    let mut applets = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        // Top-level entries (`linuxrc`) are not commands.
        if !line.contains('/') {
            continue;
        }
        let safe = Path::new(line)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            bail!("busybox --list-full gave an unexpected path {line:?}");
        }
        applets.push(line.to_owned());
    }
    ensure!(!applets.is_empty(), "busybox --list-full listed no applets");
    Ok(applets)
}

/// A relative link from `applet` (`usr/bin/env`) to `bin/busybox`, so the links resolve both
/// in the booted root and in the tree on the host.
fn applet_link_target(applet: &str) -> String {
    let depth = applet.matches('/').count();
    if applet.starts_with("bin/") && depth == 1 {
        "busybox".to_owned()
    } else {
        format!("{}bin/busybox", "../".repeat(depth))
    }
}

/// The checker `/sbin/init`; `hook` runs just before `ROOT-INIT-DONE`.
pub fn checker_script(hook: &str) -> String {
    let mut hook = hook.to_owned();
    if !hook.is_empty() && !hook.ends_with('\n') {
        hook.push('\n');
    }
    format!(
        r#"#!/bin/busybox sh
{CHECKER_TAG}: prints facts about the booted root on the console, then powers off.
# Written by testbed::rootfs; the integration tests parse this output.
# Reading the clock comes first, as in the baselines: it marks "root init reached".
PRE=
if read UP IDLE 2>/dev/null </proc/uptime; then PRE=proc; else /bin/busybox mount -t proc proc /proc; read UP IDLE </proc/uptime; fi
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
# The initramfs normally moves /dev, /sys and /run into the root; mount only what is missing.
[ -c /dev/kmsg ] || mount -t devtmpfs devtmpfs /dev
echo "ROOT-INIT-KMSG" >/dev/kmsg 2>/dev/null
echo "ROOT-INIT-REACHED $UP"
# (busybox-static has no mountpoint applet.)
mounted() {{ grep -q "^[^ ]* $1 " /proc/mounts; }}
mounted /dev && PRE="$PRE dev"
if mounted /sys; then PRE="$PRE sys"; else mount -t sysfs sysfs /sys; fi
# /run is only reported: mounting over it would hide what the initramfs left there.
mounted /run && PRE="$PRE run"
echo "ROOT-PREMOUNTED=$PRE"
echo "ROOT-CMDLINE=$(cat /proc/cmdline)"
echo "ROOT-HOSTNAME=$(hostname)"
echo "ROOT-ETC-HOSTNAME=$(cat /etc/hostname 2>/dev/null)"
echo "ROOT-MACHINE-ID=$(cat /etc/machine-id 2>/dev/null)"
if [ ! -e /etc/machine-id ]; then MID=absent; elif [ -s /etc/machine-id ]; then MID=present; else MID=empty; fi
echo "ROOT-MACHINE-ID-FILE=$MID"
echo ROOT-HOSTS-BEGIN
sed 's/^/ROOT-HOSTS: /' /etc/hosts 2>/dev/null
echo ROOT-HOSTS-END
if (: >/etc/.diskless-write-test) 2>/dev/null && rm -f /etc/.diskless-write-test; then
    echo ROOT-ETC-WRITABLE=yes
else
    echo ROOT-ETC-WRITABLE=no
fi
echo ROOT-RESOLV-BEGIN
sed 's/^/ROOT-RESOLV: /' /etc/resolv.conf 2>/dev/null
echo ROOT-RESOLV-END
echo ROOT-RECORD-BEGIN
sed 's/^/ROOT-RECORD: /' /run/diskless/boot.json 2>/dev/null
echo ROOT-RECORD-END
# What any user of the node can read of what the initramfs left (uid and gid 65534: nobody).
echo ROOT-NOBODY-READS-BEGIN
find /run/diskless -type f 2>/dev/null | while read -r f; do
    su -s /bin/sh nobody -c 'head -c 1 "$1"' - "$f" >/dev/null 2>&1 &&
        echo "ROOT-NOBODY-READS: $f"
done
echo ROOT-NOBODY-READS-END
echo ROOT-MOUNTS-BEGIN
sed 's/^/ROOT-MOUNT: /' /proc/mounts
echo ROOT-MOUNTS-END
dmesg | grep -E "Run /init as init process|ROOT-INIT-KMSG|diskless:" | sed 's/^/ROOT-DMESG: /'
echo "ROOT-PID1=$(readlink /proc/1/exe 2>/dev/null || tr '\000' ' ' </proc/1/cmdline)"
echo "ROOT-PID1-CMDLINE=$(tr '\000' ' ' </proc/1/cmdline)"
echo "ROOT-SELF-PID=$$"
# --- hook ---
{hook}# --- end of hook ---
echo ROOT-INIT-DONE
sync
poweroff -f
"#
    )
}

/// Packs `tree` into a squashfs at `out`: zstd (level 15, mksquashfs's default), every entry
/// owned by root (like `mksquashfs -all-root`), modes and symlinks kept, every mtime
/// [`SQUASHFS_MTIME`] (the root directory's 0: backhand has no setter for it), so the same
/// tree always gives the same bytes.
/// Regular files, directories and symlinks only.
pub fn squashfs(tree: &Path, out: &Path) -> Result<()> {
    use backhand::compression::Compressor;
    use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};

    let meta = fs::metadata(tree).with_context(|| format!("reading {}", tree.display()))?;
    ensure!(meta.is_dir(), "{} is not a directory", tree.display());

    // The default kind is squashfs 4.0 little-endian, the only one Linux mounts.
    let mut fs_writer = FilesystemWriter::default();
    fs_writer.set_time(SQUASHFS_MTIME);
    fs_writer.set_only_root_id();
    fs_writer.set_root_mode(mode_bits(&meta));
    fs_writer.set_root_uid(0);
    fs_writer.set_root_gid(0);
    let compressor = FilesystemCompressor::new(
        Compressor::Zstd,
        Some(backhand::compression::CompressionOptions::Zstd(
            backhand::compression::Zstd {
                compression_level: 15,
            },
        )),
    )
    .map_err(squash_err)?;
    fs_writer.set_compressor(compressor);

    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let abs_dir = tree.join(&rel_dir);
        let mut names: Vec<_> = fs::read_dir(&abs_dir)
            .with_context(|| format!("reading {}", abs_dir.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", abs_dir.display()))?;
        names.sort();
        // Subdirectories are visited after all their parent's entries; pushing them in
        // reverse keeps the walk in name order. backhand sorts entries itself in any case.
        let mut subdirs = Vec::new();
        for name in names {
            let rel = rel_dir.join(&name);
            let abs = tree.join(&rel);
            let meta =
                fs::symlink_metadata(&abs).with_context(|| format!("reading {}", abs.display()))?;
            let header = NodeHeader::new(mode_bits(&meta), 0, 0, SQUASHFS_MTIME);
            let file_type = meta.file_type();
            if file_type.is_dir() {
                fs_writer
                    .push_dir(&rel, header)
                    .map_err(squash_err)
                    .with_context(|| format!("adding directory {}", rel.display()))?;
                subdirs.push(rel);
            } else if file_type.is_file() {
                let file =
                    fs::File::open(&abs).with_context(|| format!("opening {}", abs.display()))?;
                fs_writer
                    .push_file(file, &rel, header)
                    .map_err(squash_err)
                    .with_context(|| format!("adding file {}", rel.display()))?;
            } else if file_type.is_symlink() {
                let target = fs::read_link(&abs)
                    .with_context(|| format!("reading link {}", abs.display()))?;
                fs_writer
                    .push_symlink(target, &rel, header)
                    .map_err(squash_err)
                    .with_context(|| format!("adding symlink {}", rel.display()))?;
            } else {
                bail!(
                    "{}: only files, directories and symlinks go into the test squashfs",
                    abs.display()
                );
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }

    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    // Write to a temporary name first so that a failed build never leaves a truncated image
    // where a server would serve it.
    let tmp = out.with_extension("squashfs.tmp");
    let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    fs_writer
        .write(&mut writer)
        .map_err(squash_err)
        .with_context(|| format!("writing squashfs {}", tmp.display()))?;
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing squashfs {}", tmp.display()))?;
    file.sync_all()
        .with_context(|| format!("writing squashfs {}", tmp.display()))?;
    fs::rename(&tmp, out)
        .with_context(|| format!("renaming {} to {}", tmp.display(), out.display()))
}

fn mode_bits(meta: &fs::Metadata) -> u16 {
    // The permission bits (with setuid/setgid/sticky); the file type is the node's kind.
    (meta.permissions().mode() & 0o7777) as u16
}

/// backhand's error carries no context of its own; wrap it for `anyhow`.
fn squash_err(e: backhand::BackhandError) -> anyhow::Error {
    anyhow::anyhow!("squashfs: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_links_are_relative_to_bin_busybox() {
        assert_eq!(applet_link_target("bin/ls"), "busybox");
        assert_eq!(applet_link_target("sbin/ifconfig"), "../bin/busybox");
        assert_eq!(applet_link_target("usr/bin/env"), "../../bin/busybox");
    }

    #[test]
    fn checker_runs_the_hook_before_done_and_powers_off_last() {
        let script = checker_script("echo HOOK-RAN");
        assert!(script.starts_with("#!/bin/busybox sh\n"));
        assert_eq!(
            script.lines().nth(1).map(|l| l.starts_with(CHECKER_TAG)),
            Some(true)
        );
        let hook = script.find("echo HOOK-RAN").expect("hook present");
        let done = script
            .find("echo ROOT-INIT-DONE")
            .expect("done marker present");
        assert!(hook < done);
        assert!(script.trim_end().ends_with("poweroff -f"));
    }

    #[test]
    fn hosts_file_names_the_image_host_on_127_0_1_1() {
        let hosts = hosts_file(IMAGE_HOSTNAME);
        assert!(hosts.starts_with("127.0.0.1\tlocalhost\n127.0.1.1\timage-build-host\n"));
        assert!(hosts.contains("::1\tlocalhost ip6-localhost ip6-loopback\n"));
    }
}
