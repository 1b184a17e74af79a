//! The declarative REST connector, configured in YAML alone (pipelines/rest_*.yaml),
//! lands the same rows as the native Square and HubSpot connectors.

mod common;

use std::path::{Path, PathBuf};

use braid_sandbox::{Sandbox, SandboxConfig};
use common::*;

const SQUARE_TOKEN: &str = "EAAAl-rest-e2e-square-secret";
const HUBSPOT_TOKEN: &str = "pat-na1-rest-e2e-hubspot-secret";

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.square.access_token = SQUARE_TOKEN.into();
    c.square.customers = 700;
    c.square.orders = 900;
    c.square.payments = 900;
    c.hubspot.access_token = HUBSPOT_TOKEN.into();
    c.hubspot.contacts = 800;
    c.hubspot.companies = 150;
    c.hubspot.deals = 10;
    c
}

fn pipeline(name: &str) -> PathBuf {
    common::manifest_dir().join(format!("../pipelines/{name}.yaml"))
}

/// The demo environment (base URLs, tokens, location ids), with `overrides`.
fn env(sb: &Sandbox, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut e = sb.demo_env();
    for (k, v) in overrides {
        e.retain(|(key, _)| key != k);
        e.push(((*k).into(), (*v).into()));
    }
    e
}

/// Rows of `a` not in `b` plus rows of `b` not in `a`.
fn difference(a: &str, b: &str) -> i64 {
    duckdb_int(&format!("SELECT (SELECT count(*) FROM ({a} EXCEPT ALL {b})) + (SELECT count(*) FROM ({b} EXCEPT ALL {a}))"))
}

