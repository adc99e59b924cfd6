//! Booting a node in QEMU and capturing its serial console.
//!
//! The command matches the one initramfs-tools' and dracut's boots were measured with, so boot
//! times compare: `-m 1024 -nographic -no-reboot -kernel … -initrd … -append …` and one
//! `-netdev user` + `-device virtio-net-pci` pair per NIC. Additions:
//!
//! - `-monitor none`: with `-nographic` alone QEMU multiplexes its monitor with the serial port
//!   on stdio (`mon:stdio`). With the monitor switched off, `-nographic` connects the serial
//!   port straight to stdio, so stdout carries only what the guest writes, and no key sequence
//!   on stdin can reach a monitor. stdin is /dev/null anyway.
//! - `-device virtio-rng-pci` (on by default, [`Qemu::rng`]): without it the guest's crng is
//!   seeded late and anything waiting for randomness (DHCP clients, TLS) stalls.
//! - `-nic none` when no NIC is asked for: otherwise QEMU adds a default e1000 on user
//!   networking, and "no network" tests would have one.
//!
//! The guest powers off to end a boot (`poweroff -f` makes QEMU exit); `-no-reboot` turns a
//! reboot, including `panic=-1`'s, into an exit too. Anything else ends at the timeout.

use crate::arch::Arch;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The QEMU binary the test bed runs.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// How many console lines a failed assertion shows.
const TAIL_LINES: usize = 60;

/// One network card: a QEMU user-mode network (`-netdev user`, the host's 127.0.0.1 is
/// 10.0.2.2 to the guest) and the guest-visible device on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    mac: String,
    model: String,
    netdev_opts: Vec<String>,
}

/// The PCI slot of the virtio-rng device (see [`Qemu::rng`]).
const RNG_SLOT: u32 = 0x1f;

impl Nic {
    /// A virtio-net-pci card with the given MAC (`52:54:00:12:34:56`).
    pub fn new(mac: &str) -> Nic {
        Nic {
            mac: mac.to_owned(),
            model: "virtio-net-pci".to_owned(),
            netdev_opts: Vec::new(),
        }
    }

    /// Another device model, such as `e1000`.
    pub fn model(mut self, model: &str) -> Nic {
        model.clone_into(&mut self.model);
        self
    }

    /// A raw `-netdev user` option, `key=value`; commas inside the value must already be
    /// doubled as QEMU's option syntax requires (see [`Nic::tftp`], which does it).
    pub fn netdev_opt(mut self, opt: &str) -> Nic {
        self.netdev_opts.push(opt.to_owned());
        self
    }

    /// Serves `dir` over slirp's built-in TFTP server and hands `bootfile` out in DHCP, for
    /// PXE boots.
    pub fn tftp(self, dir: &Path, bootfile: &str) -> Nic {
        let dir = escape_opt_value(&dir.to_string_lossy());
        let bootfile = escape_opt_value(bootfile);
        self.netdev_opt(&format!("tftp={dir}"))
            .netdev_opt(&format!("bootfile={bootfile}"))
    }

    pub fn mac(&self) -> &str {
        &self.mac
    }
}

/// QEMU's option parser splits on `,`; a literal comma in a value is written `,,`.
fn escape_opt_value(value: &str) -> String {
    value.replace(',', ",,")
}

#[derive(Debug, Clone)]
enum Boot {
    /// Direct kernel boot, as the baselines do.
    Kernel { vmlinuz: PathBuf, initrd: PathBuf },
    /// Firmware network boot through the NIC's option ROM (`-boot n`).
    Pxe,
}

/// A QEMU run being configured. [`Qemu::run`] boots it and returns the console.
#[derive(Debug, Clone)]
pub struct Qemu {
    binary: OsString,
    arch: Arch,
    boot: Boot,
    append: Vec<String>,
    /// Appended after `append`, as bytes: a command line need not be UTF-8.
    append_bytes: Vec<u8>,
    nics: Vec<Nic>,
    memory_mb: u32,
    /// vCPUs (`-smp`); 1 unless a test or the bench asks for more.
    cpus: u32,
    timeout: Duration,
    args: Vec<OsString>,
    stop_markers: Vec<String>,
    name: Option<String>,
    rng: bool,
    echo: bool,
    /// Console input: once a line containing the marker appears, the bytes are typed.
    inputs: Vec<(String, Vec<u8>)>,
}

