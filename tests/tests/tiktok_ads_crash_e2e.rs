//! A TikTok Ads `braid run` killed with SIGKILL mid-run, then run again: the
//! list resumes at its committed page, the report at its committed day, and
//! every record is in the warehouse once (a report day re-pulled by the
//! lookback lands once more, as a newer version, by design).
//!
//! The kill point is made deterministic with the sandbox's fault plan: after
//! a number of answers passed through untouched, one request of each stream
//! stalls, so both streams are mid-way (committed progress, more to read,
//! rows fetched but not committed) whatever the machine's speed.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use braid_sandbox::tiktok::{
    advertiser_id, campaign_figures, campaign_id, first_report_day, today_for,
};
use braid_sandbox::{Sandbox, SandboxConfig};
use chrono::NaiveDate;
use common::*;

const TOKEN: &str = "tt-crash-access-token-8675309";
const ADVERTISERS: u64 = 4;
const CAMPAIGNS: u64 = 20;
const HISTORY_DAYS: u32 = 150;
const LOOKBACK: i32 = 2;
/// Campaigns per list page: 5 pages per advertiser.
const PAGE: u64 = 4;
/// List answers before the stall: advertiser 0's 5 pages and 2 of advertiser 1's.
const LIST_PASS: u64 = 7;
/// Report answers before the stall: about two of the five 30-day windows
/// (each is 3 pages of 200 rows for each of the 4 advertisers).
const REPORT_PASS: u64 = 30;
const LIST: &str = "/open_api/v1.3/campaign/get/";
const REPORT: &str = "/open_api/v1.3/report/integrated/get/";

fn config() -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.tiktok.access_token = TOKEN.into();
    c.tiktok.advertisers = ADVERTISERS;
    c.tiktok.campaigns_per_advertiser = CAMPAIGNS;
    c.tiktok.adgroups_per_campaign = 1;
    c.tiktok.ads_per_adgroup = 1;
    c.tiktok.history_days = HISTORY_DAYS;
    c.tiktok.requests_per_second = None;
    c
}

