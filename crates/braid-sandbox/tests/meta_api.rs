//! The Meta Marketing API emulation over real loopback HTTP: token checks,
//! cursor paging, field selection, daily insights (sync and async report
//! runs), restatements, leads, throttling.

use std::collections::BTreeSet;

use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

async fn start(calls_per_second: Option<u32>) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.meta.calls_per_second = calls_per_second;
    c.meta.history_days = 10;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn token() -> String {
    braid_sandbox::MetaConfig::default().access_token
}

fn act() -> String {
    format!("act_{}", braid_sandbox::MetaConfig::default().account_id)
}

async fn get(
    sb: &Sandbox,
    path: &str,
    query: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", sb.base_url()))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

fn today() -> chrono::NaiveDate {
    let tz: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

fn range(days_back: u64) -> String {
    let t = today();
    let since = t - chrono::Days::new(days_back);
    format!(r#"{{"since":"{since}","until":"{t}"}}"#)
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_meta_s_oauth_error() {
    let sb = start(None).await;
    let (s, _, b) = get(
        &sb,
        &format!("/v21.0/{}/campaigns", act()),
        &[("access_token", "nope")],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], 190);
    assert_eq!(b["error"]["type"], "OAuthException");
    assert!(b["error"]["fbtrace_id"].is_string());
    let (s, _, b) = get(&sb, &format!("/v21.0/{}/campaigns", act()), &[]).await;
    assert_eq!((s, b["error"]["code"].as_u64()), (400, Some(2500)));
    let (s, _, b) = get(
        &sb,
        &format!("/v12.0/{}/campaigns", act()),
        &[("access_token", &token())],
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_u64()), (400, Some(2635)));
    sb.shutdown().await;
}

#[tokio::test]
async fn entities_page_with_after_cursors_until_no_next_link() {
    let sb = start(None).await;
    let t = token();
    let mut after: Option<String> = None;
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    loop {
        let mut q = vec![
            ("access_token", t.as_str()),
            ("limit", "5"),
            ("fields", "id,name,campaign_id"),
        ];
        if let Some(a) = &after {
            q.push(("after", a));
        }
        let (s, _, b) = get(&sb, &format!("/v21.0/{}/ads", act()), &q).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        for ad in b["data"].as_array().unwrap() {
            assert!(ad["id"].is_string() && ad["campaign_id"].is_string());
            assert!(
                ad.get("status").is_none(),
                "only the asked-for fields: {ad}"
            );
            ids.insert(ad["id"].as_str().unwrap().to_owned());
        }
        if b["paging"]["next"].is_null() {
            break;
        }
        let next = b["paging"]["next"].as_str().unwrap();
        assert!(
            next.contains("access_token="),
            "Meta's next link repeats the token"
        );
        after = Some(b["paging"]["cursors"]["after"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 24);
    assert_eq!(pages, 5);
    sb.shutdown().await;
}

#[tokio::test]
async fn insights_sync_async_and_restated() {
    let sb = start(None).await;
    let t = token();
    let path = format!("/v21.0/{}/insights", act());
    let r = range(2);
    let q = [
        ("access_token", t.as_str()),
        ("level", "ad"),
        ("time_increment", "1"),
        ("time_range", r.as_str()),
        ("fields", "ad_id,spend,impressions,actions"),
        ("limit", "500"),
    ];
    let (s, _, b) = get(&sb, &path, &q).await;
    assert_eq!(s, 200, "{b}");
    let rows = b["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3 * 24);
    assert!(rows[0]["spend"].as_str().unwrap().contains('.'));
    assert!(rows[0]["date_start"].is_string() && rows[0].get("campaign_name").is_none());
    let purchases = |row: &Value| -> u64 {
        row["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action_type"] == "offsite_conversion.fb_pixel_purchase")
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let before: Vec<u64> = rows.iter().map(purchases).collect();

    // A range longer than sync_max_days is refused; it runs as a report run.
    let long = range(40);
    let (s, _, b) = get(
        &sb,
        &path,
        &[
            ("access_token", &t),
            ("level", "ad"),
            ("time_increment", "1"),
            ("time_range", &long),
        ],
    )
    .await;
    assert_eq!((s, b["error"]["code"].as_u64()), (400, Some(1)), "{b}");
    let http = reqwest::Client::new();
    let run: Value = http
        .post(format!("{}{path}", sb.base_url()))
        .form(&[
            ("access_token", t.as_str()),
            ("level", "ad"),
            ("time_increment", "1"),
            ("time_range", long.as_str()),
            ("fields", "ad_id,spend"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["report_run_id"].as_str().unwrap().to_owned();
    let (s, _, b) = get(
        &sb,
        &format!("/v21.0/{id}/insights"),
        &[("access_token", &t)],
    )
    .await;
    assert_eq!(s, 400, "not readable before it completes: {b}");
    let mut status = String::new();
    for _ in 0..5 {
        let (_, _, b) = get(&sb, &format!("/v21.0/{id}"), &[("access_token", &t)]).await;
        status = b["async_status"].as_str().unwrap().to_owned();
        if status == "Job Completed" {
            break;
        }
    }
    assert_eq!(status, "Job Completed");
    let (s, _, b) = get(
        &sb,
        &format!("/v21.0/{id}/insights"),
        &[("access_token", &t), ("limit", "500")],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // History is 10 days back: 11 days of 24 ads, first page of 500.
    assert_eq!(b["data"].as_array().unwrap().len(), 264);

    // Restating the last 2 days adds late conversions there only.
    let r: Value = http
        .post(format!("{}/_sandbox/meta/restate", sb.base_url()))
        .json(&serde_json::json!({"days": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["days"].as_array().unwrap().len(), 2);
    let (_, _, b) = get(&sb, &path, &q).await;
    let after: Vec<u64> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(purchases)
        .collect();
    for (k, (a, b)) in before.iter().zip(&after).enumerate() {
        let restated = k >= 24;
        assert_eq!(*b, a + restated as u64, "row {k}");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn leads_come_newest_first_and_filter_on_time_created() {
    let sb = start(None).await;
    let t = token();
    let form = braid_sandbox::meta::data::meta_id(braid_sandbox::meta::data::Kind::Form, 0);
    let path = format!("/v21.0/{form}/leads");
    let (s, _, b) = get(&sb, &path, &[("access_token", &t), ("limit", "500")]).await;
    assert_eq!(s, 200, "{b}");
    let leads = b["data"].as_array().unwrap();
    assert_eq!(leads.len(), 300);
    assert!(leads[0]["created_time"].as_str() > leads[1]["created_time"].as_str());
    assert_eq!(leads[0]["field_data"][0]["name"], "email");
    let cut = braid_sandbox::meta::data::lead_time(250);
    let filter = format!(r#"[{{"field":"time_created","operator":"GREATER_THAN","value":{cut}}}]"#);
    let (_, _, b) = get(&sb, &path, &[("access_token", &t), ("filtering", &filter)]).await;
    assert_eq!(
        b["data"].as_array().unwrap().len(),
        25,
        "leads 251..299, first page of 25"
    );
    assert!(b["paging"]["next"].is_string());
    sb.shutdown().await;
}

#[tokio::test]
async fn the_account_budget_answers_80004_with_the_usage_header() {
    let sb = start(Some(3)).await;
    let t = token();
    let mut throttled = None;
    for _ in 0..20 {
        let (s, h, b) = get(
            &sb,
            &format!("/v21.0/{}/campaigns", act()),
            &[("access_token", &t)],
        )
        .await;
        if s != 200 {
            throttled = Some((s, h, b));
            break;
        }
    }
    let (s, h, b) = throttled.expect("the budget ran out");
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], 80004);
    let usage: Value =
        serde_json::from_str(h["x-business-use-case-usage"].to_str().unwrap()).unwrap();
    let account = braid_sandbox::MetaConfig::default().account_id;
    assert!(
        usage[&account][0]["estimated_time_to_regain_access"].is_number(),
        "{usage}"
    );
    sb.shutdown().await;
}