impl Qemu {
    /// Boots `vmlinuz` with `initrd` directly (`-kernel`/`-initrd`).
    pub fn new(vmlinuz: impl Into<PathBuf>, initrd: impl Into<PathBuf>) -> Qemu {
        Qemu::with_boot(Boot::Kernel {
            vmlinuz: vmlinuz.into(),
            initrd: initrd.into(),
        })
    }

    /// Boots from the network through the first NIC's PXE ROM (`-boot n`); give that NIC
    /// [`Nic::tftp`] options. The kernel command line then comes from the PXE side, so
    /// [`Qemu::append`] is an error here.
    pub fn pxe() -> Qemu {
        Qemu::with_boot(Boot::Pxe)
    }

    fn with_boot(boot: Boot) -> Qemu {
        Qemu {
            binary: OsString::from(QEMU_BINARY),
            arch: Arch::X86_64,
            boot,
            append: Vec::new(),
            append_bytes: Vec::new(),
            nics: Vec::new(),
            memory_mb: 1024,
            cpus: 1,
            // The baselines' `timeout 180`.
            timeout: Duration::from_secs(180),
            args: Vec::new(),
            stop_markers: Vec::new(),
            name: None,
            rng: true,
            echo: false,
            inputs: Vec::new(),
        }
    }

    /// Emulates `arch`'s machine: arm64 is `qemu-system-aarch64 -M virt -cpu cortex-a57`
    /// (TCG), with its console on the PL011 (`ttyAMA0`).
    pub fn arch(mut self, arch: Arch) -> Qemu {
        self.arch = arch;
        self.binary = OsString::from(arch.qemu_binary());
        self
    }

    /// Appends to the kernel command line (repeatable; parts are joined with a space).
    pub fn append(mut self, args: &str) -> Qemu {
        self.append.push(args.to_owned());
        self
    }

    /// Appends raw bytes (after everything given to [`Qemu::append`]): firmware and boot
    /// loaders put bytes that are not UTF-8 on real command lines.
    pub fn append_bytes(mut self, args: &[u8]) -> Qemu {
        self.append_bytes.push(b' ');
        self.append_bytes.extend_from_slice(args);
        self
    }

    /// Adds a virtio-net-pci NIC with this MAC on its own user-mode network.
    pub fn nic(self, mac: &str) -> Qemu {
        self.nic_with(Nic::new(mac))
    }

    /// Adds a NIC configured with [`Nic`]'s builder (model, TFTP, other netdev options).
    pub fn nic_with(mut self, nic: Nic) -> Qemu {
        self.nics.push(nic);
        self
    }

    pub fn memory_mb(mut self, mb: u32) -> Qemu {
        self.memory_mb = mb;
        self
    }

    /// The guest's vCPUs (`-smp`); with TCG each runs on a host thread of its own.
    pub fn cpus(mut self, cpus: u32) -> Qemu {
        self.cpus = cpus.max(1);
        self
    }

    /// How long the boot may take before QEMU is killed and the log marked `timed_out`.
    pub fn timeout(mut self, timeout: Duration) -> Qemu {
        self.timeout = timeout;
        self
    }

    /// [`Qemu::arg`] for each of `args`.
    pub fn args(self, args: &[&str]) -> Qemu {
        args.iter().fold(self, |qemu, arg| qemu.arg(arg))
    }

    /// An extra QEMU argument, appended after the generated ones.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Qemu {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Ends the run (killing QEMU) as soon as a console line contains `marker`; for guests
    /// that do not power off, or to save the rest of a boot. Repeatable.
    pub fn stop_at(mut self, marker: &str) -> Qemu {
        self.stop_markers.push(marker.to_owned());
        self
    }

    /// Names the log file, `target/testbed-logs/<name>.log`. Without a name, the current
    /// thread's is used, which under `cargo test` is the test's name.
    pub fn name(mut self, name: &str) -> Qemu {
        self.name = Some(name.to_owned());
        self
    }

    /// Another QEMU binary (a wrapper, or a path).
    pub fn binary(mut self, binary: impl AsRef<OsStr>) -> Qemu {
        self.binary = binary.as_ref().to_owned();
        self
    }

    /// Types `input` on the serial console once a line containing `marker` appears (for a
    /// rescue shell, say). Markers are matched in order, each once.
    pub fn type_after(mut self, marker: &str, input: &str) -> Qemu {
        self.inputs
            .push((marker.to_owned(), input.as_bytes().to_vec()));
        self
    }

    /// Whether to copy the console to standard output as it arrives (the demo shows the boot
    /// live; tests keep it quiet and read the [`BootLog`]).
    pub fn echo(mut self, echo: bool) -> Qemu {
        self.echo = echo;
        self
    }

