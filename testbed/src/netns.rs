//! Network namespaces for tests that need a network of their own: a tap device for QEMU, a
//! dnsmasq (DHCP and DNS) on it, TCP relays into it, and QEMU run inside it.
//!
//! Everything lives in a namespace the test creates, so nothing touches the host's interfaces
//! or addresses, and everything goes away when its guard is dropped, also after a panic:
//!
//! ```text
//!   netns diskless-<pid>-<n>-<tag>   (lo up; deleted by NetNs's Drop)
//!     tap0 192.168.77.1/24  <- QEMU's -netdev tap, the guest behind it
//!     dnsmasq --interface=tap0 (DHCP + DNS on 192.168.77.1)   (killed by Dnsmasq's Drop)
//!     192.168.77.1:<p> -> relayed to the host's 127.0.0.1:<port>  (TcpRelay's Drop)
//! ```
//!
//! A QEMU in the namespace with user networking (slirp) sees the *namespace's* 127.0.0.1 as
//! 10.0.2.2, and [`NetNs::qemu_resolving_via`] points slirp's DNS proxy (10.0.2.3) at a server
//! of the test's choosing instead of the host's resolvers.
//!
//! Needs root and `ip` (iproute2); dnsmasq comes from dnsmasq-base. [`require_netns`] and
//! [`require_dnsmasq`] skip loudly without them, and fail under `CI=true`.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::qemu::Qemu;

/// Every namespace this module creates is named `diskless-<pid>-...`: the pid tells a later
/// run whether its owner is gone (see [`remove_stale`]).
const NAME_PREFIX: &str = "diskless-";

/// `CLONE_NEWNET` from `<sched.h>`: the namespace type setns(2) is asked to join.
const CLONE_NEWNET: std::ffi::c_int = 0x4000_0000;

// std links the C library already; the test bed has no libc/nix dependency for this one call.
unsafe extern "C" {
    fn setns(fd: std::ffi::c_int, nstype: std::ffi::c_int) -> std::ffi::c_int;
}

/// Where iproute2 keeps named namespaces.
const NETNS_RUN_DIR: &str = "/run/netns";

/// How long dnsmasq gets to start serving.
const DNSMASQ_START: Duration = Duration::from_secs(10);

/// A network namespace, deleted on drop. Created with its loopback up.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    dir: PathBuf,
}

