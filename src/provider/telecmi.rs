//! TeleCMI: `/v2/user/add`, `/v2/user/update`, `/v3/user/get`, `/v3/user/list` (JSON POST, app id and
//! secret in the body).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

use super::http::{Http, Replay, Reply};
use super::{excerpt, ApiError};
use crate::model::{telecmi_agent_id, AccountUser, Secret, User};

pub const DEFAULT_BASE_URL: &str = "https://rest.telecmi.com";

pub struct Telecmi {
    http: Http,
    app_id: u64,
    app_id_text: String,
    secret: Secret,
    /// Whether our credentials are good, learnt once with a cheap list call, to tell an overloaded
    /// 401 (update) or 404 (get) about a user apart from a rejected secret.
    credentials: OnceCell<Result<(), ApiError>>,
}

/// One page of `/v3/user/list`.
#[derive(Debug)]
pub struct ListPage {
    /// The total number of users in the account, as the provider reports it.
    pub total: u64,
    pub users: Vec<AccountUser>,
}

#[derive(Serialize)]
struct Auth<'a> {
    appid: u64,
    secret: &'a str,
}

#[derive(Serialize)]
struct UserFields<'a> {
    name: &'a str,
    phone_number: &'a str,
    password: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_time: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sms_alert: Option<bool>,
}

#[derive(Serialize)]
struct AddBody<'a> {
    #[serde(flatten)]
    auth: Auth<'a>,
    extension: u32,
    #[serde(flatten)]
    fields: UserFields<'a>,
}

#[derive(Serialize)]
struct UpdateBody<'a> {
    #[serde(flatten)]
    auth: Auth<'a>,
    id: &'a str,
    #[serde(flatten)]
    fields: UserFields<'a>,
}

#[derive(Serialize)]
struct GetBody<'a> {
    #[serde(flatten)]
    auth: Auth<'a>,
    agent_id: &'a str,
}

#[derive(Serialize)]
struct ListBody<'a> {
    #[serde(flatten)]
    auth: Auth<'a>,
    page: u64,
    limit: u64,
}

/// The envelope every TeleCMI answer shares; the payload fields depend on the endpoint.
#[derive(Deserialize, Default)]
struct Envelope {
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    agent: Option<Value>,
    #[serde(default)]
    agents: Option<Vec<Value>>,
    #[serde(default)]
    count: Option<Value>,
}

impl Envelope {
    /// TeleCMI reports failures in the body too: `status: error` or a `code` other than 200,
    /// even under HTTP 200.
    fn succeeded(&self, http_status: u16) -> bool {
        let code_ok = match &self.code {
            None => true,
            Some(code) => number(code) == Some(200),
        };
        http_status == 200 && self.status.as_deref() == Some("success") && code_ok
    }

    fn body_status(&self, http_status: u16) -> u16 {
        match (http_status, self.code.as_ref().and_then(number)) {
            (200, Some(code)) if (100..600).contains(&code) => code as u16,
            _ => http_status,
        }
    }

    fn message(&self, reply: &Reply) -> String {
        match self.msg.as_deref().map(str::trim) {
            Some(msg) if !msg.is_empty() => msg.to_string(),
            _ => format!("HTTP {}: {}", reply.status, excerpt(&reply.body)),
        }
    }
}

impl Telecmi {
    pub fn new(http: Http, app_id: u64, secret: Secret) -> Self {
        Telecmi {
            http: http.with_body_status(body_code),
            app_id,
            app_id_text: app_id.to_string(),
            secret,
            credentials: OnceCell::new(),
        }
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn agent_id(&self, extension: u32) -> String {
        telecmi_agent_id(extension, &self.app_id_text)
    }

    fn auth(&self) -> Auth<'_> {
        Auth {
            appid: self.app_id,
            secret: self.secret.expose(),
        }
    }

