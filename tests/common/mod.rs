//! Shared helpers: an in-process sandbox on port 0 with its own runtime, and the real binary.
#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use roster::sandbox::{Sandbox, SandboxConfig};

pub const APP_ID: u64 = roster::sandbox::DEFAULT_APP_ID;
pub const SECRET: &str = roster::sandbox::DEFAULT_SECRET;
pub const TOKEN: &str = roster::sandbox::DEFAULT_TOKEN;

/// A sandbox serving on 127.0.0.1:0 from a runtime of its own, so tests can drive the binary
/// with blocking calls. Stopped on drop.
pub struct TestSandbox {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    pub url: String,
}

impl TestSandbox {
    pub fn start(config: SandboxConfig) -> TestSandbox {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime");
        let sandbox = runtime
            .block_on(Sandbox::start("127.0.0.1:0".parse().unwrap(), config))
            .expect("sandbox starts on port 0");
        let url = sandbox.base_url();
        TestSandbox {
            runtime,
            sandbox: Some(sandbox),
            url,
        }
    }

    /// A sandbox that answers every request after `latency`.
    pub fn with_latency(latency: std::time::Duration) -> TestSandbox {
        TestSandbox::start(SandboxConfig {
            faults: roster::sandbox::Faults {
                latency,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    pub fn new() -> TestSandbox {
        TestSandbox::start(SandboxConfig::default())
    }

    pub fn sandbox(&self) -> &Sandbox {
        self.sandbox.as_ref().expect("running")
    }

    /// `roster ARGS` pointed at this sandbox with its credentials.
    pub fn roster(&self, args: &[&str]) -> Command {
        roster_at(&self.url, args)
    }

    /// Run a future on the sandbox's runtime (for library-level tests).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime.block_on(sandbox.stop());
        }
    }
}

/// `roster ARGS` pointed at `url` with the sandbox's default credentials (also for the raw fakes).
pub fn roster_at(url: &str, args: &[&str]) -> Command {
    let mut command = roster_command(args);
    command
        .env("ROSTER_BASE_URL", url)
        .env("TELECMI_APP_ID", APP_ID.to_string())
        .env("TELECMI_SECRET", SECRET)
        .env("SMARTFLO_TOKEN", TOKEN);
    command
}

/// The real binary with a clean environment: no credentials, no config, no colour.
pub fn roster_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_roster"));
    command
        .args(args)
        .env_remove("ROSTER_BASE_URL")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_PROFILE")
        .env_remove("TELECMI_APP_ID")
        .env_remove("TELECMI_SECRET")
        .env_remove("SMARTFLO_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

/// What a finished command printed, as text.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(mut command: impl std::borrow::BorrowMut<Command>) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .borrow_mut()
        .output()
        .expect("the roster binary runs");
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn write_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write test file");
    path
}

/// Parse a CSV file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).expect("open csv");
    let headers = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .map(String::from)
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect()
}

// ---- additions for the import / export / cli suites ----

/// A path as `&str` for an argument list.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// A TeleCMI user for `insert_telecmi`, without shift times and with SMS alerts off.
pub fn telecmi_user(
    extension: u32,
    name: &str,
    phone: &str,
    password: &str,
) -> roster::sandbox::TelecmiRecord {
    roster::sandbox::TelecmiRecord {
        extension,
        name: name.to_string(),
        phone_number: phone.to_string(),
        password: password.to_string(),
        start_time: None,
        end_time: None,
        sms_alert: false,
    }
}

/// `EXTENSION_APPID` for the sandbox's default app id.
pub fn agent_id(extension: u32) -> String {
    format!("{extension}_{APP_ID}")
}

/// The largest number of arrivals inside any half-open window `[t, t + window)` that starts at an
/// arrival (the worst window always starts at one).
pub fn max_in_window(arrivals: &[std::time::Duration], window: std::time::Duration) -> usize {
    let mut sorted = arrivals.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut end = 0;
    for start in 0..sorted.len() {
        while end < sorted.len() && sorted[end] < sorted[start] + window {
            end += 1;
        }
        best = best.max(end - start);
    }
    best
}

/// The files in `dir`, sorted, except the lock files roster keeps beside what it writes.
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| !(name.starts_with('.') && name.ends_with(".lock")))
        .collect();
    names.sort();
    names
}

/// A one-trick HTTP server on 127.0.0.1:0: every request, whatever its path, gets `status` with the
/// JSON `body` (and `Connection: close`). For provider behaviour the sandbox does not produce.
/// Counts the requests it answered.
pub struct FixedServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FixedServer {
    pub fn start(status: u16, body: &'static str) -> FixedServer {
        let server = ScriptedServer::start(move |_, _| (status, body.to_string()));
        FixedServer {
            url: server.url,
            requests: server.requests,
        }
    }
}

/// An HTTP server on 127.0.0.1:0 whose answers come from `answer(path_and_query, body)`, called
/// once per request in arrival order (one connection at a time, `Connection: close`).
pub struct ScriptedServer {
    pub url: String,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ScriptedServer {
    pub fn start(
        mut answer: impl FnMut(&str, &[u8]) -> (u16, String) + Send + 'static,
    ) -> ScriptedServer {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                    continue;
                }
                let target = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_string();
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" || line == "\n" {
                        break;
                    }
                }
                let mut request_body = vec![0; length];
                let _ = reader.read_exact(&mut request_body);
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) = answer(&target, &request_body);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        ScriptedServer { url, requests }
    }
}

