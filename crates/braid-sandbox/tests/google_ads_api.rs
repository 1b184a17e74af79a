//! The Google Ads API emulation over real loopback HTTP: the refresh-token
//! grant, the developer-token and login-customer-id headers, GAQL over
//! searchStream (selection, date segments, click_view's one-day rule,
//! batches), Google's error bodies, restatements.

use braid_sandbox::{GoogleAdsConfig, Sandbox, SandboxConfig};
use serde_json::Value;

async fn start(f: impl FnOnce(&mut GoogleAdsConfig)) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.google_ads.history_days = 10;
    f(&mut c.google_ads);
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn cfg() -> GoogleAdsConfig {
    GoogleAdsConfig::default()
}

async fn token(sb: &Sandbox) -> String {
    let c = cfg();
    let r = reqwest::Client::new()
        .post(format!("{}/token", sb.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    v["access_token"].as_str().unwrap().to_owned()
}

async fn search(
    sb: &Sandbox,
    token: &str,
    customer: &str,
    login: Option<&str>,
    query: &str,
) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(format!(
            "{}/v26/customers/{customer}/googleAds:searchStream",
            sb.base_url()
        ))
        .bearer_auth(token)
        .json(&serde_json::json!({ "query": query }));
    if let Some(l) = login {
        r = r.header("login-customer-id", l);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn rows(body: &Value) -> Vec<Value> {
    body.as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["results"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn error_code(body: &Value) -> (String, Value) {
    let e = &body[0]["error"];
    (
        e["status"].as_str().unwrap_or("").to_owned(),
        e["details"][0]["errors"][0]["errorCode"].clone(),
    )
}

fn us() -> String {
    cfg().customers[0].id.clone()
}

fn manager() -> String {
    cfg().manager_customer_id
}

fn today_us() -> chrono::NaiveDate {
    braid_sandbox::google_ads::today_in("America/New_York")
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_grants_with_rfc6749_errors() {
    let sb = start(|_| {}).await;
    let c = cfg();
    let r = reqwest::Client::new()
        .post(format!("{}/token", sb.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", "1//revoked"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    let t1 = token(&sb).await;
    let t2 = token(&sb).await;
    assert_ne!(t1, t2);
}

#[tokio::test]
async fn headers_are_checked_access_token_and_manager() {
    let sb = start(|_| {}).await;
    let q = "SELECT customer.id FROM customer";
    let (s, b) = search(&sb, "ya29.nope", &us(), Some(&manager()), q).await;
    assert_eq!(s, 401);
    assert_eq!(error_code(&b).0, "UNAUTHENTICATED");
    assert_eq!(
        error_code(&b).1["authenticationError"],
        "OAUTH_TOKEN_INVALID"
    );
    let t = token(&sb).await;
    let (s, b) = search(&sb, &t, &us(), None, q).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        error_code(&b).1["authorizationError"],
        "USER_PERMISSION_DENIED"
    );
    // Dashes in the header are accepted, as the client libraries strip them.
    let (s, b) = search(&sb, &t, &us(), Some("999-000-1111"), q).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(rows(&b)[0]["customer"]["id"], us());
    assert_eq!(
        rows(&b)[0]["customer"]["resourceName"],
        format!("customers/{}", us())
    );
    let (s, b) = search(&sb, &t, "123-456-7890", Some(&manager()), q).await;
    assert_eq!(s, 400, "{b}");
    reqwest::Client::new()
        .post(format!(
            "{}/_sandbox/google_ads/expire_tokens",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    let (s, b) = search(&sb, &t, &us(), Some(&manager()), q).await;
    assert_eq!(s, 401);
    assert_eq!(
        error_code(&b).1["authenticationError"],
        "OAUTH_TOKEN_EXPIRED"
    );
}

#[tokio::test]
async fn versions_name_their_own_campaign_dates_and_developer_tokens_are_optional() {
    let sb = start(|_| {}).await;
    let t = token(&sb).await;
    let (s, b) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT campaign.id, campaign.start_date_time, campaign.end_date_time, campaign.status FROM campaign",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    for r in rows(&b) {
        let start = r["campaign"]["startDateTime"].as_str().unwrap();
        assert!(start.ends_with(" 00:00:00"), "{start}");
        // Only the removed campaign has an end.
        assert_eq!(
            r["campaign"]["endDateTime"].is_string(),
            r["campaign"]["status"] == "REMOVED",
            "{r}"
        );
    }
    let (s, e) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT campaign.start_date FROM campaign",
    )
    .await;
    assert_eq!(s, 400, "v23 dropped campaign.start_date: {e}");
    assert_eq!(error_code(&e).1["queryError"], "UNRECOGNIZED_FIELD");
    // A sunset version.
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v22/customers/{}/googleAds:searchStream",
            sb.base_url(),
            us()
        ))
        .bearer_auth(&t)
        .header("login-customer-id", manager())
        .json(&serde_json::json!({"query": "SELECT customer.id FROM customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // As before the 2026-09-09 sunset: a developer token is required.
    let sb = start(|c| c.developer_token = Some("devtok".into())).await;
    let t = token(&sb).await;
    let (s, e) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT customer.id FROM customer",
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(
        error_code(&e).1["authenticationError"],
        "DEVELOPER_TOKEN_INVALID"
    );
    let r = reqwest::Client::new()
        .post(format!(
            "{}/v26/customers/{}/googleAds:searchStream",
            sb.base_url(),
            us()
        ))
        .bearer_auth(&t)
        .header("developer-token", "devtok")
        .header("login-customer-id", manager())
        .json(&serde_json::json!({"query": "SELECT customer.id FROM customer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn daily_campaign_metrics_agree_with_ad_groups_and_clicks() {
    let sb = start(|c| c.batch_rows = 7).await;
    let t = token(&sb).await;
    let day = today_us() - chrono::Days::new(2);
    let (s, b) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        &format!(
            "SELECT campaign.id, campaign.name, segments.date, metrics.impressions, metrics.clicks, \
             metrics.cost_micros, metrics.conversions, metrics.conversions_value \
             FROM campaign WHERE segments.date BETWEEN '{day}' AND '{day}' ORDER BY campaign.id"
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let field_mask = b[0]["fieldMask"].as_str().unwrap();
    assert!(field_mask.contains("metrics.costMicros"), "{field_mask}");
    let campaigns = rows(&b);
    assert!(!campaigns.is_empty());
    // int64 as strings, doubles as numbers.
    let m = &campaigns[0]["metrics"];
    assert!(
        m["costMicros"].is_string() && m["clicks"].is_string(),
        "{m}"
    );
    assert!(m["conversions"].is_number(), "{m}");
    assert_eq!(campaigns[0]["segments"]["date"], day.to_string());
    let sum = |rows: &[Value], f: &str| -> u64 {
        rows.iter()
            .map(|r| r["metrics"][f].as_str().unwrap().parse::<u64>().unwrap())
            .sum()
    };
    let (_, g) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        &format!("SELECT ad_group.id, campaign.id, metrics.clicks, metrics.cost_micros FROM ad_group WHERE segments.date = '{day}'"),
    )
    .await;
    let groups = rows(&g);
    assert_eq!(sum(&campaigns, "clicks"), sum(&groups, "clicks"));
    assert_eq!(sum(&campaigns, "costMicros"), sum(&groups, "costMicros"));
    let (s, c) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        &format!("SELECT click_view.gclid, campaign.id, ad_group.id, segments.date FROM click_view WHERE segments.date = '{day}'"),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    let clicks = rows(&c);
    assert_eq!(clicks.len() as u64, sum(&campaigns, "clicks"));
    assert!(
        c.as_array().unwrap().len() as u64 >= clicks.len() as u64 / 7,
        "batches of 7"
    );
    assert!(clicks[0]["clickView"]["gclid"]
        .as_str()
        .unwrap()
        .starts_with("Cj0KCQiA"));
    let gclids: std::collections::BTreeSet<_> = clicks
        .iter()
        .map(|c| c["clickView"]["gclid"].to_string())
        .collect();
    assert_eq!(gclids.len(), clicks.len(), "gclids are unique");
    // click_view wants exactly one day.
    let (s, e) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT click_view.gclid FROM click_view WHERE segments.date DURING LAST_7_DAYS",
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_code(&e).1["queryError"],
        "EXPECTED_FILTERS_ON_DATE_RANGE"
    );
}

#[tokio::test]
async fn bad_queries_and_rate_limits_answer_google_error_bodies() {
    let sb = start(|c| c.requests_per_second = Some(3)).await;
    let t = token(&sb).await;
    let (s, e) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT campaign.nope FROM campaign",
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_code(&e),
        (
            "INVALID_ARGUMENT".into(),
            serde_json::json!({"queryError": "UNRECOGNIZED_FIELD"})
        )
    );
    let (s, _) = search(
        &sb,
        &t,
        &us(),
        Some(&manager()),
        "SELECT segments.date FROM campaign",
    )
    .await;
    assert_eq!(s, 400, "segments.date needs a finite range");
    let mut exhausted = None;
    for _ in 0..10 {
        let (s, b) = search(
            &sb,
            &t,
            &us(),
            Some(&manager()),
            "SELECT campaign.id FROM campaign",
        )
        .await;
        if s == 429 {
            exhausted = Some(b);
            break;
        }
    }
    let b = exhausted.expect("the budget of 3 requests per second runs out");
    assert_eq!(error_code(&b).0, "RESOURCE_EXHAUSTED");
    let entry = &b[0]["error"]["details"][0]["errors"][0];
    assert_eq!(entry["errorCode"]["quotaError"], "RESOURCE_EXHAUSTED");
    assert_eq!(entry["details"]["quotaErrorDetails"]["retryDelay"], "1s");
}

#[tokio::test]
async fn restated_days_change_conversions_only() {
    let sb = start(|_| {}).await;
    let t = token(&sb).await;
    let today = today_us();
    let old = today - chrono::Days::new(6);
    let q = format!(
        "SELECT campaign.id, segments.date, metrics.clicks, metrics.conversions FROM campaign \
         WHERE segments.date >= '{old}' AND segments.date <= '{today}' ORDER BY segments.date, campaign.id"
    );
    let (_, before) = search(&sb, &t, &us(), Some(&manager()), &q).await;
    let r: Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/google_ads/restate", sb.base_url()))
        .json(&serde_json::json!({"days": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["days"].as_array().unwrap().len() >= 2, "{r}");
    let (_, after) = search(&sb, &t, &us(), Some(&manager()), &q).await;
    let (before, after) = (rows(&before), rows(&after));
    assert_eq!(before.len(), after.len());
    let recent = (today - chrono::Days::new(1)).to_string();
    let mut changed = 0;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["metrics"]["clicks"], a["metrics"]["clicks"]);
        let day = b["segments"]["date"].as_str().unwrap();
        if day < recent.as_str() {
            assert_eq!(
                b["metrics"]["conversions"], a["metrics"]["conversions"],
                "{day}"
            );
        } else if b["metrics"]["conversions"] != a["metrics"]["conversions"] {
            changed += 1;
        }
    }
    assert!(changed > 0);
    // Other vendors' routes still answer beside Google's.
    let meta = reqwest::Client::new()
        .get(format!(
            "{}/v21.0/act_{}/campaigns",
            sb.base_url(),
            braid_sandbox::MetaConfig::default().account_id
        ))
        .query(&[(
            "access_token",
            braid_sandbox::MetaConfig::default().access_token,
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 200);
}
