//! The Salesforce emulation over real loopback HTTP: OAuth, SOQL paging,
//! queryAll and deletions, describe, session expiry, limits, mutations.

use std::collections::BTreeSet;

use braid_sandbox::salesforce;
use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

const V: &str = "/services/data/v62.0";

async fn start(contacts: u64, limit: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.salesforce.contacts = contacts;
    c.salesforce.daily_api_requests = limit;
    c.salesforce.hidden_objects = vec!["Campaign".into()];
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn token(sb: &Sandbox, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", sb.base_url()))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn login(sb: &Sandbox) -> String {
    let c = SalesforceDefaults::get();
    let (status, body) = token(
        sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

struct SalesforceDefaults;
impl SalesforceDefaults {
    fn get() -> braid_sandbox::SalesforceConfig {
        braid_sandbox::SalesforceConfig::default()
    }
}

async fn get(sb: &Sandbox, tok: &str, path: &str, batch: Option<u32>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(format!("{}{path}", sb.base_url()))
        .bearer_auth(tok);
    if let Some(b) = batch {
        r = r.header("Sforce-Query-Options", format!("batchSize={b}"));
    }
    r.send().await.unwrap()
}

/// Every record of a query, following `nextRecordsUrl`.
async fn all(sb: &Sandbox, tok: &str, endpoint: &str, soql: &str) -> (u64, Vec<Value>, usize) {
    let q: String = soql.replace(' ', "+");
    let mut r: Value = get(sb, tok, &format!("{V}/{endpoint}?q={q}"), Some(200))
        .await
        .json()
        .await
        .unwrap();
    let total = r["totalSize"].as_u64().unwrap();
    let mut records = Vec::new();
    let mut pages = 1;
    loop {
        records.extend(r["records"].as_array().unwrap().iter().cloned());
        if r["done"].as_bool().unwrap() {
            break;
        }
        let next = r["nextRecordsUrl"].as_str().unwrap().to_owned();
        assert!(next.starts_with(&format!("{V}/{endpoint}/01g")), "{next}");
        r = get(sb, tok, &next, None).await.json().await.unwrap();
        pages += 1;
    }
    (total, records, pages)
}

#[tokio::test]
async fn oauth_grants_and_their_errors() {
    let sb = start(10, 1000).await;
    let c = SalesforceDefaults::get();
    let (s, b) = token(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["instance_url"], sb.base_url());
    assert!(b["issued_at"].as_str().unwrap().parse::<u64>().is_ok());
    assert!(b["signature"].is_string());
    let (s, b) = token(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", "stale"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"error": "invalid_grant", "error_description": "expired access/refresh token"})
    );
    let (_, b) = token(&sb, &[("grant_type", "password")]).await;
    assert_eq!(b["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn query_pages_through_every_live_record_and_query_all_adds_the_deleted() {
    let sb = start(1000, 1000).await;
    let tok = login(&sb).await;
    let soql =
        "SELECT Id, Email, SystemModstamp, IsDeleted FROM Contact ORDER BY SystemModstamp, Id";
    let (total, live, pages) = all(&sb, &tok, "query", soql).await;
    let deleted = (0..1000)
        .filter(|i| salesforce::base_deleted(42, *i))
        .count() as u64;
    assert!(deleted > 10);
    assert_eq!(total, 1000 - deleted);
    assert_eq!(live.len() as u64, total);
    assert_eq!(pages, 5);
    assert!(live.iter().all(|r| r["IsDeleted"] == false));
    assert_eq!(live[0]["attributes"]["type"], "Contact");
    let ids: Vec<&str> = live.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ordered by SystemModstamp, Id");
    let (total_all, with_deleted, _) = all(&sb, &tok, "queryAll", soql).await;
    assert_eq!(total_all, 1000);
    assert_eq!(with_deleted.len(), 1000);
    assert_eq!(
        with_deleted
            .iter()
            .filter(|r| r["IsDeleted"] == true)
            .count() as u64,
        deleted
    );
}

#[tokio::test]
async fn incremental_filters_see_later_changes_and_deletions() {
    let sb = start(300, 1000).await;
    let tok = login(&sb).await;
    let m: Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/salesforce/mutate", sb.base_url()))
        .json(&json!({"object": "Contact", "count": 7, "delete": 3, "create": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let since = m["system_modstamp"].as_str().unwrap().replace("+0000", "Z");
    let soql = format!("SELECT Id, IsDeleted, SystemModstamp FROM Contact WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id");
    let (_, changed, _) = all(&sb, &tok, "query", &soql).await;
    assert_eq!(changed.len(), 9, "7 modified + 2 created");
    let (_, changed_all, _) = all(&sb, &tok, "queryAll", &soql).await;
    let ids: BTreeSet<&str> = changed_all
        .iter()
        .map(|r| r["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 12);
    for d in m["deleted"].as_array().unwrap() {
        let r = changed_all.iter().find(|r| r["Id"] == *d).unwrap();
        assert_eq!(r["IsDeleted"], true);
    }
}

#[tokio::test]
async fn describe_errors_sessions_and_limits_speak_salesforce() {
    let sb = start(10, 6).await;
    let tok = login(&sb).await;
    let d: Value = get(
        &sb,
        &tok,
        &format!("{V}/sobjects/Opportunity/describe"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let amount = d["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Amount")
        .unwrap();
    assert_eq!(
        (
            amount["type"].as_str(),
            amount["precision"].as_u64(),
            amount["scale"].as_u64()
        ),
        (Some("currency"), Some(18), Some(2))
    );
    let r = get(&sb, &tok, &format!("{V}/sobjects/Campaign/describe"), None).await;
    assert_eq!(r.status().as_u16(), 404, "hidden from this user");
    let r = get(
        &sb,
        &tok,
        &format!("{V}/query?q=SELECT+Id,+Nope+FROM+Contact"),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b[0]["errorCode"], "INVALID_FIELD");
    let r = get(&sb, &tok, &format!("{V}/query?q=SELEKT+Id"), None).await;
    let info = r.headers()["sforce-limit-info"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(info, "api-usage=4/6");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b[0]["errorCode"], "MALFORMED_QUERY");
    reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/salesforce/expire_sessions",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    let r = get(
        &sb,
        &tok,
        &format!("{V}/query?q=SELECT+Id+FROM+Contact"),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 401);
    let b: Value = r.json().await.unwrap();
    assert_eq!(
        b,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    let tok = login(&sb).await;
    for _ in 0..2 {
        get(
            &sb,
            &tok,
            &format!("{V}/query?q=SELECT+Id+FROM+Contact"),
            None,
        )
        .await;
    }
    let r = get(
        &sb,
        &tok,
        &format!("{V}/query?q=SELECT+Id+FROM+Contact"),
        None,
    )
    .await;
    assert_eq!(r.status().as_u16(), 403);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
}
