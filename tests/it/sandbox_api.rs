//! Conformance of the built-in sandbox to the provider docs (`shared/api/*.txt`), through a real
//! HTTP client: every endpoint's documented sample request and answer shape, every documented
//! error code (overloads included), paging and cursors, and the fault injection.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roster::sandbox::{
    Faults, Sandbox, SandboxConfig, SmartfloRecord, TelecmiRecord, DEFAULT_APP_ID, DEFAULT_SECRET,
    DEFAULT_TOKEN,
};
use serde_json::{json, Value};

async fn start(config: SandboxConfig) -> Sandbox {
    Sandbox::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("sandbox starts")
}

async fn start_seeded(telecmi: usize, smartflo: usize) -> Sandbox {
    start(SandboxConfig {
        seed_telecmi: telecmi,
        seed_smartflo: smartflo,
        ..SandboxConfig::default()
    })
    .await
}

async fn start_with_faults(faults: Faults) -> Sandbox {
    start(SandboxConfig {
        faults,
        ..SandboxConfig::default()
    })
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A POST to `PATH` on the sandbox, to be given a body and sent.
fn raw_post(sb: &Sandbox, path: &str) -> reqwest::RequestBuilder {
    client().post(format!("{}{path}", sb.base_url()))
}

/// POSTs a JSON body; returns the status and the parsed body.
async fn post(sb: &Sandbox, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = raw_post(sb, path)
        .json(&body)
        .send()
        .await
        .expect("request answered");
    let status = resp.status();
    let body = resp.json::<Value>().await.expect("JSON body");
    (status, body)
}

async fn smartflo_get(sb: &Sandbox, query: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = client().get(format!("{}/v1/users{query}", sb.base_url()));
    if let Some(token) = token {
        req = req.header("Authorization", format!("Bearer {token}"));
    }
    let resp = req.send().await.expect("request answered");
    let status = resp.status();
    (status, resp.json::<Value>().await.expect("JSON body"))
}

/// `GET /v1/users QUERY` with the right token.
async fn smartflo_list(sb: &Sandbox, query: &str) -> (StatusCode, Value) {
    smartflo_get(sb, query, Some(DEFAULT_TOKEN)).await
}

fn add_body(extension: u32, name: &str) -> Value {
    json!({
        "appid": DEFAULT_APP_ID,
        "secret": DEFAULT_SECRET,
        "extension": extension,
        "name": name,
        "phone_number": "919200000000",
        "password": "123456",
        "start_time": 1,
        "end_time": 24,
        "sms_alert": true
    })
}

fn creds(extra: Value) -> Value {
    let mut body = json!({"appid": DEFAULT_APP_ID, "secret": DEFAULT_SECRET});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// The extensions of the agents in a `/v3/user/list` answer, in order.
fn extensions(list: &Value) -> Vec<u64> {
    list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["extension"].as_u64().unwrap())
        .collect()
}

/// A TeleCMI error body: `code` equals the HTTP status, `status` is "error", `msg` is text.
fn assert_telecmi_error(status: StatusCode, body: &Value, want: StatusCode, msg_part: &str) {
    assert_eq!(status, want, "body: {body}");
    assert_eq!(body["code"], json!(want.as_u16()), "body: {body}");
    assert_eq!(body["status"], "error", "body: {body}");
    let msg = body["msg"].as_str().expect("msg is a string");
    assert!(msg.contains(msg_part), "msg {msg:?} lacks {msg_part:?}");
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

#[tokio::test]
async fn add_sample_request_gets_the_documented_answer() {
    let sb = start(SandboxConfig::default()).await;
    let (status, body) = post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"code": 200, "status": "success", "msg": "Saved successfully",
               "agent": {"agent_id": "101_1111112", "name": "Manish", "extension": 101}})
    );
    assert_eq!(
        sb.telecmi_users(),
        vec![TelecmiRecord {
            extension: 101,
            name: "Manish".into(),
            phone_number: "919200000000".into(),
            password: "123456".into(),
            start_time: Some(1),
            end_time: Some(24),
            sms_alert: true,
        }]
    );
    assert_eq!(sb.stats().adds_committed, 1);
    sb.stop().await;
}

