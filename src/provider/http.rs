//! The HTTP core shared by the provider clients: one reused client, the run's throttle, the retry loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use reqwest::{Client, RequestBuilder, StatusCode};

use super::tls::{self, Trust};
use super::ApiError;
use crate::execute::retry::{parse_retry_after, RetryPolicy};
use crate::execute::throttle::{Answer, Throttle};
use crate::exit::Contact;

/// Whether sending a request twice could do a thing twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Reads and full-state updates: any transient failure may be retried.
    Safe,
    /// Adds: retried only when the provider cannot have acted (connection refused, 429); any other
    /// failure after sending is returned as [`ApiError::Unknown`] for the caller to verify.
    Unsafe,
}

/// Reads the status a provider puts in a body, if any.
pub type BodyStatus = fn(&[u8]) -> Option<u16>;

/// A response that arrived whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: bytes::Bytes,
}

#[derive(Clone)]
pub struct Http {
    client: Client,
    base_url: String,
    throttle: Arc<Throttle>,
    retry: RetryPolicy,
    contact: Contact,
    /// A provider's way of saying "server error" inside an HTTP 200 (TeleCMI's body `code`).
    body_status: Option<BodyStatus>,
}

/// Connection settings for the reused client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

impl Http {
    /// The client trusts what `trust` says (see [`Trust`]) and takes its proxies from the
    /// environment: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` (reqwest's defaults).
    pub fn new(
        base_url: &str,
        throttle: Arc<Throttle>,
        retry: RetryPolicy,
        timeouts: Timeouts,
        trust: &Trust,
    ) -> Result<Self, ApiError> {
        let tls = trust.client_config().map_err(|message| ApiError::Tls {
            message: format!("cannot set up TLS: {message}"),
        })?;
        log_proxies();
        let client = Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // A redirect would carry the secret, the token and users' passwords to wherever it
            // points: a 3xx is an answer to report, never to follow.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Unreachable {
                message: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(Http {
            client,
            base_url: base_url.trim_end_matches('/').to_string(),
            throttle,
            retry,
            contact: Contact::default(),
            body_status: None,
        })
    }

    /// Read `body_status` out of every HTTP 200 answer: a 5xx there is handled like an HTTP 5xx
    /// (retried when safe, verified by a read after an add).
    pub fn with_body_status(mut self, body_status: BodyStatus) -> Self {
        self.body_status = Some(body_status);
        self
    }

