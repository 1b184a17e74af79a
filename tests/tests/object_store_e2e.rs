//! The warehouse on a real S3-compatible server (moto, started on loopback
//! by `scripts/test.sh`): runs land readable Parquet, a crash mid-upload
//! leaves nothing visible, and the pipeline lock keeps two racing `braid run`
//! processes from running the same pipeline at once.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use braid_sandbox::SandboxConfig;
use common::*;

const TOKEN: &str = "pat-na1-s3-secret-1d9c";

fn endpoint() -> String {
    std::env::var("BRAID_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!("BRAID_TEST_S3_ENDPOINT is not set: run the README's test command (scripts/test.sh), which starts an S3-compatible server")
    })
}

fn s3_env(sb: &braid_sandbox::Sandbox, work: &Path) -> Vec<(String, String)> {
    let mut env = hubspot_env(sb, TOKEN);
    env.extend([
        ("AWS_ACCESS_KEY_ID".into(), "braidtest".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "braidtest-secret".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ENDPOINT_URL".into(), endpoint()),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
        ("BRAID_WORK_DIR".into(), work.display().to_string()),
    ]);
    env
}

/// A fresh bucket (the server outlives one test run, so names are unique).
async fn bucket(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("{prefix}-{:x}", nanos & 0xffff_ffff_ffff);
    let r = reqwest::Client::new()
        .put(format!("{}/{name}", endpoint()))
        .send()
        .await
        .expect("create bucket");
    assert!(r.status().is_success(), "create bucket: {}", r.status());
    name
}

/// Object keys under `prefix` of `bucket`, read with pyarrow's own S3 client.
fn keys(bucket: &str, prefix: &str) -> Vec<String> {
    let script = r#"
import sys, pyarrow.fs as fs
ep = sys.argv[1]
s3 = fs.S3FileSystem(access_key="braidtest", secret_key="braidtest-secret", region="us-east-1",
                     endpoint_override=ep.split("://")[1], scheme="http")
try:
    infos = s3.get_file_info(fs.FileSelector(sys.argv[2], recursive=True))
except FileNotFoundError:
    infos = []
for i in infos:
    if i.type == fs.FileType.File:
        print(i.path)
"#;
    let out = Command::new(python())
        .args(["-c", script, &endpoint(), &format!("{bucket}/{prefix}")])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Rows and distinct ids of a raw table on S3, read by pyarrow.
fn s3_rows(bucket: &str, table: &str) -> (i64, i64) {
    let script = r#"
import sys, pyarrow.fs as fs, pyarrow.dataset as ds, pyarrow.compute as pc
ep = sys.argv[1]
s3 = fs.S3FileSystem(access_key="braidtest", secret_key="braidtest-secret", region="us-east-1",
                     endpoint_override=ep.split("://")[1], scheme="http")
t = ds.dataset(sys.argv[2], filesystem=s3, format="parquet", partitioning="hive").to_table()
print(t.num_rows, len(pc.unique(t["id"])))
"#;
    let out = Command::new(python())
        .args(["-c", script, &endpoint(), &format!("{bucket}/{table}")])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|v| v.parse::<i64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn config(contacts: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.hubspot.access_token = TOKEN.into();
    c.hubspot.contacts = contacts;
    c.hubspot.requests_per_second = None;
    c.hubspot.search_requests_per_second = None;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_land_on_s3_incrementally_and_the_history_is_readable() {
    let sb = sandbox(config(700)).await;
    let b = bucket("braid-e2e-runs").await;
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let wh = format!("s3://{b}/warehouse");
    let env = s3_env(&sb, &tmp.path().join("work"));
    let args = |report: &str| {
        vec![
            "run".to_string(),
            pipeline.display().to_string(),
            "--warehouse".into(),
            wh.clone(),
            "--report".into(),
            tmp.path().join(report).display().to_string(),
        ]
    };
    let ran = braid_async(args("r1.json"), env.clone()).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!ran.all().contains(TOKEN));
    assert!(!ran.all().contains("braidtest-secret"));
    assert_eq!(s3_rows(&b, "warehouse/raw/hubspot/contacts"), (700, 700));
    assert!(
        keys(&b, "warehouse/_braid/staging").is_empty(),
        "staging left behind"
    );
    assert!(!keys(&b, "warehouse/_braid/state/hubspot_e2e").is_empty());

    // A second run after 25 contacts changed lands exactly those.
    admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        serde_json::json!({"object": "contacts", "count": 25}),
    )
    .await;
    // Debug-level JSON logs, to check no secret is ever printed.
    let mut verbose = vec!["--log-format".to_string(), "json".into(), "-vv".into()];
    verbose.extend(args("r2.json"));
    let ran = braid_async(verbose, env.clone()).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stderr.contains("\"level\":\"DEBUG\""),
        "no debug logs: {}",
        ran.all()
    );
    for secret in [TOKEN, "braidtest-secret"] {
        assert!(!ran.all().contains(secret), "{secret} leaked into the logs");
    }
    let r2 = report(&tmp.path().join("r2.json"));
    let contacts = r2["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "contacts")
        .unwrap()
        .clone();
    assert_eq!(contacts["rows_committed"], 25, "{contacts}");
    assert_eq!(s3_rows(&b, "warehouse/raw/hubspot/contacts"), (725, 700));

    // Run history lives on the store too.
    let runs = braid_async(
        vec![
            "runs".into(),
            "--warehouse".into(),
            wh.clone(),
            "--json".into(),
        ],
        env.clone(),
    )
    .await;
    assert_eq!(runs.code, 0, "{}", runs.all());
    assert_eq!(runs.stdout.lines().count(), 2, "{}", runs.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_upload_leaves_nothing_visible_and_the_rerun_lands_everything_once() {
    let sb = sandbox(config(900)).await;
    let b = bucket("braid-e2e-crash").await;
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let wh = format!("s3://{b}/wh");
    let mut env = s3_env(&sb, &tmp.path().join("work"));
    // A crash (abort) right after the staged files are uploaded, before the commit point.
    let mut crash_env = env.clone();
    crash_env.push(("BRAID_CRASH_AT".into(), "after-upload".into()));
    crash_env.push(("BRAID_LOCK_TTL_SECONDS".into(), "3".into()));
    let args = vec![
        "run".to_string(),
        pipeline.display().to_string(),
        "--warehouse".into(),
        wh.clone(),
    ];
    let ran = braid_async(args.clone(), crash_env).await;
    assert_ne!(ran.code, 0, "the crash hook did not fire: {}", ran.all());
    assert!(
        ran.stderr.contains("BRAID_CRASH_AT=after-upload"),
        "{}",
        ran.all()
    );
    assert!(
        !keys(&b, "wh/_braid/staging").is_empty(),
        "the crash came after an upload"
    );
    assert!(
        keys(&b, "wh/raw").is_empty(),
        "a crashed upload became visible"
    );
    assert!(
        keys(&b, "wh/_braid/state").is_empty(),
        "state moved without data"
    );

    // The crashed run's lock expires (3 s here); the rerun lands every record once.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    env.push(("BRAID_LOCK_TTL_SECONDS".into(), "3".into()));
    let ran = braid_async(args, env).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(s3_rows(&b, "wh/raw/hubspot/contacts"), (900, 900));
}

/// A high-entropy payload for row `i` (96 hex digits), so Parquet cannot
/// shrink the file below the multipart threshold.
fn payload(i: u64) -> String {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..6)
        .map(|_| {
            x ^= x >> 30;
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x ^= x >> 27;
            x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^= x >> 31;
            format!("{x:016x}")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_multipart_threshold_lands_whole() {
    const ROWS: u64 = 450_000;
    let b = bucket("braid-e2e-multipart").await;
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("blobs.csv");
    let mut text = String::with_capacity(ROWS as usize * 110);
    text.push_str("id,payload\n");
    for i in 0..ROWS {
        text.push_str(&format!("r{i},{}\n", payload(i)));
    }
    std::fs::write(&csv, text).unwrap();
    let pipeline = tmp.path().join("bulk.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "name: bulk_e2e\nsources:\n  - name: bulk\n    connector: files\n    config:\n      streams:\n        - name: blobs\n          path: {}\n          primary_key: [id]\n    streams:\n      - name: blobs\n        sync_mode: full_refresh\n",
            csv.display()
        ),
    )
    .unwrap();
    let sb = sandbox(config(1)).await;
    let env = s3_env(&sb, &tmp.path().join("work"));
    let wh = format!("s3://{b}/wh");
    let ran = braid_async(
        vec![
            "run".into(),
            pipeline.display().to_string(),
            "--warehouse".into(),
            wh,
        ],
        env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());

    // Read back with pyarrow's own S3 client: the object is above the
    // threshold (so it went up in parts) and every row arrived intact.
    let script = r#"
import sys, pyarrow.fs as fs, pyarrow.dataset as ds, pyarrow.compute as pc
ep = sys.argv[1]
s3 = fs.S3FileSystem(access_key="braidtest", secret_key="braidtest-secret", region="us-east-1",
                     endpoint_override=ep.split("://")[1], scheme="http")
files = [i for i in s3.get_file_info(fs.FileSelector(sys.argv[2], recursive=True)) if i.type == fs.FileType.File]
t = ds.dataset(sys.argv[2], filesystem=s3, format="parquet", partitioning="hive").to_table()
probe = t.filter(pc.equal(t["id"], sys.argv[3]))["payload"][0].as_py()
print(len(files), max(f.size for f in files), t.num_rows, len(pc.unique(t["payload"])), probe)
"#;
    let probe = ROWS - 7;
    let out = Command::new(python())
        .args([
            "-c",
            script,
            &endpoint(),
            &format!("{b}/wh/raw/bulk/blobs"),
            &format!("r{probe}"),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(f[0], "1", "one Parquet file: {text}");
    let size: u64 = f[1].parse().unwrap();
    assert!(
        size > 16 << 20,
        "the file ({size} B) is below the multipart threshold"
    );
    assert_eq!(f[2], ROWS.to_string(), "rows: {text}");
    assert_eq!(f[3], ROWS.to_string(), "distinct payloads: {text}");
    assert_eq!(f[4], payload(probe));
    assert!(
        keys(&b, "wh/_braid/staging").is_empty(),
        "staging left behind"
    );
}

fn spawn(args: &[String], env: &[(String, String)]) -> std::process::Child {
    Command::new(braid_bin())
        .args(args)
        .envs(env.iter().cloned())
        .env("BRAID_LOG_FORMAT", "text")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn braid")
}

async fn race(wh: String, env: Vec<(String, String)>, pipeline: &Path) -> Vec<(i32, String)> {
    let args = vec![
        "run".to_string(),
        pipeline.display().to_string(),
        "--warehouse".into(),
        wh,
    ];
    let (a, b) = (spawn(&args, &env), spawn(&args, &env));
    tokio::task::spawn_blocking(move || {
        [a, b]
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                (
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .collect()
    })
    .await
    .unwrap()
}

fn assert_one_ran_one_locked(results: &[(i32, String)]) {
    let mut codes: Vec<i32> = results.iter().map(|r| r.0).collect();
    codes.sort();
    assert_eq!(codes, vec![0, 6], "{results:#?}");
    let locked = results.iter().find(|r| r.0 == 6).unwrap();
    assert!(locked.1.contains("already running"), "{}", locked.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_runs_of_one_pipeline_on_s3_one_runs_one_is_refused() {
    let sb = sandbox(config(400)).await;
    // Slow pages so both processes are alive at the same time.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/companies", "kind": "delay_ms", "ms": 1500, "count": 2}),
    )
    .await;
    let b = bucket("braid-e2e-lock").await;
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let env = s3_env(&sb, &tmp.path().join("work"));
    let results = race(format!("s3://{b}/wh"), env.clone(), &pipeline).await;
    assert_one_ran_one_locked(&results);
    assert_eq!(s3_rows(&b, "wh/raw/hubspot/contacts"), (400, 400));
    // Released at the end: the next run is not refused.
    assert!(keys(&b, "wh/_braid/locks").is_empty(), "lock not released");
    let ran = braid_async(
        vec![
            "run".into(),
            pipeline.display().to_string(),
            "--warehouse".into(),
            format!("s3://{b}/wh"),
        ],
        env,
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_runs_of_one_pipeline_on_a_local_warehouse_one_is_refused() {
    let sb = sandbox(config(400)).await;
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/companies", "kind": "delay_ms", "ms": 1500, "count": 2}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let pipeline = hubspot_pipeline(tmp.path(), "");
    let wh = tmp.path().join("wh");
    let results = race(wh.display().to_string(), hubspot_env(&sb, TOKEN), &pipeline).await;
    assert_one_ran_one_locked(&results);
    let n = duckdb_int(&format!(
        "SELECT count(*) FROM {}",
        raw(&wh, "hubspot", "contacts")
    ));
    assert_eq!(n, 400);
}
