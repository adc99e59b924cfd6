//! An NFS server for the QEMU tests: nfs-ganesha with the VFS FSAL, serving host directories
//! over NFSv3 and NFSv4 (TCP only) on 127.0.0.1, one private instance per [`NfsServer`].
//!
//! The guest reaches it as `10.0.2.2:<port>` and mounts through mount(2) with the ports spelled
//! out, as a client without the mount.nfs helper must (the kernel then wants `addr=`, and
//! `clientaddr=` for NFSv4; NFSv3 without a portmapper needs `port=` and `mountport=`):
//! `vers=3,port=N,mountport=M,mountproto=tcp,proto=tcp,nolock,addr=10.0.2.2` or
//! `vers=4.1,port=N,addr=10.0.2.2,clientaddr=10.0.2.15` ([`NfsServer::v3_options`] and
//! [`NfsServer::v4_options`] give the server-specific part). With `Mount_Path_Pseudo = true`
//! NFSv3 MOUNT paths are the exports' pseudo paths, so `10.0.2.2:/clients` means the same export
//! over v3 and v4.
//!
//! Several instances run at once under `cargo test`, so nothing is shared:
//! - free ports for NFS and MOUNT, picked by binding port 0 on 127.0.0.1 (a start that loses
//!   the race for one is retried with new ports); `Bind_addr = 127.0.0.1` keeps the server off
//!   every other address;
//! - a private directory, `target/testbed-tmp/ganesha-<test pid>-<n>/`, holds the config, the
//!   log, the pid file (`-p`: no global /var/run/ganesha/ganesha.pid) and the NFSv4 recovery
//!   state (`RecoveryRoot`: not /var/lib/nfs/ganesha);
//! - no rpcbind. ganesha 4.3 refuses to start with NFSv3 enabled unless it can register with
//!   rpcbind ("Cannot register NFS V3 on TCP" is fatal), and a real rpcbind is one per machine,
//!   on port 111 of every interface. Instead ganesha runs in a mount namespace of its own
//!   (`unshare --mount`) in which the instance's `run/` directory is bind-mounted over /run,
//!   and the test bed's portmapper ([`crate::portmap`]) listens on `run/rpcbind.sock`, the
//!   socket libntirpc tries first. It says yes to every SET and UNSET and keeps the table
//!   ([`NfsServer::registrations`]). Guests are given the ports on their command lines; one
//!   that must ask (initramfs-tools' klibc) gets them from the same table on port 111
//!   ([`NfsServer::serve_portmap`]). The namespace also hides the system D-Bus, which ganesha
//!   only logs CRIT lines about, and keeps whatever ganesha puts under /run out of the host's.
//! - `Graceless = true`: a fresh server lets clients open files at once instead of after a
//!   90 s grace period.
//!
//! Root is needed: the VFS FSAL uses `open_by_handle_at` (CAP_DAC_READ_SEARCH) and `unshare
//! --mount` needs CAP_SYS_ADMIN. [`require_ganesha`] checks for that and for the packages
//! (`apt-get install nfs-ganesha nfs-ganesha-vfs`).
//!
//! Caveat for tests: ganesha caches attributes, so change an exported tree from the host
//! before the guest looks at it, not while it does.

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use crate::portmap::Registration;
use crate::portmap::{Portmapper, Query};

/// The ganesha daemon, looked up in `PATH` (Debian: /usr/bin/ganesha.nfsd).
pub const GANESHA_BINARY: &str = "ganesha.nfsd";

/// Where distributions put ganesha's FSAL plugins; the VFS one is `libfsalvfs.so`.
const FSAL_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/ganesha",
    "/usr/lib/ganesha",
    "/usr/lib64/ganesha",
];

/// ganesha is ready in about 0.1 s here; the bound only matters when it hangs.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long SIGTERM gets before SIGKILL; a clean shutdown takes 1-3 s.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Starts retried after losing a port to another process between probing and binding.
const START_ATTEMPTS: usize = 3;
/// Logged by ganesha once its listeners, exports and worker threads are up.
const READY_MARKER: &str = "NFS SERVER INITIALIZED";
/// NFSv4 lease (seconds): short, so a guest that powered off without unmounting stops
/// holding state soon; long enough that a slow TCG guest renews in time.
const LEASE_LIFETIME_S: u32 = 20;
/// How many log lines an error message shows.
const TAIL_LINES: usize = 40;

