//! The Square emulation's wire format, spoken to over HTTP.

use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

const TOKEN: &str = "EAAAl-sandbox-api-test";

async fn sandbox(n: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.square.access_token = TOKEN.into();
    c.square.customers = n;
    c.square.orders = n;
    c.square.payments = n;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get(sb: &Sandbox, path_and_query: &str, token: Option<&str>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sb.base_url()))
        .header("Square-Version", "2025-10-16");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn post(sb: &Sandbox, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url()))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn auth_errors_and_bad_requests_use_squares_error_body() {
    let sb = sandbox(10).await;
    let (s, b) = get(&sb, "/v2/customers", None).await;
    assert_eq!(s, 401);
    assert_eq!(b["errors"][0]["category"], "AUTHENTICATION_ERROR");
    assert_eq!(b["errors"][0]["code"], "UNAUTHORIZED");
    assert!(b["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("Authorization"));
    let (s, _) = get(&sb, "/v2/customers", Some("wrong")).await;
    assert_eq!(s, 401);
    let (s, b) = get(&sb, "/v2/customers?limit=101", Some(TOKEN)).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (400, Some("VALUE_TOO_HIGH"))
    );
    let (s, b) = post(&sb, "/v2/orders/search", json!({})).await;
    assert_eq!(
        (s, b["errors"][0]["field"].as_str()),
        (400, Some("location_ids"))
    );
    let resp = reqwest::Client::new()
        .get(format!("{}/v2/locations", sb.base_url()))
        .bearer_auth(TOKEN)
        .header("Square-Version", "latest")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // A 429 from an injected fault is Square's RATE_LIMITED.
    reqwest::Client::new()
        .post(format!("{}/_sandbox/faults", sb.base_url()))
        .json(&json!({"path_prefix": "/v2/payments", "kind": "status", "status": 429}))
        .send()
        .await
        .unwrap();
    let (s, b) = get(&sb, "/v2/payments", Some(TOKEN)).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
}

#[tokio::test]
async fn cursors_visit_every_customer_once_and_the_last_page_has_no_cursor() {
    let sb = sandbox(250).await;
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v2/customers?limit=100&cursor={c}"),
            None => "/v2/customers?limit=100".into(),
        };
        let (s, b) = get(&sb, &q, Some(TOKEN)).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        for c in b["customers"].as_array().unwrap() {
            assert!(seen.insert(c["id"].as_str().unwrap().to_owned()));
        }
        match b.get("cursor") {
            Some(c) => cursor = Some(c.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (250, 3));
}

#[tokio::test]
async fn orders_search_filters_and_sorts_by_updated_at_and_mutations_come_last() {
    let sb = sandbox(30).await;
    let changed: Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/square/mutate", sb.base_url()))
        .json(&json!({"object": "orders", "count": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let locations: Vec<String> = get(&sb, "/v2/locations", Some(TOKEN)).await.1["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let (s, b) = post(&sb, "/v2/orders/search", json!({
        "location_ids": locations, "limit": 100,
        "query": {"filter": {"date_time_filter": {"updated_at": {"start_at": "2024-01-01T00:00:09.250Z"}}}, "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}
    })).await;
    assert_eq!(s, 200, "{b}");
    let orders = b["orders"].as_array().unwrap();
    let times: Vec<&str> = orders
        .iter()
        .map(|o| o["updated_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(times[0], "2024-01-01T00:00:09.250Z");
    let last_two: Vec<&str> = orders[orders.len() - 2..]
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let ids: Vec<&str> = changed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(last_two, ids);
    assert!(orders[0]["line_items"][0]["base_price_money"]["amount"].is_i64());
    // Nothing matches: Square answers an empty object.
    let (_, b) = post(&sb, "/v2/orders/search", json!({"location_ids": locations, "query": {"filter": {"date_time_filter": {"updated_at": {"start_at": "2030-01-01T00:00:00Z"}}}, "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}})).await;
    assert_eq!(b, json!({}));
}

#[tokio::test]
async fn payments_default_to_the_last_year_and_filter_on_updated_at() {
    let sb = sandbox(20).await;
    // The seeded payments are from 2024: Square's default window (the last year) misses them.
    let (_, b) = get(&sb, "/v2/payments?sort_order=ASC", Some(TOKEN)).await;
    assert_eq!(b, json!({}));
    let (_, b) = get(
        &sb,
        "/v2/payments?sort_order=ASC&begin_time=2013-01-01T00:00:00Z",
        Some(TOKEN),
    )
    .await;
    assert_eq!(b["payments"].as_array().unwrap().len(), 20);
    let (_, b) = get(&sb, "/v2/payments?sort_order=ASC&begin_time=2013-01-01T00:00:00Z&sort_field=UPDATED_AT&updated_at_begin_time=2024-01-01T00:00:05.250Z", Some(TOKEN)).await;
    assert_eq!(b["payments"].as_array().unwrap().len(), 5);
    let p = &b["payments"][0];
    assert_eq!(
        p["total_money"]["amount"].as_i64().unwrap(),
        p["amount_money"]["amount"].as_i64().unwrap() + p["tip_money"]["amount"].as_i64().unwrap()
    );
}