#[tokio::test]
async fn add_accepts_numeric_strings_and_omitted_optionals() {
    let sb = start(SandboxConfig::default()).await;
    let body = json!({"appid": DEFAULT_APP_ID.to_string(), "secret": DEFAULT_SECRET,
                      "extension": "102", "name": "Priya Iyer", "phone_number": "919800000001",
                      "password": "pw-102"});
    let (status, body) = post(&sb, "/v2/user/add", body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["agent"]["extension"], json!(102));
    let user = &sb.telecmi_users()[0];
    assert_eq!(
        (user.start_time, user.end_time, user.sms_alert),
        (None, None, false)
    );
    sb.stop().await;
}

#[tokio::test]
async fn add_documented_errors() {
    let sb = start(SandboxConfig {
        user_limit: Some(2),
        ..SandboxConfig::default()
    })
    .await;

    // 401: bad credentials (secret, then app id).
    let mut bad = add_body(101, "Manish");
    bad["secret"] = json!("wrong");
    let (s, b) = post(&sb, "/v2/user/add", bad).await;
    assert_telecmi_error(s, &b, StatusCode::UNAUTHORIZED, "Authentication failed");
    let mut bad = add_body(101, "Manish");
    bad["appid"] = json!(999);
    let (s, b) = post(&sb, "/v2/user/add", bad).await;
    assert_telecmi_error(s, &b, StatusCode::UNAUTHORIZED, "Authentication failed");
    assert_eq!(sb.stats().rejected_auth, 2);

    // 400: each required parameter missing or empty.
    for key in [
        "extension",
        "name",
        "phone_number",
        "password",
        "appid",
        "secret",
    ] {
        let mut body = add_body(101, "Manish");
        body.as_object_mut().unwrap().remove(key);
        let (s, b) = post(&sb, "/v2/user/add", body).await;
        assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "Parameter missing");
        assert!(b["msg"].as_str().unwrap().contains(key), "{b}");
    }
    let mut body = add_body(101, "Manish");
    body["password"] = json!("");
    let (s, b) = post(&sb, "/v2/user/add", body).await;
    assert_telecmi_error(
        s,
        &b,
        StatusCode::BAD_REQUEST,
        "Parameter missing: password",
    );

    // 400: wrong types.
    for (key, value) in [
        ("extension", json!("abc")),
        ("extension", json!(-5)),
        ("name", json!(42)),
        ("start_time", json!(25)),
        ("sms_alert", json!("maybe")),
    ] {
        let mut body = add_body(101, "Manish");
        body[key] = value;
        let (s, b) = post(&sb, "/v2/user/add", body).await;
        assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, key);
    }
    assert!(
        sb.telecmi_users().is_empty(),
        "nothing created by refused adds"
    );

    // 400: the user exists.
    let (s, _) = post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = post(&sb, "/v2/user/add", add_body(101, "Someone Else")).await;
    assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "User ID Already Exists");
    assert_eq!(sb.telecmi_users()[0].name, "Manish");

    // 400: the account is full.
    let (s, _) = post(&sb, "/v2/user/add", add_body(102, "Second")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = post(&sb, "/v2/user/add", add_body(103, "Third")).await;
    assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "User limit reached");
    assert_eq!(sb.telecmi_users().len(), 2);
    assert_eq!(sb.stats().adds_committed, 2);

    // 400: a body that is not JSON.
    let resp = raw_post(&sb, "/v2/user/add")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let b: Value = resp.json().await.unwrap();
    assert_eq!(b["code"], json!(400));
    sb.stop().await;
}

#[tokio::test]
async fn update_sample_request_gets_the_documented_answer() {
    let sb = start(SandboxConfig::default()).await;
    post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    let sample = json!({"appid": 1111112, "secret": DEFAULT_SECRET, "id": "101_1111112",
        "name": "Abishek", "phone_number": "919100000000", "password": "12345678",
        "start_time": 1, "end_time": 24, "sms_alert": true});
    let (status, body) = post(&sb, "/v2/user/update", sample).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"code": 200, "status": "success", "msg": "Saved successfully",
               "agent": {"name": "Abishek", "password": "12345678", "notify": true,
                         "phone": "919100000000", "start_time": 1, "end_time": 24}})
    );

    // Optional fields not given keep their values; given ones change.
    let partial = creds(json!({"id": "101_1111112", "name": "Abishek Kumar",
        "phone_number": "919100000001", "password": "pw2", "end_time": 20}));
    let (status, body) = post(&sb, "/v2/user/update", partial).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["agent"]["start_time"], json!(1));
    assert_eq!(body["agent"]["end_time"], json!(20));
    assert_eq!(body["agent"]["notify"], json!(true));
    let user = &sb.telecmi_users()[0];
    assert_eq!(user.name, "Abishek Kumar");
    assert_eq!(user.phone_number, "919100000001");
    assert_eq!(user.password, "pw2");
    assert_eq!((user.start_time, user.end_time), (Some(1), Some(20)));
    sb.stop().await;
}

