//! Provider clients. Only this module knows the wire formats; callers get the neutral model.

pub mod http;
pub mod smartflo;
pub mod telecmi;
pub mod tls;

pub use http::{Http, Replay, Timeouts};
pub use tls::Trust;

use crate::text;

/// Why a provider call did not succeed, in words fit for a report line (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The provider rejected our credentials (verified, where the status code is overloaded).
    #[error("authentication rejected by the provider (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    /// The provider refused this request (bad parameter, user exists, limit reached, ...).
    #[error("{message}")]
    Rejected { status: u16, message: String },
    /// The user asked for does not exist.
    #[error("{message}")]
    NotFound { status: u16, message: String },
    /// The request was sent but its outcome is unknown (timeout, lost response, 5xx on an add).
    #[error("outcome unknown: {message}")]
    Unknown {
        status: Option<u16>,
        message: String,
    },
    /// Still failing with a server error after every retry.
    #[error("{message}")]
    Server { status: u16, message: String },
    /// Could not reach the provider at all after every retry.
    #[error("provider unreachable: {message}")]
    Unreachable { message: String },
    /// The TLS handshake failed (untrusted, expired or misnamed certificate, ...): never retried,
    /// as trying again gives the same answer. The message says why and what to do.
    #[error("{message}")]
    Tls { message: String },
    /// The provider answered with a redirect. The documented endpoints never redirect, and the
    /// request carries the account's credentials: roster does not follow it anywhere.
    #[error("the provider answered HTTP {status} with a redirect to {location}; roster never follows redirects, as its requests carry the account's credentials: check --base-url")]
    Redirected { status: u16, location: String },
    /// The response was not what the documentation says (not JSON, wrong types, missing fields).
    #[error("unexpected response (HTTP {status}): {message}")]
    Malformed { status: u16, message: String },
}

impl ApiError {
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ApiError::Auth { status, .. }
            | ApiError::Rejected { status, .. }
            | ApiError::NotFound { status, .. }
            | ApiError::Server { status, .. }
            | ApiError::Redirected { status, .. }
            | ApiError::Malformed { status, .. } => Some(*status),
            ApiError::Unknown { status, .. } => *status,
            ApiError::Unreachable { .. } | ApiError::Tls { .. } => None,
        }
    }

    /// No later request of the run can fare better: credentials rejected, a connection that
    /// cannot be trusted, or a provider that sends us elsewhere.
    pub fn stops_the_run(&self) -> bool {
        matches!(
            self,
            ApiError::Auth { .. } | ApiError::Tls { .. } | ApiError::Redirected { .. }
        )
    }
}

/// How much of a response body an error message starts from. Far more than is shown, so that the
/// secrets are removed from whole text before [`ApiError::scrubbed`] clips it to
/// [`MESSAGE_CHARS`]: no secret can be cut in two at the edge of what is shown.
const EXCERPT_BYTES: usize = 4096;
/// The most of a provider's text a message shows.
pub const MESSAGE_CHARS: usize = 300;

/// The start of a response body for an error message, on one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]);
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > EXCERPT_BYTES {
        line.push('…');
    }
    if line.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        line.trim().to_string()
    }
}

impl ApiError {
    /// This error with `secrets` (the run's credentials, the row's password) taken out of the
    /// provider's text, which is then clipped and made printable. Every error a client returns
    /// passes here, so no provider text reaches a log, report, journal or summary unscrubbed.
    pub fn scrubbed(mut self, secrets: &[&str]) -> ApiError {
        let message = match &mut self {
            ApiError::Auth { message, .. }
            | ApiError::Rejected { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Unknown { message, .. }
            | ApiError::Server { message, .. }
            | ApiError::Unreachable { message }
            | ApiError::Tls { message }
            | ApiError::Redirected {
                location: message, ..
            }
            | ApiError::Malformed { message, .. } => message,
        };
        let clean = text::scrub(message, secrets);
        *message = text::printable(&text::clip(&clean, MESSAGE_CHARS));
        self
    }
}
