//! The four TeleCMI endpoints: POST with a JSON body carrying `appid` and `secret`.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::sandbox::state::{AddOutcome, TelecmiUser};
use crate::sandbox::{lock, Endpoint, Reply, Shared, TelecmiRecord};

/// Largest extension accepted (eight digits).
const MAX_EXTENSION: u64 = 99_999_999;
/// Shift hours are 0..=24.
const MAX_HOUR: u64 = 24;

const MSG_SAVED: &str = "Saved successfully";
const MSG_SOMETHING_WRONG: &str = "Sorry, something goes wrong !";

/// Each endpoint words its errors differently, and uses different status codes for the same
/// problem; this is where the documented overloads live.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Add,
    Update,
    Get,
    List,
}

impl Style {
    fn missing(self, key: &str) -> Reply {
        let msg = match self {
            Style::Add | Style::Update => format!("Parameter missing: {key}"),
            Style::Get | Style::List => format!("Validation failed: {key} is required"),
        };
        Reply::telecmi_error(StatusCode::BAD_REQUEST, &msg)
    }

    fn invalid(self, detail: &str) -> Reply {
        Reply::telecmi_error(
            StatusCode::BAD_REQUEST,
            &format!("Validation failed: {detail}"),
        )
    }

    fn auth_failed(self) -> Reply {
        match self {
            Style::Add => Reply::telecmi_error(StatusCode::UNAUTHORIZED, "Authentication failed"),
            Style::Update => {
                Reply::telecmi_error(StatusCode::UNAUTHORIZED, "Invalid app id or secret")
            }
            // Documented quirk: get answers 404 for bad credentials.
            Style::Get => Reply::telecmi_error(StatusCode::NOT_FOUND, "Authentication Failed"),
            Style::List => Reply::telecmi_error(StatusCode::UNAUTHORIZED, "Authentication Failed"),
        }
    }
}

/// The request body's fields, read with the endpoint's error style.
struct Params<'a> {
    map: &'a Map<String, Value>,
    style: Style,
}

impl<'a> Params<'a> {
    fn present(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A non-empty string (whitespace-only counts as missing).
    fn string(&self, key: &str) -> Result<&'a str, Reply> {
        match self.present(key) {
            None => Err(self.style.missing(key)),
            Some(Value::String(s)) if s.trim().is_empty() => Err(self.style.missing(key)),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.style.invalid(&format!("{key} must be a string"))),
        }
    }

    fn optional_string(&self, key: &str) -> Result<Option<&'a str>, Reply> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.style.invalid(&format!("{key} must be a string"))),
        }
    }

    /// A non-negative integer, given as a JSON number or a string of digits.
    fn optional_uint(&self, key: &str) -> Result<Option<u64>, Reply> {
        let bad = || {
            self.style
                .invalid(&format!("{key} must be a positive integer"))
        };
        match self.present(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(bad),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim();
                if s.bytes().all(|b| b.is_ascii_digit()) {
                    s.parse().map(Some).map_err(|_| bad())
                } else {
                    Err(bad())
                }
            }
            Some(_) => Err(bad()),
        }
    }

    fn uint(&self, key: &str) -> Result<u64, Reply> {
        self.optional_uint(key)?
            .ok_or_else(|| self.style.missing(key))
    }

    /// A shift hour, 0..=24.
    fn optional_hour(&self, key: &str) -> Result<Option<u8>, Reply> {
        match self.optional_uint(key) {
            Ok(Some(h)) if h <= MAX_HOUR => Ok(Some(h as u8)),
            Ok(None) => Ok(None),
            _ => Err(self
                .style
                .invalid(&format!("{key} must be a number from 0 to {MAX_HOUR}"))),
        }
    }

    fn optional_bool(&self, key: &str) -> Result<Option<bool>, Reply> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.style.invalid(&format!("{key} must be a boolean"))),
        }
    }
}

/// Handles one TeleCMI request body for `endpoint`.
pub(crate) fn handle(shared: &Shared, endpoint: Endpoint, body: &[u8]) -> Reply {
    let style = match endpoint {
        Endpoint::TelecmiAdd => Style::Add,
        Endpoint::TelecmiUpdate => Style::Update,
        Endpoint::TelecmiGet => Style::Get,
        Endpoint::TelecmiList => Style::List,
        Endpoint::SmartfloUsers => unreachable!("not a TeleCMI endpoint"),
    };
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return style.invalid("the request body must be a JSON object"),
        Err(_) => {
            return Reply::telecmi_error(StatusCode::BAD_REQUEST, "Invalid JSON in request body")
        }
    };
    let params = Params { map: &map, style };
    let outcome = authenticate(shared, &params).and_then(|()| match style {
        Style::Add => add(shared, &params),
        Style::Update => update(shared, &params),
        Style::Get => get(shared, &params),
        Style::List => list(shared, &params),
    });
    outcome.unwrap_or_else(|reply| reply)
}

