//! Tata Smartflo: `GET /v1/users`, bearer token, `last_seen_id` / `has_more` cursor.

use serde::Deserialize;
use serde_json::Value;

use super::http::{Http, Replay};
use super::{excerpt, ApiError};
use crate::model::{DirectoryUser, Secret};

pub const DEFAULT_BASE_URL: &str = "https://api-smartflo.tatateleservices.com";

/// The documented boolean filters of `/v1/users`.
pub const FILTERS: &[&str] = &[
    "is_extension_created",
    "is_login_based_calling",
    "is_international_calling",
    "is_web_login",
    "user_status",
];

pub struct Smartflo {
    http: Http,
    token: Secret,
}

/// One page of the cursor walk.
#[derive(Debug)]
pub struct CursorPage {
    pub has_more: bool,
    pub last_seen_id: Option<u64>,
    pub users: Vec<DirectoryUser>,
}

#[derive(Deserialize)]
struct WirePage {
    has_more: bool,
    /// The number of users on this page, by the docs.
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    last_seen_id: Option<u64>,
    #[serde(default)]
    data: Vec<WireUser>,
}

#[derive(Deserialize)]
struct WireUser {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    agent: Option<WireAgent>,
    #[serde(default)]
    login_id: Option<String>,
    #[serde(default)]
    user_role: Option<WireRole>,
    #[serde(default)]
    extension: Option<Value>,
    #[serde(default)]
    user_status: Option<i64>,
}

#[derive(Deserialize)]
struct WireAgent {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    follow_me_number: Option<String>,
}

#[derive(Deserialize)]
struct WireRole {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    name: Option<String>,
}

fn scalar_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl From<WireUser> for DirectoryUser {
    fn from(wire: WireUser) -> Self {
        let agent = wire.agent;
        let role = wire.user_role;
        DirectoryUser {
            id: wire.id,
            name: wire.name.unwrap_or_default(),
            login_id: wire.login_id.unwrap_or_default(),
            extension: scalar_text(wire.extension).filter(|e| !e.is_empty()),
            agent_id: agent.as_ref().and_then(|a| scalar_text(a.id.clone())),
            agent_name: agent.as_ref().and_then(|a| a.name.clone()),
            agent_status: agent.as_ref().and_then(|a| a.status),
            follow_me_number: agent.and_then(|a| a.follow_me_number),
            user_status: wire.user_status,
            role_id: role.as_ref().and_then(|r| r.id),
            role_name: role.and_then(|r| r.name),
        }
    }
}

impl Smartflo {
    pub fn new(http: Http, token: Secret) -> Self {
        Smartflo { http, token }
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The page after `last_seen_id` (from the start when `None`), with the given filters.
    pub async fn list_page(
        &self,
        last_seen_id: Option<u64>,
        limit: u64,
        filters: &[(String, String)],
        tries: &mut u32,
    ) -> Result<CursorPage, ApiError> {
        let result: Result<CursorPage, ApiError> = async {
            let url = self.http.url("/v1/users");
            let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
            if let Some(id) = last_seen_id {
                query.push(("last_seen_id", id.to_string()));
            }
            query.extend(filters.iter().map(|(k, v)| (k.as_str(), v.clone())));
            let reply = self
                .http
                .send(
                    |client| {
                        client
                            .get(&url)
                            .query(&query)
                            .header(reqwest::header::ACCEPT, "application/json")
                            .bearer_auth(self.token.expose())
                    },
                    Replay::Safe,
                    tries,
                )
                .await?;
            match reply.status {
                200 => {}
                401 | 403 => {
                    return Err(ApiError::Auth {
                        status: reply.status,
                        message: excerpt(&reply.body),
                    })
                }
                status => {
                    return Err(ApiError::Rejected {
                        status,
                        message: excerpt(&reply.body),
                    })
                }
            }
            let page: WirePage =
                serde_json::from_slice(&reply.body).map_err(|e| ApiError::Malformed {
                    status: reply.status,
                    message: format!("not the documented JSON ({e}): {}", excerpt(&reply.body)),
                })?;
            if let Some(count) = page.count.filter(|&c| c != page.data.len() as u64) {
                return Err(ApiError::Malformed {
                    status: reply.status,
                    message: format!(
                        "the page says it holds {count} users but carries {}",
                        page.data.len()
                    ),
                });
            }
            Ok(CursorPage {
                has_more: page.has_more,
                last_seen_id: page.last_seen_id,
                users: page.data.into_iter().map(DirectoryUser::from).collect(),
            })
        }
        .await;
        result.map_err(|e| e.scrubbed(&[self.token.expose()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_sample_flattens() {
        let wire: WirePage = serde_json::from_value(json!({
            "has_more": true, "count": 20, "last_seen_id": 370822,
            "data": [{"id": 314678, "name": "xyz",
                "agent": {"id": "0502842370097", "name": "xyz", "status": 0, "follow_me_number": "+911111111111"},
                "login_id": "xyz@example.com", "is_login_based_calling_enabled": false,
                "is_international_outbound_enabled": false, "user_role": {"id": 54630, "name": "Quality"},
                "extension": null, "user_status": 1}]
        }))
        .unwrap();
        let user = DirectoryUser::from(wire.data.into_iter().next().unwrap());
        assert_eq!(user.agent_id.as_deref(), Some("0502842370097"));
        assert_eq!(user.follow_me_number.as_deref(), Some("+911111111111"));
        assert_eq!(user.extension, None);
        assert_eq!(user.role_name.as_deref(), Some("Quality"));
        assert_eq!(user.agent_status, Some(0));
    }
}
