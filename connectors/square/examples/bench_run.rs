//! Benchmark: the Square sandbox (in this process) → `braid run` (a separate
//! process) → Parquet. Prints records/s and the run's peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo build --release -p braid-cli
//! cargo run --release -p braid-connector-square --example bench_run -- \
//!     target/release/braid pipelines/square_pos.yaml 200000
//! ```
//!
//! The sandbox serves N customers, orders and payments with no rate limit;
//! the pipeline's streams are all read (fresh warehouse each time).

use braid_sandbox::{Sandbox, SandboxConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (bin, pipeline) = (&args[1], &args[2]);
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut c = SandboxConfig::default();
    c.square.customers = n;
    c.square.orders = n;
    c.square.payments = n;
    c.square.requests_per_second = None;
    c.hubspot.contacts = 10;
    c.hubspot.companies = 10;
    c.hubspot.deals = 10;
    let sb = Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let wh = std::env::temp_dir().join(format!("braid-bench-square-{}", std::process::id()));
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
    println!(
        "{pipeline}: N = {n} per stream, {rows} records in {secs:.2} s = {:.0} records/s, peak RSS {} MiB",
        rows as f64 / secs,
        hwm / 1024
    );
    let _ = std::fs::remove_dir_all(&wh);
    let _ = std::fs::remove_file(&report);
    sb.shutdown().await;
}