fn authenticate(shared: &Shared, p: &Params<'_>) -> Result<(), Reply> {
    let appid = p.uint("appid")?;
    let secret = p.string("secret")?;
    if appid == shared.app_id && secret == shared.secret {
        Ok(())
    } else {
        shared.stats.auth_rejected();
        Err(p.style.auth_failed())
    }
}

/// `EXTENSION_APPID` → the extension, when the app id is ours.
fn parse_agent_id(agent_id: &str, app_id: u64) -> Option<u32> {
    let (extension, app) = agent_id.trim().split_once('_')?;
    if app.parse::<u64>().ok()? != app_id || !extension.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    extension.parse().ok()
}

pub(crate) fn agent_id(extension: u32, app_id: u64) -> String {
    format!("{extension}_{app_id}")
}

/// First whitespace-separated word, and the rest ("" for a one-word name).
fn split_name(name: &str) -> (&str, &str) {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim_start()),
        None => (name, ""),
    }
}

fn to_json(value: &impl Serialize) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => Reply::json(StatusCode::OK, body),
        Err(_) => Reply::telecmi_error(StatusCode::INTERNAL_SERVER_ERROR, MSG_SOMETHING_WRONG),
    }
}

#[derive(Serialize)]
struct AddAnswer<'a> {
    code: u16,
    status: &'static str,
    msg: &'static str,
    agent: AddAgent<'a>,
}

#[derive(Serialize)]
struct AddAgent<'a> {
    agent_id: String,
    name: &'a str,
    extension: u32,
}

fn add(shared: &Shared, p: &Params<'_>) -> Result<Reply, Reply> {
    let extension = p.uint("extension")?;
    if extension == 0 || extension > MAX_EXTENSION {
        return Err(p.style.invalid(&format!(
            "extension must be a number from 1 to {MAX_EXTENSION}"
        )));
    }
    let extension = extension as u32;
    let name = p.string("name")?;
    let phone_number = p.string("phone_number")?;
    let password = p.string("password")?;
    let record = TelecmiRecord {
        extension,
        name: name.to_owned(),
        phone_number: shared.stored_phone(phone_number),
        password: password.to_owned(),
        start_time: p.optional_hour("start_time")?,
        end_time: p.optional_hour("end_time")?,
        sms_alert: p.optional_bool("sms_alert")?.unwrap_or(false),
    };
    let outcome = lock(&shared.telecmi).add(record, shared.user_limit);
    match outcome {
        AddOutcome::Exists => Err(Reply::telecmi_error(
            StatusCode::BAD_REQUEST,
            "User ID Already Exists",
        )),
        AddOutcome::LimitReached => Err(Reply::telecmi_error(
            StatusCode::BAD_REQUEST,
            "User limit reached",
        )),
        AddOutcome::Added => {
            shared.stats.add_committed();
            Ok(to_json(&AddAnswer {
                code: 200,
                status: "success",
                msg: MSG_SAVED,
                agent: AddAgent {
                    agent_id: agent_id(extension, shared.app_id),
                    name,
                    extension,
                },
            }))
        }
    }
}

#[derive(Serialize)]
struct UpdateAnswer<'a> {
    code: u16,
    status: &'static str,
    msg: &'static str,
    agent: UpdateAgent<'a>,
}

#[derive(Serialize)]
struct UpdateAgent<'a> {
    name: &'a str,
    password: &'a str,
    notify: bool,
    phone: &'a str,
    start_time: Option<u8>,
    end_time: Option<u8>,
}

fn update(shared: &Shared, p: &Params<'_>) -> Result<Reply, Reply> {
    let id = p.string("id")?;
    let name = p.string("name")?;
    let phone_number = p.string("phone_number")?;
    let password = p.string("password")?;
    let start_time = p.optional_hour("start_time")?;
    let end_time = p.optional_hour("end_time")?;
    let sms_alert = p.optional_bool("sms_alert")?;
    // Documented quirk: an unknown user id is a 401, like bad credentials.
    let invalid_id = || Reply::telecmi_error(StatusCode::UNAUTHORIZED, "Invalid user ID");
    let extension = parse_agent_id(id, shared.app_id).ok_or_else(invalid_id)?;

    let mut state = lock(&shared.telecmi);
    let user = state.get_mut(extension).ok_or_else(invalid_id)?;
    let r = &mut user.record;
    r.name = name.to_owned();
    r.phone_number = shared.stored_phone(phone_number);
    r.password = password.to_owned();
    if start_time.is_some() {
        r.start_time = start_time;
    }
    if end_time.is_some() {
        r.end_time = end_time;
    }
    if let Some(alert) = sms_alert {
        r.sms_alert = alert;
    }
    Ok(to_json(&UpdateAnswer {
        code: 200,
        status: "success",
        msg: MSG_SAVED,
        agent: UpdateAgent {
            name: &r.name,
            password: &r.password,
            notify: r.sms_alert,
            phone: &r.phone_number,
            start_time: r.start_time,
            end_time: r.end_time,
        },
    }))
}

