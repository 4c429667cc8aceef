//! Which certificate authorities a run trusts, and TLS failures in plain words.
//!
//! Trusted: the bundled public roots (webpki-roots), the operating system's store (or, when set,
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` instead of it), and the CAs of `--ca-cert`. Verification is
//! always on: the verifier is rustls' own WebPKI verifier, wrapped only to name the issuer of a
//! certificate it does not trust.

use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore,
    SignatureScheme,
};

use crate::config::ConfigError;

/// The certificate authorities of a run, beyond the bundled and system ones.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// From `--ca-cert` (`ROSTER_CA_CERT`, the profile's `ca_cert`).
    extra: Vec<CertificateDer<'static>>,
    source: Option<PathBuf>,
}

impl Trust {
    /// The bundled roots and the system's store, plus the CAs in `ca_cert` when given. A file that
    /// cannot be read, holds no certificate or holds one that cannot be a CA is a config error.
    pub fn load(ca_cert: Option<&Path>) -> Result<Trust, ConfigError> {
        match ca_cert {
            None => Ok(Trust::default()),
            Some(path) => Ok(Trust {
                extra: read_ca_file(path)?,
                source: Some(path.to_path_buf()),
            }),
        }
    }

    /// The rustls configuration reqwest is given (it then uses no TLS settings of its own).
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = self.verifier(provider.clone())?;
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            // Not a relaxation: `Verifier` is rustls' WebPKI verifier, with a better error.
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    fn verifier(&self, provider: Arc<CryptoProvider>) -> Result<Arc<Verifier>, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let bundled = roots.len();
        let system = system_roots();
        let (added, ignored) = roots.add_parsable_certificates(system.certs.iter().cloned());
        tracing::debug!(
            bundled,
            system = added,
            system_unusable = ignored,
            "trusted: the bundled roots and {}",
            system.from
        );
        for cert in &self.extra {
            roots
                .add(cert.clone())
                .map_err(|e| format!("a --ca-cert certificate cannot be used: {e}"))?;
        }
        if let Some(source) = &self.source {
            tracing::debug!(
                certificates = self.extra.len(),
                "also trusted: {}",
                source.display()
            );
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
        Ok(Arc::new(Verifier { webpki }))
    }
}

/// The certificates of a `--ca-cert` file: PEM, one or more.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let problem = |problem: String| ConfigError::CaCert {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let cert = item.map_err(|e| {
            problem(format!(
                "certificate {} is not valid PEM: {e}",
                certs.len() + 1
            ))
        })?;
        certs.push(cert);
    }
    if certs.is_empty() {
        let der = if bytes.first() == Some(&0x30) {
            "; it looks like DER, convert it with: openssl x509 -inform der -in FILE -out ca.pem"
        } else {
            ""
        };
        return Err(problem(format!(
            "it holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----){der}"
        )));
    }
    for (n, cert) in certs.iter().enumerate() {
        webpki::anchor_from_trusted_cert(cert)
            .map_err(|e| problem(format!("certificate {} cannot be a CA: {e}", n + 1)))?;
    }
    Ok(certs)
}

/// The system's store, read once per process.
struct SystemRoots {
    certs: Vec<CertificateDer<'static>>,
    from: &'static str,
}

fn system_roots() -> &'static SystemRoots {
    static ROOTS: OnceLock<SystemRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let overridden = set("SSL_CERT_FILE") || set("SSL_CERT_DIR");
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            if overridden {
                tracing::warn!("SSL_CERT_FILE / SSL_CERT_DIR: {error}");
            } else {
                tracing::debug!("system certificate store: {error}");
            }
        }
        SystemRoots {
            certs: loaded.certs,
            from: if overridden {
                "SSL_CERT_FILE / SSL_CERT_DIR (instead of the system store)"
            } else {
                "the system store"
            },
        }
    })
}

/// rustls' WebPKI verifier, unchanged except that an unknown issuer is reported with its name.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(
                        Arc::new(UnknownAuthority {
                            issuer: issuer_name(end_entity),
                        }),
                    )))
                }
                e => e,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `UnknownIssuer`, with the issuer named by the server's certificate.
#[derive(Debug)]
pub struct UnknownAuthority {
    pub issuer: Option<String>,
}

impl fmt::Display for UnknownAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("certificate signed by an unknown authority")?;
        match &self.issuer {
            Some(issuer) => write!(f, " (issuer: {issuer})"),
            None => Ok(()),
        }
    }
}

impl StdError for UnknownAuthority {}

/// The issuer's common name (else its organisation) of a DER certificate, printable and short.
fn issuer_name(cert: &CertificateDer<'_>) -> Option<String> {
    let cert = webpki::EndEntityCert::try_from(cert).ok()?;
    common_name(cert.issuer())
}

/// CN, else O, of the contents of an X.501 `Name` (RDNs of attribute type-value pairs).
fn common_name(name: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    let (mut cn, mut o) = (None, None);
    let mut rdns = name;
    while !rdns.is_empty() {
        let (0x31, set, rest) = der_next(rdns)? else {
            return None;
        };
        rdns = rest;
        let mut pairs = set;
        while !pairs.is_empty() {
            let (0x30, pair, rest) = der_next(pairs)? else {
                return None;
            };
            pairs = rest;
            let (0x06, oid, value) = der_next(pair)? else {
                return None;
            };
            let (tag, text, _) = der_next(value)?;
            let slot = match oid {
                CN => &mut cn,
                O => &mut o,
                _ => continue,
            };
            if slot.is_none() {
                *slot = directory_string(tag, text);
            }
        }
    }
    cn.or(o)
}

/// One DER element: tag, contents, what follows. `None` when truncated or too long to be sane.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 3 || rest.len() < octets {
            return None;
        }
        let (octets, rest) = rest.split_at(octets);
        let length = octets
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (length, rest)
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// A DirectoryString as text: control characters blanked, at most 80 characters.
fn directory_string(tag: u8, bytes: &[u8]) -> Option<String> {
    let text: String = match tag {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => std::str::from_utf8(bytes).ok()?.to_string(),
        // TeletexString, read as Latin-1
        0x14 => bytes.iter().map(|&b| char::from(b)).collect(),
        // BMPString
        0x1e if bytes.len().is_multiple_of(2) => char::decode_utf16(
            bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]])),
        )
        .collect::<Result<_, _>>()
        .ok()?,
        _ => return None,
    };
    let mut text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 80 {
        text = text.chars().take(79).collect::<String>() + "…";
    }
    (!text.is_empty()).then_some(text)
}

/// The rustls error somewhere in `error`'s chain. rustls' errors travel inside `io::Error`s (one
/// or more deep), whose `source()` skips the error they wrap: those are opened with `get_ref`.
pub fn find_tls_error<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        cause = match error.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => None,
            },
            None => error.source(),
        };
    }
    None
}

/// A TLS failure talking to `host` in plain words, with what to do about it.
pub fn explain(error: &rustls::Error, host: &str) -> String {
    let lead = format!("cannot connect securely to {host}");
    let cert = match error {
        rustls::Error::InvalidCertificate(cert) => cert,
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            return format!(
                "{lead}: the server did not answer in TLS (is it plain HTTP? then use http:// in \
                 --base-url)"
            );
        }
        rustls::Error::AlertReceived(alert) => {
            return format!("{lead}: the server refused the TLS handshake ({alert:?})");
        }
        rustls::Error::PeerIncompatible(why) => {
            return format!(
                "{lead}: the server offers no TLS version or cipher suite roster accepts (TLS 1.2 \
                 or 1.3): {why:?}"
            );
        }
        other => return format!("{lead}: TLS failed: {other}"),
    };
    let (what, fix) = match cert {
        CertificateError::Other(other) => match other.0.downcast_ref::<UnknownAuthority>() {
            Some(UnknownAuthority { issuer }) => (
                format!(
                    "its certificate is signed by an unknown authority{}",
                    issuer
                        .as_ref()
                        .map(|i| format!(" (issuer: {i})"))
                        .unwrap_or_default()
                ),
                "If your network inspects TLS, pass its CA with --ca-cert FILE.",
            ),
            None => (format!("its certificate was rejected: {other}"), ""),
        },
        CertificateError::UnknownIssuer => (
            "its certificate is signed by an unknown authority".to_string(),
            "If your network inspects TLS, pass its CA with --ca-cert FILE.",
        ),
        CertificateError::Expired => ("its certificate has expired".to_string(), CLOCK_OR_RENEW),
        CertificateError::ExpiredContext { not_after, .. } => (
            format!(
                "its certificate expired on {}",
                crate::text::utc(not_after.as_secs())
            ),
            CLOCK_OR_RENEW,
        ),
        CertificateError::NotValidYet => (
            "its certificate is not valid yet".to_string(),
            "Check this machine's clock.",
        ),
        CertificateError::NotValidYetContext { not_before, .. } => (
            format!(
                "its certificate is not valid until {}",
                crate::text::utc(not_before.as_secs())
            ),
            "Check this machine's clock.",
        ),
        CertificateError::NotValidForName => (
            format!("its certificate is not valid for the name {host}"),
            NAME_FIX,
        ),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let presented: Vec<String> = presented.iter().filter_map(|n| san(n)).collect();
            let mut names = presented
                .iter()
                .take(3)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if presented.len() > 3 {
                names.push_str(", …");
            }
            let what = match names.is_empty() {
                true => format!("its certificate is not valid for the name {host}"),
                false => format!("its certificate is for {names}, not {host}"),
            };
            (what, NAME_FIX)
        }
        CertificateError::Revoked => ("its certificate has been revoked".to_string(), ""),
        CertificateError::BadSignature => (
            "its certificate's signature does not match its issuer".to_string(),
            "",
        ),
        CertificateError::BadEncoding => ("its certificate is malformed".to_string(), ""),
        other => (format!("its certificate was rejected: {other:?}"), ""),
    };
    match fix {
        "" => format!("{lead}: {what}."),
        fix => format!("{lead}: {what}. {fix}"),
    }
}

/// A name of a certificate as webpki reports it (`DnsName("a.example")`, `IpAddress(10.0.0.1)`),
/// bare; `None` for kinds that cannot match a host (directory names, URIs).
fn san(reported: &str) -> Option<String> {
    let inner = |kind: &str| {
        reported
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix('('))
            .and_then(|rest| rest.strip_suffix(')'))
    };
    if let Some(dns) = inner("DnsName") {
        return Some(dns.trim_matches('"').to_string());
    }
    if let Some(ip) = inner("IpAddress") {
        return Some(ip.to_string());
    }
    match reported.contains(['(', ')']) || reported == "DirectoryName" {
        true => None,
        false => Some(reported.to_string()),
    }
}

const CLOCK_OR_RENEW: &str = "Check this machine's clock; if it is right, the certificate must be \
    renewed (by the provider, or by the TLS-inspecting proxy of your network).";

const NAME_FIX: &str = "Check --base-url; behind a TLS-inspecting proxy, the proxy presented a \
    certificate for another name.";

/// A private CA and the certificates it signs, made with rcgen for tests.
#[cfg(test)]
pub(crate) mod test_pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
        ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    pub struct TestCa {
        pub cert: CertificateDer<'static>,
        pub pem: String,
        issuer: Issuer<'static, KeyPair>,
    }

    impl TestCa {
        /// A CA whose subject is `CN=Test Corp CA, O=Test Corp`.
        pub fn new() -> TestCa {
            TestCa::named(vec![
                (DnType::OrganizationName, "Test Corp".into()),
                (DnType::CommonName, "Test Corp CA".into()),
            ])
        }

        pub fn named(subject: Vec<(DnType, DnValue)>) -> TestCa {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.distinguished_name = DistinguishedName::new();
            for (kind, value) in subject {
                params.distinguished_name.push(kind, value);
            }
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            TestCa {
                cert: cert.der().clone(),
                pem: cert.pem(),
                issuer: Issuer::new(params, key),
            }
        }

        /// A server certificate for `names`, valid now.
        pub fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            self.leaf_with(names, |_| {})
        }

        pub fn leaf_with(
            &self,
            names: &[&str],
            adjust: impl FnOnce(&mut CertificateParams),
        ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let mut params = CertificateParams::new(names).unwrap();
            params.distinguished_name = DistinguishedName::new();
            params
                .distinguished_name
                .push(DnType::CommonName, "roster test server");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            adjust(&mut params);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
            (cert.der().clone(), key)
        }
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{DnType, DnValue};

    use super::test_pki::TestCa;
    use super::*;

    fn verify(trust: &Trust, cert: &CertificateDer<'_>, host: &str) -> Result<(), rustls::Error> {
        let verifier = trust
            .verifier(Arc::new(rustls::crypto::ring::default_provider()))
            .unwrap();
        let name = ServerName::try_from(host.to_string()).unwrap();
        verifier
            .verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    fn with_ca_file(ca: &TestCa) -> (tempfile::TempDir, Trust) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &ca.pem).unwrap();
        let trust = Trust::load(Some(&path)).unwrap();
        (dir, trust)
    }

    #[test]
    fn an_unknown_issuer_is_reported_with_its_name() {
        let ca = TestCa::new();
        let (leaf, _) = ca.leaf(&["127.0.0.1"]);
        let error = verify(&Trust::default(), &leaf, "127.0.0.1").unwrap_err();
        let message = explain(&error, "127.0.0.1");
        assert_eq!(
            message,
            "cannot connect securely to 127.0.0.1: its certificate is signed by an unknown \
             authority (issuer: Test Corp CA). If your network inspects TLS, pass its CA with \
             --ca-cert FILE."
        );
    }

    #[test]
    fn a_ca_file_makes_its_certificates_trusted_and_still_checks_names_and_dates() {
        let ca = TestCa::new();
        let (_dir, trust) = with_ca_file(&ca);
        let (leaf, _) = ca.leaf(&["127.0.0.1", "localhost"]);
        verify(&trust, &leaf, "127.0.0.1").unwrap();
        verify(&trust, &leaf, "localhost").unwrap();

        let error = verify(&trust, &leaf, "example.com").unwrap_err();
        assert_eq!(
            explain(&error, "example.com"),
            format!(
                "cannot connect securely to example.com: its certificate is for 127.0.0.1, \
                 localhost, not example.com. {NAME_FIX}"
            )
        );

        let (expired, _) = ca.leaf_with(&["127.0.0.1"], |params| {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
        let error = verify(&trust, &expired, "127.0.0.1").unwrap_err();
        let message = explain(&error, "127.0.0.1");
        assert!(
            message.starts_with(
                "cannot connect securely to 127.0.0.1: its certificate expired on 2021-01-01 \
                 00:00 UTC. Check this machine's clock"
            ),
            "{message}"
        );
    }

    #[test]
    fn the_issuer_is_the_common_name_else_the_organisation_in_any_string_type() {
        let ca = TestCa::named(vec![(DnType::OrganizationName, "Only Org Ltd".into())]);
        assert_eq!(
            issuer_name(&ca.leaf(&["a.example"]).0).as_deref(),
            Some("Only Org Ltd")
        );
        let bmp = rcgen::string::BmpString::try_from("Zentrale Prüf-CA").unwrap();
        let ca = TestCa::named(vec![(DnType::CommonName, DnValue::BmpString(bmp))]);
        assert_eq!(
            issuer_name(&ca.leaf(&["a.example"]).0).as_deref(),
            Some("Zentrale Prüf-CA")
        );
        let ca = TestCa::named(vec![(
            DnType::CommonName,
            DnValue::PrintableString("Printable CA".try_into().unwrap()),
        )]);
        assert_eq!(
            issuer_name(&ca.leaf(&["a.example"]).0).as_deref(),
            Some("Printable CA")
        );
        let ca = TestCa::named(vec![(DnType::CountryName, "IN".into())]);
        assert_eq!(issuer_name(&ca.leaf(&["a.example"]).0), None);
    }

    #[test]
    fn broken_der_gives_no_name_and_no_panic() {
        let ca = TestCa::new();
        let (leaf, _) = ca.leaf(&["a.example"]);
        let cert = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let name = cert.issuer().to_vec();
        assert_eq!(common_name(&name).as_deref(), Some("Test Corp CA"));
        for end in 0..name.len() {
            let _ = common_name(&name[..end]);
        }
        for at in 0..name.len() {
            let mut bent = name.clone();
            bent[at] ^= 0xff;
            let _ = common_name(&bent);
        }
        assert_eq!(der_next(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_next(&[0x30, 0x05, 1]), None);
        assert_eq!(
            directory_string(0x0c, "a\u{7}b".as_bytes()).as_deref(),
            Some("a b")
        );
        let long = "x".repeat(200);
        assert_eq!(
            directory_string(0x0c, long.as_bytes())
                .unwrap()
                .chars()
                .count(),
            80
        );
    }

    #[test]
    fn tls_errors_are_found_inside_nested_io_errors() {
        let inner = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
        );
        let outer = std::io::Error::other(inner);
        let found = find_tls_error(&outer).unwrap();
        assert_eq!(
            explain(found, "h.example"),
            "cannot connect securely to h.example: its certificate has been revoked."
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(find_tls_error(&plain).is_none());
    }

    #[test]
    fn other_handshake_failures_say_what_to_check() {
        let message = explain(
            &rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            "h.example",
        );
        assert!(message.contains("use http://"), "{message}");
        let message = explain(
            &rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(0)),
                not_before: UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    951_782_400 + 3_600 * 13 + 60 * 5,
                )),
            }),
            "h.example",
        );
        assert!(
            message.contains("not valid until 2000-02-29 13:05 UTC. Check this machine's clock."),
            "{message}"
        );
    }

    #[test]
    fn presented_names_are_shown_bare() {
        assert_eq!(san("DnsName(\"a.example\")").as_deref(), Some("a.example"));
        assert_eq!(san("IpAddress(10.0.0.1)").as_deref(), Some("10.0.0.1"));
        assert_eq!(san("DirectoryName"), None);
        assert_eq!(san("UniformResourceIdentifier(\"x\")"), None);
        assert_eq!(san("plain.example").as_deref(), Some("plain.example"));
    }

    #[test]
    fn ca_files_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = Trust::load(Some(&missing)).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "CA certificate file {}: cannot read it",
                missing.display()
            )),
            "{error}"
        );

        let ca = TestCa::new();
        let der = dir.path().join("ca.der");
        std::fs::write(&der, ca.cert.as_ref()).unwrap();
        let error = Trust::load(Some(&der)).unwrap_err().to_string();
        assert!(
            error.contains("holds no certificate") && error.contains("DER"),
            "{error}"
        );

        let key_only = dir.path().join("key.pem");
        std::fs::write(
            &key_only,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = Trust::load(Some(&key_only)).unwrap_err().to_string();
        assert!(error.contains("holds no certificate"), "{error}");

        let two = dir.path().join("two.pem");
        let other = TestCa::new();
        std::fs::write(&two, format!("{}{}", ca.pem, other.pem)).unwrap();
        let trust = Trust::load(Some(&two)).unwrap();
        assert_eq!(trust.extra.len(), 2);
        verify(&trust, &other.leaf(&["b.example"]).0, "b.example").unwrap();
    }
}
