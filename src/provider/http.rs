//! The HTTP core shared by the provider clients: one reused client, the run's throttle, the retry loop.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::{Client, RequestBuilder, StatusCode};

use super::ApiError;
use crate::execute::retry::{parse_retry_after, RetryPolicy};
use crate::execute::throttle::Throttle;
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
    pub fn new(
        base_url: &str,
        throttle: Arc<Throttle>,
        retry: RetryPolicy,
        timeouts: Timeouts,
    ) -> Result<Self, ApiError> {
        let client = Client::builder()
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
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
        })
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

    /// Send the request `build` makes, retrying per the policy. `attempts` counts every try.
    pub async fn send(
        &self,
        build: impl Fn(&Client) -> RequestBuilder,
        replay: Replay,
        attempts: &mut u32,
    ) -> Result<Reply, ApiError> {
        // Each request has its own budget of tries; `attempts` only adds them up for the caller.
        let mut tries = 0;
        loop {
            tries += 1;
            *attempts += 1;
            self.contact.mark();
            let outcome = {
                let _slot = self.throttle.acquire().await;
                send_once(build(&self.client)).await
            };
            let failure = match outcome {
                Ok(reply) => {
                    self.throttle.succeeded();
                    return Ok(reply);
                }
                Err(failure) => failure,
            };
            let retryable = match &failure {
                Failure::NotSent(_) | Failure::Throttled(_) => true,
                Failure::AfterSend { .. } => replay == Replay::Safe,
            };
            if !retryable || !self.retry.may_retry(tries) {
                return Err(failure.into_error(replay));
            }
            let wait = match failure {
                Failure::Throttled(after) => {
                    let wait = after.map_or_else(
                        || self.retry.backoff(tries),
                        |after| self.retry.honour(after),
                    );
                    self.throttle.throttled(wait);
                    self.throttle.count_throttled_retry();
                    wait
                }
                _ if self.throttle.take_retry() => self.retry.backoff(tries),
                _ => {
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
        }
    }

    fn into_error(self, replay: Replay) -> ApiError {
        match self {
            Failure::NotSent(message) => ApiError::Unreachable { message },
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

async fn send_once(request: RequestBuilder) -> Result<Reply, Failure> {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_connect() => return Err(Failure::NotSent(plain_error(&e))),
        Err(e) => {
            return Err(Failure::AfterSend {
                status: None,
                message: plain_error(&e),
            })
        }
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
    let body = response.bytes().await.map_err(|e| Failure::AfterSend {
        status: Some(status.as_u16()),
        message: format!("response lost: {}", plain_error(&e)),
    })?;
    if status.is_server_error() {
        return Err(Failure::AfterSend {
            status: Some(status.as_u16()),
            message: format!("HTTP {}: {}", status.as_u16(), super::excerpt(&body)),
        });
    }
    Ok(Reply {
        status: status.as_u16(),
        body,
    })
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
    format!("{kind}: {cause}")
}