    /// Whether to attach `virtio-rng-pci` (default: yes). Off reproduces the baselines'
    /// hardware exactly.
    pub fn rng(mut self, rng: bool) -> Qemu {
        self.rng = rng;
        self
    }

    /// The kernel command line as the guest will see it: the appended parts, plus
    /// `console=ttyS0` (the test bed reads the serial port) and `panic=-1` (a panicking kernel
    /// reboots, which `-no-reboot` turns into a QEMU exit, rather than hanging until the
    /// timeout), each unless the caller set one. `None` for PXE boots.
    pub fn kernel_cmdline(&self) -> Option<String> {
        match self.boot {
            Boot::Pxe => None,
            Boot::Kernel { .. } => {
                let given = self.append.join(" ");
                // A scan for a parameter name the caller wrote; quoting rules do not matter
                // because a quoted value containing " console=ttyS0" is not a real case.
                let has = |prefix: &str| {
                    given
                        .split_ascii_whitespace()
                        .any(|w| w.starts_with(prefix))
                };
                let mut parts = Vec::new();
                let console = format!("console={}", self.arch.console());
                if !has(&console) {
                    parts.push(console.as_str());
                }
                if !has("panic=") {
                    parts.push("panic=-1");
                }
                if !given.trim().is_empty() {
                    parts.push(given.trim());
                }
                Some(parts.join(" "))
            }
        }
    }

