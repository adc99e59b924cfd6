//! A real NTP server for the tests: chronyd (Debian's chrony) on 127.0.0.1 (the guest's
//! 10.0.2.2; QEMU's user network forwards UDP), serving the host's time from its local
//! clock (`local stratum 8`) and never touching it (`-x`).

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const CHRONYD: &str = "/usr/sbin/chronyd";

/// A running chronyd; stopped (SIGKILL) and its directory removed on drop.
pub struct NtpServer {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl NtpServer {
    /// Starts chronyd on a free UDP port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Result<NtpServer> {
        let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .context("probing for a free UDP port")?
            .port();
        let dir =
            crate::dirs::fresh_dir(&format!("chrony-{port}")).context("chrony's directory")?;
        let conf = dir.join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbindaddress 127.0.0.1\nlocal stratum 8\nallow 127.0.0.1\n\
                 cmdport 0\npidfile {}\n",
                dir.join("chronyd.pid").display()
            ),
        )
        .with_context(|| format!("writing {}", conf.display()))?;
        let log = std::fs::File::create(dir.join("chronyd.log")).context("chrony's log")?;
        let child = Command::new(CHRONYD)
            .args(["-d", "-x", "-u", "root", "-f"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("chrony's log")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {CHRONYD}"))?;
        let server = NtpServer { child, dir, port };
        server.wait_until_it_answers()?;
        Ok(server)
    }

    fn wait_until_it_answers(&self) -> Result<()> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("a client socket")?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut request = [0u8; 48];
        request[0] = 0x23;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            socket.send_to(&request, (Ipv4Addr::LOCALHOST, self.port))?;
            let mut reply = [0u8; 512];
            if matches!(socket.recv(&mut reply), Ok(n) if n >= 48) {
                return Ok(());
            }
        }
        let log = std::fs::read_to_string(self.dir.join("chronyd.log")).unwrap_or_default();
        bail!("chronyd on 127.0.0.1:{} did not answer: {log}", self.port)
    }
}

impl Drop for NtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// chronyd is installed, or the test is skipped (failed under CI) with the reason.
pub fn require_chrony() -> bool {
    if std::path::Path::new(CHRONYD).is_file() {
        return true;
    }
    crate::skip::skip_or_fail(&format!(
        "{CHRONYD} is missing; Debian: apt-get install chrony"
    ));
    false
}
