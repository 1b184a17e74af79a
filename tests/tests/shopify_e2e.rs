//! The Shopify pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB and pyarrow.

mod common;

use std::path::PathBuf;

use braid_sandbox::commerce::Kind;
use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "shpat_e2e_0123456789abcdef_secret";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.shopify.access_token = TOKEN.into();
    c.shopify.customers = n;
    c.shopify.orders = n;
    c.shopify.products = n / 10;
    c
}

fn env(sb: &braid_sandbox::Sandbox, token: &str) -> Vec<(String, String)> {
    vec![
        ("SHOPIFY_BASE_URL".into(), sb.base_url()),
        ("SHOPIFY_SHOP".into(), "braid-demo".into()),
        ("SHOPIFY_ACCESS_TOKEN".into(), token.into()),
    ]
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/shopify_store.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_lands_exactly_the_changes() {
    let sb = sandbox(config(1500)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(!ran.all().contains(TOKEN), "the token leaked");

    let orders = raw(&wh, "shopify", "orders");
    for (stream, n) in [("customers", 1500), ("orders", 1500), ("products", 150)] {
        let t = raw(&wh, "shopify", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}")),
            n,
            "{stream}"
        );
    }
    // Values against the generator: money strings as decimals, lines, the buyer, UTC times.
    let shop = config(1500).shopify;
    for index in [0u64, 7, 1499] {
        let o = braid_sandbox::shopify::record(&shop, 42, Kind::Orders, index);
        let rows = duckdb(&format!(
            "SELECT total_price::VARCHAR, currency, len(line_items), line_items[1].sku, line_items[1].price::VARCHAR, customer.id, epoch_ms(updated_at) FROM {orders} WHERE id = {}",
            o["id"]
        ));
        assert_eq!(rows.len(), 1, "order {index} landed once");
        let r = &rows[0];
        let dec = |v: &serde_json::Value| v.as_str().unwrap().parse::<f64>().unwrap();
        assert_eq!(
            dec(&r[0]),
            o["total_price"].as_str().unwrap().parse::<f64>().unwrap()
        );
        assert_eq!(r[1], "USD");
        assert_eq!(
            r[2].as_u64().unwrap() as usize,
            o["line_items"].as_array().unwrap().len()
        );
        assert_eq!(r[3], o["line_items"][0]["sku"]);
        assert_eq!(
            dec(&r[4]),
            o["line_items"][0]["price"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        );
        assert_eq!(r[5], o["customer"]["id"]);
        let t = chrono_ms(o["updated_at"].as_str().unwrap());
        assert_eq!(
            r[6].as_i64().unwrap(),
            t,
            "the -05:00 time lands as the same instant"
        );
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive'); print(d.schema)",
        &wh.join("raw/shopify/orders"),
    );
    for want in [
        "id: int64 not null",
        "updated_at: timestamp[us, tz=UTC] not null",
        "total_price: decimal128(38, 3)",
        "product_id: int64",
    ] {
        assert!(schema.contains(want), "{want}:\n{schema}");
    }
    // The unified layer: orders with their items and the buyer's customer id.
    let unified = format!(
        "read_parquet('{}/unified/orders/shopify/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {unified}")),
        1500
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {unified} WHERE len(items) = 0 OR items[1].sku IS NULL OR amount IS NULL"
        )),
        0
    );
    assert!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {unified} WHERE customer_id IS NOT NULL"
        )) > 1000
    );

    // The shop changes 40 orders and creates 5, changes 25 customers and 10 products.
    let changed = admin(
        &sb,
        "/_sandbox/shopify/mutate",
        serde_json::json!({"object": "orders", "count": 40, "create": 5}),
    )
    .await;
    let expected = mutated_ids(&changed);
    admin(
        &sb,
        "/_sandbox/shopify/mutate",
        serde_json::json!({"object": "customers", "count": 25}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/shopify/mutate",
        serde_json::json!({"object": "products", "count": 10}),
    )
    .await;

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    assert_eq!(stream_report(&rep, "orders")["rows_committed"], 45, "{rep}");
    assert_eq!(
        stream_report(&rep, "customers")["rows_committed"],
        25,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "products")["rows_committed"],
        10,
        "{rep}"
    );
    // The records at the committed cursor were read again and dropped.
    assert!(
        stream_report(&rep, "orders")["rows_deduplicated"]
            .as_u64()
            .unwrap()
            >= 1,
        "{rep}"
    );
    let run2 = rep["run_id"].as_str().unwrap();
    assert_eq!(
        run_ids(&orders, run2),
        expected,
        "the second run landed exactly the changed orders"
    );
    // Their new version: edited orders carry a note.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {orders} WHERE _braid_run_id = '{run2}' AND note LIKE 'edited%'"
        )),
        45
    );

    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r3), env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    for s in ["orders", "customers", "products"] {
        assert_eq!(stream_report(&report(&r3), s)["rows_committed"], 0, "{s}");
    }
    sb.shutdown().await;
}

