//! The HubSpot pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB and pyarrow.

mod common;

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "pat-na1-e2e-secret-7f3a9c";

fn config(contacts: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.hubspot.access_token = TOKEN.into();
    c.hubspot.contacts = contacts;
    c.hubspot.companies = 300;
    c.hubspot.deals = 700;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_lands_exactly_the_changes() {
    let sb = sandbox(config(2000)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let r1 = tmp.path().join("r1.json");

    let ran = braid_async(run_args(&pipeline, &wh, &r1), hubspot_env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(
        !ran.all().contains(TOKEN),
        "the token leaked into the output"
    );

    // Counts, read by DuckDB (not our reader).
    let contacts = raw(&wh, "hubspot", "contacts");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {contacts}")),
        2000
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT id) FROM {contacts}")),
        2000
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "hubspot", "companies")
        )),
        300
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "hubspot", "deals")
        )),
        700
    );

    // Values equal the sandbox's seeded generator.
    for index in [0u64, 1, 977, 1999] {
        let expected = braid_sandbox::hubspot::contact(42, index);
        let email = expected.property("email").map(str::to_owned);
        let first = expected.property("firstname").map(str::to_owned);
        let rows = duckdb(&format!(
            "SELECT email, firstname, _braid_source FROM {contacts} WHERE id = '{}'",
            expected.id
        ));
        assert_eq!(rows.len(), 1, "contact {} landed once", expected.id);
        assert_eq!(
            rows[0][0].as_str().map(str::to_owned),
            email,
            "email of {}",
            expected.id
        );
        assert_eq!(
            rows[0][1].as_str().map(str::to_owned),
            first,
            "firstname of {}",
            expected.id
        );
        assert_eq!(rows[0][2], "hubspot");
    }

    // pyarrow sees microsecond timestamps (Spark-safe), exact decimals, the lineage columns and the partition.
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; d = ds.dataset(sys.argv[1], format='parquet', partitioning='hive'); print(d.schema)",
        &wh.join("raw/hubspot/deals"),
    );
    assert!(
        schema.contains("hs_lastmodifieddate: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(schema.contains("amount: decimal128(38, 9)"), "{schema}");
    assert!(schema.contains("_braid_run_id: string"), "{schema}");
    assert!(
        schema.contains("_braid_ingested_at: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(schema.contains("ingest_date"), "{schema}");

    // The report reconciles.
    let rep = report(&r1);
    assert_eq!(rep["status"], "succeeded");
    let c = stream_report(&rep, "contacts");
    assert_eq!(c["rows_pulled"], 2000);
    assert_eq!(c["rows_committed"], 2000);
    assert!(
        c["state_after"]["cursor"]["timestamp_micros"].is_i64(),
        "{c}"
    );

    // The sandbox modifies 50 contacts and 20 deals; the second run lands exactly those.
    let changed = admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        serde_json::json!({"object": "contacts", "count": 50}),
    )
    .await;
    let changed_ids: Vec<String> = changed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(changed_ids.len(), 50);
    admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        serde_json::json!({"object": "deals", "count": 20}),
    )
    .await;

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline, &wh, &r2), hubspot_env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep2 = report(&r2);
    let c2 = stream_report(&rep2, "contacts");
    assert_eq!(c2["rows_committed"], 50, "{c2}");
    // The records sharing the previous cursor value were re-read (inclusive bound) and dropped.
    assert!(c2["rows_deduplicated"].as_u64().unwrap() >= 1, "{c2}");
    assert_eq!(stream_report(&rep2, "deals")["rows_committed"], 20);
    // Full refresh lands the whole table again.
    assert_eq!(stream_report(&rep2, "companies")["rows_committed"], 300);

    let run2 = rep2["run_id"].as_str().unwrap();
    let mut landed: Vec<String> = duckdb(&format!(
        "SELECT id FROM {contacts} WHERE _braid_run_id = '{run2}' ORDER BY id"
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    landed.sort();
    let mut expected = changed_ids.clone();
    expected.sort();
    assert_eq!(
        landed, expected,
        "the second run landed exactly the modified contacts"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {contacts}")),
        2050
    );

    // A third run with no changes lands nothing new.
    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&pipeline, &wh, &r3), hubspot_env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "third run failed:\n{}", ran.all());
    assert_eq!(stream_report(&report(&r3), "contacts")["rows_committed"], 0);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_an_auth_error_that_quotes_hubspot_and_hides_the_secret() {
    let sb = sandbox(config(100)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let wrong = "pat-na1-WRONG-0000-secret";
    let ran = braid_async(
        run_args(&pipeline, &wh, &tmp.path().join("r.json")),
        hubspot_env(&sb, wrong),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(
        ran.stderr.contains("Authentication credentials not found"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("/crm/v3/"),
        "names the endpoint: {}",
        ran.stderr
    );
    assert!(
        !ran.all().contains(wrong),
        "the token leaked: {}",
        ran.all()
    );
    let rep = report(&tmp.path().join("r.json"));
    assert_eq!(rep["error"]["kind"], "auth");

    let check = braid_async(
        vec!["check".into(), pipeline.display().to_string()],
        hubspot_env(&sb, wrong),
    )
    .await;
    assert_eq!(check.code, 3, "{}", check.all());
    assert!(!check.all().contains(wrong));
    let ok = braid_async(
        vec!["check".into(), pipeline.display().to_string()],
        hubspot_env(&sb, TOKEN),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_500s_and_429s_are_retried_and_the_run_succeeds() {
    let sb = sandbox(config(600)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let pipeline = hubspot_pipeline(tmp.path(), "");
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/companies", "kind": "status", "status": 500, "count": 2}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/deals", "kind": "status", "status": 429, "count": 1}),
    )
    .await;
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&pipeline, &wh, &r), hubspot_env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    assert!(
        stream_report(&rep, "companies")["retries"]
            .as_u64()
            .unwrap()
            >= 2,
        "{rep}"
    );
    assert!(
        stream_report(&rep, "deals")["retries"].as_u64().unwrap() >= 1,
        "{rep}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT id) FROM {}",
            raw(&wh, "hubspot", "companies")
        )),
        300
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "hubspot", "deals")
        )),
        700
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_that_keeps_failing_exits_with_the_source_code_and_keeps_no_partial_data() {
    let sb = sandbox(config(300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let pipeline = hubspot_pipeline(tmp.path(), "");
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/companies", "kind": "status", "status": 503, "count": 1000}),
    )
    .await;
    let ran = braid_async(
        run_args(&pipeline, &wh, &tmp.path().join("r.json")),
        hubspot_env(&sb, TOKEN),
    )
    .await;
    assert_eq!(ran.code, 4, "{}", ran.all());
    assert!(ran.stderr.contains("companies"), "{}", ran.stderr);
    // No file of the failed stream is visible.
    let visible = std::fs::read_dir(wh.join("raw/hubspot"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(
        !wh.join("raw/hubspot/companies").exists(),
        "failed stream left files ({visible} dirs)"
    );
    sb.shutdown().await;
}
