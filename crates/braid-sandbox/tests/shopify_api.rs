//! The Shopify emulation's wire format, spoken to over HTTP.

use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const TOKEN: &str = "shpat_api_test_0000";

async fn sandbox(n: u64, bucket: u32, leak: f64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.shopify.access_token = TOKEN.into();
    c.shopify.customers = n;
    c.shopify.orders = n;
    c.shopify.products = n;
    c.shopify.bucket_size = bucket;
    c.shopify.leak_per_second = leak;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn get(url: &str, token: Option<&str>) -> Got {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = token {
        r = r.header("X-Shopify-Access-Token", t);
    }
    let resp = r.send().await.unwrap();
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.json().await.unwrap(),
    }
}

fn next(g: &Got) -> Option<String> {
    let link = g.headers.get("link")?.to_str().ok()?;
    let (target, rel) = link.split_once(';')?;
    rel.contains("next").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    })
}

/// Every id of a listing, following `Link` headers.
async fn all_ids(sb: &Sandbox, first: &str, key: &str) -> (Vec<i64>, usize) {
    let mut url = format!("{}{first}", sb.base_url());
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let g = get(&url, Some(TOKEN)).await;
        assert_eq!(g.status, 200, "{url}: {}", g.body);
        pages += 1;
        ids.extend(
            g.body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        match next(&g) {
            Some(n) => url = n,
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn auth_limits_and_page_info_rules_answer_like_shopify() {
    let sb = sandbox(20, 40, 0.0).await;
    let base = format!("{}/admin/api/2024-10", sb.base_url());
    let g = get(&format!("{base}/customers.json"), None).await;
    assert_eq!(g.status, 401);
    assert!(g.body["errors"]
        .as_str()
        .unwrap()
        .starts_with("[API] Invalid API key or access token"));
    let g = get(&format!("{base}/customers.json"), Some("shpat_wrong")).await;
    assert_eq!(g.status, 401);
    let g = get(&format!("{base}/customers.json?limit=251"), Some(TOKEN)).await;
    assert_eq!(g.status, 400, "{}", g.body);
    assert!(g.body["errors"]["limit"].is_string());

    let g = get(&format!("{base}/customers.json?limit=5"), Some(TOKEN)).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["customers"].as_array().unwrap().len(), 5);
    let n = next(&g).expect("a next link");
    assert!(n.contains("page_info=") && n.contains("limit=5"), "{n}");
    // page_info carries the filters: adding one is refused.
    let g2 = get(
        &format!("{n}&updated_at_min=2024-01-01T00:00:00Z"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(g2.status, 400, "{}", g2.body);
    assert!(g2.body["errors"]["updated_at_min"]
        .as_str()
        .unwrap()
        .contains("page_info"));
    let g3 = get(
        &format!("{base}/customers.json?page_info=garbage"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(g3.status, 400);

    let (ids, pages) = all_ids(
        &sb,
        "/admin/api/2024-10/customers.json?limit=6",
        "customers",
    )
    .await;
    assert_eq!(ids.len(), 20);
    assert_eq!(pages, 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order");
    let (products, _) = all_ids(
        &sb,
        "/admin/api/2024-10/products.json?limit=250",
        "products",
    )
    .await;
    assert_eq!(products.len(), 20);

    // Orders default to status=open; status=any lists them all.
    let (open, _) = all_ids(&sb, "/admin/api/2024-10/orders.json?limit=7", "orders").await;
    let (any, _) = all_ids(
        &sb,
        "/admin/api/2024-10/orders.json?limit=7&status=any",
        "orders",
    )
    .await;
    assert_eq!(any.len(), 20);
    assert!(
        open.len() < any.len(),
        "open {} of {}",
        open.len(),
        any.len()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn updated_at_min_in_update_order_lists_exactly_the_changes() {
    let sb = sandbox(30, 40, 0.0).await;
    let url = |q: &str| format!("/admin/api/2024-10/orders.json?status=any&{q}");
    let client = reqwest::Client::new();
    let m: Value = client
        .post(format!("{}/_sandbox/shopify/mutate", sb.base_url()))
        .json(&serde_json::json!({"object": "orders", "count": 4, "create": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut changed: Vec<i64> = m["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    changed.sort();
    let since = m["updated_at"].as_str().unwrap().replace('+', "%2B");
    let (mut got, _) = all_ids(
        &sb,
        &url(&format!(
            "updated_at_min={since}&order=updated_at%20asc&limit=2"
        )),
        "orders",
    )
    .await;
    got.sort();
    assert_eq!(got, changed);
    // Update order: the changed ones last.
    let (all, _) = all_ids(&sb, &url("order=updated_at+asc&limit=250"), "orders").await;
    assert_eq!(all.len(), 32);
    let mut tail = all[26..].to_vec();
    tail.sort();
    assert_eq!(tail, changed);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_leaky_bucket_reports_its_level_and_answers_429_with_retry_after() {
    let sb = sandbox(5, 4, 0.5).await;
    let url = format!("{}/admin/api/2024-10/shop.json", sb.base_url());
    let mut levels = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let g = get(&url, Some(TOKEN)).await;
        if g.status == 429 {
            limited = Some(g);
            break;
        }
        levels.push(
            g.headers["x-shopify-shop-api-call-limit"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(levels, ["1/4", "2/4", "3/4", "4/4"]);
    let g = limited.expect("a 429 once the bucket is full");
    assert!(g.body["errors"].as_str().unwrap().contains("Exceeded"));
    let wait: f64 = g.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0.0 && wait <= 2.0, "{wait}");
    sb.shutdown().await;
}