    /// The arguments passed to QEMU (without the binary), or why the configuration is unusable.
    pub fn command_args(&self) -> Result<Vec<OsString>, QemuError> {
        let memory = self.memory_mb.to_string();
        let mut out: Vec<OsString> = [
            "-m",
            memory.as_str(),
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        if self.cpus > 1 {
            out.push("-smp".into());
            out.push(self.cpus.to_string().into());
        }
        if self.arch == Arch::Arm64 {
            // cortex-a57 rather than `max`: TCG emulates fewer features, so it runs faster.
            out.extend(["-M", "virt", "-cpu", "cortex-a57"].map(OsString::from));
        }
        match &self.boot {
            Boot::Kernel { vmlinuz, initrd } => {
                out.push("-kernel".into());
                out.push(vmlinuz.clone().into_os_string());
                out.push("-initrd".into());
                out.push(initrd.clone().into_os_string());
                out.push("-append".into());
                let mut line = self.kernel_cmdline().unwrap_or_default().into_bytes();
                line.extend_from_slice(&self.append_bytes);
                out.push(std::os::unix::ffi::OsStringExt::from_vec(line));
            }
            Boot::Pxe => {
                if !self.append.is_empty() {
                    return Err(QemuError::Config {
                        reason: format!(
                            "a PXE boot takes its kernel command line from the PXE side, \
                             not from append({:?})",
                            self.append.join(" ")
                        ),
                    });
                }
                if self.nics.is_empty() {
                    return Err(QemuError::Config {
                        reason: "a PXE boot needs a NIC".to_owned(),
                    });
                }
                out.push("-boot".into());
                out.push("n".into());
            }
        }
        if self.nics.is_empty() {
            out.push("-nic".into());
            out.push("none".into());
        }
        for (i, nic) in self.nics.iter().enumerate() {
            check_mac(&nic.mac)?;
            if nic.model.is_empty() || nic.model.contains(',') {
                return Err(QemuError::Config {
                    reason: format!("NIC model {:?} is not a QEMU device name", nic.model),
                });
            }
            let mut netdev = format!("user,id=n{i}");
            for opt in &nic.netdev_opts {
                netdev.push(',');
                netdev.push_str(opt);
            }
            out.push("-netdev".into());
            out.push(netdev.into());
            out.push("-device".into());
            out.push(format!("{},netdev=n{i},mac={}", nic.model, nic.mac).into());
        }
        if self.rng {
            // In the last slot of the root bus, so that NICs take slots 3, 4, ... in the order
            // given however they are added (`tap_nic` comes through `arg`): the names the
            // node's udev derives from the slot (`ens3`) stay the same.
            out.push("-device".into());
            out.push(format!("virtio-rng-pci,addr={RNG_SLOT:#x}").into());
        }
        out.extend(self.args.iter().cloned());
        Ok(out)
    }

    fn log_name(&self) -> String {
        let raw = match &self.name {
            Some(name) => name.clone(),
            None => std::thread::current().name().unwrap_or("qemu").to_owned(),
        };
        sanitize_name(&raw)
    }

    /// Boots, capturing the console until QEMU exits, a stop marker shows, or the timeout
    /// hits (QEMU is killed in the last two cases). The log goes to
    /// `target/testbed-logs/<name>.log` whatever the outcome.
    pub fn run(&self) -> Result<BootLog, QemuError> {
        let args = self.command_args()?;
        let log_path = crate::dirs::logs_dir().join(format!("{}.log", self.log_name()));
        let mut log_file = LogFile::create(&log_path, &self.binary, &args)?;

        let mut command = Command::new(&self.binary);
        command
            .args(&args)
            .stdin(if self.inputs.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = command.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                QemuError::NotInstalled {
                    binary: self.binary.clone(),
                }
            } else {
                QemuError::Spawn {
                    binary: self.binary.clone(),
                    source,
                }
            }
        })?;
        let mut stdin = child.stdin.take();
        let mut inputs = self.inputs.iter().peekable();
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            // Both were asked for as pipes, so this does not happen; do not leave QEMU running.
            let _ = child.kill();
            let _ = child.wait();
            return Err(QemuError::Spawn {
                binary: self.binary.clone(),
                source: std::io::Error::other("no pipe for QEMU's stdout or stderr"),
            });
        };

        // The console is read on its own thread so that lines get their timestamps when they
        // arrive, while this thread watches the clock.
        let (tx, rx) = mpsc::channel::<(f64, String)>();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stdout.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let t = start.elapsed().as_secs_f64();
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']);
                        // The kernel prints on the same serial port as the guest's programs, so
                        // a kernel message can land in the middle of another line: give it
                        // its own line, or `KEY=value` lines pick up its text.
                        let mut sent = true;
                        for part in split_kernel_messages(line) {
                            sent &= tx.send((t, part.to_owned())).is_ok();
                        }
                        if !sent {
                            break;
                        }
                    }
                }
            }
        });
        let stderr_reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });

        let deadline = start + self.timeout;
        let mut lines = Vec::new();
        let mut timed_out = false;
        let mut stopped_at = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((t, line)) => {
                    let hit = self.stop_markers.iter().find(|m| line.contains(m.as_str()));
                    if let Some(marker) = hit {
                        stopped_at = Some(marker.clone());
                    }
                    if let Some((_, input)) =
                        inputs.next_if(|(marker, _)| line.contains(marker.as_str()))
                    {
                        if let Some(stdin) = stdin.as_mut() {
                            use std::io::Write;
                            // A guest that stopped reading is the test's failure to report,
                            // not a reason to stop capturing the console.
                            let _ = stdin.write_all(input).and_then(|()| stdin.flush());
                        }
                    }
                    log_file.line(t, &line);
                    if self.echo {
                        println!("{line}");
                    }
                    lines.push((t, line));
                    if stopped_at.is_some() {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    timed_out = true;
                    break;
                }
                // stdout closed: QEMU exited.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let killed = timed_out || stopped_at.is_some();
        if killed {
            // SIGKILL: the guest has no disk whose state a clean shutdown would protect.
            let _ = child.kill();
        }
        let status = child.wait().map_err(|source| QemuError::Wait { source });
        // Lines already written before QEMU died; the channel closes once the pipe does.
        for (t, line) in rx.iter() {
            log_file.line(t, &line);
            lines.push((t, line));
        }
        let _ = reader.join();
        let stderr = stderr_reader.join().unwrap_or_default();
        let status = status?;

        let log = BootLog {
            lines,
            timed_out,
            exit: if killed { None } else { Some(status) },
            stopped_at,
            stderr,
            log_path,
            elapsed: start.elapsed(),
        };
        log_file.finish(&log)?;
        Ok(log)
    }
}

/// NICs on tap devices, for guests on a network of the test's own (a network namespace).
impl Qemu {
    /// Adds a virtio-net-pci NIC with this MAC on the existing tap device `ifname`
    /// (`-netdev tap,ifname=…,script=no,downscript=no`: QEMU neither creates nor configures
    /// it). QEMU must run in the network namespace that holds the device (`NetNs::qemu` runs
    /// it there). These NICs follow the [`Qemu::nic`] ones on the PCI bus, so the guest names
    /// them after those.
    pub fn tap_nic(self, mac: &str, ifname: &str) -> Qemu {
        let id = format!("tap-{ifname}");
        self.arg("-netdev")
            .arg(format!(
                "tap,id={id},ifname={},script=no,downscript=no",
                escape_opt_value(ifname)
            ))
            .arg("-device")
            .arg(format!("virtio-net-pci,netdev={id},mac={mac}"))
    }
}

