//! The Meta Ads pipeline end to end: sandbox → `braid run` → Parquet, read back by DuckDB.

mod common;

use std::path::PathBuf;

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "EAAe2eMetaSecretToken31337";

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.meta.access_token = TOKEN.into();
    c.meta.history_days = 40;
    c.meta.job_polls = 2;
    c.meta.calls_per_second = None;
    c
}

fn ads() -> i64 {
    let c = config().meta;
    (c.campaigns * c.adsets_per_campaign * c.ads_per_adset) as i64
}

/// The account's day, as the connector and the sandbox see it.
fn today() -> chrono::NaiveDate {
    let tz: chrono_tz::Tz = config().meta.timezone.parse().unwrap();
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

fn env(sb: &braid_sandbox::Sandbox, token: &str, start_days_back: u64) -> Vec<(String, String)> {
    let c = config().meta;
    let start = today() - chrono::Days::new(start_days_back);
    vec![
        ("META_BASE_URL".into(), sb.base_url()),
        ("META_ACCESS_TOKEN".into(), token.into()),
        ("META_AD_ACCOUNT_ID".into(), format!("act_{}", c.account_id)),
        (
            "META_LEAD_FORM_ID".into(),
            braid_sandbox::meta::data::meta_id(braid_sandbox::meta::data::Kind::Form, 0),
        ),
        (
            "META_START_DATE".into(),
            start.format("%Y-%m-%d").to_string(),
        ),
        ("META_LOOKBACK_DAYS".into(), "3".into()),
        ("META_JOB_POLL_MS".into(), "20".into()),
    ]
}

/// The shipped example pipeline.
fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/meta_ads.yaml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_then_incremental_restates_the_lookback_days_only() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    // 21 days: longer than sync_max_days (7), so report runs read it.
    let ran = braid_async(run_args(&pipeline(), &wh, &r1), env(&sb, TOKEN, 20)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(!ran.all().contains(TOKEN), "the token leaked");
    let ins = raw(&wh, "meta", "ad_insights");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {ins}")),
        21 * ads()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (ad_id, date_start)) FROM {ins}"
        )),
        21 * ads()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {}", raw(&wh, "meta", "ads"))),
        ads()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "meta", "campaigns")
        )),
        4
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "meta", "leads")
        )),
        300
    );
    let stats = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(
        stats["by_path"]
            .as_object()
            .unwrap()
            .keys()
            .any(|p| p.ends_with("/insights") && !p.contains("act_")),
        "report runs were read: {stats}"
    );

    // Values equal the generator's: spend as a decimal in USD, purchases summed into conversions.
    let day = today() - chrono::Days::new(5);
    let n = braid_sandbox::meta::data::day_numbers(42, 7, day, 0, "USD");
    let ad7 = braid_sandbox::meta::data::meta_id(braid_sandbox::meta::data::Kind::Ad, 7);
    let rows = duckdb(&format!(
        "SELECT spend::VARCHAR, impressions, clicks, conversions::DOUBLE, currency, account_timezone FROM {ins} WHERE ad_id = '{ad7}' AND date_start = DATE '{day}'"
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0][0].as_str().unwrap().parse::<f64>().unwrap(),
        n.spend_minor as f64 / 100.0
    );
    assert_eq!(rows[0][1].as_i64().unwrap() as u64, n.impressions);
    assert_eq!(rows[0][2].as_i64().unwrap() as u64, n.clicks);
    assert_eq!(rows[0][3].as_f64().unwrap() as u64, n.purchases + n.leads);
    assert_eq!(rows[0][4], "USD");
    assert_eq!(rows[0][5], "America/Los_Angeles");

    // Meta restates the last 2 days; 5 new leads arrive.
    admin(
        &sb,
        "/_sandbox/meta/restate",
        serde_json::json!({"days": 2}),
    )
    .await;
    let new = admin(
        &sb,
        "/_sandbox/meta/leads",
        serde_json::json!({"create": 5}),
    )
    .await;
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r2), env(&sb, TOKEN, 20)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    let run2 = rep["run_id"].as_str().unwrap();
    // The committed day (today) and the 3 lookback days before it land again.
    assert_eq!(
        stream_report(&rep, "ad_insights")["rows_committed"],
        4 * ads(),
        "{rep}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {ins} WHERE _braid_run_id = '{run2}' AND date_start < DATE '{}'",
            today() - chrono::Days::new(3)
        )),
        0,
        "days before the lookback are not re-pulled"
    );
    // Latest version per (ad, day): one row each, restated days carry the new conversions.
    let latest = format!(
        "(SELECT * FROM {ins} QUALIFY row_number() OVER (PARTITION BY ad_id, date_start ORDER BY _braid_ingested_at DESC) = 1)"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {latest}")),
        21 * ads()
    );
    let t = today();
    let restated = braid_sandbox::meta::data::day_numbers(42, 7, t, 1, "USD");
    let got = duckdb(&format!(
        "SELECT conversions::DOUBLE FROM {latest} WHERE ad_id = '{ad7}' AND date_start = DATE '{t}'"
    ));
    assert_eq!(
        got[0][0].as_f64().unwrap() as u64,
        restated.purchases + restated.leads
    );
    // Leads: the 5 new ones (and the boundary second's lead, dropped as already landed).
    assert_eq!(stream_report(&rep, "leads")["rows_committed"], 5, "{rep}");
    let mut landed: Vec<String> = duckdb(&format!(
        "SELECT id FROM {} WHERE _braid_run_id = '{run2}'",
        raw(&wh, "meta", "leads")
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    let mut expected: Vec<String> = new["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    landed.sort();
    expected.sort();
    assert_eq!(landed, expected);
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {} WHERE email LIKE '%@%' AND phone LIKE '+1%'",
            raw(&wh, "meta", "leads")
        )),
        305
    );

    // The unified layer: ad_performance from insights, touchpoints from leads.
    let ap = format!(
        "read_parquet('{}/unified/ad_performance/meta/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {ap}")),
        21 * ads()
    );
    assert_eq!(duckdb_int(&format!("SELECT count(DISTINCT source_id) FROM {ap} WHERE platform = 'meta' AND currency = 'USD'")), 21 * ads());
    let tp = format!(
        "read_parquet('{}/unified/touchpoints/meta/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {tp} WHERE event = 'lead' AND braid_id IS NOT NULL"
        )),
        305
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_server_errors_timeouts_and_a_new_field_are_survived() {
    // A small call budget (the ad account answers code 80004 past it), and
    // three calls throttled whatever the pace, so a slow machine sees 80004 too.
    let mut cfg = config();
    cfg.meta.calls_per_second = Some(3);
    let sb = sandbox(cfg).await;
    admin(
        &sb,
        "/_sandbox/meta/throttle",
        serde_json::json!({"count": 3}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let act = format!("/v21.0/act_{}", config().meta.account_id);
    // An injected 429 is answered as Meta throttles an app: HTTP 400, code 17.
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{act}/insights"), "kind": "status", "status": 429, "count": 4})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{act}/adsets"), "kind": "status", "status": 503, "count": 2})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{act}/campaigns"), "kind": "delay_ms", "ms": 3000, "count": 1})).await;
    admin(
        &sb,
        "/_sandbox/meta/extra_field",
        serde_json::json!({"enabled": true}),
    )
    .await;
    let yaml = std::fs::read_to_string(pipeline()).unwrap().replace(
        "job_poll_ms:",
        "request_timeout_ms: 1000\n      job_poll_ms:",
    );
    let file = tmp.path().join("meta.yaml");
    std::fs::write(&file, yaml).unwrap();
    let r = tmp.path().join("r.json");
    // 5 days: synchronous insights requests.
    let ran = braid_async(run_args(&file, &wh, &r), env(&sb, TOKEN, 4)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    let retries = |s: &str| stream_report(&rep, s)["retries"].as_u64().unwrap();
    assert!(retries("ad_insights") >= 4, "{rep}");
    assert!(retries("adsets") >= 2, "{rep}");
    assert!(retries("campaigns") >= 1, "{rep}");
    let stats = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert!(
        stats["by_status"]["400"].as_u64().unwrap_or(0) >= 7,
        "the account budget throttled some calls (code 80004): {stats}"
    );
    assert!(ran.stderr.contains("code 17"), "{}", ran.stderr);
    assert!(ran.stderr.contains("code 80004"), "{}", ran.stderr);
    assert!(!ran.all().contains(TOKEN), "the token leaked");
    // Every record once.
    let ins = raw(&wh, "meta", "ad_insights");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {ins}")),
        5 * ads()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (ad_id, date_start)) FROM {ins}"
        )),
        5 * ads()
    );
    for (stream, n) in [
        ("ads", ads()),
        ("adsets", 8),
        ("campaigns", 4),
        ("leads", 300),
    ] {
        let t = raw(&wh, "meta", stream);
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

    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_bodies_are_fetched_again_and_a_page_that_stays_cut_fails() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let act = format!("/v21.0/act_{}", config().meta.account_id);
    // A page of ad sets, of insights and of leads end halfway (a cut connection).
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": format!("{act}/adsets"), "kind": "truncate", "count": 1}),
    )
    .await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{act}/insights"), "kind": "truncate", "count": 2})).await;
    let form = braid_sandbox::meta::data::meta_id(braid_sandbox::meta::data::Kind::Form, 0);
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("/v21.0/{form}/leads"), "kind": "truncate", "count": 1})).await;
    let r = tmp.path().join("r.json");
    let ran = braid_async(run_args(&pipeline(), &wh, &r), env(&sb, TOKEN, 4)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r);
    let retries = |s: &str| stream_report(&rep, s)["retries"].as_u64().unwrap();
    assert!(retries("adsets") >= 1, "{rep}");
    assert!(retries("ad_insights") >= 2, "{rep}");
    assert!(retries("leads") >= 1, "{rep}");
    let ins = raw(&wh, "meta", "ad_insights");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {ins}")),
        5 * ads()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT (ad_id, date_start)) FROM {ins}"
        )),
        5 * ads()
    );
    for (stream, n) in [("adsets", 8), ("leads", 300)] {
        let t = raw(&wh, "meta", stream);
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

    // A page that stays cut fails with a data error naming the path; nothing of the stream lands.
    let wh2 = tmp.path().join("wh2");
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": format!("{act}/adsets"), "kind": "truncate", "count": 3}),
    )
    .await;
    let ran = braid_async(
        run_args(&pipeline(), &wh2, &tmp.path().join("r2.json")),
        env(&sb, TOKEN, 4),
    )
    .await;
    assert_eq!(ran.code, 4, "source errors exit 4: {}", ran.all());
    assert_eq!(report(&tmp.path().join("r2.json"))["error"]["kind"], "data");
    assert!(
        ran.stderr.contains("/adsets") && ran.stderr.contains("after 3 fetches"),
        "{}",
        ran.stderr
    );
    assert!(!wh2.join("raw/meta/adsets").exists());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cursor_stops_the_read() {
    let mut cfg = config();
    cfg.meta.campaigns = 40;
    let sb = sandbox(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let act = format!("/v21.0/act_{}", config().meta.account_id);
    // Meta hands back the cursor it was sent: the read stops rather than loop.
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": format!("{act}/campaigns"), "kind": "repeat_paging", "count": 2})).await;
    let yaml = std::fs::read_to_string(pipeline())
        .unwrap()
        .replace("job_poll_ms:", "page_size: 25\n      job_poll_ms:");
    let file = tmp.path().join("meta.yaml");
    std::fs::write(&file, yaml).unwrap();
    let ran = braid_async(
        run_args(&file, &wh, &tmp.path().join("r1.json")),
        env(&sb, TOKEN, 2),
    )
    .await;
    assert_eq!(ran.code, 4, "{}", ran.all());
    assert!(
        ran.stderr.contains("campaigns") && ran.stderr.contains("same page token twice"),
        "{}",
        ran.stderr
    );
    assert_eq!(report(&tmp.path().join("r1.json"))["error"]["kind"], "data");
    assert!(!wh.join("raw/meta/campaigns").exists());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_is_an_auth_error_quoting_meta_without_the_secret() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wrong = "EAAwrongSecret0000";
    let r = tmp.path().join("r.json");
    let ran = braid_async(
        run_args(&pipeline(), &tmp.path().join("wh"), &r),
        env(&sb, wrong, 4),
    )
    .await;
    assert_eq!(ran.code, 3, "auth errors exit 3:\n{}", ran.all());
    assert!(
        ran.stderr.contains("OAuthException code 190"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("Invalid OAuth access token"),
        "{}",
        ran.stderr
    );
    assert!(
        !ran.all().contains(wrong),
        "the token leaked: {}",
        ran.all()
    );
    assert_eq!(report(&r)["error"]["kind"], "auth");
    let ok = braid_async(
        vec!["check".into(), pipeline().display().to_string()],
        env(&sb, TOKEN, 4),
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    sb.shutdown().await;
}
