//! A small HTTP/1.1 file server for the guest to fetch from: std, plus rustls for HTTPS.
//!
//! It listens on 127.0.0.1 with a random port; QEMU's user networking makes that
//! `10.0.2.2:<port>` inside the guest ([`HttpServer::url_for`]). One thread per connection,
//! one request per connection (`Connection: close`), GET and HEAD, single byte ranges,
//! redirects from a table ([`HttpServer::add_redirect`]), and a login demand
//! ([`HttpServer::demand_login`]: 401 to everything, as a registry whose login the client
//! lacks). With [`ServerTls`] it speaks HTTPS and can require client certificates from a
//! given CA.
//! Every request is logged ([`HttpServer::requests`]) so tests can check what the guest asked
//! for, and a [`Behavior`] can make the server misbehave the way real networks and servers do.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The address the guest reaches the host's 127.0.0.1 at under QEMU user networking.
pub const GUEST_HOST_ADDR: &str = "10.0.2.2";

/// A client that stops talking is given up on after this long, so threads do not pile up.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
const CHUNK: usize = 64 * 1024;
/// How long [`Behavior::StallAfter`] holds a connection silent.
pub const STALL_HOLD: Duration = Duration::from_secs(20);

/// How the server (mis)behaves. Counted behaviours ("first K") count from when they are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Serve correctly.
    Normal,
    /// Close the first K connections as soon as they are accepted, before reading the request:
    /// the client sees its connection reset or closed with no response. (A listening socket
    /// cannot refuse a TCP connect, and slirp connects on the guest's behalf anyway.) Set with
    /// [`HttpServer::set_behavior_for`], the request is read first so its path can match.
    RefuseFirst(u32),
    /// Once: the first GET response whose body is longer than N bytes announces its full
    /// `Content-Length`, sends N body bytes and closes the connection.
    CutAfter(u64),
    /// The first `count` GET responses whose bodies are longer than `after` bytes are cut
    /// like [`Behavior::CutAfter`]: a server that keeps dropping connections.
    CutFirst { count: u32, after: u64 },
    /// Once: the first GET response longer than N bytes sends N body bytes, then nothing
    /// more for [`STALL_HOLD`] while keeping the connection open (a hung server), then closes.
    StallAfter(u64),
    /// In every response, the byte at this offset of the file is inverted (`!b`), wherever
    /// a range covers it. Headers and lengths stay correct, as with a bad disk or proxy.
    CorruptByte(u64),
    /// Every response waits this long before its status line.
    Delay(Duration),
    /// The first `count` requests get `status` (say 503) with an empty body.
    FailFirst { count: u32, status: u16 },
}

/// One request as the server saw and answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// `GET`, `HEAD`, ...; empty when the connection was closed before the request was read.
    pub method: String,
    /// The request target, query included (`/root.squashfs`).
    pub path: String,
    /// The `Range` header as sent.
    pub range: Option<String>,
    /// The status sent; `None` when no response was sent.
    pub status: Option<u16>,
    /// Body bytes written (headers not counted).
    pub bytes_sent: u64,
    /// The misbehaviour applied to this request, if any.
    pub misbehaved: Option<Behavior>,
    /// Why the TLS handshake failed (no request was read then).
    pub tls_error: Option<String>,
    /// The client presented a certificate that the server accepted.
    pub client_cert: bool,
    /// The `Authorization` header as sent: what a client would give away to this server.
    pub authorization: Option<String>,
}

/// A behaviour and how many times it has taken effect.
#[derive(Debug, Clone, Copy)]
struct Rule {
    behavior: Behavior,
    used: u32,
}

impl Rule {
    fn new(behavior: Behavior) -> Rule {
        Rule { behavior, used: 0 }
    }
}

#[derive(Debug)]
struct Shared {
    dir: Option<PathBuf>,
    tls: Option<Arc<ServerConfig>>,
    files: Mutex<BTreeMap<String, Arc<[u8]>>>,
    redirects: Mutex<BTreeMap<String, String>>,
    /// `WWW-Authenticate` of the 401 every request gets, when set.
    challenge: Mutex<Option<String>>,
    global: Mutex<Rule>,
    per_path: Mutex<HashMap<String, Rule>>,
    log: Mutex<Vec<RequestLog>>,
    stop: AtomicBool,
}