    /// Mark `contact` before every try, so the run knows it has talked to the provider.
    pub fn reporting_to(mut self, contact: &Contact) -> Self {
        self.contact = contact.clone();
        self
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The documented path appended to the base URL, which may carry a prefix of its own.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Send the request `build` makes, retrying per the policy. `tries` counts the tries of one
    /// action, and the policy's budget is for all of them: an add sent again after a lost response
    /// passes the same count, so the action never makes more than `max_attempts` tries.
    pub async fn send(
        &self,
        build: impl Fn(&Client) -> RequestBuilder,
        replay: Replay,
        tries: &mut u32,
    ) -> Result<Reply, ApiError> {
        loop {
            *tries += 1;
            let tries = *tries;
            self.contact.mark();
            let (outcome, sent_at) = {
                let slot = self.throttle.acquire().await;
                (
                    self.contact
                        .timed(self.send_once(build(&self.client), replay))
                        .await,
                    slot.sent_at(),
                )
            };
            let failure = match outcome {
                Ok(reply) => {
                    self.throttle
                        .answered(sent_at, Answer::Status(reply.status));
                    self.throttle.succeeded();
                    return Ok(reply);
                }
                Err(failure) => failure,
            };
            // A 429's retry waits what the provider asked (capped), or the backoff; the throttle
            // decides from the recent answers whether the rate drops and the whole run waits.
            let throttled_wait = match &failure {
                Failure::Throttled(after) => Some(after.map_or_else(
                    || self.retry.backoff(tries),
                    |after| self.retry.honour(after),
                )),
                _ => None,
            };
            let answer = match (&failure, throttled_wait) {
                (_, Some(retry_in)) => Answer::Throttled { retry_in },
                (
                    Failure::AfterSend {
                        status: Some(500..=599),
                        ..
                    },
                    _,
                ) => Answer::ServerError,
                (Failure::Final(ApiError::Redirected { status, .. }), _) => Answer::Status(*status),
                _ => Answer::NoAnswer,
            };
            self.throttle.answered(sent_at, answer);
            let retryable = match &failure {
                Failure::NotSent(_) | Failure::Throttled(_) => true,
                Failure::AfterSend { .. } => replay == Replay::Safe,
                Failure::Final(_) => false,
            };
            if !retryable || !self.retry.may_retry(tries) {
                return Err(failure.into_error(replay));
            }
            let wait = match throttled_wait {
                Some(wait) => {
                    self.throttle.count_throttled_retry();
                    wait
                }
                None if self.throttle.take_retry() => self.retry.backoff(tries),
                None => {
                    tracing::debug!(
                        "not retried, the run's retry budget is spent: {}",
                        failure.describe()
                    );
                    return Err(failure.into_error(replay));
                }
            };
            tracing::debug!(
                attempt = tries,
                wait_ms = wait.as_millis() as u64,
                "retrying: {}",
                failure.describe()
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why one try did not produce a usable response.
enum Failure {
    /// The provider cannot have seen the request.
    NotSent(String),
    /// 429, with the provider's `Retry-After` when it gave one.
    Throttled(Option<Duration>),
    /// Sent, and then a 5xx, a timeout or a lost response: the provider may have acted.
    AfterSend {
        status: Option<u16>,
        message: String,
    },
    /// An answer that trying again would only repeat: a failed TLS handshake, a redirect, a
    /// body too large to read.
    Final(ApiError),
}

impl Failure {
    /// For the log: never the provider's text, which may echo a secret (only the client that
    /// knows the secrets may show it, scrubbed).
    fn describe(&self) -> String {
        match self {
            Failure::NotSent(message) => message.clone(),
            Failure::Throttled(_) => "HTTP 429 Too Many Requests".to_string(),
            Failure::AfterSend {
                status: Some(status),
                ..
            } => format!("HTTP {status}"),
            Failure::AfterSend {
                status: None,
                message,
            } => message.clone(),
            Failure::Final(error) => error.to_string(),
        }
    }

    fn into_error(self, replay: Replay) -> ApiError {
        match self {
            Failure::NotSent(message) => ApiError::Unreachable { message },
            Failure::Final(error) => error,
            Failure::Throttled(_) => ApiError::Server {
                status: 429,
                message: "still throttled (HTTP 429) after every retry".to_string(),
            },
            Failure::AfterSend { status, message } => match (replay, status) {
                (Replay::Unsafe, _) => ApiError::Unknown { status, message },
                (Replay::Safe, Some(status)) => ApiError::Server { status, message },
                (Replay::Safe, None) => ApiError::Unreachable { message },
            },
        }
    }
}

impl Http {
    async fn send_once(&self, request: RequestBuilder, replay: Replay) -> Result<Reply, Failure> {
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Err(transport_failure(&e)),
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(Failure::Throttled(after));
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .map_or("(no Location)".to_string(), |v| {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                });
            return Err(Failure::Final(ApiError::Redirected {
                status: status.as_u16(),
                location,
            }));
        }
        let body = read_body(&mut response, replay).await?;
        let server_error = if status.is_server_error() {
            Some((status.as_u16(), format!("HTTP {}", status.as_u16())))
        } else {
            self.body_status
                .filter(|_| status == StatusCode::OK)
                .and_then(|body_status| body_status(&body))
                .filter(|code| (500..600).contains(code))
                .map(|code| {
                    let said = format!("the provider sent code {code} inside an HTTP 200 answer");
                    (code, said)
                })
        };
        if let Some((code, said)) = server_error {
            return Err(Failure::AfterSend {
                status: Some(code),
                message: format!("{said}: {}", super::excerpt(&body)),
            });
        }
        Ok(Reply {
            status: status.as_u16(),
            body,
        })
    }
}

/// The most of one answer roster reads: a page of users is a few hundred kilobytes at most.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The body, up to [`MAX_BODY_BYTES`]. Past that, a read is refused for good, while an add is left
/// for the caller to verify (it may have been carried out before the answer grew).
async fn read_body(response: &mut reqwest::Response, replay: Replay) -> Result<Bytes, Failure> {
    let status = response.status().as_u16();
    let oversized = |size: String| {
        let message = format!(
            "the answer is {size}: roster reads at most {} MiB",
            MAX_BODY_BYTES >> 20
        );
        match replay {
            Replay::Safe => Failure::Final(ApiError::Malformed { status, message }),
            Replay::Unsafe => Failure::AfterSend {
                status: Some(status),
                message,
            },
        }
    };
    if let Some(length) = response.content_length() {
        if length > MAX_BODY_BYTES as u64 {
            return Err(oversized(format!("{length} bytes")));
        }
    }
    let mut body = BytesMut::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| Failure::AfterSend {
            status: Some(status),
            message: format!("response lost: {}", plain_error(&e)),
        })?;
        let Some(chunk) = chunk else {
            return Ok(body.freeze());
        };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(oversized(format!("over {} MiB", MAX_BODY_BYTES >> 20)));
        }
        body.extend_from_slice(&chunk);
    }
}

/// Why a request got no response: TLS (final), not sent, or sent and then lost.
fn transport_failure(e: &reqwest::Error) -> Failure {
    if let Some(tls) = tls::find_tls_error(e) {
        let host = e
            .url()
            .and_then(|url| url.host_str())
            .unwrap_or("the provider");
        return Failure::Final(ApiError::Tls {
            message: tls::explain(tls, host),
        });
    }
    if e.is_connect() {
        Failure::NotSent(plain_error(e))
    } else {
        Failure::AfterSend {
            status: None,
            message: plain_error(e),
        }
    }
}

/// A transport error in plain words, with its innermost cause (reqwest's own text is generic).
fn plain_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the response"
    } else {
        "request failed"
    };
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    redact_proxy_passwords(&format!("{kind}: {cause}"))
}

