//! The network suite's peers: a certificate authority made at test time, a TLS front for the
//! sandbox, and a forward proxy.

use std::path::{Path, PathBuf};

use super::write_file;

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
