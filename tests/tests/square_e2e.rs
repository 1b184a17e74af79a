//! The Square pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB and pyarrow.

mod common;

use std::path::PathBuf;

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "EAAAl-e2e-square-secret-31337";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.square.access_token = TOKEN.into();
    c.square.customers = n;
    c.square.orders = n;
    c.square.payments = n;
    c
}

fn env(sb: &braid_sandbox::Sandbox, token: &str) -> Vec<(String, String)> {
    vec![
        ("SQUARE_BASE_URL".into(), sb.base_url()),
        ("SQUARE_ACCESS_TOKEN".into(), token.into()),
    ]
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/square_pos.yaml")
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

    let orders = raw(&wh, "square", "orders");
    for stream in ["customers", "orders", "payments"] {
        let t = raw(&wh, "square", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            1500,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}")),
            1500,
            "{stream}"
        );
    }
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "square", "locations")
        )),
        3
    );

    // Money in major units by currency: a yen order and a dollar order equal the generator's.
    for index in [1u64, 2] {
        let o = braid_sandbox::square::order(
            42,
            index,
            0,
            braid_sandbox::square::base_updated_ms(index),
            3,
            1500,
        );
        let rows = duckdb(&format!(
            "SELECT total_money.amount::VARCHAR, total_money.currency, len(line_items), line_items[1].name, customer_id FROM {orders} WHERE id = '{}'",
            o.id
        ));
        assert_eq!(rows.len(), 1, "order {index} landed once");
        let exp = if o.total_money.currency == "JPY" {
            0
        } else {
            2
        };
        let major = o.total_money.amount as f64 / 10f64.powi(exp);
        assert_eq!(
            rows[0][0].as_str().unwrap().parse::<f64>().unwrap(),
            major,
            "order {index}"
        );
        assert_eq!(rows[0][1], o.total_money.currency);
        assert_eq!(rows[0][2].as_i64().unwrap() as usize, o.line_items.len());
        assert_eq!(rows[0][3], o.line_items[0].name);
        assert_eq!(rows[0][4].as_str().map(str::to_owned), o.customer_id);
    }
    assert!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {orders} WHERE total_money.currency = 'JPY'"
        )) > 0
    );

    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive'); print(d.schema)",
        &wh.join("raw/square/payments"),
    );
    assert!(
        schema.contains("updated_at: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(schema.contains("amount: decimal128(38, 3)"), "{schema}");

    // Square changes 40 orders, 25 customers and 10 payments (and creates 5 orders).
    let changed = admin(
        &sb,
        "/_sandbox/square/mutate",
        serde_json::json!({"object": "orders", "count": 40, "create": 5}),
    )
    .await;
    let mut expected: Vec<String> = changed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    admin(
        &sb,
        "/_sandbox/square/mutate",
        serde_json::json!({"object": "customers", "count": 25}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/square/mutate",
        serde_json::json!({"object": "payments", "count": 10}),
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
        stream_report(&rep, "payments")["rows_committed"],
        10,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "orders")["rows_deduplicated"]
            .as_u64()
            .unwrap()
            >= 1
    );
    let run2 = rep["run_id"].as_str().unwrap();
    let mut landed: Vec<String> = duckdb(&format!(
        "SELECT id FROM {orders} WHERE _braid_run_id = '{run2}'"
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    landed.sort();
    expected.sort();
    assert_eq!(
        landed, expected,
        "the second run landed exactly the changed orders"
    );
    // The changed orders' new version landed.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {orders} WHERE _braid_run_id = '{run2}' AND version = 2"
        )),
        45
    );

    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r3), env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(stream_report(&report(&r3), "orders")["rows_committed"], 0);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_an_auth_error_that_quotes_square_and_hides_the_secret() {
    let sb = sandbox(config(50)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "EAAAl-WRONG-9999-secret";
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env(&sb, wrong),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(
        ran.stderr.contains("AUTHENTICATION_ERROR UNAUTHORIZED"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("/v2/"),
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
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, TOKEN),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_and_truncation_fails_cleanly() {
    let sb = sandbox(config(600)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/v2/orders/search", "kind": "status", "status": 429, "count": 3})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/v2/payments", "kind": "status", "status": 502, "count": 2})).await;
    // A timeout on customers, and a field Square started sending on every object.
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/v2/customers", "kind": "delay_ms", "ms": 3000, "count": 1})).await;
    admin(
        &sb,
        "/_sandbox/square/extra_field",
        serde_json::json!({"name": "loyalty_program_v3"}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let mut e = env(&sb, TOKEN);
    e.push(("SQUARE_REQUEST_TIMEOUT_MS".into(), "1000".into()));
    let ran = braid_async(run_args(&pipeline(), &wh, &r), e).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    assert!(
        stream_report(&rep, "orders")["retries"].as_u64().unwrap() >= 3,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "payments")["retries"].as_u64().unwrap() >= 2,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "customers")["retries"]
            .as_u64()
            .unwrap()
            >= 1,
        "the timed-out request was sent again: {rep}"
    );
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/square/orders"),
    );
    assert!(!schema.contains("loyalty_program_v3"), "{schema}");
    for stream in ["customers", "orders", "payments"] {
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(DISTINCT id) FROM {}",
                raw(&wh, "square", stream)
            )),
            600
        );
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM {}",
                raw(&wh, "square", stream)
            )),
            600
        );
    }

    // A truncated page fails the run with a data error naming the endpoint; nothing of it lands.
    let wh2 = tmp.path().join("wh2");
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/v2/customers", "kind": "truncate", "count": 1}),
    )
    .await;
    let ran = braid_async(
        run_args(&pipeline(), &wh2, &tmp.path().join("r2.json")),
        env(&sb, TOKEN),
    )
    .await;
    assert_ne!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stderr.contains("/v2/customers") && ran.stderr.contains("invalid JSON"),
        "{}",
        ran.stderr
    );
    assert!(!wh2.join("raw/square/customers").exists());
    sb.shutdown().await;
}
