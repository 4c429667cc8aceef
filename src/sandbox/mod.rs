//! The built-in sandbox: a stateful fake of the five documented TeleCMI and Tata Smartflo user
//! endpoints, with fault injection.
//!
//! It is a product feature (`roster sandbox`, `make demo`, migration rehearsals) as much as a test
//! fixture, so it follows the provider docs in `shared/api/*.txt`, quirks included:
//!
//! | endpoint | method | auth | notable behaviour |
//! |---|---|---|---|
//! | `/v2/user/add` | POST JSON | `appid` + `secret` in the body | 401 bad credentials; 400 missing parameter, existing user, user limit |
//! | `/v2/user/update` | POST JSON | body | 401 bad credentials **and** unknown user id; 400 missing parameter |
//! | `/v3/user/get` | POST JSON | body | 404 bad credentials **and** missing user; 400 validation |
//! | `/v3/user/list` | POST JSON | body | `page`/`limit`, `count` is the total; 401; 400 validation |
//! | `/v1/users` | GET query | `Authorization: Bearer TOKEN` | `last_seen_id`/`has_more` cursor, filters |
//!
//! Phone numbers are stored as received (`+91 98123 00001` stays so), as the real service may; with
//! [`SandboxConfig::normalise_phones`] they are stored as their digits only (`919812300001`), the
//! form every TeleCMI example shows, so tests cover both.
//!
//! The endpoints are also answered under any path prefix (`/mock/v2/user/add`), so base URLs that
//! carry a path can be rehearsed; [`SandboxStats::by_endpoint`] records the full path requested.
//!
//! Faults ([`Faults`]) apply to every documented endpoint, in this order: the rate limit (fixed,
//! or following a schedule) is decided on arrival, then random 429s, then random 500s, then
//! latency and jitter delay every answer (429s included); finally, for `/v2/user/add` only, a
//! committed creation may lose its response (the connection is dropped before the response head
//! is written, so the client sees a transport error). With a fault streak cap, one request (the
//! same path and body, tried again) meets at most that many random faults in a row.
//!
//! Nothing is printed; each request is logged with `tracing` at debug level (never a secret).

mod faults;
mod seed;
mod smartflo;
mod state;
mod stats;
mod telecmi;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::sandbox::faults::{FaultState, Verdict};
use crate::sandbox::state::{SmartfloState, TelecmiState};
use crate::sandbox::stats::StatsState;

/// The TeleCMI app id the sandbox accepts unless configured otherwise.
pub const DEFAULT_APP_ID: u64 = 1111112;
/// The TeleCMI secret the sandbox accepts unless configured otherwise.
pub const DEFAULT_SECRET: &str = "sandbox-secret";
/// The Smartflo bearer token the sandbox accepts unless configured otherwise.
pub const DEFAULT_TOKEN: &str = "sandbox-token";

/// Largest request body accepted (1 MiB); larger bodies get 413.
const MAX_BODY: usize = 1 << 20;

/// How a sandbox is set up: accepted credentials, seed data, account limits and faults.
/// Its `Debug` output redacts the secret and the token.
#[derive(Clone)]
pub struct SandboxConfig {
    /// TeleCMI app id accepted in request bodies (also the suffix of every `agent_id`).
    pub app_id: u64,
    /// TeleCMI secret accepted in request bodies.
    pub secret: String,
    /// Smartflo bearer token accepted in the `Authorization` header.
    pub token: String,
    /// Number of deterministic TeleCMI users present at start (extensions 1001, 1002, ...).
    pub seed_telecmi: usize,
    /// Number of deterministic Smartflo users present at start.
    pub seed_smartflo: usize,
    /// TeleCMI add answers 400 "User limit reached" once the account holds this many users.
    pub user_limit: Option<usize>,
    /// Store TeleCMI phone numbers as their digits only, instead of exactly as received.
    pub normalise_phones: bool,
    /// Fault injection at start (changeable later with [`Sandbox::set_faults`]).
    pub faults: Faults,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            app_id: DEFAULT_APP_ID,
            secret: DEFAULT_SECRET.to_string(),
            token: DEFAULT_TOKEN.to_string(),
            seed_telecmi: 0,
            seed_smartflo: 0,
            user_limit: None,
            normalise_phones: false,
            faults: Faults::default(),
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("app_id", &self.app_id)
            .field("secret", &"<redacted>")
            .field("token", &"<redacted>")
            .field("seed_telecmi", &self.seed_telecmi)
            .field("seed_smartflo", &self.seed_smartflo)
            .field("user_limit", &self.user_limit)
            .field("normalise_phones", &self.normalise_phones)
            .field("faults", &self.faults)
            .finish()
    }
}

