//! A Google Ads `braid run` killed with SIGKILL twice — once mid
//! `campaign_daily_metrics`, once mid `click_views` — then run to the end:
//! each run resumes at the committed day, and the warehouse holds every
//! record once (the days a lookback re-pulls land once more, as newer
//! versions, by design; nothing before them is pulled again).
//!
//! Both streams send every query to the same per-account path, so the
//! pipeline reads them one after the other (`stream_concurrency: 1`) and the
//! kill points are made deterministic with the sandbox's fault plan: after a
//! number of answers passed through untouched, one request hangs.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use braid_sandbox::google_ads::{ad_groups, campaigns, figures, today_in};
use braid_sandbox::{GoogleAdsConfig, Sandbox, SandboxConfig};
use chrono::NaiveDate;
use common::*;

const SECRET: &str = "GOCSPX-crashGoogleSecret4242";
const REFRESH: &str = "1//0crashGoogleRefreshToken";
const SEED: u64 = 42;
/// Days of metrics read on the first run: 8 windows of 5 days.
const DAYS_BACK: u64 = 39;
const WINDOW_DAYS: u64 = 5;
const LOOKBACK: u64 = 2;
/// `click_views` re-reads the day before the committed one.
const CLICK_RESTATE: u64 = 1;
const CLICK_DAYS: u64 = 30;

fn config() -> SandboxConfig {
    let mut c = SandboxConfig {
        seed: SEED,
        ..Default::default()
    };
    c.google_ads.client_secret = SECRET.into();
    c.google_ads.refresh_token = REFRESH.into();
    c.google_ads.history_days = 45;
    c.google_ads.requests_per_second = None;
    c.google_ads.batch_rows = 50;
    c
}

fn g() -> GoogleAdsConfig {
    config().google_ads
}

fn start() -> NaiveDate {
    today_in("America/New_York") - chrono::Days::new(DAYS_BACK)
}

fn env(sb: &Sandbox) -> Vec<(String, String)> {
    let c = g();
    let ids: Vec<String> = c.customers.iter().map(|c| c.id.clone()).collect();
    vec![
        ("GOOGLE_ADS_BASE_URL".into(), sb.base_url()),
        (
            "GOOGLE_ADS_TOKEN_URL".into(),
            format!("{}/token", sb.base_url()),
        ),
        ("GOOGLE_ADS_CLIENT_ID".into(), c.client_id.clone()),
        ("GOOGLE_ADS_CLIENT_SECRET".into(), SECRET.into()),
        ("GOOGLE_ADS_REFRESH_TOKEN".into(), REFRESH.into()),
        ("GOOGLE_ADS_LOGIN_CUSTOMER_ID".into(), "999-000-1111".into()),
        ("GOOGLE_ADS_CUSTOMER_IDS".into(), ids.join(",")),
        ("GOOGLE_ADS_START_DATE".into(), start().to_string()),
        ("GOOGLE_ADS_LOOKBACK_DAYS".into(), LOOKBACK.to_string()),
        ("GOOGLE_ADS_CLICK_VIEW_DAYS".into(), CLICK_DAYS.to_string()),
    ]
}