// ---- additions for the network suite (TLS, proxies) ----

/// Proxy and certificate settings a test must not inherit from the machine that runs it.
pub const NETWORK_VARIABLES: [&str; 11] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "ROSTER_CA_CERT",
];

/// `roster_at`, without the machine's proxy and certificate settings (tests set their own).
pub fn roster_isolated(url: &str, args: &[&str]) -> Command {
    let mut command = roster_at(url, args);
    for name in NETWORK_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// A private certificate authority made at test time: `CN=Test Corp CA, O=Test Corp`.
pub struct TestCa {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A server certificate and its key, DER.
pub type ServerCert = (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Test Corp");
        params
            .distinguished_name
            .push(DnType::CommonName, "Test Corp CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server_cert(&self, names: &[&str]) -> ServerCert {
        self.server_cert_with(names, |_| {})
    }

    /// A server certificate for `names`, with `adjust` applied to its parameters (dates, ...).
    pub fn server_cert_with(
        &self,
        names: &[&str],
        adjust: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> ServerCert {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("server params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "roster test server");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        adjust(&mut params);
        let key = rcgen::KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (cert.der().clone(), key)
    }

    /// The CA certificate written to `dir/name`, PEM.
    pub fn write_pem(&self, dir: &Path, name: &str) -> PathBuf {
        write_file(dir, name, &self.pem)
    }
}

/// A TLS terminator on 127.0.0.1:0 presenting `cert` and relaying the bytes of every connection
/// to a plain-HTTP `backend` (a `TestSandbox`). Counts the TCP connections it accepted.
pub struct TlsFront {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    pub fn start(cert: ServerCert, backend: std::net::SocketAddr) -> TlsFront {
        use std::sync::atomic::Ordering;
        use std::sync::Arc;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("TLS front runtime");
        let (chain, key) = cert;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![chain], key)
        .expect("server certificate");
        // The sandbox speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront {
            url: format!("https://{addr}"),
            addr,
            connections,
            _runtime: runtime,
        }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A plain-HTTP forward proxy on 127.0.0.1:0 that sends everything to `backend`, whatever host a
/// request names: absolute-form requests (`GET http://host:port/path HTTP/1.1`, one per
/// connection) and `CONNECT host:port` tunnels. Records each request line and
/// `Proxy-Authorization` header.
pub struct ForwardProxy {
    pub url: String,
    pub port: u16,
    pub request_lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    pub authorizations: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ForwardProxy {
    pub fn start(backend: std::net::SocketAddr) -> ForwardProxy {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let request_lines = Arc::new(Mutex::new(Vec::new()));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let (lines, auths) = (Arc::clone(&request_lines), Arc::clone(&authorizations));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let (lines, auths) = (Arc::clone(&lines), Arc::clone(&auths));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(client.try_clone().expect("clone stream"));
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let request_line = request_line.trim_end().to_string();
                    lines.lock().unwrap().push(request_line.clone());
                    let mut headers = Vec::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                            break;
                        }
                        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                        let name = name.trim().to_ascii_lowercase();
                        let value = value.trim().to_string();
                        match name.as_str() {
                            "proxy-authorization" => auths.lock().unwrap().push(value),
                            "proxy-connection" | "connection" => {}
                            _ => {
                                if name == "content-length" {
                                    length = value.parse().unwrap_or(0);
                                }
                                headers.push(format!("{name}: {value}\r\n"));
                            }
                        }
                    }
                    let mut parts = request_line.split_whitespace();
                    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let Ok(mut upstream) = std::net::TcpStream::connect(backend) else {
                        return;
                    };
                    if method == "CONNECT" {
                        let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                        let _ = upstream.write_all(reader.buffer());
                        let mut from_upstream = upstream.try_clone().expect("clone stream");
                        let mut to_client = client.try_clone().expect("clone stream");
                        let back = std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from_upstream, &mut to_client);
                            let _ = to_client.shutdown(std::net::Shutdown::Write);
                        });
                        let _ = std::io::copy(&mut client, &mut upstream);
                        let _ = upstream.shutdown(std::net::Shutdown::Write);
                        let _ = back.join();
                        return;
                    }
                    // Absolute form to origin form: drop `http://host:port`.
                    let path = target
                        .strip_prefix("http://")
                        .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]))
                        .unwrap_or(target);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut request = format!("{method} {path} HTTP/1.1\r\n");
                    request.extend(headers);
                    request.push_str("connection: close\r\n\r\n");
                    if upstream.write_all(request.as_bytes()).is_err()
                        || upstream.write_all(&body).is_err()
                    {
                        return;
                    }
                    let _ = std::io::copy(&mut upstream, &mut client);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        ForwardProxy {
            url: format!("http://127.0.0.1:{port}"),
            port,
            request_lines,
            authorizations,
        }
    }

    pub fn requests(&self) -> usize {
        self.request_lines.lock().unwrap().len()
    }
}

/// A 127.0.0.1 port with nothing listening (bound, then released).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}