#[tokio::test]
async fn update_documented_errors() {
    let sb = start_seeded(3, 0).await;
    let good = creds(json!({"id": "1001_1111112", "name": "New Name",
                            "phone_number": "919100000000", "password": "pw"}));

    let mut bad = good.clone();
    bad["secret"] = json!("nope");
    let (s, b) = post(&sb, "/v2/user/update", bad).await;
    assert_telecmi_error(s, &b, StatusCode::UNAUTHORIZED, "Invalid app id or secret");

    // The documented overload: an unknown user id is also a 401.
    for id in ["999_1111112", "1001_2222222", "garbage"] {
        let mut unknown = good.clone();
        unknown["id"] = json!(id);
        let (s, b) = post(&sb, "/v2/user/update", unknown).await;
        assert_telecmi_error(s, &b, StatusCode::UNAUTHORIZED, "Invalid user ID");
    }

    for key in ["id", "name", "phone_number", "password"] {
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove(key);
        let (s, b) = post(&sb, "/v2/user/update", missing).await;
        assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "Parameter missing");
    }
    assert_ne!(
        sb.telecmi_users()[0].name,
        "New Name",
        "refused updates change nothing"
    );

    let (s, _) = post(&sb, "/v2/user/update", good).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sb.telecmi_users()[0].name, "New Name");
    sb.stop().await;
}

#[tokio::test]
async fn get_sample_request_gets_the_documented_answer() {
    let sb = start(SandboxConfig::default()).await;
    sb.insert_telecmi(TelecmiRecord {
        extension: 1001,
        name: "Abishek Kumar".into(),
        phone_number: "9677550000".into(),
        password: "password1234".into(),
        start_time: Some(1),
        end_time: Some(24),
        sms_alert: true,
    });
    let sample = json!({"appid": 1111112, "secret": DEFAULT_SECRET, "agent_id": "1001_1111112"});
    let (status, body) = post(&sb, "/v3/user/get", sample).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"code": 200, "status": "success",
               "agent": {"agent_id": "1001_1111112", "first_name": "Abishek", "last_name": "Kumar",
                         "extension": 1001, "password": "password1234", "phone": "9677550000",
                         "start_time": 1, "end_time": 24, "followme": true}})
    );
    sb.stop().await;
}

