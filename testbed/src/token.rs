//! A token service for the registry's `auth: token` mode, the flow public registries use
//! (Docker Hub, GHCR, Harbor): the registry answers 401 with `WWW-Authenticate: Bearer
//! realm=...,service=...,scope=...`, the client asks the realm for a token, and the registry
//! checks the token's ES256 signature against its `rootcertbundle` (the chain in the JWT's
//! `x5c` header) and its claims (issuer, audience, times, the access granted).
//!
//! On 127.0.0.1 with a random port; anonymous requests get a token unless
//! [`TokenService::require`] names a login, which then must come as Basic.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::json;

/// One token request as the service saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    pub status: u16,
}

struct Signer {
    key: ring::signature::EcdsaKeyPair,
    cert_der: Vec<u8>,
    issuer: String,
    service: String,
    /// base64 of `user:password` a request must carry; `None`: anonymous is fine.
    login: Option<String>,
}

/// The running service; its thread ends with the test process.
pub struct TokenService {
    pub port: u16,
    /// The signing certificate (PEM), for the registry's `rootcertbundle`.
    pub cert_pem: String,
    pub issuer: String,
    pub service: String,
    signer: Arc<Mutex<Signer>>,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
}

impl TokenService {
    pub fn start(service: &str) -> Result<TokenService> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["diskless-token-issuer".to_owned()])?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key)?;
        let rng = ring::rand::SystemRandom::new();
        let signing = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .map_err(|e| anyhow::anyhow!("the token key: {e}"))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        let issuer = "diskless-test-issuer".to_owned();
        let signer = Arc::new(Mutex::new(Signer {
            key: signing,
            cert_der: cert.der().to_vec(),
            issuer: issuer.clone(),
            service: service.to_owned(),
            login: None,
        }));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (Arc::clone(&signer), Arc::clone(&requests));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &s, &r);
            }
        });
        Ok(TokenService {
            port,
            cert_pem: cert.pem(),
            issuer,
            service: service.to_owned(),
            signer,
            requests,
        })
    }

    /// Tokens only for `user:password` (Basic) from now on.
    pub fn require(&self, user: &str, password: &str) {
        let login = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.signer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .login = Some(login);
    }

    /// The realm as the registry names it to the guest.
    pub fn guest_realm(&self) -> String {
        format!(
            "http://{}:{}/token",
            crate::http::GUEST_HOST_ADDR,
            self.port
        )
    }

    /// The realm for clients on the host (skopeo).
    pub fn host_realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn answer(stream: TcpStream, signer: &Mutex<Signer>, log: &Mutex<Vec<TokenRequest>>) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    let signer = signer.lock().unwrap_or_else(PoisonError::into_inner);
    let allowed = match &signer.login {
        None => true,
        Some(login) => authorization.as_deref() == Some(format!("Basic {login}").as_str()),
    };
    let (status, body) = if allowed {
        let scopes = query(&path, "scope");
        let token = sign(&signer, &scopes)?;
        (
            200,
            json!({"token": token, "access_token": token, "expires_in": 300}).to_string(),
        )
    } else {
        (401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_owned())
    };
    drop(signer);
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(TokenRequest {
            path,
            authorization,
            status,
        });
    let mut stream = stream;
    let reason = if status == 200 { "OK" } else { "Unauthorized" };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(())
}

/// Every value of `name` in the query, percent-decoded.
fn query(path: &str, name: &str) -> Vec<String> {
    let Some((_, q)) = path.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
        .collect()
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JWT granting what `scopes` ask (`repository:<name>:<actions>`), signed ES256.
fn sign(signer: &Signer, scopes: &[String]) -> Result<String> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&signer.cert_der)],
    });
    let claims = json!({
        "iss": signer.issuer,
        "sub": "diskless",
        "aud": signer.service,
        "exp": now + 300,
        "nbf": now - 60,
        "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header)?),
        b64(&serde_json::to_vec(&claims)?)
    );
    let rng = ring::rand::SystemRandom::new();
    let signature = signer
        .key
        .sign(&rng, input.as_bytes())
        .map_err(|e| anyhow::anyhow!("signing: {e}"))
        .context("signing a token")?;
    Ok(format!("{input}.{}", b64(signature.as_ref())))
}
