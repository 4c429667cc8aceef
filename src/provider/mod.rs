//! Provider clients. Only this module knows the wire formats; callers get the neutral model.

pub mod http;
pub mod smartflo;
pub mod telecmi;
pub mod tls;

pub use http::{Http, Replay, Timeouts};
pub use tls::Trust;

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
            | ApiError::Malformed { status, .. } => Some(*status),
            ApiError::Unknown { status, .. } => *status,
            ApiError::Unreachable { .. } | ApiError::Tls { .. } => None,
        }
    }
}

/// The start of a response body for an error message: short, printable, one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const LIMIT: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(LIMIT)]);
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > LIMIT {
        line.push('…');
    }
    if line.trim().is_empty() {
        "(empty body)".to_string()
    } else {
        line.trim().to_string()
    }
}
