//! Benchmark: the Google Ads sandbox (in this process) → `braid run` (a
//! separate process) → Parquet. Prints rows/s and the run's peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo build --release -p braid-cli
//! cargo run --release -p braid-connector-google-ads --example bench_run -- \
//!     $CARGO_TARGET_DIR/release/braid pipelines/google_ads.yaml 200 30
//! ```
//!
//! Arguments: the braid binary, the pipeline, campaigns per account (two
//! accounts, 5 ad groups per campaign) and days of history. The sandbox has
//! no request budget; every ad group gets up to 20 clicks a day, so
//! `click_views` (one row per click, one query per account and day) is most
//! of the rows. The wall time includes process start and the unified stage
//! that follows the run; the run report's duration is the read and landing alone.

use braid_sandbox::{Sandbox, SandboxConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, pipeline) = (&args[1], &args[2]);
    let campaigns: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let days: u32 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(30);
    let mut c = SandboxConfig::default();
    let g = &mut c.google_ads;
    g.campaigns_per_customer = campaigns;
    g.ad_groups_per_campaign = 5;
    g.history_days = days;
    g.max_clicks = 20;
    g.requests_per_second = None;
    let sb = Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wh = std::env::temp_dir().join(format!("braid-bench-google-ads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&wh);
    let report = wh.with_extension("json");
    let measured = braid_sandbox::bench::run_measured(
        std::process::Command::new(bin)
            .args(["run", pipeline, "--warehouse"])
            .arg(&wh)
            .arg("--report")
            .arg(&report)
            .envs(sb.demo_env())
            // Every day of the history: metrics and clicks (Google keeps 90 days of clicks).
            .env("GOOGLE_ADS_CLICK_VIEW_DAYS", days.clamp(1, 90).to_string())
            .env("BRAID_LOG_FORMAT", "text")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit()),
    )
    .await
    .expect("spawn braid");
    let (status, secs, hwm) = (measured.status, measured.secs, measured.peak_rss_kib);
    assert!(status.success(), "braid run failed");
    let rep: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let mut rows = 0;
    let mut per_stream = Vec::new();
    for s in rep["streams"].as_array().unwrap() {
        let n = s["rows_committed"].as_u64().unwrap_or(0);
        rows += n;
        per_stream.push(format!("{} {n}", s["stream"].as_str().unwrap_or("?")));
    }
    let read_ms: u64 = rep["duration_ms"].as_u64().unwrap_or(0);
    println!(
        "{pipeline}: {campaigns} campaigns per account, {days} days: {rows} rows ({}) in {secs:.2} s = {:.0} rows/s \
         (run report: {read_ms} ms = {:.0} rows/s without process start and unify), peak RSS {} MiB",
        per_stream.join(", "),
        rows as f64 / secs,
        rows as f64 / (read_ms.max(1) as f64 / 1000.0),
        hwm / 1024
    );
    let _ = std::fs::remove_dir_all(&wh);
    let _ = std::fs::remove_file(&report);
    sb.shutdown().await;
}