fn pipeline(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tiktok_crash.yaml");
    let yaml = format!(
        r#"name: tiktok_crash
sources:
  - name: tiktok
    connector: tiktok_ads
    config:
      base_url: ${{TIKTOK_BASE_URL}}
      access_token: ${{TIKTOK_ACCESS_TOKEN}}
      advertiser_ids: ${{TIKTOK_ADVERTISER_IDS}}
      start_date: ${{TIKTOK_START_DATE}}
      lookback_days: {LOOKBACK}
      page_size: {PAGE}
      report_page_size: 200
    streams:
      - name: campaigns
        sync_mode: full_refresh
      - name: campaign_daily_report
        sync_mode: incremental
options:
  commit_every_bytes: 1
"#
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

fn env(sb: &Sandbox) -> Vec<(String, String)> {
    sb.demo_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("TIKTOK_"))
        .collect()
}

/// Every (advertiser, campaign, day) report row the sandbox serves, with its impressions.
fn expected_rows() -> Vec<(String, String, NaiveDate, i64)> {
    let c = config().tiktok;
    let shape = c.shape();
    let mut out = Vec::new();
    for a in 0..ADVERTISERS {
        let mut d = first_report_day(&c, a);
        while d <= today_for(a) {
            for k in 0..CAMPAIGNS {
                if let Some(f) = campaign_figures(42, &shape, a, k, d, 0) {
                    out.push((
                        advertiser_id(42, a).to_string(),
                        campaign_id(42, shape.campaign_index(a, k)).to_string(),
                        d,
                        f.impressions,
                    ));
                }
            }
            d = d.succ_opt().unwrap();
        }
    }
    out
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
fn state(wh: &Path) -> serde_json::Value {
    std::fs::read(wh.join("_braid/state/tiktok_crash/tiktok.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn day(days_since_epoch: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days_since_epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_list_and_mid_report_then_rerun_resumes_and_lands_every_record_once() {
    let sb = sandbox(config()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let file = pipeline(tmp.path());
    // Untouched answers (a zero delay), then one request of each stream that hangs.
    for (path, pass) in [(LIST, LIST_PASS), (REPORT, REPORT_PASS)] {
        admin(
            &sb,
            "/_sandbox/faults",
            serde_json::json!({"path_prefix": path, "kind": "delay_ms", "ms": 0, "count": pass}),
        )
        .await;
        admin(
            &sb,
            "/_sandbox/faults",
            serde_json::json!({"path_prefix": path, "kind": "delay_ms", "ms": 600_000, "count": 1}),
        )
        .await;
    }
    let mut child = spawn_braid(run_args(&file, &wh, &tmp.path().join("r1.json")), env(&sb));
    // Both streams reached their stall with committed progress: kill without warning.
    let started = Instant::now();
    loop {
        let s = stats(&sb).await;
        let served = |p: &str| s["by_path"][p].as_u64().unwrap_or(0);
        let st = state(&wh);
        let streams = &st["state"]["streams"];
        if served(LIST) >= LIST_PASS
            && served(REPORT) >= REPORT_PASS
            && streams["campaigns"]["resume"].is_object()
            && streams["campaign_daily_report"]["cursor"].is_object()
            && st["pending"].as_array().is_none_or(|p| p.is_empty())
        {
            // Both streams hang: nothing commits any more once the last
            // answers before the stalls are checkpointed.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if state(&wh) == st {
                break;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "braid finished ({status}) before it could be killed: {} {st}",
                stats(&sb).await
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no stall within 120 s: {s} {st}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let a commit that is under way finish or not: either is a crash.
    child.kill().expect("SIGKILL braid");
    child.wait().unwrap();
    let killed_state = state(&wh)["state"].clone();

    let campaigns = raw(&wh, "tiktok", "campaigns");
    let report_t = raw(&wh, "tiktok", "campaign_daily_report");
    let key = "advertiser_id, campaign_id, stat_date";
    // Committed before the kill: advertiser 0's whole list (its 5 pages were
    // one checkpoint), nothing of advertiser 1's 2 pages in memory.
    assert_eq!(
        killed_state["streams"]["campaigns"]["resume"],
        serde_json::json!({"advertiser": 1, "advertiser_id": advertiser_id(42, 1).to_string(), "page": 1}),
        "{killed_state}"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {campaigns}")),
        CAMPAIGNS as i64
    );
    let expected = expected_rows();
    let partial = duckdb_int(&format!("SELECT count(*) FROM {report_t}"));
    assert!(
        partial > 0 && partial < expected.len() as i64,
        "killed mid-report: {partial} of {}",
        expected.len()
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT ({key})) FROM {report_t}")),
        partial,
        "what is visible after the kill has no duplicate"
    );
    let cursor = day(
        killed_state["streams"]["campaign_daily_report"]["cursor"]["date"]
            .as_i64()
            .unwrap(),
    );
    assert_eq!(
        duckdb(&format!("SELECT max(stat_date)::VARCHAR FROM {report_t}"))[0][0],
        cursor.to_string(),
        "the committed cursor is the last committed day"
    );
    // The next run re-pulls from the committed day minus the lookback.
    let restate_from = cursor - chrono::Duration::days(LOOKBACK.into());
    let overlap = duckdb_int(&format!(
        "SELECT count(*) FROM {report_t} WHERE stat_date >= DATE '{restate_from}'"
    ));

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&file, &wh, &r2), env(&sb)).await;
    assert_eq!(ran.code, 0, "re-run failed:\n{}", ran.all());
    assert!(!ran.all().contains(TOKEN), "the token leaked");
    let rep = report(&r2);
    let run2 = rep["run_id"].as_str().unwrap().to_owned();

    // The list resumed at advertiser 1, page 1: every campaign once.
    let c = stream_report(&rep, "campaigns");
    assert_eq!(
        c["state_before"]["resume"], killed_state["streams"]["campaigns"]["resume"],
        "{c}"
    );
    assert_eq!(c["rows_committed"], (ADVERTISERS - 1) * CAMPAIGNS, "{c}");
    let got: Vec<String> = duckdb(&format!(
        "SELECT campaign_id FROM {campaigns} ORDER BY campaign_id"
    ))
    .into_iter()
    .map(|r| r[0].as_str().unwrap().to_owned())
    .collect();
    let mut want: Vec<String> = (0..ADVERTISERS * CAMPAIGNS)
        .map(|i| campaign_id(42, i).to_string())
        .collect();
    want.sort();
    assert_eq!(got, want, "every campaign exactly once");

    // The report resumed at the committed day: nothing before the lookback
    // was pulled again, every row is there, none twice within a run.
    let r = stream_report(&rep, "campaign_daily_report");
    assert_eq!(
        r["state_before"]["cursor"], killed_state["streams"]["campaign_daily_report"]["cursor"],
        "{r}"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {report_t} WHERE _braid_run_id = '{run2}' AND stat_date < DATE '{restate_from}'"
        )),
        0,
        "resumed, not started over"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT ({key})) FROM {report_t}")),
        expected.len() as i64,
        "no row lost"
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {report_t}")),
        expected.len() as i64 + overlap,
        "only the lookback days were landed again"
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM {report_t} GROUP BY {key}, _braid_run_id HAVING count(*) > 1)"
        )),
        0,
        "no row twice within a run"
    );
    assert_eq!(
        r["rows_committed"].as_i64().unwrap(),
        expected.len() as i64 - partial + overlap,
        "{r}"
    );
    // The newest version of every row carries the sandbox's figures.
    let latest = format!(
        "(SELECT * FROM {report_t} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _braid_ingested_at DESC) = 1)"
    );
    let impressions: i64 = expected.iter().map(|e| e.3).sum();
    assert_eq!(
        duckdb_int(&format!("SELECT sum(impressions)::BIGINT FROM {latest}")),
        impressions
    );
    let (adv, camp, d, imp) = &expected[expected.len() / 3];
    assert_eq!(
        duckdb_int(&format!(
            "SELECT impressions FROM {latest} WHERE advertiser_id = '{adv}' AND campaign_id = '{camp}' AND stat_date = DATE '{d}'"
        )),
        *imp
    );

    // Nothing of the killed run is left in staging.
    let staging = wh.join("_braid/staging");
    let leftovers = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "staging not cleaned: {}", staging.display());
    sb.shutdown().await;
}
