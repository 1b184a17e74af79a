//! A `braid run` killed with SIGKILL mid-run, then run again: every record lands exactly once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "pat-na1-crash-secret";

fn published_files(dir: &Path) -> usize {
    fn walk(d: &Path, n: &mut usize) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, n);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    *n += 1;
                }
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_rerun_lands_every_record_exactly_once() {
    let mut cfg = SandboxConfig::default();
    cfg.hubspot.access_token = TOKEN.into();
    cfg.hubspot.contacts = 60_000;
    cfg.hubspot.companies = 40_000;
    cfg.hubspot.deals = 500;
    cfg.hubspot.requests_per_second = None;
    cfg.hubspot.search_requests_per_second = None;
    let sb = sandbox(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    // Commit often so the kill lands between commits, with data both committed and in flight.
    let pipeline = hubspot_pipeline(
        tmp.path(),
        "options:\n  commit_every_bytes: 262144\n  commit_every_seconds: 1\n",
    );

    let mut child = spawn_braid(
        run_args(&pipeline, &wh, &tmp.path().join("r1.json")),
        hubspot_env(&sb, TOKEN),
    );

    // Wait until both streams have published something, then kill without warning.
    let started = Instant::now();
    loop {
        let contacts = published_files(&wh.join("raw/hubspot/contacts"));
        let companies = published_files(&wh.join("raw/hubspot/companies"));
        if contacts >= 2 && companies >= 2 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("braid finished ({status}) before it could be killed; make the sandbox bigger");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no commit within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL braid");
    child.wait().unwrap();

    let contacts = raw(&wh, "hubspot", "contacts");
    let companies = raw(&wh, "hubspot", "companies");
    let partial_contacts = duckdb_int(&format!("SELECT count(*) FROM {contacts}"));
    assert!(
        partial_contacts > 0 && partial_contacts < 60_000,
        "killed mid-run: {partial_contacts}"
    );
    // What is visible after the kill is whole: no duplicates, every file readable.
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) - count(DISTINCT id) FROM {contacts}"
        )),
        0
    );

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&pipeline, &wh, &r2), hubspot_env(&sb, TOKEN)).await;
    assert_eq!(ran.code, 0, "re-run failed:\n{}", ran.all());

    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {contacts}")),
        60_000
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT id) FROM {contacts}")),
        60_000
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {companies}")),
        40_000
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT id) FROM {companies}")),
        40_000
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "hubspot", "deals")
        )),
        500
    );

    // The re-run resumed rather than starting over.
    let rep = report(&r2);
    let c = stream_report(&rep, "contacts");
    assert!(
        c["state_before"]["cursor"].is_object(),
        "contacts resumed from a committed cursor: {c}"
    );
    assert_eq!(
        c["rows_committed"].as_i64().unwrap() + partial_contacts,
        60_000
    );
    let co = stream_report(&rep, "companies");
    assert!(
        co["state_before"]["resume"].is_object(),
        "companies resumed mid full refresh: {co}"
    );

    // Nothing of the killed run is left in staging.
    let staging = wh.join("_braid/staging");
    let leftovers = std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "staging not cleaned: {}", staging.display());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_at_the_next_checkpoint_and_exits_130() {
    let mut cfg = SandboxConfig::default();
    cfg.hubspot.access_token = TOKEN.into();
    cfg.hubspot.contacts = 1;
    cfg.hubspot.companies = 60_000;
    cfg.hubspot.deals = 1;
    cfg.hubspot.requests_per_second = None;
    let sb = sandbox(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    // Large commit intervals: without the signal nothing would be committed until the end.
    let pipeline = hubspot_pipeline(
        tmp.path(),
        "options:\n  commit_every_bytes: 1GiB\n  commit_every_seconds: 3600\n",
    );
    let mut child = spawn_braid(
        run_args(&pipeline, &wh, &tmp.path().join("r1.json")),
        hubspot_env(&sb, TOKEN),
    );
    // Wait until companies are flowing (the sandbox has served some pages).
    let started = Instant::now();
    loop {
        let stats: serde_json::Value = reqwest::get(format!("{}/_sandbox/stats", sb.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let pages = stats["by_path"]["/crm/v3/objects/companies"]
            .as_u64()
            .unwrap_or(0);
        // Past the first batch of 4,096 rows, so something is ready to commit.
        if pages >= 60 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "braid ended before the signal"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130), "interrupted runs exit 130");

    let rep = report(&tmp.path().join("r1.json"));
    assert_eq!(rep["status"], "interrupted");
    let committed = stream_report(&rep, "companies")["rows_committed"]
        .as_i64()
        .unwrap();
    assert!(
        committed > 0 && committed < 60_000,
        "committed at the checkpoint after the signal: {committed}"
    );
    let companies = raw(&wh, "hubspot", "companies");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {companies}")),
        committed
    );

    // The next run resumes and completes without duplicates.
    let ran = braid_async(
        run_args(&pipeline, &wh, &tmp.path().join("r2.json")),
        hubspot_env(&sb, TOKEN),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {companies}")),
        60_000
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT id) FROM {companies}")),
        60_000
    );
    sb.shutdown().await;
}
