//! Benchmark: a vendor emulation (in this process, rate limits off) →
//! `braid run` (a separate process) → Parquet, repeated. Prints per run the
//! records landed, wall time, the run report's read-and-land time, the
//! run's CPU time and its peak RSS (`VmHWM`), then the medians.
//!
//! ```sh
//! cargo build --release -p braid-cli -p braid-connector-loyaltylion
//! cargo run --release -p braid-sandbox --example bench_pipeline -- \
//!     $CARGO_TARGET_DIR/release/braid pipelines/woocommerce_store.yaml woocommerce 100000 3
//! # the LoyaltyLion connector compiled in, then as a plugin (KEY=VALUE goes to braid's environment):
//! cargo run --release -p braid-sandbox --example bench_pipeline -- \
//!     $CARGO_TARGET_DIR/release/braid pipelines/loyaltylion.yaml loyaltylion 200000 5 \
//!     LOYALTYLION_CONNECTOR=plugin:$CARGO_TARGET_DIR/release/libbraid_connector_loyaltylion.so
//! ```
//!
//! `vendor` sets how many records the emulation serves: `shopify` and
//! `woocommerce` N customers, N orders and N/10 products; `loyaltylion` N
//! members and 2N transactions; `oceanengine` N promotions and `tiktok` N
//! ads (over 4 advertisers, with their campaigns and 30 days of daily
//! reports); `wechat` N followers and 30 days of analytics. Every stream of the pipeline is read into a
//! fresh warehouse; the read-and-land figure (the run report's
//! `duration_ms`) excludes process start and the pipeline's unified stage.

use braid_sandbox::{Sandbox, SandboxConfig};

/// CPU seconds (user + system) of this process's reaped children, from
/// `cutime`/`cstime` in `/proc/self/stat` (clock ticks of 1/100 s on Linux):
/// the difference around one run is that `braid run`'s CPU time, whatever
/// else the machine is doing.
fn children_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(13) + ticks(14)) / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn configure(vendor: &str, n: u64) -> (SandboxConfig, Vec<(String, String)>) {
    let mut c = SandboxConfig::default();
    let mut env = Vec::new();
    match vendor {
        "shopify" => {
            c.shopify.customers = n;
            c.shopify.orders = n;
            c.shopify.products = n / 10;
            c.shopify.bucket_size = u32::MAX;
            c.shopify.leak_per_second = 1e9;
            env.push(("SHOPIFY_CALLS_PER_SECOND".into(), "1000000".into()));
        }
        "woocommerce" => {
            c.woocommerce.customers = n;
            c.woocommerce.orders = n;
            c.woocommerce.products = n / 10;
        }
        "loyaltylion" => {
            c.loyaltylion.customers = n;
            c.loyaltylion.transactions = 2 * n;
            c.loyaltylion.requests_per_second = u32::MAX;
            env.push(("LOYALTYLION_REQUESTS_PER_SECOND".into(), "1000000".into()));
        }
        "oceanengine" => {
            // N promotions over 4 advertisers (3 per project), 30 report days.
            c.oceanengine.advertisers = 4;
            c.oceanengine.projects_per_advertiser = (n / 12).max(1);
            c.oceanengine.promotions_per_project = 3;
            c.oceanengine.history_days = 30;
            c.oceanengine.requests_per_second = None;
        }
        "tiktok" => {
            // N ads over 4 advertisers (2 ad groups a campaign, 2 ads an ad group), 30 report days.
            c.tiktok.advertisers = 4;
            c.tiktok.campaigns_per_advertiser = (n / 16).max(1);
            c.tiktok.adgroups_per_campaign = 2;
            c.tiktok.ads_per_adgroup = 2;
            c.tiktok.history_days = 30;
            c.tiktok.requests_per_second = None;
        }
        "wechat" => {
            // N followers, 30 analytics days.
            c.wechat.followers = n;
            c.wechat.history_days = 30;
            c.wechat.requests_per_second = None;
            c.wechat.daily_quota = None;
        }
        other => panic!(
            "unknown vendor {other}: shopify, woocommerce, loyaltylion, oceanengine, tiktok or wechat"
        ),
    }
    (c, env)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "bench_pipeline <braid> <pipeline.yaml> <vendor> [N] [runs] [KEY=VALUE ...]";
    let (bin, pipeline, vendor) = (
        args.get(1).expect(usage),
        args.get(2).expect(usage),
        args.get(3).expect(usage),
    );
    let n: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(3);
    let extra: Vec<(String, String)> = args
        .iter()
        .skip(6)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let (config, mut env) = configure(vendor, n);
    env.extend(extra.iter().cloned());
    let sb = Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let label: Vec<String> = extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{pipeline} ({vendor}, N = {n}) {}", label.join(" "));
    let (mut walls, mut reads, mut rss, mut cpus) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let wh = std::env::temp_dir().join(format!("braid-bench-{vendor}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&wh);
        let report = wh.with_extension("json");
        let cpu_before = children_cpu_secs();
        let measured = braid_sandbox::bench::run_measured(
            std::process::Command::new(bin)
                .args(["run", pipeline, "--warehouse"])
                .arg(&wh)
                .arg("--report")
                .arg(&report)
                .envs(sb.demo_env())
                .envs(env.iter().cloned())
                .env("BRAID_LOG_FORMAT", "text")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::inherit()),
        )
        .await
        .expect("spawn braid");
        let (status, secs, hwm) = (measured.status, measured.secs, measured.peak_rss_kib);
        let cpu = children_cpu_secs() - cpu_before;
        assert!(status.success(), "braid run failed");
        let rep: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let rows: u64 = rep["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rows_committed"].as_u64().unwrap_or(0))
            .sum();
        let read_s = rep["duration_ms"].as_u64().unwrap_or(0).max(1) as f64 / 1000.0;
        println!(
            "  run {run}: {rows} records, wall {secs:.2} s ({:.0} records/s), read+land {read_s:.2} s ({:.0} records/s), braid CPU {cpu:.2} s ({:.0} records/CPU-s), peak RSS {} MiB",
            rows as f64 / secs,
            rows as f64 / read_s,
            rows as f64 / cpu.max(0.01),
            hwm / 1024
        );
        cpus.push(rows as f64 / cpu.max(0.01));
        walls.push(rows as f64 / secs);
        reads.push(rows as f64 / read_s);
        rss.push(hwm as f64 / 1024.0);
        let _ = std::fs::remove_dir_all(&wh);
        let _ = std::fs::remove_file(&report);
    }
    println!(
        "  median: {:.0} records/s wall, {:.0} records/s read+land, {:.0} records/CPU-s of braid, peak RSS {:.0} MiB",
        median(walls),
        median(reads),
        median(cpus),
        median(rss)
    );
    sb.shutdown().await;
}