/// The proxy variables reqwest reads, in the order it reads them (upper case first).
const PROXY_VARIABLES: [&str; 8] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Say at debug level which proxies apply, with any password in them blanked out.
fn log_proxies() {
    for name in PROXY_VARIABLES {
        if let Some(value) = std::env::var(name).ok().filter(|v| !v.is_empty()) {
            tracing::debug!("{name}={}", redact_userinfo(&value));
        }
    }
}

/// `scheme://user:password@host` → `scheme://user:***@host`; anything else as it is. The last `@`
/// ends the user part, so a password holding `@` or `/` (not percent-encoded) is blanked whole.
fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].rfind('@').map(|i| start + i) else {
        return url.to_string();
    };
    match url[start..at].find(':') {
        Some(colon) => format!("{}***{}", &url[..start + colon + 1], &url[at..]),
        None => url.to_string(),
    }
}

/// `text` with any proxy URL of the environment in it quoted without its password.
fn redact_proxy_passwords(text: &str) -> String {
    let mut text = text.to_string();
    for name in PROXY_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            let redacted = redact_userinfo(&value);
            if redacted != value {
                text = text.replace(&value, &redacted);
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::execute::pace::RateMode;
    use crate::provider::tls::test_pki::TestCa;

    /// A TLS server on 127.0.0.1:0 answering `200 {}` once per connection; counts connections.
    async fn tls_server(
        cert: CertificateDer<'static>,
        key: PrivateKeyDer<'static>,
    ) -> (String, Arc<AtomicUsize>) {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let reply =
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
                    let _ = tls.write_all(reply.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (url, connections)
    }

    fn http(base_url: &str, trust: &Trust) -> Http {
        let retry = RetryPolicy {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
            max_attempts: 4,
        };
        let throttle = Arc::new(Throttle::new(RateMode::Unlimited, None, None, 1));
        Http::new(base_url, throttle, retry, Timeouts::default(), trust).unwrap()
    }

    async fn get(http: &Http, attempts: &mut u32) -> Result<Reply, ApiError> {
        http.send(
            |client| client.get(http.url("/v1/users")),
            Replay::Safe,
            attempts,
        )
        .await
    }

    #[tokio::test]
    async fn a_certificate_error_is_explained_and_never_retried() {
        let ca = TestCa::new();
        let (cert, key) = ca.leaf(&["127.0.0.1"]);
        let (url, connections) = tls_server(cert, key).await;
        let http = http(&url, &Trust::default());
        let mut attempts = 0;
        let error = get(&http, &mut attempts).await.unwrap_err();
        assert_eq!(attempts, 1, "not retried");
        assert_eq!(connections.load(Ordering::SeqCst), 1);
        let ApiError::Tls { message } = &error else {
            panic!("expected a TLS error, got {error:?}");
        };
        assert!(
            message.starts_with(
                "cannot connect securely to 127.0.0.1: its certificate is signed by an unknown \
                 authority (issuer: Test Corp CA)."
            ),
            "{message}"
        );
        assert_eq!(error.to_string(), *message);
    }

    #[tokio::test]
    async fn with_the_ca_trusted_the_request_goes_through() {
        let ca = TestCa::new();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &ca.pem).unwrap();
        let (cert, key) = ca.leaf(&["127.0.0.1"]);
        let (url, _) = tls_server(cert, key).await;
        let http = http(&url, &Trust::load(Some(&path)).unwrap());
        let mut attempts = 0;
        let reply = get(&http, &mut attempts).await.unwrap();
        assert_eq!((reply.status, &reply.body[..]), (200, &b"{}"[..]));
    }

    #[tokio::test]
    async fn a_refused_connection_is_still_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        drop(listener);
        let http = http(&url, &Trust::default());
        let mut attempts = 0;
        let error = get(&http, &mut attempts).await.unwrap_err();
        assert_eq!(attempts, 4);
        assert!(matches!(error, ApiError::Unreachable { .. }), "{error:?}");
    }

    #[test]
    fn proxy_passwords_are_blanked() {
        assert_eq!(
            redact_userinfo("http://alice:s3cret@proxy.corp:3128"),
            "http://alice:***@proxy.corp:3128"
        );
        assert_eq!(
            redact_userinfo("http://alice:p@s/s@proxy.corp:3128/"),
            "http://alice:***@proxy.corp:3128/"
        );
        assert_eq!(
            redact_userinfo("http://proxy.corp:3128"),
            "http://proxy.corp:3128"
        );
        assert_eq!(redact_userinfo("alice@proxy:1"), "alice@proxy:1");
        assert_eq!(redact_userinfo("alice:pw@proxy:1"), "alice:***@proxy:1");
    }
}