/// The prefix of instance directories under [`crate::dirs::scratch_dir`]; see [`reap_stale`].
const INSTANCE_PREFIX: &str = "ganesha-";
/// Instance directories made by this process, for unique names.
static INSTANCES: AtomicU32 = AtomicU32::new(0);

/// One exported host directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The host directory (made absolute and canonical by [`NfsServer::start`]).
    pub path: PathBuf,
    /// Where clients find it: the NFSv4 pseudo path, and the NFSv3 MOUNT path too
    /// (`/clients`).
    pub pseudo: String,
    pub read_only: bool,
}

impl Export {
    /// A read-only export, like an NFS-root cluster's `/clients` root.
    pub fn read_only(path: impl Into<PathBuf>, pseudo: &str) -> Export {
        Export {
            path: path.into(),
            pseudo: pseudo.to_owned(),
            read_only: true,
        }
    }

    /// A writable export, like an NFS-root cluster's `/workers` (a directory per node).
    pub fn read_write(path: impl Into<PathBuf>, pseudo: &str) -> Export {
        Export {
            path: path.into(),
            pseudo: pseudo.to_owned(),
            read_only: false,
        }
    }
}

/// The TCP ports of one server, both on 127.0.0.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub nfs: u16,
    pub mount: u16,
}

/// The ganesha configuration for `exports` on `ports`, NFSv4 recovery state under
/// `recovery_root`. Pure; [`NfsServer::start`] writes it. Export ids follow the order of
/// `exports`, from 1 (0 is ganesha's pseudo root).
pub fn ganesha_config(exports: &[Export], ports: Ports, recovery_root: &Path) -> Result<String> {
    if exports.is_empty() {
        bail!("an NFS server needs at least one export");
    }
    if ports.nfs == ports.mount {
        bail!(
            "NFS and MOUNT need different ports, got {} twice",
            ports.nfs
        );
    }
    let recovery = quoted(recovery_root, "the recovery directory")?;
    let mut seen: Vec<&str> = Vec::new();
    for export in exports {
        check_pseudo(&export.pseudo)?;
        if seen.contains(&export.pseudo.as_str()) {
            bail!("pseudo path {:?} is exported twice", export.pseudo);
        }
        seen.push(&export.pseudo);
        if !export.path.is_absolute() {
            bail!(
                "export {} must be an absolute path (for {})",
                export.path.display(),
                export.pseudo
            );
        }
    }

    let mut conf = String::new();
    // `write!` into a String cannot fail; the results are ignored on purpose below.
    let _ = write!(
        conf,
        "# Written by testbed::nfs for one test server; see that module's docs.\n\
         NFS_CORE_PARAM {{\n\
         \x20   Protocols = 3, 4;\n\
         \x20   # Loopback only: the guest comes in through QEMU's user networking.\n\
         \x20   Bind_addr = 127.0.0.1;\n\
         \x20   NFS_Port = {nfs};\n\
         \x20   MNT_Port = {mount};\n\
         \x20   # TCP only, and no NLM (needs rpc.statd; guests mount with nolock) or RQUOTA.\n\
         \x20   Enable_UDP = false;\n\
         \x20   Enable_NLM = false;\n\
         \x20   Enable_RQUOTA = false;\n\
         \x20   # NFSv3 MOUNT paths are the pseudo paths, as for NFSv4.\n\
         \x20   Mount_Path_Pseudo = true;\n\
         }}\n\
         \n\
         # sec=sys only; without this ganesha looks for a krb5 keytab and logs errors.\n\
         NFS_KRB5 {{\n\
         \x20   Active_krb5 = false;\n\
         }}\n\
         \n\
         NFSv4 {{\n\
         \x20   RecoveryBackend = fs;\n\
         \x20   RecoveryRoot = {recovery};\n\
         \x20   # No grace period: clients may open files as soon as the server is up.\n\
         \x20   Graceless = true;\n\
         \x20   Lease_Lifetime = {LEASE_LIFETIME_S};\n\
         \x20   # Owners as numbers both ways: the guest has no idmapd.\n\
         \x20   Only_Numeric_Owners = true;\n\
         \x20   # NFSv4.0 and 4.1, not 4.2: a client that asks for plain NFSv4 must negotiate.\n\
         \x20   Minor_Versions = 0, 1;\n\
         }}\n",
        nfs = ports.nfs,
        mount = ports.mount,
    );
    for (i, export) in exports.iter().enumerate() {
        let _ = write!(
            conf,
            "\n\
             EXPORT {{\n\
             \x20   Export_Id = {id};\n\
             \x20   Path = {path};\n\
             \x20   Pseudo = {pseudo};\n\
             \x20   Access_Type = {access};\n\
             \x20   Squash = No_Root_Squash;\n\
             \x20   SecType = sys;\n\
             \x20   Protocols = 3, 4;\n\
             \x20   Transports = TCP;\n\
             \x20   FSAL {{\n\
             \x20       Name = VFS;\n\
             \x20   }}\n\
             }}\n",
            id = i + 1,
            path = quoted(&export.path, "an export path")?,
            pseudo = quoted(Path::new(&export.pseudo), "a pseudo path")?,
            access = if export.read_only { "RO" } else { "RW" },
        );
    }
    Ok(conf)
}