/// Fault injection. The default injects nothing.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fixed delay added to every answer.
    pub latency: Duration,
    /// Plus a uniform random extra delay in `[0, jitter]`.
    pub jitter: Duration,
    /// Server-wide requests per second (a token bucket holding one second's worth). Requests over
    /// it get 429 with `Retry-After`. `None`, zero, negative or non-finite: no limit.
    pub rate_limit: Option<f64>,
    /// The limit over time instead: `(from, rate)` steps, `from` counted from the sandbox's start
    /// (a step of 0 or less turns the limit off). Each step starts with a full bucket.
    pub rate_schedule: Vec<(Duration, f64)>,
    /// At most this many random faults (429, 500, lost add response) in a row for one request
    /// (the same path and body); the next try of it goes through. `None`: no cap.
    pub max_fault_streak: Option<u32>,
    /// Fraction (0.0..=1.0) of requests answered 500 without doing anything.
    pub error_rate: f64,
    /// Fraction (0.0..=1.0) of requests answered 429 with `Retry-After`, without doing anything.
    pub throttle_rate: f64,
    /// The `Retry-After` value (seconds) sent with every 429; 0 sends `1`.
    pub retry_after_secs: u64,
    /// Fraction (0.0..=1.0) of successful `/v2/user/add` calls that are committed but whose
    /// response is lost: the connection is closed without an HTTP answer.
    pub lost_add_rate: f64,
    /// TeleCMI list and Smartflo list honour at most this `limit`.
    pub list_limit_cap: Option<usize>,
}

/// A TeleCMI user as the sandbox stores it. Its `agent_id` is `format!("{extension}_{app_id}")`.
#[derive(Clone, Debug, PartialEq)]
pub struct TelecmiRecord {
    pub extension: u32,
    /// Stored exactly as given; `first_name` is its first word, `last_name` the rest.
    pub name: String,
    pub phone_number: String,
    pub password: String,
    pub start_time: Option<u8>,
    pub end_time: Option<u8>,
    /// Missed-call notification (`notify` in list/update answers, `followme` in get answers).
    pub sms_alert: bool,
}

/// A Smartflo user as the sandbox stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct SmartfloRecord {
    pub id: u64,
    pub name: String,
    pub login_id: String,
    /// `None`: the user has no agent (`"agent": null` in answers).
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// Enabled = 0, Blocked = 1, Disabled = 2, Busy = 3, Offline = 4.
    pub agent_status: i64,
    pub follow_me_number: Option<String>,
    /// `None`: no extension (`"extension": null`).
    pub extension: Option<String>,
    /// 1 = enabled, 0 = disabled.
    pub user_status: i64,
    pub role_id: u64,
    pub role_name: String,
    pub is_login_based_calling_enabled: bool,
    pub is_international_outbound_enabled: bool,
    /// Not part of the documented answer; used by the `is_web_login` filter.
    pub is_web_login_enabled: bool,
}

