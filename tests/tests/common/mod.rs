//! Helpers for the end-to-end tests: the braid binary, the sandbox, and real Parquet readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use braid_sandbox::{Sandbox, SandboxConfig};

/// The braid-e2e package directory (`tests/`), read when the test runs:
/// cargo and nextest set `CARGO_MANIFEST_DIR` for every test process. A test
/// binary that cargo reuses from a build of another checkout of the same
/// sources (one target dir, a moved clone) would otherwise read the files of
/// the directory it was compiled in.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The `braid` binary: `$BRAID_BIN`, or the one cargo built beside this test.
pub fn braid_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BRAID_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("braid");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p braid-cli` first, or the README's test command",
        bin.display()
    );
    bin
}

/// The Python with duckdb and pyarrow that `scripts/test.sh` installs.
pub fn python() -> String {
    std::env::var("BRAID_PYTHON").unwrap_or_else(|_| {
        panic!("BRAID_PYTHON is not set: run the README's test command (scripts/test.sh), which installs DuckDB and pyarrow")
    })
}

/// Runs a DuckDB query and returns its rows as JSON arrays.
pub fn duckdb(sql: &str) -> Vec<Vec<serde_json::Value>> {
    let script = r#"
import duckdb, json, sys, decimal, datetime
rows = duckdb.sql(sys.argv[1]).fetchall()
def conv(v):
    if isinstance(v, (decimal.Decimal, datetime.datetime, datetime.date)):
        return str(v)
    return v
print(json.dumps([[conv(v) for v in r] for r in rows]))
"#;
    let out = Command::new(python())
        .args(["-c", script, sql])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "duckdb query failed: {sql}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("duckdb json")
}

/// One integer from a DuckDB query.
pub fn duckdb_int(sql: &str) -> i64 {
    duckdb(sql)[0][0]
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {sql}"))
}

/// Runs a pyarrow snippet with `path` as `sys.argv[1]`; returns its stdout.
pub fn pyarrow(snippet: &str, path: &Path) -> String {
    let out = Command::new(python())
        .args(["-c", snippet, &path.display().to_string()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyarrow failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running braid command's outcome with its text.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Self {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `braid ARGS` with extra environment variables.
pub fn braid(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = Command::new(braid_bin());
    cmd.args(args)
        .env("BRAID_LOG_FORMAT", "text")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run braid").into()
}

/// A sandbox on a free loopback port.
pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("start sandbox")
}

/// POSTs JSON to a sandbox admin endpoint.
pub async fn admin(sandbox: &Sandbox, path: &str, body: serde_json::Value) -> serde_json::Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sandbox.base_url()))
        .json(&body)
        .send()
        .await
        .expect("admin request");
    assert!(
        resp.status().is_success(),
        "admin {path}: {}",
        resp.status()
    );
    resp.json().await.expect("admin json")
}

/// The HubSpot pipeline used by the tests, reading the base URL and token from the environment.
pub fn hubspot_pipeline(dir: &Path, extra_options: &str) -> PathBuf {
    let path = dir.join("hubspot.yaml");
    let yaml = format!(
        r#"name: hubspot_e2e
sources:
  - name: hubspot
    connector: hubspot
    config:
      base_url: ${{HUBSPOT_BASE_URL}}
      access_token: ${{HUBSPOT_ACCESS_TOKEN}}
    streams:
      - name: contacts
        sync_mode: incremental
      - name: companies
        sync_mode: full_refresh
      - name: deals
        sync_mode: incremental
{extra_options}"#
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `read_parquet` over one raw stream of a warehouse.
pub fn raw(warehouse: &Path, source: &str, stream: &str) -> String {
    format!(
        "read_parquet('{}/raw/{source}/{stream}/**/*.parquet', hive_partitioning = true)",
        warehouse.display()
    )
}

/// [`braid`] on a blocking thread, so an in-process sandbox keeps serving.
pub async fn braid_async(args: Vec<String>, env: Vec<(String, String)>) -> Ran {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        braid(&args, &env)
    })
    .await
    .expect("braid thread")
}

/// The environment pointing the HubSpot pipeline at `sandbox`.
pub fn hubspot_env(sandbox: &Sandbox, token: &str) -> Vec<(String, String)> {
    vec![
        ("HUBSPOT_BASE_URL".into(), sandbox.hubspot_base_url()),
        ("HUBSPOT_ACCESS_TOKEN".into(), token.into()),
    ]
}

/// Strings for `braid run FILE --warehouse DIR --report REPORT`.
pub fn run_args(pipeline: &Path, warehouse: &Path, report: &Path) -> Vec<String> {
    vec![
        "run".into(),
        pipeline.display().to_string(),
        "--warehouse".into(),
        warehouse.display().to_string(),
        "--report".into(),
        report.display().to_string(),
    ]
}

/// Reads a run report.
pub fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report file")).expect("report json")
}

/// The report entry of one stream.
pub fn stream_report<'a>(report: &'a serde_json::Value, stream: &str) -> &'a serde_json::Value {
    report["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["stream"] == stream)
        .unwrap_or_else(|| panic!("no stream {stream} in report"))
}

/// Starts `braid ARGS` in the background, output discarded.
pub fn spawn_braid(args: Vec<String>, env: Vec<(String, String)>) -> std::process::Child {
    Command::new(braid_bin())
        .args(args)
        .envs(env)
        .env("BRAID_LOG_FORMAT", "text")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn braid")
}

/// The sorted integer `ids` of a sandbox `…/mutate` answer.
pub fn mutated_ids(answer: &serde_json::Value) -> Vec<i64> {
    let mut ids: Vec<i64> = answer["ids"]
        .as_array()
        .expect("ids in the mutate answer")
        .iter()
        .map(|v| v.as_i64().expect("an integer id"))
        .collect();
    ids.sort();
    ids
}

/// The sorted integer `id`s that run `run_id` landed in `table` (a [`raw`] expression).
pub fn run_ids(table: &str, run_id: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = duckdb(&format!(
        "SELECT id FROM {table} WHERE _braid_run_id = '{run_id}'"
    ))
    .into_iter()
    .map(|r| r[0].as_i64().expect("an integer id"))
    .collect();
    ids.sort();
    ids
}
