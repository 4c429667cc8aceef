//! The Smartflo endpoint: `GET /v1/users` with a bearer token and a `last_seen_id` cursor.

use axum::extract::Query;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::Serialize;

use crate::sandbox::{lock, Reply, Shared, SmartfloRecord};

/// Page size when the request gives no `limit` (the doc's sample answer holds 20 users).
pub(crate) const DEFAULT_LIMIT: u64 = 20;
/// Largest page served when no `list_limit_cap` fault is set.
pub(crate) const MAX_LIMIT: u64 = 100;

/// The query, validated.
#[derive(Debug, Default)]
struct UsersQuery {
    last_seen_id: Option<u64>,
    limit: u64,
    is_extension_created: Option<bool>,
    is_login_based_calling: Option<bool>,
    is_international_calling: Option<bool>,
    is_web_login: Option<bool>,
    user_status: Option<bool>,
}

impl UsersQuery {
    fn matches(&self, r: &SmartfloRecord) -> bool {
        fn ok(want: Option<bool>, have: bool) -> bool {
            match want {
                Some(w) => w == have,
                None => true,
            }
        }
        ok(self.is_extension_created, r.extension.is_some())
            && ok(
                self.is_login_based_calling,
                r.is_login_based_calling_enabled,
            )
            && ok(
                self.is_international_calling,
                r.is_international_outbound_enabled,
            )
            && ok(self.is_web_login, r.is_web_login_enabled)
            && ok(self.user_status, r.user_status == 1)
    }
}

fn bad_request(msg: String) -> Reply {
    Reply::smartflo_error(StatusCode::BAD_REQUEST, &msg)
}

fn parse_query(parts: &Parts) -> Result<UsersQuery, Reply> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map_err(|_| bad_request("The query string is malformed.".into()))?;
    let mut q = UsersQuery {
        limit: DEFAULT_LIMIT,
        ..UsersQuery::default()
    };
    for (key, value) in &pairs {
        let value = value.trim();
        if value.is_empty() {
            continue; // an empty value means "not given"
        }
        let flag = || match value.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(bad_request(format!(
                "The {key} field must be true or false."
            ))),
        };
        match key.as_str() {
            "last_seen_id" => {
                let id: i64 = value
                    .parse()
                    .map_err(|_| bad_request("The last seen id must be an integer.".into()))?;
                let id = u64::try_from(id)
                    .map_err(|_| bad_request("The last seen id must be at least 0.".into()))?;
                q.last_seen_id = Some(id);
            }
            "limit" => {
                let limit: i64 = value
                    .parse()
                    .map_err(|_| bad_request("The limit must be an integer.".into()))?;
                if limit < 1 {
                    return Err(bad_request("The limit must be at least 1.".into()));
                }
                q.limit = limit as u64;
            }
            "is_extension_created" => q.is_extension_created = flag()?,
            "is_login_based_calling" => q.is_login_based_calling = flag()?,
            "is_international_calling" => q.is_international_calling = flag()?,
            "is_web_login" => q.is_web_login = flag()?,
            "user_status" => q.user_status = flag()?,
            _ => {} // unknown parameters are ignored
        }
    }
    Ok(q)
}

fn authorized(parts: &Parts, token: &str) -> bool {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, given)) => scheme.eq_ignore_ascii_case("bearer") && given.trim() == token,
        None => false,
    }
}

#[derive(Serialize)]
struct UsersAnswer<'a> {
    has_more: bool,
    count: usize,
    last_seen_id: Option<u64>,
    data: Vec<UserOut<'a>>,
}

#[derive(Serialize)]
struct UserOut<'a> {
    id: u64,
    name: &'a str,
    agent: Option<AgentOut<'a>>,
    login_id: &'a str,
    is_login_based_calling_enabled: bool,
    is_international_outbound_enabled: bool,
    user_role: RoleOut<'a>,
    extension: Option<&'a str>,
    user_status: i64,
}

#[derive(Serialize)]
struct AgentOut<'a> {
    id: &'a str,
    name: &'a str,
    status: i64,
    follow_me_number: Option<&'a str>,
}

#[derive(Serialize)]
struct RoleOut<'a> {
    id: u64,
    name: &'a str,
}

fn user_out(r: &SmartfloRecord) -> UserOut<'_> {
    UserOut {
        id: r.id,
        name: &r.name,
        agent: r.agent_id.as_deref().map(|id| AgentOut {
            id,
            name: r.agent_name.as_deref().unwrap_or(&r.name),
            status: r.agent_status,
            follow_me_number: r.follow_me_number.as_deref(),
        }),
        login_id: &r.login_id,
        is_login_based_calling_enabled: r.is_login_based_calling_enabled,
        is_international_outbound_enabled: r.is_international_outbound_enabled,
        user_role: RoleOut {
            id: r.role_id,
            name: &r.role_name,
        },
        extension: r.extension.as_deref(),
        user_status: r.user_status,
    }
}

/// `GET /v1/users`.
pub(crate) fn users(shared: &Shared, parts: &Parts) -> Reply {
    if !authorized(parts, &shared.token) {
        shared.stats.auth_rejected();
        return Reply::smartflo_error(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    let query = match parse_query(parts) {
        Ok(q) => q,
        Err(reply) => return reply,
    };
    let cap = shared
        .faults
        .list_limit_cap()
        .map_or(MAX_LIMIT, |c| c.max(1) as u64);
    let limit = usize::try_from(query.limit.min(cap)).unwrap_or(usize::MAX);

    let state = lock(&shared.smartflo);
    let mut data: Vec<UserOut<'_>> = state
        .after(query.last_seen_id.unwrap_or(0))
        .filter(|r| query.matches(r))
        .take(limit.saturating_add(1))
        .map(user_out)
        .collect();
    let has_more = data.len() > limit;
    data.truncate(limit);
    let answer = UsersAnswer {
        has_more,
        count: data.len(),
        last_seen_id: data.last().map(|u| u.id).or(query.last_seen_id),
        data,
    };
    match serde_json::to_vec(&answer) {
        Ok(body) => Reply::json(StatusCode::OK, body),
        Err(_) => Reply::smartflo_error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
    }
}