/// Counters about what the sandbox has seen since it started.
#[derive(Clone, Debug, Default)]
pub struct SandboxStats {
    /// Every request received, faulted ones included.
    pub requests: u64,
    /// Requests per path as requested (e.g. `"/v2/user/add"`, or `"/mock/v2/user/add"` with a prefix).
    pub by_endpoint: std::collections::BTreeMap<String, u64>,
    /// Highest number of requests being handled at once (answer delays included).
    pub max_in_flight: usize,
    /// Arrival time of each request since the server started, in arrival order.
    pub arrivals: Vec<Duration>,
    /// Successful TeleCMI creations (lost-response ones included).
    pub adds_committed: u64,
    /// When each of them was committed, since the server started, in order.
    pub creations: Vec<Duration>,
    /// Requests refused for bad credentials.
    pub rejected_auth: u64,
}

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub(crate) app_id: u64,
    pub(crate) secret: String,
    pub(crate) token: String,
    pub(crate) user_limit: Option<usize>,
    pub(crate) normalise_phones: bool,
    pub(crate) telecmi: Mutex<TelecmiState>,
    pub(crate) smartflo: Mutex<SmartfloState>,
    pub(crate) faults: FaultState,
    pub(crate) stats: StatsState,
}

impl Shared {
    /// A TeleCMI phone number as this sandbox keeps it: as received, or its digits only.
    pub(crate) fn stored_phone(&self, received: &str) -> String {
        if self.normalise_phones {
            received.chars().filter(char::is_ascii_digit).collect()
        } else {
            received.to_owned()
        }
    }
}

/// Locks a mutex, ignoring poisoning (every critical section leaves the state consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running sandbox server. Dropping it without [`Sandbox::stop`] still asks the server to stop.
pub struct Sandbox {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Binds `listen` (port 0 picks a free port) and serves in a spawned tokio task.
    pub async fn start(listen: SocketAddr, config: SandboxConfig) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            app_id: config.app_id,
            secret: config.secret,
            token: config.token,
            user_limit: config.user_limit,
            normalise_phones: config.normalise_phones,
            telecmi: Mutex::new(TelecmiState::seeded(config.seed_telecmi)),
            smartflo: Mutex::new(SmartfloState::seeded(config.seed_smartflo)),
            faults: FaultState::new(config.faults),
            stats: StatsState::new(Instant::now()),
        });
        let app = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&shared));
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "sandbox server stopped with an error");
            }
        });
        tracing::debug!(%addr, "sandbox listening");
        Ok(Sandbox {
            shared,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// `http://IP:PORT`, without a trailing slash. An unspecified listen address (0.0.0.0, ::)
    /// is reported as the loopback address of the same family.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The TeleCMI users, sorted by extension.
    pub fn telecmi_users(&self) -> Vec<TelecmiRecord> {
        lock(&self.shared.telecmi).snapshot()
    }

    /// The Smartflo users, sorted by id.
    pub fn smartflo_users(&self) -> Vec<SmartfloRecord> {
        lock(&self.shared.smartflo).snapshot()
    }

    /// Adds a TeleCMI user, or replaces the one with the same extension.
    pub fn insert_telecmi(&self, record: TelecmiRecord) {
        lock(&self.shared.telecmi).upsert(record);
    }

    /// Removes a TeleCMI user; false when there was none with that extension.
    pub fn remove_telecmi(&self, extension: u32) -> bool {
        lock(&self.shared.telecmi).remove(extension)
    }

    /// Adds a Smartflo user, or replaces the one with the same id.
    pub fn insert_smartflo(&self, record: SmartfloRecord) {
        lock(&self.shared.smartflo).upsert(record);
    }

    /// Replaces the fault injection from the next request on.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults.set(faults);
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        self.shared.stats.snapshot()
    }

    /// Stops accepting connections, lets requests in progress finish, and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The five documented endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    TelecmiAdd,
    TelecmiUpdate,
    TelecmiGet,
    TelecmiList,
    SmartfloUsers,
}

