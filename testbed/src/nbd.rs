//! A real NBD server for the tests: Debian's nbd-server on 127.0.0.1 (the guest's 10.0.2.2),
//! on a free port, serving named read-only exports from a configuration file in a fresh
//! directory. nbd-server forks into the background (its `-d` serves one client and exits), so
//! it is found again, and stopped on drop, through its pid file.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const NBD_SERVER: &str = "/usr/bin/nbd-server";

/// A running nbd-server; stopped (SIGTERM, which ends its per-client children too) and its
/// directory removed on drop.
pub struct NbdServer {
    dir: PathBuf,
    pid: i32,
    pub port: u16,
}

impl NbdServer {
    /// Serves each `(name, file)` read-only as the export `name`, on a free port of
    /// 127.0.0.1, and waits until the port answers.
    pub fn start(exports: &[(&str, &Path)]) -> Result<NbdServer> {
        let port = crate::registry::free_port().context("probing for a free port")?;
        let dir = crate::dirs::fresh_dir(&format!("nbd-server-{port}"))
            .context("nbd-server's directory")?;
        let mut config = format!("[generic]\nport = {port}\nlistenaddr = 127.0.0.1\n");
        for (name, file) in exports {
            config.push_str(&format!(
                "[{name}]\nexportname = {}\nreadonly = true\n",
                file.display()
            ));
        }
        let conf = dir.join("config");
        std::fs::write(&conf, config).with_context(|| format!("writing {}", conf.display()))?;
        let pid_file = dir.join("nbd-server.pid");
        let log = std::fs::File::create(dir.join("nbd-server.log")).context("its log")?;
        let status = Command::new(NBD_SERVER)
            .arg("-C")
            .arg(&conf)
            .arg("-p")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("its log")?)
            .stderr(log)
            .status()
            .with_context(|| format!("starting {NBD_SERVER}"))?;
        let log_path = dir.join("nbd-server.log");
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if !status.success() {
            bail!(
                "{NBD_SERVER} -C {}: {status}: {}",
                conf.display(),
                log_text()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            let read = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if let Ok(pid) = read.trim().parse::<i32>() {
                break pid;
            }
            if Instant::now() > deadline {
                bail!("nbd-server wrote no pid file: {}", log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let server = NbdServer { dir, pid, port };
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "nbd-server on 127.0.0.1:{port} does not answer: {}",
                    log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The export as the guest names it: `nbd://10.0.2.2:<port>/<name>`.
    pub fn guest_uri(&self, export: &str) -> String {
        format!("nbd://10.0.2.2:{}/{export}", self.port)
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nbd-server is installed, or the test is skipped (failed under CI) with the reason.
pub fn require_nbd_server() -> bool {
    if Path::new(NBD_SERVER).is_file() {
        return true;
    }
    crate::skip::skip_or_fail(&format!(
        "{NBD_SERVER} is missing; Debian: apt-get install nbd-server"
    ));
    false
}