fn memory(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Arc<[u8]>> {
    files
        .into_iter()
        .map(|(name, bytes)| (name.trim_start_matches('/').to_owned(), Arc::from(bytes)))
        .collect()
}

/// A poisoned lock only means a connection thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server side of HTTPS: the server's certificate chain and key (PEM), and optionally
/// the CA bundle (PEM) client certificates must chain to; with it, a client without a valid
/// certificate is refused during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert_chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

impl ServerTls {
    fn config(&self) -> io::Result<Arc<ServerConfig>> {
        let bad = |what: &str, err: &dyn std::fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {err}"))
        };
        let certs = |pem: &[u8], what: &str| -> io::Result<Vec<CertificateDer<'static>>> {
            CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(what, &e))
        };
        let chain = certs(&self.cert_chain_pem, "server certificate")?;
        let key =
            PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| bad("server key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("TLS versions", &e))?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs(pem, "client CA")? {
                    roots.add(cert).map_err(|e| bad("client CA", &e))?;
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| bad("client verifier", &e))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| bad("server certificate and key", &e))?;
        Ok(Arc::new(config))
    }
}

/// The running server. Dropping it stops it.
#[derive(Debug)]
pub struct HttpServer {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves the files under `dir` (its subdirectories too; no listings).
    pub fn serve_dir(dir: impl Into<PathBuf>) -> io::Result<HttpServer> {
        HttpServer::start(Some(dir.into()), BTreeMap::new(), None)
    }

    /// Serves these files from memory, by name (`"root.squashfs"`, `"a/b"`).
    pub fn serve_files(files: BTreeMap<String, Vec<u8>>) -> io::Result<HttpServer> {
        HttpServer::start(None, memory(files), None)
    }

    /// Serves these files from memory over HTTPS.
    pub fn serve_files_tls(
        files: BTreeMap<String, Vec<u8>>,
        tls: &ServerTls,
    ) -> io::Result<HttpServer> {
        HttpServer::start(None, memory(files), Some(tls.config()?))
    }