impl Endpoint {
    const ALL: [(Endpoint, &'static str); 5] = [
        (Endpoint::TelecmiAdd, "/v2/user/add"),
        (Endpoint::TelecmiUpdate, "/v2/user/update"),
        (Endpoint::TelecmiGet, "/v3/user/get"),
        (Endpoint::TelecmiList, "/v3/user/list"),
        (Endpoint::SmartfloUsers, "/v1/users"),
    ];

    /// The endpoint a path names, with or without a path prefix and one trailing slash.
    fn from_path(path: &str) -> Option<Endpoint> {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        Endpoint::ALL
            .iter()
            .find(|(_, suffix)| path.ends_with(suffix))
            .map(|(e, _)| *e)
    }

    fn method(self) -> Method {
        match self {
            Endpoint::SmartfloUsers => Method::GET,
            _ => Method::POST,
        }
    }

    pub(crate) fn is_telecmi(self) -> bool {
        self != Endpoint::SmartfloUsers
    }
}

/// A finished answer: status and JSON body, or a lost response.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Vec<u8>,
    pub(crate) retry_after: Option<u64>,
    /// The work was done but the response must not reach the client.
    pub(crate) lost: bool,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            retry_after: None,
            lost: false,
        }
    }

    /// A TeleCMI-style error: `{"code":N,"status":"error","msg":"..."}`.
    pub(crate) fn telecmi_error(status: StatusCode, msg: &str) -> Reply {
        let body = serde_json::json!({"code": status.as_u16(), "status": "error", "msg": msg});
        Reply::json(status, body.to_string().into_bytes())
    }

    /// A Smartflo-style error: `{"success":false,"message":"..."}`.
    pub(crate) fn smartflo_error(status: StatusCode, msg: &str) -> Reply {
        let body = serde_json::json!({"success": false, "message": msg});
        Reply::json(status, body.to_string().into_bytes())
    }

    fn error_for(endpoint: Endpoint, status: StatusCode, telecmi: &str, smartflo: &str) -> Reply {
        if endpoint.is_telecmi() {
            Reply::telecmi_error(status, telecmi)
        } else {
            Reply::smartflo_error(status, smartflo)
        }
    }

    fn into_response(self) -> Response {
        if self.lost {
            return faults::lost_response();
        }
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The single request handler: stats, faults, routing.
async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let _in_flight = shared.stats.arrive(&path, arrived);

    let reply = answer(&shared, &path, request, arrived).await;
    tracing::debug!(
        %method,
        path = %path,
        status = reply.status.as_u16(),
        lost = reply.lost,
        elapsed_ms = arrived.elapsed().as_secs_f64() * 1e3,
        "sandbox request"
    );
    reply.into_response()
}

async fn answer(shared: &Shared, path: &str, request: Request, arrived: Instant) -> Reply {
    let Some(endpoint) = Endpoint::from_path(path) else {
        return Reply::telecmi_error(StatusCode::NOT_FOUND, "Not found");
    };
    if request.method() != endpoint.method() {
        return Reply::error_for(
            endpoint,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "Method not allowed",
        );
    }

    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let key = faults::request_key(path, body.as_deref().unwrap_or_default());
    let (verdict, faults) = shared.faults.judge(arrived, key);
    faults::delay(&faults).await;

    match verdict {
        Verdict::Proceed => {}
        Verdict::Throttled(secs) => {
            let mut reply = Reply::error_for(
                endpoint,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Too Many Attempts.",
            );
            reply.retry_after = Some(secs);
            return reply;
        }
        Verdict::ServerError => {
            return Reply::error_for(
                endpoint,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sorry, something goes wrong !",
                "Server Error",
            );
        }
    }

    let body = match body {
        Ok(body) => body,
        Err(_) => {
            return Reply::error_for(
                endpoint,
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                "Request body too large",
            )
        }
    };

    match endpoint {
        Endpoint::SmartfloUsers => {
            shared.faults.answered_cleanly(key);
            smartflo::users(shared, &parts)
        }
        _ => {
            let mut reply = telecmi::handle(shared, endpoint, &body);
            if endpoint == Endpoint::TelecmiAdd
                && reply.status == StatusCode::OK
                && faults::chance(faults.lost_add_rate)
                && shared.faults.fault_allowed(key)
            {
                reply.lost = true;
            } else {
                shared.faults.answered_cleanly(key);
            }
            reply
        }
    }
}
