//! Benchmark: a PostgreSQL `transactions` table of N rows → `braid run` (a
//! separate process) → Parquet. Prints rows/s and the run's peak RSS (`VmHWM`).
//!
//! ```sh
//! cargo build --release -p braid-cli
//! BRAID_TEST_PG_URL=postgres://braid:…@127.0.0.1:5432/postgres \
//! cargo run --release -p braid-connector-postgres --example bench_run -- \
//!     $CARGO_TARGET_DIR/release/braid 1000000 [batch_rows]
//! ```
//!
//! `BRAID_TEST_PG_URL` is a superuser URL (scripts/test.sh starts such a
//! server; so does the recipe in docs/benchmarks.md). The bench (re)creates
//! database `braid_bench_<N>` with tests/fixtures/pos.sql at N transactions
//! (kept for the next run), then times a full refresh and an incremental
//! first run of `transactions` into a fresh warehouse each.

use std::path::Path;
use std::time::{Duration, Instant};

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to BRAID_TEST_PG_URL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

fn with_db(url: &str, db: &str) -> String {
    let (head, _) = url.rsplit_once('/').expect("url ends with /dbname");
    format!("{head}/{db}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = &args[1];
    let n: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let batch_rows: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16_384);
    let admin = std::env::var("BRAID_TEST_PG_URL").expect("set BRAID_TEST_PG_URL");
    let db = format!("braid_bench_{n}");
    let url = with_db(&admin, &db);

    let fresh = match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
        Ok((c, conn)) => {
            tokio::spawn(async move {
                let _ = conn.await;
            });
            c.query_one("SELECT count(*) FROM transactions", &[])
                .await
                .map(|r| r.get::<_, i64>(0) as u64 != n)
                .unwrap_or(true)
        }
        Err(_) => true,
    };
    if fresh {
        let a = connect(&admin).await;
        a.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .await
            .unwrap();
        a.batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .unwrap();
        let c = connect(&url).await;
        let sql = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pos.sql"),
        )
        .unwrap();
        let t = Instant::now();
        c.batch_execute(&format!(
            "SELECT set_config('braid.customers', '10000', false), set_config('braid.transactions', '{n}', false), set_config('braid.items', '0', false);\n{sql}"
        ))
        .await
        .unwrap();
        eprintln!(
            "loaded {n} transactions in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    let dir = std::env::temp_dir().join(format!("braid-bench-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for mode in ["full_refresh", "incremental"] {
        let pipeline = dir.join(format!("{mode}.yaml"));
        std::fs::write(
            &pipeline,
            format!(
                "name: pg_bench\nsources:\n  - name: pos\n    connector: postgres\n    config:\n      url: ${{POS_DATABASE_URL}}\n      batch_rows: {batch_rows}\n      tables:\n        - table: transactions\n          cursor_field: updated_at\n    streams:\n      - name: transactions\n        sync_mode: {mode}\n"
            ),
        )
        .unwrap();
        let wh = dir.join(format!("wh-{mode}"));
        let report = dir.join(format!("{mode}.json"));
        let start = Instant::now();
        let mut child = std::process::Command::new(bin)
            .args(["run"])
            .arg(&pipeline)
            .arg("--warehouse")
            .arg(&wh)
            .arg("--report")
            .arg(&report)
            .env("POS_DATABASE_URL", &url)
            .env("BRAID_LOG_FORMAT", "text")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn braid");
        let pid = child.id();
        let mut hwm = 0;
        let status = loop {
            if let Some(h) = vm_hwm_kib(pid) {
                hwm = hwm.max(h);
            }
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let secs = start.elapsed().as_secs_f64();
        assert!(status.success(), "braid run failed");
        let rep: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let rows: u64 = rep["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rows_committed"].as_u64().unwrap_or(0))
            .sum();
        let bytes: u64 = rep["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["bytes_committed"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(rows, n, "every row landed");
        println!(
            "transactions {mode}: {rows} rows in {secs:.2} s = {:.0} rows/s, {:.0} MiB of Parquet, peak RSS {} MiB (batch_rows {batch_rows})",
            rows as f64 / secs,
            bytes as f64 / (1 << 20) as f64,
            hwm / 1024
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