/// A ganesha config string: double quotes, and nothing its lexer would treat specially.
fn quoted(path: &Path, what: &str) -> Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{what} {} is not UTF-8", path.display()))?;
    if text
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        bail!("{what} {text:?} has a quote, backslash or control character");
    }
    Ok(format!("\"{text}\""))
}

/// Pseudo paths are absolute, not the pseudo root itself, without empty or dot components.
fn check_pseudo(pseudo: &str) -> Result<()> {
    let Some(rest) = pseudo.strip_prefix('/') else {
        bail!("pseudo path {pseudo:?} must start with /");
    };
    if rest
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        bail!("pseudo path {pseudo:?} must not be / or have empty, . or .. components");
    }
    Ok(())
}

/// A running ganesha. Dropping it stops the daemon (SIGTERM, then SIGKILL) and removes its
/// directory.
#[derive(Debug)]
pub struct NfsServer {
    child: Child,
    ports: Ports,
    dir: PathBuf,
    config: String,
    exports: Vec<Export>,
    startup: Duration,
    portmap: Portmapper,
}

impl NfsServer {
    /// Writes a config for `exports` into a fresh directory under [`crate::dirs::scratch_dir`],
    /// starts ganesha on free loopback ports and waits until it serves (its log says so and
    /// both ports accept connections). Export paths must be existing directories.
    pub fn start(exports: &[Export]) -> Result<NfsServer> {
        let exports = exports
            .iter()
            .map(|export| {
                let path = fs::canonicalize(&export.path).with_context(|| {
                    format!("resolving export directory {}", export.path.display())
                })?;
                if !path.is_dir() {
                    bail!("export {} is not a directory", path.display());
                }
                Ok(Export {
                    path,
                    ..export.clone()
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let scratch = crate::dirs::scratch_dir();
        reap_stale(&scratch);
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let dir = scratch.join(format!("{INSTANCE_PREFIX}{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        for sub in ["run", "recovery"] {
            let path = dir.join(sub);
            fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        }
        // Fail on bad exports before anything runs.
        ganesha_config(&exports, Ports { nfs: 1, mount: 2 }, &dir.join("recovery"))?;
        let mut portmap = Portmapper::new();
        portmap.listen_unix(&dir.join("run").join("rpcbind.sock"))?;

        let mut lost_ports = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let ports = free_ports()?;
            let config = ganesha_config(&exports, ports, &dir.join("recovery"))?;
            match launch(&dir, &config, ports) {
                Ok((child, startup)) => {
                    return Ok(NfsServer {
                        child,
                        ports,
                        dir,
                        config,
                        exports,
                        startup,
                        portmap,
                    });
                }
                Err(Launch::PortTaken(err)) => lost_ports.push(format!("{err:#}")),
                Err(Launch::Failed(err)) => return Err(err),
            }
        }
        bail!(
            "ganesha lost its ports to other processes {START_ATTEMPTS} times in a row:\n{}",
            lost_ports.join("\n")
        )
    }

    pub fn nfs_port(&self) -> u16 {
        self.ports.nfs
    }

    pub fn mount_port(&self) -> u16 {
        self.ports.mount
    }

    pub fn ports(&self) -> Ports {
        self.ports
    }

    /// The NFSv3 mount options that depend on this server. A guest adds `nolock` (no
    /// rpc.statd in an initramfs) and `addr=10.0.2.2`.
    pub fn v3_options(&self) -> String {
        format!(
            "vers=3,port={},mountport={},mountproto=tcp,proto=tcp",
            self.ports.nfs, self.ports.mount
        )
    }

    /// The NFSv4 mount options that depend on this server. A guest adds `addr=10.0.2.2` and
    /// `clientaddr=<its address>`.
    pub fn v4_options(&self) -> String {
        format!("vers=4.1,port={}", self.ports.nfs)
    }

    /// The exports as served (canonical host paths).
    pub fn exports(&self) -> &[Export] {
        &self.exports
    }

    /// The configuration ganesha runs with.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// This instance's directory: `ganesha.conf`, `ganesha.log`, `run/`, `recovery/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// ganesha's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// From spawning ganesha to it serving.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// What ganesha has registered with the portmapper (NFS and MOUNT, v3 and v4).
    pub fn registrations(&self) -> Vec<Registration> {
        self.portmap.registrations()
    }

    /// Answers portmap GETPORT queries for this server's programs over TCP and UDP on `addr`
    /// (127.0.0.1:111 for a guest on QEMU's user network, which sees it as 10.0.2.2:111), for
    /// clients that cannot be given the ports. Port 111 is the host's own rpcbind's: call this
    /// inside [`crate::netns::NetNs::enter`], so that it binds in a namespace of the caller's.
    pub fn serve_portmap(&mut self, addr: SocketAddrV4) -> Result<()> {
        self.portmap.listen_inet(addr)
    }

    /// The GETPORT queries answered so far ([`NfsServer::serve_portmap`]).
    pub fn portmap_queries(&self) -> Vec<Query> {
        self.portmap.queries()
    }

    /// ganesha's log so far, then anything it or its wrapper printed, for failure messages.
    pub fn log(&self) -> String {
        read_logs(&self.dir)
    }

    /// Whether the daemon is still running (it may have died on its own).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for NfsServer {
    fn drop(&mut self) {
        if let Err(err) = stop(&mut self.child) {
            eprintln!("stopping ganesha (pid {}): {err:#}", self.child.id());
        }
        self.portmap.stop();
        // Best effort: a failed removal only leaves files that the next start reaps.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Two distinct free ports on 127.0.0.1. Both listeners are closed on return, so another
/// process may take a port before ganesha binds it: [`NfsServer::start`] retries then.
fn free_ports() -> Result<Ports> {
    let nfs = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("probing for a free port")?;
    let mount = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("probing for a free port")?;
    Ok(Ports {
        nfs: nfs.local_addr().context("reading a probed port")?.port(),
        mount: mount.local_addr().context("reading a probed port")?.port(),
    })
}

enum Launch {
    /// ganesha could not bind a port it was given: try others.
    PortTaken(anyhow::Error),
    Failed(anyhow::Error),
}

/// The wrapper run by `unshare --mount`: `$0` is the instance's run directory, the rest is
/// ganesha's command line. `exec` keeps the pid, so the child we hold is ganesha itself.
const WRAPPER: &str = r#"mount --bind "$0" /run && exec "$@""#;

/// Starts ganesha with `config` and waits until it serves, or fails.
fn launch(dir: &Path, config: &str, ports: Ports) -> Result<(Child, Duration), Launch> {
    let conf_path = dir.join("ganesha.conf");
    let log_path = dir.join("ganesha.log");
    let console_path = dir.join("console.log");
    let setup = || -> Result<fs::File> {
        fs::write(&conf_path, config)
            .with_context(|| format!("writing {}", conf_path.display()))?;
        // A previous attempt's log would confuse the readiness check.
        for old in [&log_path, &console_path] {
            match fs::remove_file(old) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", old.display()));
                }
                _ => {}
            }
        }
        fs::File::create(&console_path)
            .with_context(|| format!("creating {}", console_path.display()))
    };
    let console = setup().map_err(Launch::Failed)?;
    let console_err = console
        .try_clone()
        .context("duplicating the console log handle")
        .map_err(Launch::Failed)?;

    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
        .arg(WRAPPER)
        .arg(dir.join("run"))
        .arg(GANESHA_BINARY)
        .arg("-F")
        .arg("-L")
        .arg(&log_path)
        .arg("-f")
        .arg(&conf_path)
        .arg("-p")
        .arg(dir.join("ganesha.pid"))
        .stdin(Stdio::null())
        .stdout(console)
        .stderr(console_err);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .context("running unshare (util-linux) to start ganesha")
        .map_err(Launch::Failed)?;

    let deadline = start + STARTUP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let log = read_logs(dir);
                let err = anyhow::anyhow!(
                    "ganesha exited during startup ({status}) on ports {}/{}; log {}:\n{}",
                    ports.nfs,
                    ports.mount,
                    log_path.display(),
                    tail(&log, TAIL_LINES)
                );
                let port_taken =
                    log.contains("Address already in use") || log.contains("Cannot bind");
                return Err(if port_taken {
                    Launch::PortTaken(err)
                } else {
                    Launch::Failed(err)
                });
            }
            Ok(None) => {}
            Err(e) => {
                let _ = stop(&mut child);
                return Err(Launch::Failed(
                    anyhow::Error::from(e).context("waiting for ganesha"),
                ));
            }
        }
        let initialized = fs::read_to_string(&log_path).is_ok_and(|log| log.contains(READY_MARKER));
        if initialized && accepts(ports.nfs) && accepts(ports.mount) {
            return Ok((child, start.elapsed()));
        }
        if Instant::now() >= deadline {
            let _ = stop(&mut child);
            return Err(Launch::Failed(anyhow::anyhow!(
                "ganesha did not serve on ports {}/{} within {STARTUP_TIMEOUT:?}; log {}:\n{}",
                ports.nfs,
                ports.mount,
                log_path.display(),
                tail(&read_logs(dir), TAIL_LINES)
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// SIGTERM, up to [`STOP_GRACE`] for a clean exit, then SIGKILL.
fn stop(child: &mut Child) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait().context("checking on ganesha")? {
        return Ok(Some(status));
    }
    // std can only send SIGKILL, and the test bed has no libc binding: the shell's kill builtin
    // exists wherever /bin/sh does.
    let _ = signal(child.id(), "TERM");
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().context("waiting for ganesha")? {
            return Ok(Some(status));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().context("killing ganesha")?;
    child.wait().context("reaping ganesha")?;
    Ok(None)
}

fn signal(pid: u32, name: &str) -> io::Result<ExitStatus> {
    Command::new("/bin/sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

/// ganesha's log, then the wrapper's output (unshare and mount errors land there).
fn read_logs(dir: &Path) -> String {
    let mut out = fs::read(dir.join("ganesha.log"))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    if let Ok(console) = fs::read(dir.join("console.log")) {
        if !console.is_empty() {
            out.push_str("--- ganesha/unshare output ---\n");
            out.push_str(&String::from_utf8_lossy(&console));
        }
    }
    out
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes instance directories whose test process is gone (killed before its servers were
/// dropped), killing their ganesha if it still runs. Errors are ignored: this is tidying.
fn reap_stale(scratch: &Path) {
    let Ok(entries) = fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|n| n.strip_prefix(INSTANCE_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(owner, _)| owner.parse::<u32>().ok())
        else {
            continue;
        };
        if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        let dir = entry.path();
        let ganesha = fs::read_to_string(dir.join("ganesha.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if let Some(pid) = ganesha {
            // Only a ganesha started with this directory's config: the pid may be reused.
            let conf = dir.join("ganesha.conf");
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ours = cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == conf.as_os_str().as_encoded_bytes());
            if ours {
                let _ = signal(pid, "KILL");
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Whether ganesha can run here: the daemon and its VFS FSAL are installed, `unshare` is
/// there, and this is root. When not: panics under `CI=true`, otherwise prints a loud skip
/// message and returns `false` so the calling test can return early.
pub fn require_ganesha() -> bool {
    match ganesha_missing() {
        None => true,
        Some(reason) => {
            crate::skip::skip_or_fail(&reason);
            false
        }
    }
}

/// Why ganesha cannot run here, if it cannot.
fn ganesha_missing() -> Option<String> {
    let version = Command::new(GANESHA_BINARY)
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !version.as_ref().is_ok_and(ExitStatus::success) {
        return Some(format!(
            "`{GANESHA_BINARY} -v` does not run ({version:?}); Debian: apt-get install nfs-ganesha nfs-ganesha-vfs"
        ));
    }
    if !FSAL_DIRS
        .iter()
        .any(|dir| Path::new(dir).join("libfsalvfs.so").is_file())
    {
        return Some(format!(
            "ganesha's VFS FSAL (libfsalvfs.so) is not in {FSAL_DIRS:?}; Debian: apt-get install nfs-ganesha-vfs"
        ));
    }
    let unshare = Command::new("unshare")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !unshare.as_ref().is_ok_and(ExitStatus::success) {
        return Some(format!("unshare (util-linux) does not run ({unshare:?})"));
    }
    match effective_uid() {
        Some(0) => None,
        Some(uid) => Some(format!(
            "ganesha needs root (open_by_handle_at, mount namespaces); running as uid {uid}"
        )),
        None => Some("cannot read the effective uid from /proc/self/status".to_owned()),
    }
}

/// The effective uid, from /proc (the test bed has no libc binding).
fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    // Uid: real effective saved filesystem
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            nfs: 2049,
            mount: 20048,
        }
    }

    #[test]
    fn config_has_the_settings_guests_rely_on() {
        let conf = ganesha_config(
            &[
                Export::read_only("/srv/clients", "/clients"),
                Export::read_write("/srv/workers", "/workers"),
            ],
            ports(),
            Path::new("/tmp/x/recovery"),
        )
        .expect("valid");
        for needle in [
            "Protocols = 3, 4;",
            "Bind_addr = 127.0.0.1;",
            "NFS_Port = 2049;",
            "MNT_Port = 20048;",
            "Enable_UDP = false;",
            "Mount_Path_Pseudo = true;",
            "RecoveryBackend = fs;",
            "RecoveryRoot = \"/tmp/x/recovery\";",
            "Graceless = true;",
            "Export_Id = 1;\n    Path = \"/srv/clients\";\n    Pseudo = \"/clients\";\n    Access_Type = RO;",
            "Export_Id = 2;\n    Path = \"/srv/workers\";\n    Pseudo = \"/workers\";\n    Access_Type = RW;",
            "Squash = No_Root_Squash;",
            "SecType = sys;",
            "Transports = TCP;",
            "Name = VFS;",
        ] {
            assert!(conf.contains(needle), "missing {needle:?} in:\n{conf}");
        }
        assert_eq!(conf.matches("EXPORT {").count(), 2);
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }

    #[test]
    fn config_rejects_what_ganesha_would_misread() {
        let rec = Path::new("/tmp/rec");
        let bad: &[(&[Export], &str)] = &[
            (&[], "at least one export"),
            (&[Export::read_only("/a", "clients")], "must start with /"),
            (&[Export::read_only("/a", "/")], "must not be /"),
            (&[Export::read_only("/a", "/a//b")], "empty"),
            (&[Export::read_only("/a", "/a/../b")], ".."),
            (&[Export::read_only("relative", "/a")], "absolute"),
            (&[Export::read_only("/a\"b", "/a")], "quote"),
            (&[Export::read_only("/a\nb", "/a")], "control"),
            (
                &[
                    Export::read_only("/a", "/x"),
                    Export::read_write("/b", "/x"),
                ],
                "exported twice",
            ),
        ];
        for (exports, expected) in bad {
            let err = ganesha_config(exports, ports(), rec).expect_err("must be rejected");
            assert!(
                err.to_string().contains(expected),
                "{exports:?}: {err} (wanted {expected:?})"
            );
        }
        let same = Ports { nfs: 5, mount: 5 };
        assert!(ganesha_config(&[Export::read_only("/a", "/a")], same, rec).is_err());
    }
}