    async fn post<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        replay: Replay,
        tries: &mut u32,
    ) -> Result<(Reply, Envelope), ApiError> {
        let url = self.http.url(path);
        let reply = self
            .http
            .send(|client| client.post(&url).json(body), replay, tries)
            .await?;
        let envelope = match serde_json::from_slice::<Envelope>(&reply.body) {
            Ok(envelope) => envelope,
            // A non-JSON error page still tells us something through its status code.
            Err(_) if reply.status != 200 => Envelope::default(),
            Err(e) => {
                return Err(ApiError::Malformed {
                    status: reply.status,
                    message: format!("not the documented JSON ({e}): {}", excerpt(&reply.body)),
                })
            }
        };
        Ok((reply, envelope))
    }

    /// Create a user; returns the provider's user id.
    pub async fn add(&self, user: &User, tries: &mut u32) -> Result<String, ApiError> {
        let result: Result<String, ApiError> = async {
            let missing = user.missing_required();
            if !missing.is_empty() {
                return Err(ApiError::Rejected {
                    status: 0,
                    message: format!("cannot add without {}", missing.join(", ")),
                });
            }
            let body = add_request_body(self.app_id, &self.secret, user);
            let (reply, envelope) = self
                .post("/v2/user/add", &body, Replay::Unsafe, tries)
                .await?;
            if envelope.succeeded(reply.status) {
                let agent_id = envelope
                    .agent
                    .as_ref()
                    .and_then(|a| a.get("agent_id"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| self.agent_id(user.extension));
                return Ok(agent_id);
            }
            Err(match envelope.body_status(reply.status) {
                401 => self.auth_error(&reply, &envelope),
                status => ApiError::Rejected {
                    status,
                    message: envelope.message(&reply),
                },
            })
        }
        .await;
        result.map_err(|e| e.scrubbed(&[self.secret.expose(), password_of(user)]))
    }

    /// Replace a user's fields. The docs make name, phone and password mandatory: `user` must have them.
    pub async fn update(
        &self,
        agent_id: &str,
        user: &User,
        tries: &mut u32,
    ) -> Result<(), ApiError> {
        let result: Result<(), ApiError> = async {
            let missing = user.missing_required();
            if !missing.is_empty() {
                return Err(ApiError::Rejected {
                    status: 0,
                    message: format!("cannot update without {}", missing.join(", ")),
                });
            }
            let body = UpdateBody {
                auth: self.auth(),
                id: agent_id,
                fields: fields(user),
            };
            let (reply, envelope) = self
                .post("/v2/user/update", &body, Replay::Safe, tries)
                .await?;
            if envelope.succeeded(reply.status) {
                return Ok(());
            }
            match envelope.body_status(reply.status) {
                // Overloaded: bad credentials or an unknown user id.
                401 => {
                    self.verify_credentials().await?;
                    Err(ApiError::NotFound {
                        status: 401,
                        message: format!(
                            "no user {agent_id} in the account ({})",
                            envelope.message(&reply)
                        ),
                    })
                }
                status => Err(ApiError::Rejected {
                    status,
                    message: envelope.message(&reply),
                }),
            }
        }
        .await;
        result.map_err(|e| e.scrubbed(&[self.secret.expose(), password_of(user)]))
    }

    /// Read one user; `Ok(None)` when the account has no such user.
    pub async fn get(&self, agent_id: &str, tries: &mut u32) -> Result<Option<User>, ApiError> {
        let result: Result<Option<User>, ApiError> = async {
            let body = GetBody {
                auth: self.auth(),
                agent_id,
            };
            let (reply, envelope) = self
                .post("/v3/user/get", &body, Replay::Safe, tries)
                .await?;
            if envelope.succeeded(reply.status) {
                let agent = envelope.agent.as_ref().ok_or_else(|| ApiError::Malformed {
                    status: reply.status,
                    message: "success without an `agent` object".to_string(),
                })?;
                return wire_agent(agent, reply.status).map(|a| Some(a.user));
            }
            match envelope.body_status(reply.status) {
                // Overloaded: bad credentials or no such user.
                404 => {
                    self.verify_credentials().await?;
                    Ok(None)
                }
                401 => Err(self.auth_error(&reply, &envelope)),
                status => Err(ApiError::Rejected {
                    status,
                    message: envelope.message(&reply),
                }),
            }
        }
        .await;
        result.map_err(|e| e.scrubbed(&[self.secret.expose()]))
    }

    /// One page of the user list (`page` is 1-based).
    pub async fn list_page(
        &self,
        page: u64,
        limit: u64,
        tries: &mut u32,
    ) -> Result<ListPage, ApiError> {
        let result: Result<ListPage, ApiError> = async {
            let body = ListBody {
                auth: self.auth(),
                page,
                limit,
            };
            let (reply, envelope) = self
                .post("/v3/user/list", &body, Replay::Safe, tries)
                .await?;
            if !envelope.succeeded(reply.status) {
                return Err(match envelope.body_status(reply.status) {
                    401 | 403 | 404 => self.auth_error(&reply, &envelope),
                    status => ApiError::Rejected {
                        status,
                        message: envelope.message(&reply),
                    },
                });
            }
            let malformed = |message: String| ApiError::Malformed {
                status: reply.status,
                message,
            };
            let total = envelope
                .count
                .as_ref()
                .and_then(number)
                .ok_or_else(|| malformed("list without a numeric `count`".to_string()))?;
            let users = envelope
                .agents
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|agent| wire_agent(agent, reply.status))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ListPage { total, users })
        }
        .await;
        result.map_err(|e| e.scrubbed(&[self.secret.expose()]))
    }

    /// Confirm the credentials with the cheapest authenticated call; remembered for the run.
    pub async fn verify_credentials(&self) -> Result<(), ApiError> {
        self.credentials
            .get_or_init(|| async { self.list_page(1, 1, &mut 0).await.map(|_| ()) })
            .await
            .clone()
            .or_else(|e| match e {
                e if e.stops_the_run() => Err(e),
                ApiError::Unreachable { .. } => Err(e),
                // Credentials were accepted even if the list itself misbehaved.
                _ => Ok(()),
            })
    }

    fn auth_error(&self, reply: &Reply, envelope: &Envelope) -> ApiError {
        ApiError::Auth {
            status: envelope.body_status(reply.status),
            message: envelope.message(reply),
        }
    }
}

