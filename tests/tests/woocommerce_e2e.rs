//! The WooCommerce pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB and pyarrow.

mod common;

use std::path::PathBuf;

use braid_sandbox::commerce::Kind;
use braid_sandbox::woocommerce::woo_id;
use braid_sandbox::SandboxConfig;
use common::*;

const KEY: &str = "ck_e2e_0123456789abcdef0123456789abcdef01";
const SECRET: &str = "cs_e2e_secret_fedcba9876543210fedcba98765";
const API: &str = "/wp-json/wc/v3";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.woocommerce.consumer_key = KEY.into();
    c.woocommerce.consumer_secret = SECRET.into();
    c.woocommerce.customers = n;
    c.woocommerce.orders = n;
    c.woocommerce.products = n / 10;
    c
}

fn env(sb: &braid_sandbox::Sandbox, secret: &str) -> Vec<(String, String)> {
    vec![
        ("WOOCOMMERCE_URL".into(), sb.base_url()),
        ("WOOCOMMERCE_CONSUMER_KEY".into(), KEY.into()),
        ("WOOCOMMERCE_CONSUMER_SECRET".into(), secret.into()),
    ]
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/woocommerce_store.yaml")
}

fn dec(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_lands_exactly_the_changes() {
    let sb = sandbox(config(1200)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, SECRET)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(!ran.all().contains(SECRET), "the secret leaked");

    let orders = raw(&wh, "woocommerce", "orders");
    for (stream, n) in [("customers", 1200), ("orders", 1200), ("products", 120)] {
        let t = raw(&wh, "woocommerce", stream);
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
    // Values against the generator: money strings as decimals, lines, the buyer, GMT times.
    let woo = config(1200).woocommerce;
    for index in [0u64, 9, 1199] {
        let o = braid_sandbox::woocommerce::record(&woo, 42, Kind::Orders, index);
        let rows = duckdb(&format!(
            "SELECT total::VARCHAR, currency, len(line_items), line_items[1].sku, line_items[1].price::VARCHAR, customer_id, billing.email, strftime(date_modified_gmt, '%Y-%m-%dT%H:%M:%S') FROM {orders} WHERE id = {}",
            o["id"]
        ));
        assert_eq!(rows.len(), 1, "order {index} landed once");
        let r = &rows[0];
        assert_eq!(dec(&r[0]), dec(&o["total"]));
        assert_eq!(r[1], o["currency"]);
        assert_eq!(
            r[2].as_u64().unwrap() as usize,
            o["line_items"].as_array().unwrap().len()
        );
        assert_eq!(r[3], o["line_items"][0]["sku"]);
        assert_eq!(dec(&r[4]), dec(&o["line_items"][0]["price"]));
        assert_eq!(r[5], o["customer_id"]);
        assert_eq!(r[6], o["billing"]["email"]);
        assert_eq!(r[7], o["date_modified_gmt"], "the GMT time lands as UTC");
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive'); print(d.schema)",
        &wh.join("raw/woocommerce/orders"),
    );
    for want in [
        "id: int64 not null",
        "date_modified_gmt: timestamp[us, tz=UTC] not null",
        "total: decimal128(38, 6)",
        "product_id: int64",
    ] {
        assert!(schema.contains(want), "{want}:\n{schema}");
    }

    // The unified layer: orders with their items; guests (customer_id 0) have no customer id.
    let unified = format!(
        "read_parquet('{}/unified/orders/woocommerce/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {unified}")),
        1200
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {unified} WHERE len(items) = 0 OR items[1].sku IS NULL OR amount IS NULL OR currency IS NULL"
        )),
        0
    );
    let guests = duckdb_int(&format!(
        "SELECT count(*) FROM {orders} WHERE customer_id = 0"
    ));
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {unified} WHERE customer_id IS NULL"
        )),
        guests
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {unified} WHERE channel = 'online'"
        )),
        1200
    );
    let customers = format!(
        "read_parquet('{}/unified/customers/woocommerce/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT source_id) FROM {customers}"
        )),
        1200
    );

    // The shop edits 30 orders and takes 4 new ones, edits 20 customers and 5 products.
    let changed = admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "orders", "count": 30, "create": 4}),
    )
    .await;
    let expected = mutated_ids(&changed);
    assert_eq!(expected.len(), 34);
    let changed_customers = admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "customers", "count": 20}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "products", "count": 5}),
    )
    .await;

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, SECRET)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    assert_eq!(stream_report(&rep, "orders")["rows_committed"], 34, "{rep}");
    assert_eq!(
        stream_report(&rep, "customers")["rows_committed"],
        20,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "products")["rows_committed"],
        5,
        "{rep}"
    );
    let run2 = rep["run_id"].as_str().unwrap();
    assert_eq!(
        run_ids(&orders, run2),
        expected,
        "the second run landed exactly the changed orders"
    );
    assert_eq!(
        run_ids(&raw(&wh, "woocommerce", "customers"), run2),
        mutated_ids(&changed_customers)
    );
    // Their new version: the sandbox notes every version it writes.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {orders} WHERE _braid_run_id = '{run2}' AND customer_note LIKE 'edited%'"
        )),
        34
    );
    assert!(
        expected.contains(&woo_id(Kind::Orders, 1200)),
        "a new order"
    );

    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r3), env(&sb, SECRET)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    for s in ["orders", "customers", "products"] {
        assert_eq!(stream_report(&report(&r3), s)["rows_committed"], 0, "{s}");
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_that_quotes_woocommerce_and_hides_the_secret() {
    let sb = sandbox(config(40)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "cs_WRONG_secret_4242";
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env(&sb, wrong),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(
        ran.stderr
            .contains("Consumer secret is invalid. (woocommerce_rest_authentication_error)"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("/wp-json/wc/v3/"), "{}", ran.stderr);
    assert!(
        !ran.all().contains(wrong),
        "the secret leaked: {}",
        ran.all()
    );
    assert_eq!(report(&r)["error"]["kind"], "auth");
    assert!(!tmp.path().join("wh/raw/woocommerce").exists());

    // Query-string auth hides the secret too: errors name the path, never the query.
    let mut e = env(&sb, wrong);
    e.push(("WOOCOMMERCE_AUTH".into(), "query_string".into()));
    let check = braid_async(vec!["check".into(), pipeline().display().to_string()], e).await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(
        check.all().contains("Consumer secret is invalid."),
        "{}",
        check.all()
    );
    assert!(!check.all().contains(wrong), "{}", check.all());
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, SECRET),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_retried_new_fields_are_tolerated_and_truncation_fails_cleanly() {
    let sb = sandbox(config(500)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    // A 429 storm on orders, a 5xx burst on customers, a timeout on products,
    // a body cut short once on orders, and a field a plugin started adding.
    let fault = |prefix: &str, body: serde_json::Value| {
        let mut f = body;
        f["path_prefix"] = format!("{API}/{prefix}").into();
        f
    };
    for f in [
        fault(
            "orders",
            serde_json::json!({"kind": "status", "status": 429, "count": 4}),
        ),
        fault(
            "customers",
            serde_json::json!({"kind": "status", "status": 502, "count": 2}),
        ),
        fault(
            "customers",
            serde_json::json!({"kind": "status", "status": 503, "count": 1}),
        ),
        fault(
            "products",
            serde_json::json!({"kind": "delay_ms", "ms": 3000, "count": 1}),
        ),
        fault(
            "orders",
            serde_json::json!({"kind": "truncate", "count": 1}),
        ),
    ] {
        admin(&sb, "/_sandbox/faults", f).await;
    }
    admin(
        &sb,
        "/_sandbox/woocommerce/extra_field",
        serde_json::json!({"name": "_wcpdf_invoice_number"}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let mut e = env(&sb, SECRET);
    e.push(("WOOCOMMERCE_REQUEST_TIMEOUT_MS".into(), "1000".into()));
    let ran = braid_async(run_args(&pipeline(), &wh, &r), e.clone()).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    let retries = |s: &str| stream_report(&rep, s)["retries"].as_u64().unwrap();
    assert!(retries("orders") >= 5, "{rep}");
    assert!(retries("customers") >= 3, "{rep}");
    assert!(retries("products") >= 1, "{rep}");
    for (stream, n) in [("orders", 500), ("customers", 500), ("products", 50)] {
        let t = raw(&wh, "woocommerce", stream);
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

    // A body cut short on every fetch fails the run with a data error naming
    // the endpoint; nothing of that stream lands, and the secret stays hidden.
    let wh2 = tmp.path().join("wh2");
    admin(
        &sb,
        "/_sandbox/faults",
        fault(
            "customers",
            serde_json::json!({"kind": "truncate", "count": 3}),
        ),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh2, &r2), e).await;
    assert_eq!(ran.code, 4, "data errors exit 4:\n{}", ran.all());
    assert!(
        ran.stderr
            .contains("/wp-json/wc/v3/customers (after 3 fetches)"),
        "{}",
        ran.stderr
    );
    assert_eq!(report(&r2)["error"]["kind"], "data");
    assert!(!wh2.join("raw/woocommerce/customers").exists());
    assert!(!ran.all().contains(SECRET));
    sb.shutdown().await;
}