/// The console log on disk, written line by line as the console runs so that a long boot can
/// be followed with `tail -f`. A write error is kept and reported when QEMU is done, rather
/// than abandoning a running QEMU.
struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    error: Option<std::io::Error>,
}

impl LogFile {
    fn create(path: &Path, binary: &OsStr, args: &[OsString]) -> Result<LogFile, QemuError> {
        let fail = |source| QemuError::WriteLog {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut file = std::fs::File::create(path).map_err(fail)?;
        let command: Vec<String> = std::iter::once(binary)
            .chain(args.iter().map(OsString::as_os_str))
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let head = format!(
            "# {}\n# host seconds since launch, console line\n",
            command.join(" ")
        );
        file.write_all(head.as_bytes()).map_err(fail)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            error: None,
        })
    }

    fn line(&mut self, t: f64, line: &str) {
        if self.error.is_none() {
            if let Err(e) = self.file.write_all(format!("{t:10.6} {line}\n").as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn finish(mut self, log: &BootLog) -> Result<(), QemuError> {
        let mut tail = format!(
            "# {} after {:.3} s\n",
            log.outcome(),
            log.elapsed.as_secs_f64()
        );
        for line in log.stderr.lines() {
            tail.push_str(&format!("# qemu stderr: {line}\n"));
        }
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => self.file.write_all(tail.as_bytes()),
        };
        result.map_err(|source| QemuError::WriteLog {
            path: self.path,
            source,
        })
    }
}

/// Six colon-separated hex pairs, the form QEMU's `mac=` takes.
fn check_mac(mac: &str) -> Result<(), QemuError> {
    let pairs: Vec<&str> = mac.split(':').collect();
    let ok = pairs.len() == 6
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(QemuError::Config {
            reason: format!("{mac:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"),
        })
    }
}

/// Keeps log file names to `[A-Za-z0-9._-]` (test names contain `::`).
fn sanitize_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        format!("qemu{name}")
    } else {
        name
    }
}

/// Why a QEMU run could not happen or be recorded. (A guest that fails to boot is not an
/// error: it is a [`BootLog`] to assert on.)
#[derive(Debug)]
pub enum QemuError {
    /// The QEMU binary is not installed (or not on PATH).
    NotInstalled { binary: OsString },
    /// The binary exists but could not be started.
    Spawn {
        binary: OsString,
        source: std::io::Error,
    },
    /// The builder's settings contradict each other or are malformed.
    Config { reason: String },
    /// Waiting for QEMU to exit failed.
    Wait { source: std::io::Error },
    /// The console log could not be written.
    WriteLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuError::NotInstalled { binary } => write!(
                f,
                "{} is not installed (Debian: apt-get install qemu-system-x86 or qemu-system-arm)",
                binary.to_string_lossy()
            ),
            QemuError::Spawn { binary, source } => {
                write!(f, "starting {}: {source}", binary.to_string_lossy())
            }
            QemuError::Config { reason } => write!(f, "QEMU configuration: {reason}"),
            QemuError::Wait { source } => write!(f, "waiting for QEMU to exit: {source}"),
            QemuError::WriteLog { path, source } => {
                write!(f, "writing the console log {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for QemuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QemuError::Spawn { source, .. }
            | QemuError::Wait { source }
            | QemuError::WriteLog { source, .. } => Some(source),
            QemuError::NotInstalled { .. } | QemuError::Config { .. } => None,
        }
    }
}

/// Whether QEMU can run here. When it cannot: panics under `CI=true`, otherwise prints a loud
/// skip message and returns `false` so the calling test can return early.
pub fn require_qemu() -> bool {
    require_qemu_for(Arch::X86_64)
}

/// [`require_qemu`] for `arch`'s emulator (`qemu-system-aarch64` for arm64).
pub fn require_qemu_for(arch: Arch) -> bool {
    let binary = arch.qemu_binary();
    let package = match arch {
        Arch::X86_64 => "qemu-system-x86",
        Arch::Arm64 => "qemu-system-arm",
    };
    let status = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => true,
        Ok(s) => {
            crate::skip::skip_or_fail(&format!("`{binary} --version` failed ({s})"));
            false
        }
        Err(e) => {
            crate::skip::skip_or_fail(&format!(
                "{binary} cannot run ({e}); Debian: apt-get install {package}"
            ));
            false
        }
    }
}

pub use bootlog::{BootLog, split_kernel_messages};

mod bootlog;
#[cfg(test)]
mod tests;
