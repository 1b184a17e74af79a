//! `braid serve`: cron runs from a directory, live changes, an invalid file
//! skipped, run history, metrics, and a graceful SIGTERM.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "pat-na1-serve-secret-7f3a";

fn pipeline_yaml(name: &str, schedule: &str) -> String {
    format!(
        r#"name: {name}
schedule: "{schedule}"
sources:
  - name: hubspot
    connector: hubspot
    config:
      base_url: ${{HUBSPOT_BASE_URL}}
      access_token: ${{HUBSPOT_ACCESS_TOKEN}}
    streams:
      - name: contacts
        sync_mode: incremental
"#
    )
}

fn runs(wh: &Path, pipeline: &str) -> Vec<serde_json::Value> {
    let out = braid(
        &[
            "runs",
            "--warehouse",
            &wh.display().to_string(),
            "--pipeline",
            pipeline,
            "--json",
            "--limit",
            "1000",
        ],
        &[],
    );
    if out.code != 0 {
        return Vec::new();
    }
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("runs json line"))
        .collect()
}

async fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_on_schedule_follows_the_directory_and_stops_gracefully() {
    let mut cfg = SandboxConfig::default();
    cfg.hubspot.access_token = TOKEN.into();
    cfg.hubspot.contacts = 300;
    let sb = sandbox(cfg).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pipelines");
    let wh = tmp.path().join("wh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.yaml"),
        pipeline_yaml("every_two", "*/2 * * * * *"),
    )
    .unwrap();
    let port = free_port();

    let mut child = Command::new(braid_bin())
        .args([
            "serve",
            &dir.display().to_string(),
            "--warehouse",
            &wh.display().to_string(),
            "--reload-seconds",
            "1",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .envs(hubspot_env(&sb, TOKEN))
        .env("BRAID_LOG_FORMAT", "text")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn braid serve");
    // Drain output on threads so the child never blocks on a full pipe.
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = child.stdout.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });

    // Scheduled runs happen and are recorded.
    wait_for("two runs of every_two", Duration::from_secs(60), || {
        runs(&wh, "every_two").len() >= 2
    })
    .await;
    let first = runs(&wh, "every_two");
    assert!(
        first.iter().all(|r| r["status"] == "succeeded"),
        "{first:?}"
    );
    // The first run landed every contact; later ones only what changed (nothing).
    assert_eq!(first[0]["rows_committed"], 300, "{first:?}");

    // Metrics and health.
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"braid_runs_total{pipeline="every_two",status="succeeded"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"braid_records_total{pipeline="every_two",source="hubspot",stream="contacts"} 300"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("braid_http_requests_total{status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("braid_last_success_timestamp_seconds{pipeline=\"every_two\"}"));

    // An invalid file is reported and skipped; a new valid one is picked up.
    std::fs::write(
        dir.join("broken.yaml"),
        "name: broken\nschedule: \"not cron\"\nsources: []\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.yaml"),
        pipeline_yaml("every_three", "*/3 * * * * *"),
    )
    .unwrap();
    wait_for(
        "a run of the added pipeline",
        Duration::from_secs(60),
        || !runs(&wh, "every_three").is_empty(),
    )
    .await;

    // A removed file stops being run; the other keeps running.
    std::fs::remove_file(dir.join("a.yaml")).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await; // one rescan + any run in flight
    let after_removal = runs(&wh, "every_two").len();
    let three_before = runs(&wh, "every_three").len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        runs(&wh, "every_two").len(),
        after_removal,
        "removed pipeline still runs"
    );
    assert!(
        runs(&wh, "every_three").len() > three_before,
        "the remaining pipeline stopped"
    );

    // SIGTERM: stop gracefully, exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "serve did not stop"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stderr = err_thread.join().unwrap();
    let stdout = out_thread.join().unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("broken.yaml:2"),
        "invalid file reported with its line:\n{stderr}"
    );
    assert!(stderr.contains("braid serve stopped"), "{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(!all.contains(TOKEN), "the token leaked into serve's output");
    // Every committed row is readable and counted once.
    let total: i64 = runs(&wh, "every_two")
        .iter()
        .chain(runs(&wh, "every_three").iter())
        .map(|r| r["rows_committed"].as_i64().unwrap())
        .sum();
    let landed = duckdb_int(&format!(
        "SELECT count(*) FROM {}",
        raw(&wh, "hubspot", "contacts")
    ));
    assert_eq!(landed, total);
    // The history is plain Parquet.
    let history = duckdb_int(&format!(
        "SELECT count(*) FROM read_parquet('{}/_braid/runs/*.parquet')",
        wh.display()
    ));
    assert!(history >= 3);
}