/// The shipped pipeline, its two incremental streams only, read one after
/// the other in 5-day windows, committing at every checkpoint.
fn pipeline(dir: &Path) -> PathBuf {
    let shipped = common::manifest_dir().join("../pipelines/google_ads.yaml");
    let text = std::fs::read_to_string(shipped).unwrap();
    let (head, _) = text.split_once("    streams:").unwrap();
    let yaml = format!(
        "{}      window_days: {WINDOW_DAYS}\n      stream_concurrency: 1\n    streams:\n      - name: campaign_daily_metrics\n        sync_mode: incremental\n      - name: click_views\n        sync_mode: incremental\noptions:\n  commit_every_bytes: 1\n",
        head.replace("name: google_ads\n", "name: google_crash\n")
    );
    let path = dir.join("google_crash.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Every (customer, campaign, day) metrics row from `start()`, and every click
/// (customer, gclid is unique per click) count from the click window's start.
fn expected() -> (usize, u64) {
    let c = g();
    let mut metrics = 0;
    let mut clicks = 0;
    for (k, cust) in c.customers.iter().enumerate() {
        let today = today_in(&cust.time_zone);
        let latest = c
            .customers
            .iter()
            .map(|c| today_in(&c.time_zone))
            .max()
            .unwrap();
        let click_from = latest - chrono::Days::new(CLICK_DAYS - 1);
        let groups = ad_groups(&c, SEED, k);
        for camp in campaigns(&c, SEED, k) {
            for d in start().iter_days().take_while(|d| *d <= today) {
                let imp: u64 = groups
                    .iter()
                    .filter(|ag| ag.campaign.id == camp.id)
                    .map(|ag| figures(&c, SEED, ag, d, 0).impressions)
                    .sum();
                metrics += usize::from(imp > 0);
            }
        }
        for ag in &groups {
            for d in click_from.iter_days().take_while(|d| *d <= today) {
                clicks += figures(&c, SEED, ag, d, 0).clicks;
            }
        }
    }
    (metrics, clicks)
}

async fn stats(sb: &Sandbox) -> serde_json::Value {
    reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The committed state file: `{"state": {"streams": …}, "pending": […]}`.
fn state_file(wh: &Path) -> serde_json::Value {
    std::fs::read(wh.join("_braid/state/google_crash/google.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A stream's committed cursor day.
fn cursor(state: &serde_json::Value, stream: &str) -> Option<NaiveDate> {
    let days = state["streams"][stream]["cursor"]["date"].as_i64()?;
    Some(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days))
}

/// The path every query for the German account goes to.
fn p1() -> String {
    format!(
        "/v26/customers/{}/googleAds:searchStream",
        g().customers[1].id
    )
}

/// `pass` answers on the German account's path go through, the next one hangs.
async fn stall_after(sb: &Sandbox, pass: u64) {
    let path = p1();
    admin(
        sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": path, "kind": "delay_ms", "ms": 0, "count": pass}),
    )
    .await;
    admin(
        sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": path, "kind": "delay_ms", "ms": 600_000, "count": 1}),
    )
    .await;
}

/// Waits until `stream` committed `day` (the last checkpoint before the
/// stall, so the state stays there) and `served` answers went to the German
/// account's path; then SIGKILLs braid. Returns the committed state.
async fn kill_when_stalled(
    sb: &Sandbox,
    wh: &Path,
    child: &mut std::process::Child,
    stream: &str,
    day: NaiveDate,
    served: u64,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let s = stats(sb).await;
        let st = state_file(wh);
        let here = s["by_path"][p1()].as_u64().unwrap_or(0);
        if here >= served
            && cursor(&st["state"], stream) == Some(day)
            && st["pending"].as_array().is_none_or(|p| p.is_empty())
        {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("braid finished ({status}) before it could be killed: {s} {st}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no stall at {stream} {day} within 120 s: {s} {st}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL braid");
    child.wait().unwrap();
    state_file(wh)["state"].clone()
}

fn runs_in(table: &str) -> BTreeSet<String> {
    duckdb(&format!("SELECT DISTINCT _braid_run_id FROM {table}"))
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_metrics_then_mid_clicks_then_a_full_run_lands_every_record_once() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let file = pipeline(tmp.path());
    let met = raw(&wh, "google", "campaign_daily_metrics");
    let clicks = raw(&wh, "google", "click_views");
    let met_key = "customer_id, campaign_id, date";
    let click_key = "customer_id, gclid";
    let (n_metrics, n_clicks) = expected();

    // Run 1: the German account's customer query, 3 metrics windows, then
    // the 4th window's German query hangs (its US rows are fetched, not committed).
    stall_after(&sb, 1 + 3).await;
    let mut child = spawn_braid(run_args(&file, &wh, &tmp.path().join("r1.json")), env(&sb));
    let c1 = start() + chrono::Days::new(3 * WINDOW_DAYS - 1);
    let st1 = kill_when_stalled(&sb, &wh, &mut child, "campaign_daily_metrics", c1, 1 + 3).await;
    assert_eq!(
        cursor(&st1, "campaign_daily_metrics"),
        Some(c1),
        "three windows committed: {st1}"
    );
    assert!(st1["streams"]["click_views"].is_null(), "{st1}");
    let partial = duckdb_int(&format!("SELECT count(*) FROM {met}"));
    assert!(partial > 0 && (partial as usize) < n_metrics, "{partial}");
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT ({met_key})) FROM {met}")),
        partial,
        "what is visible after the kill has no duplicate"
    );
    assert_eq!(
        duckdb(&format!("SELECT max(date)::VARCHAR FROM {met}"))[0][0],
        c1.to_string()
    );
    assert!(!wh.join("raw/google/click_views").exists());
    let run1 = runs_in(&met);
    let r2_from = c1 - chrono::Days::new(LOOKBACK);
    let mut met_overlap = duckdb_int(&format!(
        "SELECT count(*) FROM {met} WHERE date >= DATE '{r2_from}'"
    ));

    // Run 2: resumes the metrics at the committed day minus the lookback
    // (the German customer query, then one query per 5-day window up to the
    // latest account's today), then clicks, one query per day: 3 days pass,
    // the 4th day's German query hangs.
    let latest = g()
        .customers
        .iter()
        .map(|c| today_in(&c.time_zone))
        .max()
        .unwrap();
    let windows2 = ((latest - r2_from).num_days() as u64 + 1).div_ceil(WINDOW_DAYS);
    stall_after(&sb, 1 + windows2 + 3).await;
    let mut child = spawn_braid(run_args(&file, &wh, &tmp.path().join("r2.json")), env(&sb));
    let click_start = latest - chrono::Days::new(CLICK_DAYS - 1);
    let c2 = click_start + chrono::Days::new(2);
    let st2 = kill_when_stalled(&sb, &wh, &mut child, "click_views", c2, 1 + windows2 + 3).await;
    assert_eq!(
        cursor(&st2, "campaign_daily_metrics"),
        Some(latest),
        "the metrics were read to the end: {st2}"
    );
    assert_eq!(
        cursor(&st2, "click_views"),
        Some(c2),
        "three click days committed: {st2}"
    );
    let run2: BTreeSet<String> = runs_in(&met).difference(&run1).cloned().collect();
    assert_eq!(run2.len(), 1, "{run2:?}");
    let run2 = run2.into_iter().next().unwrap();
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {met} WHERE _braid_run_id = '{run2}' AND date < DATE '{r2_from}'"
        )),
        0,
        "run 2 resumed the metrics rather than starting over"
    );
    let partial_clicks = duckdb_int(&format!("SELECT count(*) FROM {clicks}"));
    assert!(partial_clicks > 0 && (partial_clicks as u64) < n_clicks);
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(DISTINCT ({click_key})) FROM {clicks}"
        )),
        partial_clicks
    );
    let r3_met_from = latest - chrono::Days::new(LOOKBACK);
    met_overlap += duckdb_int(&format!(
        "SELECT count(*) FROM {met} WHERE date >= DATE '{r3_met_from}'"
    ));
    let r3_click_from = c2 - chrono::Days::new(CLICK_RESTATE);
    let click_overlap = duckdb_int(&format!(
        "SELECT count(*) FROM {clicks} WHERE date >= DATE '{r3_click_from}'"
    ));

    // Run 3 goes to the end.
    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&file, &wh, &r3), env(&sb)).await;
    assert_eq!(ran.code, 0, "run 3 failed:\n{}", ran.all());
    assert!(
        ![SECRET, REFRESH, "ya29."]
            .iter()
            .any(|s| ran.all().contains(s)),
        "a secret leaked"
    );
    let rep = report(&r3);
    let run3 = rep["run_id"].as_str().unwrap();
    let cv = stream_report(&rep, "click_views");
    assert_eq!(
        cv["state_before"]["cursor"], st2["streams"]["click_views"]["cursor"],
        "{cv}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {clicks} WHERE _braid_run_id = '{run3}' AND date < DATE '{r3_click_from}'"
        )),
        0,
        "run 3 resumed the clicks rather than starting over"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {met} WHERE _braid_run_id = '{run3}' AND date < DATE '{r3_met_from}'"
        )),
        0,
        "run 3 re-read only the metrics lookback"
    );

    // Every record is there; only re-pulled days are there more than once,
    // and nothing is there twice from one run.
    for (table, key, n, overlap) in [
        (&met, met_key, n_metrics as i64, met_overlap),
        (&clicks, click_key, n_clicks as i64, click_overlap),
    ] {
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT ({key})) FROM {table}")),
            n,
            "no record lost in {table}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {table}")),
            n + overlap,
            "only the re-pulled days landed again in {table}"
        );
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY {key}, _braid_run_id HAVING count(*) > 1)"
            )),
            0,
            "no record twice within a run in {table}"
        );
    }
    // The newest versions agree with each other: a campaign's clicks are its click_view rows.
    let latest_met = format!(
        "(SELECT * FROM {met} QUALIFY row_number() OVER (PARTITION BY {met_key} ORDER BY _braid_ingested_at DESC) = 1)"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT sum(clicks)::BIGINT FROM {latest_met} WHERE date >= DATE '{click_start}'"
        )),
        n_clicks as i64
    );
    let staging = wh.join("_braid/staging");
    let leftovers = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "staging not cleaned: {}", staging.display());
    sb.shutdown().await;
}
