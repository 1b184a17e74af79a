//! The WooCommerce emulation's wire format, spoken to over HTTP.

use braid_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

const KEY: &str = "ck_api_test";
const SECRET: &str = "cs_api_test";

async fn sandbox(n: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.woocommerce.consumer_key = KEY.into();
    c.woocommerce.consumer_secret = SECRET.into();
    c.woocommerce.customers = n;
    c.woocommerce.orders = n;
    c.woocommerce.products = n;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn get(
    sb: &Sandbox,
    path: &str,
    auth: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = reqwest::Client::new().get(format!("{}{path}", sb.base_url()));
    if let Some((k, s)) = auth {
        r = r.basic_auth(k, Some(s));
    }
    let resp = r.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.headers().clone(),
        resp.json().await.unwrap(),
    )
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn auth_errors_and_parameters_answer_like_woocommerce() {
    let sb = sandbox(25).await;
    let (s, _, b) = get(&sb, "/wp-json/wc/v3/orders", None).await;
    assert_eq!(
        (s, b["code"].as_str()),
        (401, Some("woocommerce_rest_cannot_view"))
    );
    assert_eq!(b["data"]["status"], 401);
    let (s, _, b) = get(&sb, "/wp-json/wc/v3/orders", Some(("ck_wrong", SECRET))).await;
    assert_eq!(
        (s, b["message"].as_str()),
        (401, Some("Consumer key is invalid."))
    );
    let (s, _, b) = get(&sb, "/wp-json/wc/v3/orders", Some((KEY, "cs_wrong"))).await;
    assert_eq!(
        (s, b["message"].as_str()),
        (401, Some("Consumer secret is invalid."))
    );
    // Query-string credentials.
    let (s, _, b) = get(
        &sb,
        &format!("/wp-json/wc/v3/orders?consumer_key={KEY}&consumer_secret={SECRET}&per_page=5"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(ids(&b).len(), 5);
    let (s, _, b) = get(
        &sb,
        "/wp-json/wc/v3/orders?per_page=101",
        Some((KEY, SECRET)),
    )
    .await;
    assert_eq!((s, b["code"].as_str()), (400, Some("rest_invalid_param")));
    assert!(b["data"]["params"]["per_page"].is_string());
    let (s, _, b) = get(
        &sb,
        "/wp-json/wc/v3/customers?orderby=modified",
        Some((KEY, SECRET)),
    )
    .await;
    assert_eq!(s, 400, "{b}");

    // page/per_page with totals; every order once.
    let mut all = Vec::new();
    for page in 1..=3 {
        let (s, h, b) = get(
            &sb,
            &format!("/wp-json/wc/v3/orders?orderby=id&order=asc&per_page=10&page={page}"),
            Some((KEY, SECRET)),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(h["x-wp-total"], "25");
        assert_eq!(h["x-wp-totalpages"], "3");
        assert_eq!(h.contains_key("link"), page < 3);
        all.extend(ids(&b));
    }
    assert_eq!(all, (100_000..100_025).collect::<Vec<i64>>());
    let (_, _, b) = get(
        &sb,
        "/wp-json/wc/v3/orders?per_page=10&page=4",
        Some((KEY, SECRET)),
    )
    .await;
    assert!(b.as_array().unwrap().is_empty());
    // Customers default to name order.
    let (_, _, b) = get(
        &sb,
        "/wp-json/wc/v3/customers?per_page=100",
        Some((KEY, SECRET)),
    )
    .await;
    let names: Vec<String> = b
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["last_name"].as_str().unwrap(),
                c["first_name"].as_str().unwrap()
            )
        })
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    sb.shutdown().await;
}

#[tokio::test]
async fn modified_after_is_exclusive_and_ignored_by_customers() {
    let sb = sandbox(30).await;
    let m: Value = reqwest::Client::new()
        .post(format!("{}/_sandbox/woocommerce/mutate", sb.base_url()))
        .json(&serde_json::json!({"object": "orders", "count": 4, "create": 1}))
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
    let t = m["date_modified_gmt"].as_str().unwrap();
    let q = |after: &str, gmt: bool| {
        format!("/wp-json/wc/v3/orders?orderby=modified&order=asc&per_page=100&modified_after={after}{}", if gmt { "&dates_are_gmt=true" } else { "" })
    };
    let (_, _, b) = get(&sb, &q(t, true), Some((KEY, SECRET))).await;
    assert!(ids(&b).is_empty(), "exclusive");
    // One second earlier, in GMT: exactly the changed ones.
    let earlier = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").unwrap()
        - chrono::Duration::seconds(1);
    let e = earlier.format("%Y-%m-%dT%H:%M:%S").to_string();
    let (_, h, b) = get(&sb, &q(&e, true), Some((KEY, SECRET))).await;
    let mut got = ids(&b);
    got.sort();
    assert_eq!(got, changed);
    assert_eq!(h["x-wp-total"], "5");
    // Without dates_are_gmt the time is site time (UTC+1), an hour earlier in
    // UTC: it takes in every record (all were modified within that hour).
    let (_, _, b) = get(&sb, &q(&e, false), Some((KEY, SECRET))).await;
    assert_eq!(ids(&b).len(), 31);
    let (_, _, b) = get(
        &sb,
        &format!("/wp-json/wc/v3/customers?per_page=100&modified_after={t}"),
        Some((KEY, SECRET)),
    )
    .await;
    assert_eq!(ids(&b).len(), 30, "customers ignore modified_after");
    sb.shutdown().await;
}