#[derive(Serialize)]
struct GetAnswer<'a> {
    code: u16,
    status: &'static str,
    agent: GetAgent<'a>,
}

#[derive(Serialize)]
struct GetAgent<'a> {
    agent_id: String,
    first_name: &'a str,
    last_name: &'a str,
    extension: u32,
    password: &'a str,
    phone: &'a str,
    start_time: Option<u8>,
    end_time: Option<u8>,
    followme: bool,
}

fn get(shared: &Shared, p: &Params<'_>) -> Result<Reply, Reply> {
    let id = p.string("agent_id")?;
    // Documented quirk: a missing user is a 404, like bad credentials.
    let not_found = || Reply::telecmi_error(StatusCode::NOT_FOUND, MSG_SOMETHING_WRONG);
    let extension = parse_agent_id(id, shared.app_id).ok_or_else(not_found)?;
    let state = lock(&shared.telecmi);
    let r = &state.get(extension).ok_or_else(not_found)?.record;
    let (first_name, last_name) = split_name(&r.name);
    Ok(to_json(&GetAnswer {
        code: 200,
        status: "success",
        agent: GetAgent {
            agent_id: agent_id(r.extension, shared.app_id),
            first_name,
            last_name,
            extension: r.extension,
            password: &r.password,
            phone: &r.phone_number,
            start_time: r.start_time,
            end_time: r.end_time,
            followme: r.sms_alert,
        },
    }))
}

#[derive(Serialize)]
struct ListAnswer<'a> {
    code: u16,
    status: &'static str,
    count: usize,
    agents: Vec<ListAgent<'a>>,
}

#[derive(Serialize)]
struct ListAgent<'a> {
    agent_id: String,
    first_name: &'a str,
    last_name: &'a str,
    extension: u32,
    password: &'a str,
    notify: bool,
    phone: &'a str,
    user_id: &'a str,
    start_time: Option<u8>,
    end_time: Option<u8>,
}

fn list_agent(user: &TelecmiUser, app_id: u64) -> ListAgent<'_> {
    let r = &user.record;
    let (first_name, last_name) = split_name(&r.name);
    ListAgent {
        agent_id: agent_id(r.extension, app_id),
        first_name,
        last_name,
        extension: r.extension,
        password: &r.password,
        notify: r.sms_alert,
        phone: &r.phone_number,
        user_id: &user.user_id,
        start_time: r.start_time,
        end_time: r.end_time,
    }
}

fn list(shared: &Shared, p: &Params<'_>) -> Result<Reply, Reply> {
    let positive = |key: &str, default: u64| match p.optional_uint(key) {
        Ok(None) => Ok(default),
        Ok(Some(n)) if n >= 1 => Ok(n),
        _ => Err(p
            .style
            .invalid(&format!("{key} must be a positive integer"))),
    };
    let page = positive("page", 1)?;
    let mut limit = usize::try_from(positive("limit", 10)?).unwrap_or(usize::MAX);
    if let Some(cap) = shared.faults.list_limit_cap() {
        limit = limit.min(cap.max(1));
    }
    let offset = usize::try_from(page - 1)
        .unwrap_or(usize::MAX)
        .saturating_mul(limit);
    let needle = p.optional_string("name")?.map(str::to_lowercase);

    let mut state = lock(&shared.telecmi);
    let app_id = shared.app_id;
    let (count, agents) = match needle.as_deref() {
        None => {
            let count = state.len();
            let agents = state
                .page(offset, limit)
                .map(|u| list_agent(u, app_id))
                .collect();
            (count, agents)
        }
        Some(needle) => {
            let mut count = 0;
            let mut agents = Vec::new();
            for user in state.matching(needle) {
                if count >= offset && agents.len() < limit {
                    agents.push(list_agent(user, app_id));
                }
                count += 1;
            }
            (count, agents)
        }
    };
    Ok(to_json(&ListAnswer {
        code: 200,
        status: "success",
        count,
        agents,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_first_word() {
        assert_eq!(split_name("Abishek Kumar"), ("Abishek", "Kumar"));
        assert_eq!(split_name("Manish"), ("Manish", ""));
        assert_eq!(split_name("  K.  Venkat Rao "), ("K.", "Venkat Rao"));
        assert_eq!(split_name("अनिल कुमार"), ("अनिल", "कुमार"));
    }

    #[test]
    fn agent_ids_parse_only_for_our_app() {
        assert_eq!(parse_agent_id("101_1111112", 1111112), Some(101));
        assert_eq!(parse_agent_id("101_1111113", 1111112), None);
        assert_eq!(parse_agent_id("abc_1111112", 1111112), None);
        assert_eq!(parse_agent_id("101", 1111112), None);
        assert_eq!(parse_agent_id("-1_1111112", 1111112), None);
    }
}