async fn run(sb: &Sandbox, name: &str, wh: &Path, report_path: &Path) -> serde_json::Value {
    let ran = braid_async(run_args(&pipeline(name), wh, report_path), env(sb, &[])).await;
    assert_eq!(ran.code, 0, "{name} failed:\n{}", ran.all());
    assert!(
        !ran.all().contains(SQUARE_TOKEN) && !ran.all().contains(HUBSPOT_TOKEN),
        "a token leaked"
    );
    report(report_path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lands_the_same_square_rows_as_the_native_connector_and_then_only_changes() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    run(&sb, "square_pos", &wh, &tmp.path().join("n1.json")).await;
    let r1 = run(&sb, "rest_square", &wh, &tmp.path().join("r1.json")).await;
    assert_eq!(stream_report(&r1, "orders")["rows_committed"], 900);

    let native = |s: &str| raw(&wh, "square", s);
    let rest = |s: &str| raw(&wh, "square_rest", s);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {}", rest("customers"))),
        700
    );
    assert_eq!(
        difference(
            &format!("SELECT id, created_at, updated_at, given_name, family_name, email_address, phone_number, preferences.email_unsubscribed, version FROM {}", native("customers")),
            &format!("SELECT id, created_at, updated_at, given_name, family_name, email_address, phone_number, email_unsubscribed, version FROM {}", rest("customers")),
        ),
        0,
        "customers"
    );
    // Native money is Decimal in major units; the REST stream declared the minor-unit integers.
    let minor = |col: &str| {
        format!("CAST({col}.amount * CASE {col}.currency WHEN 'JPY' THEN 1 ELSE 100 END AS BIGINT)")
    };
    assert_eq!(
        difference(
            &format!("SELECT id, location_id, customer_id, state, version, updated_at, {}, total_money.currency, {} FROM {}", minor("total_money"), minor("total_tip_money"), native("orders")),
            &format!("SELECT id, location_id, customer_id, state, version, updated_at, total_amount_minor, currency, tip_amount_minor FROM {}", rest("orders")),
        ),
        0,
        "orders"
    );
    assert_eq!(
        difference(
            &format!("SELECT id, updated_at, status, order_id, {}, amount_money.currency, card_details.card.card_brand FROM {}", minor("amount_money"), native("payments")),
            &format!("SELECT id, updated_at, status, order_id, amount_minor, currency, card_brand FROM {}", rest("payments")),
        ),
        0,
        "payments"
    );
    assert!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE currency = 'JPY'",
            rest("orders")
        )) > 0
    );

    // Square changes 30 orders and 12 payments: the second REST run lands exactly those.
    let changed = admin(
        &sb,
        "/_sandbox/square/mutate",
        serde_json::json!({"object": "orders", "count": 30}),
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
        serde_json::json!({"object": "payments", "count": 12}),
    )
    .await;
    let r2 = run(&sb, "rest_square", &wh, &tmp.path().join("r2.json")).await;
    assert_eq!(stream_report(&r2, "orders")["rows_committed"], 30, "{r2}");
    assert_eq!(stream_report(&r2, "payments")["rows_committed"], 12, "{r2}");
    assert!(
        stream_report(&r2, "orders")["rows_deduplicated"]
            .as_u64()
            .unwrap()
            >= 1,
        "the boundary was re-read and dropped"
    );
    let run2 = r2["run_id"].as_str().unwrap();
    let mut landed: Vec<String> = duckdb(&format!(
        "SELECT id FROM {} WHERE _braid_run_id = '{run2}'",
        rest("orders")
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    landed.sort();
    expected.sort();
    assert_eq!(landed, expected);
    // The native connector's second run lands the same changed rows.
    let n2 = run(&sb, "square_pos", &wh, &tmp.path().join("n2.json")).await;
    let nrun2 = n2["run_id"].as_str().unwrap();
    assert_eq!(
        difference(
            &format!(
                "SELECT id, version, updated_at FROM {} WHERE _braid_run_id = '{nrun2}'",
                native("orders")
            ),
            &format!(
                "SELECT id, version, updated_at FROM {} WHERE _braid_run_id = '{run2}'",
                rest("orders")
            ),
        ),
        0
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_lands_the_same_hubspot_rows_as_the_native_connector() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    run(&sb, "hubspot_crm", &wh, &tmp.path().join("n1.json")).await;
    run(&sb, "rest_hubspot", &wh, &tmp.path().join("r1.json")).await;
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "hubspot_rest", "contacts")
        )),
        800
    );
    assert_eq!(
        difference(
            &format!("SELECT id, email, firstname, lastname, phone, lastmodifieddate, created_at FROM {}", raw(&wh, "hubspot", "contacts")),
            &format!("SELECT id, email, firstname, lastname, phone, lastmodifieddate, created_at FROM {}", raw(&wh, "hubspot_rest", "contacts")),
        ),
        0,
        "contacts"
    );
    assert_eq!(
        difference(
            &format!(
                "SELECT id, name, domain, hs_lastmodifieddate FROM {}",
                raw(&wh, "hubspot", "companies")
            ),
            &format!(
                "SELECT id, name, domain, hs_lastmodifieddate FROM {}",
                raw(&wh, "hubspot_rest", "companies")
            ),
        ),
        0,
        "companies"
    );
    let changed = admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        serde_json::json!({"object": "contacts", "count": 40}),
    )
    .await;
    assert_eq!(changed["ids"].as_array().unwrap().len(), 40);
    let r2 = run(&sb, "rest_hubspot", &wh, &tmp.path().join("r2.json")).await;
    assert_eq!(stream_report(&r2, "contacts")["rows_committed"], 40, "{r2}");
    assert_eq!(
        stream_report(&r2, "companies")["rows_committed"],
        150,
        "full refresh"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_retries_429s_and_5xx_and_fails_clearly_on_bad_credentials_and_truncation() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/v2/payments", "kind": "status", "status": 429, "count": 3})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/v2/orders/search", "kind": "status", "status": 500, "count": 2})).await;
    let rep = run(&sb, "rest_square", &wh, &tmp.path().join("r.json")).await;
    assert!(
        stream_report(&rep, "payments")["retries"].as_u64().unwrap() >= 3,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "orders")["retries"].as_u64().unwrap() >= 2,
        "{rep}"
    );
    for s in ["orders", "payments"] {
        let t = raw(&wh, "square_rest", s);
        assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {t}")), 900, "{s}");
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}")),
            900,
            "{s}"
        );
    }

    let wrong = "EAAAl-WRONG-rest-secret";
    let r = tmp.path().join("bad.json");
    let ran = braid_async(
        run_args(&pipeline("rest_square"), &tmp.path().join("wh2"), &r),
        env(&sb, &[("SQUARE_ACCESS_TOKEN", wrong)]),
    )
    .await;
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(
        ran.stderr.contains("AUTHENTICATION_ERROR UNAUTHORIZED"),
        "{}",
        ran.stderr
    );
    assert!(!ran.all().contains(wrong), "the token leaked");

    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/v2/customers", "kind": "truncate", "count": 1}),
    )
    .await;
    let ran = braid_async(
        run_args(
            &pipeline("rest_square"),
            &tmp.path().join("wh3"),
            &tmp.path().join("t.json"),
        ),
        env(&sb, &[]),
    )
    .await;
    assert_eq!(ran.code, 4, "{}", ran.all());
    assert!(
        ran.stderr.contains("GET /v2/customers") && ran.stderr.contains("ends mid-document"),
        "{}",
        ran.stderr
    );
    assert!(!tmp.path().join("wh3/raw/square_rest/customers").exists());
    sb.shutdown().await;
}