#[tokio::test]
async fn get_documented_errors() {
    let sb = start_seeded(2, 0).await;
    // The documented overload: bad credentials and a missing user are both 404.
    let (s, b) = post(
        &sb,
        "/v3/user/get",
        json!({"appid": DEFAULT_APP_ID, "secret": "bad", "agent_id": "1001_1111112"}),
    )
    .await;
    assert_telecmi_error(s, &b, StatusCode::NOT_FOUND, "Authentication Failed");
    let (s, b) = post(
        &sb,
        "/v3/user/get",
        creds(json!({"agent_id": "4242_1111112"})),
    )
    .await;
    assert_telecmi_error(s, &b, StatusCode::NOT_FOUND, "something goes wrong");
    let (s, b) = post(&sb, "/v3/user/get", creds(json!({}))).await;
    assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "Validation failed");
    let (s, b) = post(&sb, "/v3/user/get", creds(json!({"agent_id": 1001}))).await;
    assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "Validation failed");
    // A seeded user is found.
    let (s, b) = post(
        &sb,
        "/v3/user/get",
        creds(json!({"agent_id": "1002_1111112"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["agent"]["extension"], json!(1002));
    sb.stop().await;
}

#[tokio::test]
async fn list_sample_request_counts_the_total_and_pages() {
    let sb = start_seeded(25, 0).await;
    let sample = json!({"appid": 1111112, "secret": DEFAULT_SECRET, "page": 1, "limit": 10});
    let (status, body) = post(&sb, "/v3/user/list", sample).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys(&body), set(&["code", "status", "count", "agents"]));
    assert_eq!(body["code"], json!(200));
    assert_eq!(body["status"], "success");
    assert_eq!(
        body["count"],
        json!(25),
        "count is the total, not the page size"
    );
    let agents = body["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 10);
    let a = &agents[0];
    assert_eq!(
        keys(a),
        set(&[
            "agent_id",
            "first_name",
            "last_name",
            "extension",
            "password",
            "notify",
            "phone",
            "user_id",
            "start_time",
            "end_time"
        ])
    );
    assert!(a["agent_id"].is_string() && a["first_name"].is_string());
    assert!(a["last_name"].is_string() && a["password"].is_string());
    assert!(a["extension"].is_u64() && a["notify"].is_boolean());
    assert!(a["phone"].is_string() && a["user_id"].is_string());
    assert!(a["start_time"].is_u64() && a["end_time"].is_u64());
    assert_eq!(a["agent_id"], "1001_1111112");

    // Pages walk in extension order; page 3 is partial; past the end is empty, count unchanged.
    let mut seen = Vec::new();
    for page in 1..=4 {
        let (s, b) = post(
            &sb,
            "/v3/user/list",
            creds(json!({"page": page, "limit": 10})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["count"], json!(25));
        let exts: Vec<u64> = extensions(&b);
        assert_eq!(exts.len(), [10, 10, 5, 0][page - 1]);
        seen.extend(exts);
    }
    assert_eq!(seen, (1001..=1025).collect::<Vec<u64>>());

    // Defaults: page 1, limit 10.
    let (_, b) = post(&sb, "/v3/user/list", creds(json!({}))).await;
    assert_eq!(b["agents"].as_array().unwrap().len(), 10);

    // user_id is stable and unique.
    let (_, b1) = post(&sb, "/v3/user/list", creds(json!({"limit": 100}))).await;
    let (_, b2) = post(&sb, "/v3/user/list", creds(json!({"limit": 100}))).await;
    let ids: BTreeSet<&str> = b1["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 25);
    assert_eq!(b1, b2);
    sb.stop().await;
}

#[tokio::test]
async fn list_name_filter_errors_and_cap() {
    let sb = start(SandboxConfig::default()).await;
    for (ext, name) in [
        (201, "Manish Kumar"),
        (202, "Priya Iyer"),
        (203, "anil KUMAR"),
        (204, "Kumari Devi"),
    ] {
        post(&sb, "/v2/user/add", add_body(ext, name)).await;
    }
    let (s, b) = post(
        &sb,
        "/v3/user/list",
        creds(json!({"name": "kumar", "limit": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["count"],
        json!(3),
        "three names contain 'kumar', any case"
    );
    let exts: Vec<u64> = extensions(&b);
    assert_eq!(exts, vec![201, 203]);
    let (_, b) = post(
        &sb,
        "/v3/user/list",
        creds(json!({"name": "kumar", "limit": 2, "page": 2})),
    )
    .await;
    assert_eq!(b["agents"][0]["extension"], json!(204));

    let (s, b) = post(
        &sb,
        "/v3/user/list",
        json!({"appid": DEFAULT_APP_ID, "secret": "x"}),
    )
    .await;
    assert_telecmi_error(s, &b, StatusCode::UNAUTHORIZED, "Authentication Failed");
    for bad in [
        json!({"page": 0}),
        json!({"limit": 0}),
        json!({"limit": -1}),
        json!({"page": "x"}),
        json!({"limit": 2.5}),
    ] {
        let (s, b) = post(&sb, "/v3/user/list", creds(bad.clone())).await;
        assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "Validation failed");
    }

    // The server honours at most list_limit_cap; pages are computed with the capped limit.
    sb.set_faults(Faults {
        list_limit_cap: Some(3),
        ..Faults::default()
    });
    let (_, b) = post(&sb, "/v3/user/list", creds(json!({"page": 1, "limit": 10}))).await;
    assert_eq!(b["count"], json!(4));
    assert_eq!(b["agents"].as_array().unwrap().len(), 3);
    let (_, b) = post(&sb, "/v3/user/list", creds(json!({"page": 2, "limit": 10}))).await;
    let exts: Vec<u64> = extensions(&b);
    assert_eq!(exts, vec![204]);
    sb.stop().await;
}

#[tokio::test]
async fn non_ascii_names_round_trip_byte_exact() {
    let sb = start(SandboxConfig::default()).await;
    let names = ["अनिल कुमार", "Zoë Ødegård", "José Álvarez", "தமிழ் செல்வன்"];
    for (i, name) in names.iter().enumerate() {
        let (s, b) = post(&sb, "/v2/user/add", add_body(300 + i as u32, name)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            b["agent"]["name"].as_str().unwrap().as_bytes(),
            name.as_bytes()
        );
    }
    let (_, b) = post(
        &sb,
        "/v3/user/get",
        creds(json!({"agent_id": "300_1111112"})),
    )
    .await;
    assert_eq!(b["agent"]["first_name"], "अनिल");
    assert_eq!(b["agent"]["last_name"], "कुमार");
    let (_, b) = post(&sb, "/v3/user/list", creds(json!({"name": "ødegård"}))).await;
    assert_eq!(
        b["count"],
        json!(1),
        "case-insensitive filter works beyond ASCII"
    );
    assert_eq!(b["agents"][0]["first_name"], "Zoë");
    let stored: Vec<String> = sb.telecmi_users().into_iter().map(|u| u.name).collect();
    assert_eq!(
        stored,
        names.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    sb.stop().await;
}

#[tokio::test]
async fn smartflo_sample_request_and_auth() {
    let sb = start_seeded(0, 45).await;
    for token in [None, Some("wrong-token")] {
        let (s, b) = smartflo_get(&sb, "", token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(b["success"], json!(false));
        assert!(b["message"].as_str().unwrap().contains("Unauthenticated"));
    }
    // A raw token without the Bearer scheme is refused too.
    let resp = client()
        .get(format!("{}/v1/users", sb.base_url()))
        .header("Authorization", DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sb.stats().rejected_auth, 3);

    let (s, b) = smartflo_list(&sb, "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        keys(&b),
        set(&["has_more", "count", "last_seen_id", "data"])
    );
    assert_eq!(b["has_more"], json!(true));
    assert_eq!(
        b["count"],
        json!(20),
        "default page size, as in the doc sample"
    );
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), 20);
    assert_eq!(b["last_seen_id"], data[19]["id"]);
    let with_agent = data
        .iter()
        .find(|u| u["agent"].is_object())
        .expect("a user with an agent");
    assert_eq!(
        keys(with_agent),
        set(&[
            "id",
            "name",
            "agent",
            "login_id",
            "is_login_based_calling_enabled",
            "is_international_outbound_enabled",
            "user_role",
            "extension",
            "user_status"
        ])
    );
    assert_eq!(
        keys(&with_agent["agent"]),
        set(&["id", "name", "status", "follow_me_number"])
    );
    assert!(with_agent["agent"]["id"].is_string() && with_agent["agent"]["name"].is_string());
    assert!(with_agent["agent"]["status"].is_i64());
    assert_eq!(keys(&with_agent["user_role"]), set(&["id", "name"]));
    assert!(with_agent["user_role"]["id"].is_u64() && with_agent["user_role"]["name"].is_string());
    assert!(with_agent["id"].is_u64() && with_agent["user_status"].is_i64());
    assert!(with_agent["is_login_based_calling_enabled"].is_boolean());
    assert!(
        data.iter().any(|u| u["agent"].is_null()),
        "users without an agent"
    );
    assert!(
        data.iter().any(|u| u["extension"].is_null()),
        "users without an extension"
    );
    assert!(data.iter().any(|u| u["extension"].is_string()));
    sb.stop().await;
}

#[tokio::test]
async fn smartflo_cursor_walk_covers_every_user_once() {
    let sb = start_seeded(0, 53).await;
    let mut ids = Vec::new();
    let mut cursor: Option<u64> = None;
    let mut pages = 0;
    loop {
        let query = match cursor {
            Some(c) => format!("?limit=7&last_seen_id={c}"),
            None => "?limit=7".to_string(),
        };
        let (s, b) = smartflo_list(&sb, &query).await;
        assert_eq!(s, StatusCode::OK);
        let data = b["data"].as_array().unwrap();
        assert_eq!(b["count"].as_u64().unwrap() as usize, data.len());
        ids.extend(data.iter().map(|u| u["id"].as_u64().unwrap()));
        pages += 1;
        if !b["has_more"].as_bool().unwrap() {
            assert_eq!(data.len(), 53 % 7);
            break;
        }
        cursor = Some(b["last_seen_id"].as_u64().unwrap());
    }
    assert_eq!(pages, 8);
    let want: Vec<u64> = sb.smartflo_users().iter().map(|u| u.id).collect();
    assert_eq!(ids, want, "every seeded user exactly once, in id order");
    // Ids have gaps, so a cursor is not an offset.
    assert!(want.windows(2).any(|w| w[1] - w[0] > 1));

    // Past the end: empty page, cursor echoed.
    let last = *want.last().unwrap();
    let (_, b) = smartflo_list(&sb, &format!("?last_seen_id={last}")).await;
    assert_eq!(b["count"], json!(0));
    assert_eq!(b["has_more"], json!(false));
    assert_eq!(b["last_seen_id"], json!(last));
    sb.stop().await;
}

#[tokio::test]
async fn smartflo_filters_bad_queries_and_cap() {
    let sb = start_seeded(0, 60).await;
    let (s, b) = smartflo_list(&sb, "?is_extension_created=false&limit=100").await;
    assert_eq!(s, StatusCode::OK);
    let data = b["data"].as_array().unwrap();
    let want = sb
        .smartflo_users()
        .iter()
        .filter(|u| u.extension.is_none())
        .count();
    assert!(want > 0 && want < 60);
    assert_eq!(data.len(), want);
    assert!(data.iter().all(|u| u["extension"].is_null()));

    let (_, b) = smartflo_list(&sb, "?user_status=0&limit=100").await;
    let disabled = sb
        .smartflo_users()
        .iter()
        .filter(|u| u.user_status != 1)
        .count();
    assert!(disabled > 0);
    assert_eq!(b["count"].as_u64().unwrap() as usize, disabled);

    for bad in [
        "?limit=abc",
        "?limit=0",
        "?last_seen_id=-3",
        "?is_web_login=maybe",
    ] {
        let (s, b) = smartflo_list(&sb, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(b["success"], json!(false));
    }

    sb.set_faults(Faults {
        list_limit_cap: Some(5),
        ..Faults::default()
    });
    let (_, b) = smartflo_list(&sb, "?limit=50").await;
    assert_eq!(b["count"], json!(5));
    assert_eq!(b["has_more"], json!(true));
    sb.stop().await;
}

#[tokio::test]
async fn smartflo_inserted_user_is_served() {
    let sb = start(SandboxConfig::default()).await;
    sb.insert_smartflo(SmartfloRecord {
        id: 314678,
        name: "xyz".into(),
        login_id: "xyz@example.com".into(),
        agent_id: Some("0502842370097".into()),
        agent_name: Some("xyz".into()),
        agent_status: 0,
        follow_me_number: Some("+911111111111".into()),
        extension: None,
        user_status: 1,
        role_id: 54630,
        role_name: "Quality".into(),
        is_login_based_calling_enabled: false,
        is_international_outbound_enabled: false,
        is_web_login_enabled: true,
    });
    let (_, b) = smartflo_list(&sb, "").await;
    assert_eq!(
        b,
        json!({"has_more": false, "count": 1, "last_seen_id": 314678, "data": [{
            "id": 314678, "name": "xyz",
            "agent": {"id": "0502842370097", "name": "xyz", "status": 0, "follow_me_number": "+911111111111"},
            "login_id": "xyz@example.com", "is_login_based_calling_enabled": false,
            "is_international_outbound_enabled": false,
            "user_role": {"id": 54630, "name": "Quality"}, "extension": null, "user_status": 1}]})
    );
    sb.stop().await;
}

#[tokio::test]
async fn lost_add_is_committed_but_the_client_sees_a_transport_error() {
    let sb = start_with_faults(Faults {
        lost_add_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let result = raw_post(&sb, "/v2/user/add")
        .json(&add_body(101, "Manish"))
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must not get an HTTP answer");
    assert_eq!(sb.telecmi_users().len(), 1, "the add was committed");
    assert_eq!(sb.stats().adds_committed, 1);

    // A retry finds the user; failed adds are not lost (only committed ones are).
    let (s, b) = post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    assert_telecmi_error(s, &b, StatusCode::BAD_REQUEST, "User ID Already Exists");
    // Other endpoints are unaffected.
    let (s, _) = post(
        &sb,
        "/v3/user/get",
        creds(json!({"agent_id": "101_1111112"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    sb.stop().await;
}

#[tokio::test]
async fn error_and_throttle_faults() {
    let sb = start_with_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let (s, b) = post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    assert_telecmi_error(
        s,
        &b,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sorry, something goes wrong !",
    );
    assert!(sb.telecmi_users().is_empty(), "a 500 does nothing");
    let (s, _) = smartflo_list(&sb, "").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);

    sb.set_faults(Faults {
        throttle_rate: 1.0,
        retry_after_secs: 3,
        ..Faults::default()
    });
    let resp = raw_post(&sb, "/v2/user/add")
        .json(&add_body(101, "Manish"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "3");
    assert!(sb.telecmi_users().is_empty(), "a 429 does nothing");

    sb.set_faults(Faults {
        throttle_rate: 1.0,
        ..Faults::default()
    });
    let resp = client()
        .get(format!("{}/v1/users", sb.base_url()))
        .bearer_auth(DEFAULT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        resp.headers()["retry-after"],
        "1",
        "0 means the default of 1 second"
    );

    sb.set_faults(Faults::default());
    let (s, _) = post(&sb, "/v2/user/add", add_body(101, "Manish")).await;
    assert_eq!(s, StatusCode::OK, "faults switched off at run time");
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_to_a_burst() {
    let sb = start(SandboxConfig {
        seed_telecmi: 5,
        faults: Faults {
            rate_limit: Some(5.0),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let c = client();
    let url = format!("{}/v3/user/list", sb.base_url());
    let requests = (0..20).map(|_| c.post(&url).json(&creds(json!({}))).send());
    let responses = futures_util::future::join_all(requests).await;
    let mut ok = 0;
    let mut limited = 0;
    for resp in responses {
        let resp = resp.unwrap();
        match resp.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(resp.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!((1..=6).contains(&ok), "a small burst passes, got {ok}");
    assert!(
        limited >= 10,
        "the rest of the burst is refused, got {limited}"
    );
    assert_eq!(ok + limited, 20);
    assert_eq!(sb.stats().requests, 20, "429s are counted as requests");

    // Well-spaced requests pass.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let (s, _) = post(&sb, "/v3/user/list", creds(json!({}))).await;
    assert_eq!(s, StatusCode::OK);
    sb.stop().await;
}

#[tokio::test]
async fn latency_and_stats() {
    let sb = start_seeded(3, 3).await;
    sb.set_faults(Faults {
        latency: Duration::from_millis(120),
        jitter: Duration::from_millis(30),
        ..Faults::default()
    });
    let t0 = Instant::now();
    let c = client();
    let list = format!("{}/v3/user/list", sb.base_url());
    let users = format!("{}/v1/users", sb.base_url());
    let (a, b, d) = tokio::join!(
        c.post(&list).json(&creds(json!({}))).send(),
        c.post(&list).json(&creds(json!({}))).send(),
        c.get(&users).bearer_auth(DEFAULT_TOKEN).send(),
    );
    let elapsed = t0.elapsed();
    assert!(a.unwrap().status().is_success() && b.unwrap().status().is_success());
    assert!(d.unwrap().status().is_success());
    assert!(
        elapsed >= Duration::from_millis(120),
        "latency applied: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1000),
        "requests overlap: {elapsed:?}"
    );

    let stats = sb.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.by_endpoint.get("/v3/user/list"), Some(&2));
    assert_eq!(stats.by_endpoint.get("/v1/users"), Some(&1));
    assert_eq!(stats.arrivals.len(), 3);
    assert!(
        stats.max_in_flight >= 2,
        "concurrent requests seen: {}",
        stats.max_in_flight
    );
    sb.stop().await;
}

#[tokio::test]
async fn path_prefix_and_unknown_paths() {
    let sb = start(SandboxConfig::default()).await;
    let (s, _) = post(&sb, "/mock/v2/user/add", add_body(101, "Manish")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sb.stats().by_endpoint.get("/mock/v2/user/add"), Some(&1));
    let resp = raw_post(&sb, "/v2/user/remove")
        .json(&creds(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .get(format!("{}/v2/user/add", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    sb.stop().await;
}

#[tokio::test]
async fn state_changes_through_the_handle_are_served() {
    let sb = start_seeded(3, 0).await;
    assert!(sb.remove_telecmi(1002));
    assert!(!sb.remove_telecmi(1002));
    sb.insert_telecmi(TelecmiRecord {
        extension: 1500,
        name: "Late Joiner".into(),
        phone_number: "919800001500".into(),
        password: "pw".into(),
        start_time: None,
        end_time: None,
        sms_alert: false,
    });
    let (_, b) = post(&sb, "/v3/user/list", creds(json!({"limit": 50}))).await;
    let exts: Vec<u64> = extensions(&b);
    assert_eq!(exts, vec![1001, 1003, 1500]);
    assert_eq!(
        b["agents"][2]["start_time"],
        Value::Null,
        "no shift set: null"
    );
    sb.stop().await;
}

#[tokio::test]
async fn seeds_are_deterministic_and_realistic() {
    let a = start_seeded(40, 40).await;
    let b = start_seeded(40, 40).await;
    assert_eq!(a.telecmi_users(), b.telecmi_users());
    assert_eq!(a.smartflo_users(), b.smartflo_users());
    let tc = a.telecmi_users();
    assert_eq!(tc.len(), 40);
    assert_eq!(tc.first().unwrap().extension, 1001);
    assert_eq!(tc.last().unwrap().extension, 1040);
    assert!(
        tc.iter().any(|u| !u.name.is_ascii()),
        "non-ASCII names seeded"
    );
    assert!(tc
        .iter()
        .all(|u| u.phone_number.len() == 12 && u.phone_number.starts_with("91")));
    let sf = a.smartflo_users();
    assert_eq!(sf.len(), 40);
    assert!(sf.iter().any(|u| u.extension.is_none()));
    assert!(sf.iter().any(|u| u.agent_id.is_none()));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn large_seeds_are_quick_and_deep_pages_work() {
    let t0 = Instant::now();
    let sb = start_seeded(50_000, 50_000).await;
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "seeding took {:?}",
        t0.elapsed()
    );
    let (s, b) = post(
        &sb,
        "/v3/user/list",
        creds(json!({"page": 4000, "limit": 10})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["count"], json!(50_000));
    assert_eq!(b["agents"][0]["extension"], json!(1001 + 39_990));
    let last = sb.smartflo_users()[49_990].id;
    let (_, b) = smartflo_list(&sb, &format!("?last_seen_id={last}")).await;
    assert_eq!(b["count"], json!(9));
    assert_eq!(b["has_more"], json!(false));
    sb.stop().await;
}

#[tokio::test]
async fn stop_closes_the_port() {
    let sb = start(SandboxConfig::default()).await;
    let url = sb.base_url();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with('/'));
    assert_eq!(
        sb.local_addr().port(),
        url.rsplit(':').next().unwrap().parse::<u16>().unwrap()
    );
    sb.stop().await;
    let result = client()
        .post(format!("{url}/v3/user/list"))
        .json(&creds(json!({})))
        .send()
        .await;
    assert!(result.is_err(), "nothing listens after stop");
}

#[tokio::test]
async fn debug_output_never_shows_credentials() {
    let config = SandboxConfig {
        secret: "s3cr3t-value".into(),
        token: "t0k3n-value".into(),
        ..SandboxConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("s3cr3t-value") && !shown.contains("t0k3n-value"),
        "{shown}"
    );
    let sb = start(config).await;
    let shown = format!("{sb:?}");
    assert!(
        !shown.contains("s3cr3t-value") && !shown.contains("t0k3n-value"),
        "{shown}"
    );
    sb.stop().await;
}

#[tokio::test]
async fn phones_are_stored_as_received_unless_the_sandbox_normalises_them() {
    for (normalise_phones, stored) in [(false, "+91 98123 00001"), (true, "919812300001")] {
        let sb = start(SandboxConfig {
            normalise_phones,
            ..SandboxConfig::default()
        })
        .await;
        let mut body = add_body(101, "Manish");
        body["phone_number"] = json!("+91 98123 00001");
        assert_eq!(post(&sb, "/v2/user/add", body).await.0, StatusCode::OK);
        assert_eq!(
            sb.telecmi_users()[0].phone_number,
            stored,
            "normalise: {normalise_phones}"
        );
        let update = creds(
            json!({"id": "101_1111112", "name": "Manish", "password": "123456",
                                  "phone_number": "(+91) 98123-00002"}),
        );
        assert_eq!(post(&sb, "/v2/user/update", update).await.0, StatusCode::OK);
        let updated = &sb.telecmi_users()[0].phone_number;
        assert_eq!(
            updated == "919812300002",
            normalise_phones,
            "update too: {updated}"
        );
    }
}
