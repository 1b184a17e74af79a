//! Benchmark: the Salesforce sandbox (in this process) → `braid run` (a
//! separate process) → Parquet. Prints records/s and the run's peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo build --release -p braid-cli
//! cargo run --release -p braid-connector-salesforce --example bench_run -- \
//!     $CARGO_TARGET_DIR/release/braid pipelines/salesforce_crm.yaml 200000
//! ```
//!
//! The sandbox serves N contacts, leads, accounts, opportunities and campaign
//! members (and 20 campaigns) with no API limit; every stream of the pipeline
//! is read into a fresh warehouse. The wall time includes process start and
//! the unified stage that follows the run; the run report's duration is the
//! read and landing alone.

use braid_sandbox::{Sandbox, SandboxConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, pipeline) = (&args[1], &args[2]);
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut c = SandboxConfig::default();
    let s = &mut c.salesforce;
    s.contacts = n;
    s.leads = n;
    s.accounts = n;
    s.opportunities = n;
    s.campaigns = 20;
    s.campaign_members = n;
    s.daily_api_requests = u64::MAX;
    let sb = Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wh = std::env::temp_dir().join(format!("braid-bench-salesforce-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&wh);
    let report = wh.with_extension("json");
    let measured = braid_sandbox::bench::run_measured(
        std::process::Command::new(bin)
            .args(["run", pipeline, "--warehouse"])
            .arg(&wh)
            .arg("--report")
            .arg(&report)
            .envs(sb.demo_env())
            .env("BRAID_LOG_FORMAT", "text")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit()),
    )
    .await
    .expect("spawn braid");
    let (status, secs, hwm) = (measured.status, measured.secs, measured.peak_rss_kib);
    assert!(status.success(), "braid run failed");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let rows: u64 = rep["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rows_committed"].as_u64().unwrap_or(0))
        .sum();
    let read_ms: u64 = rep["duration_ms"].as_u64().unwrap_or(0);
    println!(
        "{pipeline}: N = {n} per object, {rows} records in {secs:.2} s = {:.0} records/s \
         (run report: {read_ms} ms = {:.0} records/s without process start and unify), peak RSS {} MiB",
        rows as f64 / secs,
        rows as f64 / (read_ms.max(1) as f64 / 1000.0),
        hwm / 1024
    );
    let _ = std::fs::remove_dir_all(&wh);
    let _ = std::fs::remove_file(&report);
    sb.shutdown().await;
}