/// The `/v2/user/add` body for `user`, exactly as sent.
pub fn add_request_body(app_id: u64, secret: &Secret, user: &User) -> Value {
    let body = AddBody {
        auth: Auth {
            appid: app_id,
            secret: secret.expose(),
        },
        extension: user.extension,
        fields: fields(user),
    };
    serde_json::to_value(&body).expect("the add body is plain JSON")
}

fn fields(user: &User) -> UserFields<'_> {
    UserFields {
        name: user.name.as_deref().unwrap_or_default(),
        phone_number: user.phone_number.as_deref().unwrap_or_default(),
        password: user
            .password
            .as_ref()
            .map(Secret::expose)
            .unwrap_or_default(),
        start_time: user.start_time,
        end_time: user.end_time,
        sms_alert: user.sms_alert,
    }
}

fn password_of(user: &User) -> &str {
    user.password.as_ref().map_or("", Secret::expose)
}

/// "User ID Already Exists" from an add.
pub fn is_user_exists(error: &ApiError) -> bool {
    matches!(error, ApiError::Rejected { message, .. } if message.to_ascii_lowercase().contains("already exist"))
}

/// "User limit reached" from an add: no later add can succeed either.
pub fn is_user_limit(error: &ApiError) -> bool {
    matches!(error, ApiError::Rejected { message, .. } if message.to_ascii_lowercase().contains("limit reached"))
}

/// The `code` of a TeleCMI answer, which may say "server error" under HTTP 200.
fn body_code(body: &[u8]) -> Option<u16> {
    #[derive(Deserialize)]
    struct Code {
        #[serde(default)]
        code: Option<Value>,
    }
    let code = serde_json::from_slice::<Code>(body).ok()?.code?;
    number(&code).and_then(|code| u16::try_from(code).ok())
}