    fn start(
        dir: Option<PathBuf>,
        files: BTreeMap<String, Arc<[u8]>>,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<HttpServer> {
        // 127.0.0.1 only: nothing outside this machine may reach test servers.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            dir,
            tls,
            files: Mutex::new(files),
            redirects: Mutex::new(BTreeMap::new()),
            challenge: Mutex::new(None),
            global: Mutex::new(Rule::new(Behavior::Normal)),
            per_path: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name(format!("http-{port}"))
            .spawn(move || accept_loop(&listener, &acceptor_shared))?;
        Ok(HttpServer {
            port,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn scheme(&self) -> &'static str {
        if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The URL of `name` as the guest sees it: `http(s)://10.0.2.2:<port>/<name>`.
    pub fn url_for(&self, name: &str) -> String {
        format!(
            "{}://{GUEST_HOST_ADDR}:{}/{}",
            self.scheme(),
            self.port,
            name.trim_start_matches('/')
        )
    }

    /// The URL of `name` from the host: `http(s)://127.0.0.1:<port>/<name>`.
    pub fn host_url_for(&self, name: &str) -> String {
        format!(
            "{}://127.0.0.1:{}/{}",
            self.scheme(),
            self.port,
            name.trim_start_matches('/')
        )
    }

    /// Answers requests for `/<name>` with `302 Found` to `location` (any URL, or a path).
    pub fn add_redirect(&self, name: &str, location: &str) {
        lock(&self.shared.redirects).insert(
            format!("/{}", name.trim_start_matches('/')),
            location.to_owned(),
        );
    }

    /// Answers every request from now on with `401 Unauthorized` and this
    /// `WWW-Authenticate` (`Basic realm="x"`, `Bearer realm="...",service="..."`), whatever
    /// `Authorization` it carries: the log shows what a client sent.
    pub fn demand_login(&self, challenge: &str) {
        *lock(&self.shared.challenge) = Some(challenge.to_owned());
    }

    /// The host-side address, for clients in tests.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Adds or replaces an in-memory file; served before any file of the same name in the
    /// directory. For content that needs the port, such as a boot script holding URLs.
    pub fn add_file(&self, name: &str, bytes: impl Into<Vec<u8>>) {
        let bytes: Vec<u8> = bytes.into();
        lock(&self.shared.files).insert(name.trim_start_matches('/').to_owned(), Arc::from(bytes));
    }

    /// Sets the behaviour for every request without a per-path one; its counters restart.
    pub fn set_behavior(&self, behavior: Behavior) {
        *lock(&self.shared.global) = Rule::new(behavior);
    }

    /// Sets the behaviour for requests whose path (without query) is `/<name>`.
    pub fn set_behavior_for(&self, name: &str, behavior: Behavior) {
        let key = format!("/{}", name.trim_start_matches('/'));
        lock(&self.shared.per_path).insert(key, Rule::new(behavior));
    }

    /// Every request so far, in the order they were answered. An entry is recorded before
    /// its connection is closed, so a client that has seen its connection close will find its
    /// request here.
    pub fn requests(&self) -> Vec<RequestLog> {
        lock(&self.shared.log).clone()
    }

    /// The request log once `done` holds for it, or after `timeout` whatever it is then. A
    /// client that read a whole `Content-Length` body may be faster than the server thread
    /// that logs the request, so tests that look right after a fetch wait here.
    pub fn requests_when(
        &self,
        timeout: Duration,
        done: impl Fn(&[RequestLog]) -> bool,
    ) -> Vec<RequestLog> {
        let until = std::time::Instant::now() + timeout;
        loop {
            let log = self.requests();
            if done(&log) || std::time::Instant::now() >= until {
                return log;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // accept() blocks; a connection of our own wakes it up to see the stop flag. Should
        // that fail, joining could block forever: the thread is left to stop at its next
        // connection instead.
        let woken = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woken) {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of descriptors or similar: do not spin on it.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let shared = Arc::clone(shared);
        // Connection threads are detached: they end with their (timed-out) connection.
        let _ = std::thread::Builder::new()
            .name("http-conn".to_owned())
            .spawn(move || handle(stream, &shared));
    }
}

/// Takes the next use of a counted behaviour: whether it applies to this request.
fn take(rule: &mut Rule) -> Option<Behavior> {
    let applies = match rule.behavior {
        Behavior::Normal => false,
        Behavior::RefuseFirst(k) => rule.used < k,
        Behavior::FailFirst { count, .. } => rule.used < count,
        // Used up when the cut happens (see `handle`).
        Behavior::CutAfter(_) => rule.used == 0,
        Behavior::CutFirst { count, .. } => rule.used < count,
        Behavior::StallAfter(_) => rule.used == 0,
        Behavior::CorruptByte(_) | Behavior::Delay(_) => true,
    };
    if !applies {
        return None;
    }
    if matches!(
        rule.behavior,
        Behavior::RefuseFirst(_) | Behavior::FailFirst { .. }
    ) {
        rule.used += 1;
    }
    Some(rule.behavior)
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(tls) => &tls.sock,
        }
    }

    /// Ends the connection abruptly, as a network cut would (no TLS close_notify).
    fn cut(&self) {
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

impl Drop for Conn {
    /// A TLS connection ends with close_notify, so that clients can tell an end from a cut
    /// (after [`Conn::cut`] the write fails, as it should).
    fn drop(&mut self) {
        if let Conn::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    }
}

/// Completes the server side of a TLS handshake; the error says why it failed.
fn accept_tls(config: &Arc<ServerConfig>, mut tcp: TcpStream) -> Result<Conn, String> {
    let mut server = ServerConnection::new(Arc::clone(config)).map_err(|e| e.to_string())?;
    while server.is_handshaking() {
        // On an error rustls still sends its alert ("certificate required", ...) first.
        server.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(Conn::Tls(Box::new(StreamOwned::new(server, tcp))))
}

fn handle(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));

    {
        let mut global = lock(&shared.global);
        if matches!(global.behavior, Behavior::RefuseFirst(_)) {
            if let Some(b) = take(&mut global) {
                drop(global);
                log(
                    shared,
                    RequestLog {
                        misbehaved: Some(b),
                        ..RequestLog::empty()
                    },
                );
                // Closing without reading: if the request already arrived, Linux answers
                // with a reset.
                drop(stream);
                return;
            }
        }
    }

    let mut stream = match &shared.tls {
        None => Conn::Plain(stream),
        Some(config) => match accept_tls(config, stream) {
            Ok(conn) => conn,
            Err(why) => {
                log(
                    shared,
                    RequestLog {
                        tls_error: Some(why),
                        ..RequestLog::empty()
                    },
                );
                return;
            }
        },
    };
    let client_cert = match &stream {
        Conn::Tls(tls) => tls.conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        Conn::Plain(_) => false,
    };
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let mut entry = RequestLog {
        method: request.method.clone(),
        path: request.target.clone(),
        range: request.range.clone(),
        client_cert,
        authorization: request.authorization.clone(),
        ..RequestLog::empty()
    };
    let path = request
        .target
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();

    let behavior = with_rule(shared, &path, take);
    // Recorded here for the behaviours that act on every request; corruption and cuts are
    // recorded below, only when they change the response.
    entry.misbehaved = behavior.filter(|b| {
        matches!(
            b,
            Behavior::Delay(_) | Behavior::RefuseFirst(_) | Behavior::FailFirst { .. }
        )
    });
    if let Some(Behavior::Delay(d)) = behavior {
        std::thread::sleep(d);
    }
    match behavior {
        Some(Behavior::RefuseFirst(_)) => {
            log(shared, entry);
            drop(stream);
            return;
        }
        Some(Behavior::FailFirst { status, .. }) => {
            entry.status = Some(status);
            let _ = write_head(&mut stream, status, &[("Content-Length", "0".to_owned())]);
            log(shared, entry);
            return;
        }
        _ => {}
    }

    if let Some(challenge) = lock(&shared.challenge).clone() {
        // Logged before the answer: a client done with its 401 finds what it sent here.
        entry.status = Some(401);
        log(shared, entry);
        let _ = write_head(
            &mut stream,
            401,
            &[
                ("WWW-Authenticate", challenge),
                ("Content-Length", "0".to_owned()),
            ],
        );
        return;
    }

    if let Some(location) = lock(&shared.redirects).get(&path).cloned() {
        entry.status = Some(302);
        let _ = write_head(
            &mut stream,
            302,
            &[("Location", location), ("Content-Length", "0".to_owned())],
        );
        log(shared, entry);
        return;
    }

    if request.method != "GET" && request.method != "HEAD" {
        entry.status = Some(501);
        let _ = write_head(&mut stream, 501, &[("Content-Length", "0".to_owned())]);
        log(shared, entry);
        return;
    }

    let Some(mut content) = find(shared, &path) else {
        let body = b"not found\n";
        entry.status = Some(404);
        let _ = write_head(
            &mut stream,
            404,
            &[("Content-Length", body.len().to_string())],
        )
        .and_then(|()| stream.write_all(body));
        entry.bytes_sent = body.len() as u64;
        log(shared, entry);
        return;
    };

    let len = content.len();
    let (status, start, count) = match parse_range(request.range.as_deref(), len) {
        RangeRequest::Full => (200, 0, len),
        RangeRequest::Partial { start, end } => (206, start, end - start + 1),
        RangeRequest::Unsatisfiable => {
            entry.status = Some(416);
            let _ = write_head(
                &mut stream,
                416,
                &[
                    ("Content-Length", "0".to_owned()),
                    ("Content-Range", format!("bytes */{len}")),
                ],
            );
            log(shared, entry);
            return;
        }
    };
    let mut headers = vec![("Content-Length", count.to_string())];
    if status == 206 {
        headers.push((
            "Content-Range",
            format!("bytes {start}-{}/{len}", start + count - 1),
        ));
    }
    entry.status = Some(status);
    if write_head(&mut stream, status, &headers).is_err() || request.method == "HEAD" {
        log(shared, entry);
        return;
    }

    let cut = match behavior {
        // Used up here rather than in `take`, so that a HEAD or a short file does not waste it;
        // another connection may have taken it meanwhile.
        Some(Behavior::CutAfter(n)) if count > n => with_rule(shared, &path, |rule| {
            (rule.used == 0 && rule.behavior == Behavior::CutAfter(n)).then(|| {
                rule.used = 1;
                n
            })
        }),
        Some(Behavior::StallAfter(n)) if count > n => with_rule(shared, &path, |rule| {
            (rule.used == 0 && rule.behavior == Behavior::StallAfter(n)).then(|| {
                rule.used = 1;
                n
            })
        }),
        Some(Behavior::CutFirst { count: k, after }) if count > after => {
            with_rule(shared, &path, |rule| {
                let same = rule.behavior == Behavior::CutFirst { count: k, after };
                (same && rule.used < k).then(|| {
                    rule.used += 1;
                    after
                })
            })
        }
        _ => None,
    };
    let to_send = cut.map_or(count, |n| n.min(count));
    let corrupt = match behavior {
        Some(Behavior::CorruptByte(offset)) if (start..start + to_send).contains(&offset) => {
            Some(offset)
        }
        _ => None,
    };
    if cut.is_some() || corrupt.is_some() {
        entry.misbehaved = behavior;
    }
    // A client that goes away mid-body is its own business; the log shows how far it got.
    let _ = send_body(
        &mut stream,
        &mut content,
        start,
        to_send,
        corrupt,
        &mut entry.bytes_sent,
    );
    log(shared, entry);
    if cut.is_some() {
        if matches!(behavior, Some(Behavior::StallAfter(_))) {
            let _ = stream.flush();
            std::thread::sleep(STALL_HOLD);
        }
        stream.cut();
    }
}

impl RequestLog {
    fn empty() -> RequestLog {
        RequestLog {
            method: String::new(),
            path: String::new(),
            range: None,
            status: None,
            bytes_sent: 0,
            misbehaved: None,
            tls_error: None,
            client_cert: false,
            authorization: None,
        }
    }
}

/// Runs `f` on the rule for `path`: its own if it has one, else the global one.
fn with_rule<R>(shared: &Shared, path: &str, f: impl FnOnce(&mut Rule) -> R) -> R {
    let mut per_path = lock(&shared.per_path);
    if let Some(rule) = per_path.get_mut(path) {
        return f(rule);
    }
    drop(per_path);
    f(&mut lock(&shared.global))
}

/// Records a request; call it before the connection closes (see [`HttpServer::requests`]).
fn log(shared: &Shared, entry: RequestLog) {
    lock(&shared.log).push(entry);
}

/// A file to send: from memory or from disk.
enum Content {
    Memory(Arc<[u8]>),
    Disk { file: File, len: u64 },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Memory(bytes) => bytes.len() as u64,
            Content::Disk { len, .. } => *len,
        }
    }
}

fn find(shared: &Shared, path: &str) -> Option<Content> {
    let name = path.trim_start_matches('/');
    if let Some(bytes) = lock(&shared.files).get(name) {
        return Some(Content::Memory(Arc::clone(bytes)));
    }
    let dir = shared.dir.as_ref()?;
    let relative = Path::new(name);
    // Only plain names below the directory: no `..`, no absolute paths.
    if name.is_empty()
        || !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    let file = File::open(dir.join(relative)).ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file().then(|| Content::Disk {
        file,
        len: meta.len(),
    })
}

/// Writes `count` bytes of `content` from `start`, inverting the byte at `corrupt` if it is in
/// range, counting the bytes written in `sent` (also when writing fails part way).
fn send_body(
    stream: &mut impl Write,
    content: &mut Content,
    start: u64,
    count: u64,
    corrupt: Option<u64>,
    sent: &mut u64,
) -> io::Result<()> {
    *sent = 0;
    let mut buf = vec![0u8; CHUNK];
    if let Content::Disk { file, .. } = content {
        file.seek(SeekFrom::Start(start))?;
    }
    while *sent < count {
        let want = usize::try_from(count - *sent).unwrap_or(CHUNK).min(CHUNK);
        let offset = start + *sent;
        let chunk = &mut buf[..want];
        match content {
            Content::Memory(bytes) => {
                let from = usize::try_from(offset).map_err(io::Error::other)?;
                chunk.copy_from_slice(&bytes[from..from + want]);
            }
            Content::Disk { file, .. } => file.read_exact(chunk)?,
        }
        if let Some(bad) = corrupt {
            if (offset..offset + want as u64).contains(&bad) {
                let i = usize::try_from(bad - offset).map_err(io::Error::other)?;
                chunk[i] = !chunk[i];
            }
        }
        stream.write_all(chunk)?;
        *sent += want as u64;
    }
    stream.flush()
}

fn write_head(stream: &mut impl Write, status: u16, headers: &[(&str, String)]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n");
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

mod request;
use request::{RangeRequest, parse_range, read_request};
#[cfg(test)]
mod tests;