/// RFC 3339 with an offset → epoch ms.
fn chrono_ms(s: &str) -> i64 {
    // `2024-01-01T10:00:00-05:00`: the sandbox writes whole seconds.
    let (date_time, offset) = s.split_at(s.len() - 6);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let oh: i64 = offset[1..3].parse().unwrap();
    let om: i64 = offset[4..6].parse().unwrap();
    let (d, t) = date_time.split_once('T').unwrap();
    let dp: Vec<i64> = d.split('-').map(|x| x.parse().unwrap()).collect();
    let tp: Vec<i64> = t.split(':').map(|x| x.parse().unwrap()).collect();
    let days = days_from_civil(dp[0], dp[1], dp[2]);
    let local = days * 86_400 + tp[0] * 3600 + tp[1] * 60 + tp[2];
    (local - sign * (oh * 3600 + om * 60)) * 1000
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_an_auth_error_that_quotes_shopify_and_hides_the_secret() {
    let sb = sandbox(config(50)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "shpat_WRONG_9999_secret";
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env(&sb, wrong),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(
        ran.stderr.contains(
            "[API] Invalid API key or access token (unrecognized login or wrong password)"
        ),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("/admin/api/2024-10/"),
        "names the endpoint: {}",
        ran.stderr
    );
    assert!(
        !ran.all().contains(wrong),
        "the token leaked: {}",
        ran.all()
    );
    assert_eq!(report(&r)["error"]["kind"], "auth");
    let check = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, wrong),
    )
    .await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(
        check.all().contains("[API] Invalid API key"),
        "{}",
        check.all()
    );
    assert!(!check.all().contains(wrong));
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, TOKEN),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_new_fields_are_tolerated_and_truncation_fails_cleanly() {
    let sb = sandbox(config(600)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let api = "/admin/api/2024-10";
    // A 429 storm on orders, a 5xx burst on customers, a timeout on products,
    // and a field Shopify started sending on every record.
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{api}/orders.json"), "kind": "status", "status": 429, "count": 4})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{api}/customers.json"), "kind": "status", "status": 502, "count": 2})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{api}/customers.json"), "kind": "status", "status": 503, "count": 1})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{api}/products.json"), "kind": "delay_ms", "ms": 3000, "count": 1})).await;
    admin(
        &sb,
        "/_sandbox/shopify/extra_field",
        serde_json::json!({"name": "buyer_journey_v2"}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let mut e = env(&sb, TOKEN);
    e.push(("SHOPIFY_REQUEST_TIMEOUT_MS".into(), "1000".into()));
    let ran = braid_async(run_args(&pipeline(), &wh, &r), e.clone()).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    assert!(
        stream_report(&rep, "orders")["retries"].as_u64().unwrap() >= 4,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "customers")["retries"]
            .as_u64()
            .unwrap()
            >= 3,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "products")["retries"].as_u64().unwrap() >= 1,
        "{rep}"
    );
    for (stream, n) in [("orders", 600), ("customers", 600), ("products", 60)] {
        let t = raw(&wh, "shopify", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}")),
            n,
            "{stream}"
        );
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/shopify/orders"),
    );
    assert!(!schema.contains("buyer_journey_v2"), "{schema}");

    // A body cut short fails the run with a data error naming the endpoint; nothing of that stream lands.
    let wh2 = tmp.path().join("wh2");
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{api}/customers.json"), "kind": "truncate", "count": 1})).await;
    let ran = braid_async(run_args(&pipeline(), &wh2, &tmp.path().join("r2.json")), e).await;
    assert_ne!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stderr.contains("customers.json") && ran.stderr.contains("JSON"),
        "{}",
        ran.stderr
    );
    assert!(!wh2.join("raw/shopify/customers").exists());
    sb.shutdown().await;
}