/// A JSON number, or a string holding one (providers are not always consistent).
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An agent object of list or get, in the neutral model.
fn wire_agent(agent: &Value, status: u16) -> Result<AccountUser, ApiError> {
    // Never quote the object: it holds the user's password.
    let malformed = |what: &str| ApiError::Malformed {
        status,
        message: format!(
            "agent object {what} (agent_id {})",
            agent
                .get("agent_id")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
        ),
    };
    let agent_id = text(agent.get("agent_id")).ok_or_else(|| malformed("without `agent_id`"))?;
    let extension = agent
        .get("extension")
        .and_then(number)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| malformed("without a numeric `extension`"))?;
    let first_name = text(agent.get("first_name")).unwrap_or_default();
    let last_name = text(agent.get("last_name")).unwrap_or_default();
    let name = format!("{first_name} {last_name}").trim().to_string();
    let hour = |key: &str| {
        agent
            .get(key)
            .and_then(number)
            .and_then(|n| u8::try_from(n).ok())
    };
    let user = User {
        agent_id: Some(agent_id.into()),
        extension,
        name: (!name.is_empty()).then(|| name.into()),
        phone_number: text(agent.get("phone"))
            .filter(|p| !p.is_empty())
            .map(Into::into),
        password: text(agent.get("password")).map(Secret::new),
        start_time: hour("start_time"),
        end_time: hour("end_time"),
        sms_alert: agent.get("notify").and_then(Value::as_bool),
    };
    Ok(AccountUser {
        user,
        first_name,
        last_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_documented_list_agent_becomes_a_user() {
        let agent = json!({"agent_id": "1001_1111112", "first_name": "Manish", "last_name": "Kumar",
            "extension": 1001, "password": "password123", "notify": true, "phone": "967755XXXX",
            "start_time": 1, "end_time": 24});
        let listed = wire_agent(&agent, 200).unwrap();
        assert_eq!(listed.user.name.as_deref(), Some("Manish Kumar"));
        assert_eq!(listed.user.extension, 1001);
        assert_eq!(listed.user.sms_alert, Some(true));
        assert_eq!(listed.user.password.unwrap().expose(), "password123");
        assert_eq!(listed.last_name, "Kumar");
    }

    #[test]
    fn wrong_types_are_malformed_not_a_panic() {
        let agent = json!({"agent_id": 5, "extension": "abc"});
        assert!(matches!(
            wire_agent(&agent, 200),
            Err(ApiError::Malformed { .. })
        ));
        assert!(matches!(
            wire_agent(&json!([1, 2]), 200),
            Err(ApiError::Malformed { .. })
        ));
    }

    #[test]
    fn body_errors_count_even_under_http_200() {
        let envelope: Envelope = serde_json::from_value(
            json!({"code": 400, "status": "error", "msg": "User ID Already Exists"}),
        )
        .unwrap();
        assert!(!envelope.succeeded(200));
        assert_eq!(envelope.body_status(200), 400);
        let ok: Envelope =
            serde_json::from_value(json!({"code": 200, "status": "success"})).unwrap();
        assert!(ok.succeeded(200));
    }

    #[test]
    fn add_request_uses_the_documented_field_names() {
        let user = User {
            extension: 101,
            name: Some("Manish".into()),
            phone_number: Some("919200000000".into()),
            password: Some(Secret::new("123456")),
            start_time: Some(1),
            end_time: Some(24),
            sms_alert: Some(true),
            ..User::default()
        };
        let body = add_request_body(1111112, &Secret::new("s"), &user);
        assert_eq!(
            body,
            json!({"appid": 1111112, "secret": "s", "extension": 101, "name": "Manish",
                "phone_number": "919200000000", "password": "123456", "start_time": 1, "end_time": 24,
                "sms_alert": true})
        );
    }
}