impl NetNs {
    /// Creates `diskless-<pid>-<n>-<tag>` (`tag` only makes logs readable) and a scratch
    /// directory for it under `target/testbed-tmp/`. Namespaces of earlier runs whose process
    /// is gone are deleted first.
    pub fn new(tag: &str) -> io::Result<NetNs> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        remove_stale();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = tag
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(24)
            .collect();
        let name = format!("{NAME_PREFIX}{}-{n}-{tag}", std::process::id());
        let dir = crate::dirs::scratch_dir().join("netns").join(&name);
        std::fs::create_dir_all(&dir)?;
        run_ip(&["netns", "add", &name])?;
        // From here on Drop deletes it, whatever fails next.
        let ns = NetNs { name, dir };
        // slirp reaches "the host" through 127.0.0.1, and dnsmasq listens on it.
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's file, `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        Path::new(NETNS_RUN_DIR).join(&self.name)
    }

    /// This namespace's scratch directory (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ip -n <name> <args>`, failing with ip's stderr when it fails.
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run_ip(&all)
    }

    /// `ip netns exec <name> <program>`: add arguments and run it as usual. `ip netns exec`
    /// execs the program (same pid), in a private mount namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// Runs `program args` inside the namespace and returns its output; a failure to start or
    /// a non-zero exit is an error carrying stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let output = self.command(program).args(args).output()?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(io::Error::other(format!(
                "`{program} {}` in {}: {}: {}",
                args.join(" "),
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// Runs `work` on a thread that has joined the namespace (setns(2) moves only the calling
    /// thread). Sockets it creates belong to the namespace for their whole life, and threads it
    /// spawns start inside it: `ns.enter(|| HttpServer::serve_files(..))` serves on the
    /// namespace's 127.0.0.1.
    pub fn enter<T: Send>(&self, work: impl FnOnce() -> T + Send) -> io::Result<T> {
        let ns = File::open(self.path())?;
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: `ns` is an open namespace file for the whole call, the type
                    // matches it, and setns(2) changes only this thread, which is ours and
                    // ends with `work`.
                    let rc = unsafe { setns(ns.as_raw_fd(), CLONE_NEWNET) };
                    if rc != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(work())
                })
                .join()
                .map_err(|_| io::Error::other("the thread inside the namespace panicked"))?
        })
    }

    /// Creates tap device `ifname` in the namespace with `cidr` (`192.168.77.1/24`) as the
    /// server side's address, link up. It has no carrier until QEMU opens it
    /// ([`Qemu::tap_nic`]); it goes away with the namespace.
    pub fn add_tap(&self, ifname: &str, cidr: &str) -> io::Result<()> {
        self.ip(&["tuntap", "add", "dev", ifname, "mode", "tap"])?;
        self.ip(&["addr", "add", cidr, "dev", ifname])?;
        self.ip(&["link", "set", ifname, "up"])
    }

    /// `qemu` run inside the namespace: its binary becomes a wrapper script that runs
    /// `ip netns exec <name> qemu-system-x86_64 "$@"`. Tap NICs ([`Qemu::tap_nic`]) must be
    /// in this namespace; user-mode NICs reach the namespace's 127.0.0.1 as 10.0.2.2, and
    /// slirp's DNS proxy (10.0.2.3) uses the host's /etc/resolv.conf servers, which the
    /// namespace cannot reach (see [`NetNs::qemu_resolving_via`]).
    pub fn qemu(&self, qemu: Qemu) -> io::Result<Qemu> {
        let script = format!(
            "#!/bin/sh\n\
             # Written by testbed::netns: QEMU inside network namespace {name}.\n\
             exec ip netns exec {name} {qemu} \"$@\"\n",
            name = self.name,
            qemu = crate::qemu::QEMU_BINARY,
        );
        self.write_wrapper("qemu.sh", &script)
            .map(|path| qemu.binary(path))
    }

    /// Like [`NetNs::qemu`], and slirp's DNS proxy (10.0.2.3) forwards the guest's queries to
    /// `nameserver` (in the namespace: `127.0.0.1` for a [`Dnsmasq`] listening there).
    ///
    /// slirp reads the first `nameserver` of /etc/resolv.conf when a query arrives. `ip netns
    /// exec` runs QEMU in a private mount namespace (mounts there are slaves of the host's and
    /// never propagate back), so the wrapper bind-mounts a resolv.conf of ours over
    /// /etc/resolv.conf in it: the host's file is not touched.
    pub fn qemu_resolving_via(&self, qemu: Qemu, nameserver: IpAddr) -> io::Result<Qemu> {
        let resolv = self.dir.join("resolv.conf");
        std::fs::write(
            &resolv,
            format!("# QEMU's view, from testbed::netns\nnameserver {nameserver}\n"),
        )?;
        let script = format!(
            "#!/bin/sh\n\
             # Written by testbed::netns: QEMU inside network namespace {name}, with\n\
             # {resolv} over /etc/resolv.conf in QEMU's own mount namespace.\n\
             exec ip netns exec {name} /bin/sh -c \
             'mount --bind \"$0\" /etc/resolv.conf && exec {qemu} \"$@\"' '{resolv}' \"$@\"\n",
            name = self.name,
            resolv = resolv.display(),
            qemu = crate::qemu::QEMU_BINARY,
        );
        self.write_wrapper("qemu-dns.sh", &script)
            .map(|path| qemu.binary(path))
    }

    fn write_wrapper(&self, file: &str, script: &str) -> io::Result<PathBuf> {
        if self.dir.to_string_lossy().contains('\'') {
            return Err(io::Error::other(format!(
                "{} holds a single quote, which the wrapper script cannot quote",
                self.dir.display()
            )));
        }
        let path = self.dir.join(file);
        std::fs::write(&path, script)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(path)
    }

    /// Starts dnsmasq in the namespace as `config` says, and waits until it serves.
    pub fn dnsmasq(&self, config: &DnsmasqConfig) -> io::Result<Dnsmasq> {
        Dnsmasq::start(self, config)
    }

    /// Listens on `listen` inside the namespace and relays each connection to `target` as
    /// reached from the calling thread's namespace (normally the host's, where the test's
    /// [`crate::http::HttpServer`] listens on 127.0.0.1). A guest on a tap gets at the test server
    /// this way while the server keeps its request log.
    pub fn relay_tcp(&self, listen: SocketAddr, target: SocketAddr) -> io::Result<TcpRelay> {
        let listener = self.enter(|| TcpListener::bind(listen))??;
        TcpRelay::start(listener, target)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the devices in it (the tap). Processes still inside
        // keep it alive until they exit; their guards kill them.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Deletes namespaces left by runs that were killed before their guards ran (their pid is
/// gone). Others' namespaces and live runs' are left alone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_RUN_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NAME_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Whether network namespaces can be made here (root and iproute2). When not: panics under
/// `CI=true`, otherwise prints a loud skip message and returns `false`.
pub fn require_netns() -> bool {
    if !is_root() {
        crate::skip::skip_or_fail("needs root (network namespaces, tap devices)");
        return false;
    }
    if !tool_exists("ip") {
        crate::skip::skip_or_fail("needs `ip` (Debian: apt-get install iproute2)");
        return false;
    }
    true
}

/// [`require_netns`], and dnsmasq installed.
pub fn require_dnsmasq() -> bool {
    if !require_netns() {
        return false;
    }
    if !tool_exists("dnsmasq") {
        crate::skip::skip_or_fail("needs `dnsmasq` (Debian: apt-get install dnsmasq-base)");
        return false;
    }
    true
}

fn is_root() -> bool {
    // The owner of /proc/self is the process's effective uid.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

fn tool_exists(tool: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(tool).exists())
}

/// What a [`Dnsmasq`] serves. DNS is always on (port 53), answering from its DHCP leases,
/// `dhcp-host` names and [`DnsmasqConfig::address`] entries only: the host's /etc/hosts and
/// resolv.conf are not read (`--no-hosts --no-resolv`), so nothing leaves the namespace.
#[derive(Debug, Clone, Default)]
pub struct DnsmasqConfig {
    interface: Option<String>,
    listen: Vec<Ipv4Addr>,
    dhcp_range: Option<String>,
    hosts: Vec<String>,
    domain: Option<String>,
    options: Vec<String>,
    addresses: Vec<(String, Ipv4Addr)>,
    extra: Vec<String>,
}

impl DnsmasqConfig {
    pub fn new() -> DnsmasqConfig {
        DnsmasqConfig::default()
    }

    /// Serves on this interface only (`--interface`, `--bind-interfaces`; dnsmasq adds `lo`).
    pub fn interface(mut self, ifname: &str) -> DnsmasqConfig {
        self.interface = Some(ifname.to_owned());
        self
    }

    /// DNS on this address only (`--listen-address`, `--bind-interfaces`).
    pub fn listen_address(mut self, addr: Ipv4Addr) -> DnsmasqConfig {
        self.listen.push(addr);
        self
    }

    /// Turns DHCP on: `--dhcp-range=<range>`, e.g. `192.168.77.10,192.168.77.99,12h`, or
    /// `192.168.77.0,static` to answer only hosts given by [`DnsmasqConfig::dhcp_host`] (as
    /// a locked-down cluster gateway does).
    pub fn dhcp_range(mut self, range: &str) -> DnsmasqConfig {
        self.dhcp_range = Some(range.to_owned());
        self
    }

    /// `--dhcp-host=<mac>,<ip>[,<name>]`: a fixed address, and a name the server hands out.
    pub fn dhcp_host(mut self, mac: &str, ip: Ipv4Addr, name: Option<&str>) -> DnsmasqConfig {
        let mut entry = format!("{mac},{ip}");
        if let Some(name) = name {
            entry.push(',');
            entry.push_str(name);
        }
        self.hosts.push(entry);
        self
    }

    /// `--domain=<domain> --expand-hosts --local=/<domain>/`: leases' names resolve as
    /// `<name>.<domain>`, the domain goes to clients (option 15), and dnsmasq answers for the
    /// whole domain itself (see [`DnsmasqConfig::host_record`] for why `--local`).
    pub fn domain(mut self, domain: &str) -> DnsmasqConfig {
        self.domain = Some(domain.to_owned());
        self
    }

    /// `--dhcp-option=<option>`, e.g. `option:root-path,/srv/roots/worker`.
    pub fn dhcp_option(mut self, option: &str) -> DnsmasqConfig {
        self.options.push(option.to_owned());
        self
    }

    /// `--host-record=<name>,<ip> --local=/<name>/`: a fixed A record, and "no data" for the
    /// name's other types. With no upstream server, dnsmasq answers a query it has no data
    /// for (the AAAA half of every lookup) with REFUSED, which musl's resolver ignores as if
    /// no reply came, failing the whole lookup after its timeout; `--local` makes it answer.
    pub fn host_record(mut self, name: &str, ip: Ipv4Addr) -> DnsmasqConfig {
        self.addresses.push((name.to_owned(), ip));
        self
    }

    /// Any other dnsmasq option, as written on its command line.
    pub fn arg(mut self, arg: &str) -> DnsmasqConfig {
        self.extra.push(arg.to_owned());
        self
    }

    /// The dnsmasq arguments, given the files it writes.
    fn args(&self, log: &Path, leases: &Path, pid: &Path) -> Vec<String> {
        let mut args: Vec<String> = [
            "--keep-in-foreground",
            // No /etc/dnsmasq.conf nor /etc/dnsmasq.d: only what the test says.
            "--conf-file=/dev/null",
            "--no-hosts",
            "--no-resolv",
            // It runs as root so that it can write its files in the scratch directory.
            "--user=root",
            "--group=root",
            "--port=53",
            "--bind-interfaces",
            // No ICMP probe before offering an address: saves ~3 s per boot, nobody else is
            // on the link.
            "--no-ping",
            "--log-queries",
            "--log-dhcp",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push(format!("--log-facility={}", log.display()));
        args.push(format!("--dhcp-leasefile={}", leases.display()));
        args.push(format!("--pid-file={}", pid.display()));
        if let Some(ifname) = &self.interface {
            args.push(format!("--interface={ifname}"));
        }
        for addr in &self.listen {
            args.push(format!("--listen-address={addr}"));
        }
        if let Some(range) = &self.dhcp_range {
            args.push(format!("--dhcp-range={range}"));
        }
        for host in &self.hosts {
            args.push(format!("--dhcp-host={host}"));
        }
        if let Some(domain) = &self.domain {
            args.push(format!("--domain={domain}"));
            args.push("--expand-hosts".to_owned());
            args.push(format!("--local=/{domain}/"));
        }
        for option in &self.options {
            args.push(format!("--dhcp-option={option}"));
        }
        for (name, ip) in &self.addresses {
            args.push(format!("--host-record={name},{ip}"));
            args.push(format!("--local=/{name}/"));
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// A dnsmasq running in a [`NetNs`]; killed on drop. Its log goes to
/// `target/testbed-logs/<namespace>-dnsmasq.log` and stays there.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    log: PathBuf,
    leases: PathBuf,
}

impl Dnsmasq {
    fn start(ns: &NetNs, config: &DnsmasqConfig) -> io::Result<Dnsmasq> {
        let logs = crate::dirs::logs_dir();
        std::fs::create_dir_all(&logs)?;
        let log = logs.join(format!("{}-dnsmasq.log", ns.name()));
        // A log of an earlier run with the same name would satisfy the start check below.
        let _ = std::fs::remove_file(&log);
        let leases = ns.dir().join("dnsmasq.leases");
        let pid = ns.dir().join("dnsmasq.pid");
        let args = config.args(&log, &leases, &pid);
        let child = ns
            .command("dnsmasq")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut dnsmasq = Dnsmasq { child, log, leases };
        // dnsmasq logs these after binding its sockets.
        let ready = if config.dhcp_range.is_some() {
            "DHCP, "
        } else {
            "started, version"
        };
        let deadline = Instant::now() + DNSMASQ_START;
        while !dnsmasq.log().contains(ready) {
            if let Some(status) = dnsmasq.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "dnsmasq exited ({status}) with `{}`:\n{}",
                    args.join(" "),
                    dnsmasq.log()
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "dnsmasq did not start within {DNSMASQ_START:?}:\n{}",
                    dnsmasq.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(dnsmasq)
    }

    /// Everything dnsmasq logged so far (`--log-dhcp`, `--log-queries`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The lease file: `<expiry> <mac> <ip> <name or *> <client-id or *>` per line.
    pub fn leases(&self) -> String {
        std::fs::read_to_string(&self.leases).unwrap_or_default()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP relay from an address inside a namespace to one outside ([`NetNs::relay_tcp`]);
/// stopped on drop, with its open connections shut down.
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpRelay {
    fn start(listener: TcpListener, target: SocketAddr) -> io::Result<TcpRelay> {
        let addr = listener.local_addr()?;
        // Polled, so that Drop can stop it: nothing outside the namespace can connect to the
        // listener to wake a blocking accept.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let acceptor = {
            let stop = Arc::clone(&stop);
            let open = Arc::clone(&open);
            std::thread::Builder::new()
                .name(format!("relay-{}", addr.port()))
                .spawn(move || relay_loop(&listener, target, &stop, &open))?
        };
        Ok(TcpRelay {
            addr,
            stop,
            open,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on, inside the namespace.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>/<name>`, for a guest to fetch through the relay.
    pub fn url_for(&self, name: &str) -> String {
        format!("http://{}/{}", self.addr, name.trim_start_matches('/'))
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // A guest that was killed never closes its end: unblock the copying threads.
        for stream in self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn relay_loop(
    listener: &TcpListener,
    target: SocketAddr,
    stop: &AtomicBool,
    open: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let inside = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        // Connecting from this thread: it runs in the namespace of whoever made the relay.
        let Ok(outside) = TcpStream::connect(target) else {
            let _ = inside.shutdown(Shutdown::Both);
            continue;
        };
        let streams = (
            inside
                .set_nonblocking(false)
                .and_then(|()| inside.try_clone()),
            outside.try_clone(),
        );
        let (Ok(inside_w), Ok(outside_w)) = streams else {
            continue;
        };
        {
            let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
            for stream in [&inside, &outside] {
                if let Ok(clone) = stream.try_clone() {
                    open.push(clone);
                }
            }
        }
        std::thread::spawn(move || pump(inside, outside_w));
        std::thread::spawn(move || pump(outside, inside_w));
    }
}

/// Copies one direction until EOF or an error, then passes the EOF on.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// `a.b.c.d/len` → the address, for tests that take the server side's address from a CIDR.
pub fn cidr_addr(cidr: &str) -> Option<Ipv4Addr> {
    cidr.split('/').next()?.parse().ok()
}

/// A lease file's line for `mac`, split into its fields, if there is one.
pub fn lease_for<'a>(leases: &'a str, mac: &str) -> Option<Vec<&'a str>> {
    leases
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|fields| fields.get(1).is_some_and(|m| m.eq_ignore_ascii_case(mac)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnsmasq_args_keep_the_host_out_and_follow_the_config() {
        let config = DnsmasqConfig::new()
            .interface("tap0")
            .dhcp_range("192.168.77.10,192.168.77.99,1h")
            .dhcp_host("52:54:00:12:34:56", Ipv4Addr::new(192, 168, 77, 50), None)
            .dhcp_host(
                "52:54:00:12:34:57",
                Ipv4Addr::new(192, 168, 77, 51),
                Some("k8s-node3"),
            )
            .domain("cluster.home")
            .dhcp_option("option:root-path,/srv/roots/worker")
            .host_record("images.cluster.home", Ipv4Addr::new(10, 0, 2, 2));
        let args = config.args(
            Path::new("/t/log"),
            Path::new("/t/leases"),
            Path::new("/t/pid"),
        );
        for expected in [
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-hosts",
            "--no-resolv",
            "--bind-interfaces",
            "--interface=tap0",
            "--log-facility=/t/log",
            "--dhcp-leasefile=/t/leases",
            "--pid-file=/t/pid",
            "--dhcp-range=192.168.77.10,192.168.77.99,1h",
            "--dhcp-host=52:54:00:12:34:56,192.168.77.50",
            "--dhcp-host=52:54:00:12:34:57,192.168.77.51,k8s-node3",
            "--domain=cluster.home",
            "--expand-hosts",
            "--dhcp-option=option:root-path,/srv/roots/worker",
            "--local=/cluster.home/",
            "--host-record=images.cluster.home,10.0.2.2",
            "--local=/images.cluster.home/",
        ] {
            assert!(args.iter().any(|a| a == expected), "{expected}: {args:?}");
        }
    }

    #[test]
    fn dns_only_config_has_no_dhcp_range() {
        let args = DnsmasqConfig::new()
            .listen_address(Ipv4Addr::LOCALHOST)
            .args(Path::new("l"), Path::new("s"), Path::new("p"));
        assert!(args.iter().any(|a| a == "--listen-address=127.0.0.1"));
        assert!(!args.iter().any(|a| a.starts_with("--dhcp-range")));
    }

    #[test]
    fn lease_lines_are_found_by_mac() {
        let leases = "1700000000 52:54:00:12:34:56 192.168.77.50 worker-64e59a 01:52:54:00:12:34:56\n\
                      1700000001 52:54:00:aa:bb:cc 192.168.77.51 * *\n";
        assert_eq!(
            lease_for(leases, "52:54:00:12:34:56"),
            Some(vec![
                "1700000000",
                "52:54:00:12:34:56",
                "192.168.77.50",
                "worker-64e59a",
                "01:52:54:00:12:34:56"
            ])
        );
        assert_eq!(lease_for(leases, "52:54:00:00:00:00"), None);
        assert_eq!(
            cidr_addr("192.168.77.1/24"),
            Some(Ipv4Addr::new(192, 168, 77, 1))
        );
    }
}
