//! Real, unmodified connectors run by braid as subprocesses: airbyte-source-faker
//! (Airbyte protocol) and tap-jsonl (Singer), installed by scripts/test.sh into
//! their own virtualenvs and named by `AIRBYTE_SOURCE_FAKER` and `TAP_JSONL`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn command(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the README's test command (scripts/test.sh), which installs the connector into its own virtualenv under ~/.cache/braid")
    })
}

fn run(pipeline: &Path, wh: &Path, report_path: &Path, env: &[(&str, &str)]) -> Ran {
    let args = run_args(pipeline, wh, report_path);
    braid(&args.iter().map(String::as_str).collect::<Vec<_>>(), env)
}

/// A pipeline running `command` with faker's config.
fn faker_pipeline(dir: &Path, command: &str, count: u64, always_updated: bool) -> PathBuf {
    let path = dir.join("faker.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: faker_e2e
sources:
  - name: faker
    connector: "airbyte:{command}"
    config:
      connector_config: {{count: {count}, seed: 11, records_per_slice: 40, always_updated: {always_updated}, parallelism: 1}}
      batch_rows: 64
"#
        ),
    )
    .unwrap();
    path
}

/// A script that runs the real connector (`$AIRBYTE_SOURCE_FAKER`) unmodified
/// after copying the `--state` file it is given to `seen_state` (and
/// removing any earlier copy when it is given none).
fn state_recorder(dir: &Path, seen_state: &Path) -> PathBuf {
    let path = dir.join("record-state.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nrm -f '{seen}'\nprev=\nfor a in \"$@\"; do\n  if [ \"$prev\" = --state ]; then cp \"$a\" '{seen}'; fi\n  prev=\"$a\"\ndone\nexec \"$AIRBYTE_SOURCE_FAKER\" \"$@\"\n",
            seen = seen_state.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

fn state(wh: &Path, pipeline: &str, source: &str) -> serde_json::Value {
    let path = wh.join(format!("_braid/state/{pipeline}/{source}.json"));
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn count(wh: &Path, source: &str, stream: &str) -> i64 {
    duckdb_int(&format!("SELECT count(*) FROM {}", raw(wh, source, stream)))
}

#[test]
fn airbyte_faker_lands_every_record_typed_and_its_state_round_trips() {
    let faker = command("AIRBYTE_SOURCE_FAKER");
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let seen = tmp.path().join("seen-state.json");
    let recorder = state_recorder(tmp.path(), &seen);
    let pipeline = faker_pipeline(tmp.path(), &recorder.display().to_string(), 150, false);
    let env = [("AIRBYTE_SOURCE_FAKER", faker.as_str())];

    let r1 = tmp.path().join("r1.json");
    let ran = run(&pipeline, &wh, &r1, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!seen.exists(), "a first run passes no --state");
    // faker's products are a fixed list of 100, cut at `count`.
    for (stream, n) in [("users", 150), ("purchases", -1), ("products", 100)] {
        let t = raw(&wh, "faker", stream);
        let rows = duckdb_int(&format!("SELECT count(*) FROM {t}"));
        let ids = duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}"));
        assert_eq!(rows, ids, "{stream}: no record twice");
        if n >= 0 {
            assert_eq!(rows, n, "{stream}");
        } else {
            // Purchases: zero or more per user, ids counting from 1.
            assert!(rows > 50, "{stream}: {rows}");
            assert_eq!(duckdb_int(&format!("SELECT max(id) FROM {t}")), rows);
        }
    }
    let rep = report(&r1);
    for s in rep["streams"].as_array().unwrap() {
        let stream = s["stream"].as_str().unwrap();
        assert_eq!(
            s["rows_committed"].as_i64().unwrap(),
            count(&wh, "faker", stream),
            "{s}"
        );
    }
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/faker/users"),
    );
    assert!(schema.contains("id: int64"), "{schema}");
    assert!(
        schema.contains("updated_at: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(
        schema.contains("address: struct<street_number: string"),
        "{schema}"
    );
    let users = raw(&wh, "faker", "users");
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {users} WHERE address.city IS NOT NULL AND email LIKE '%@%'"
        )),
        150
    );

    // The connector's LOG messages are braid's log lines.
    assert!(
        ran.stderr.contains("Read 150 records from users stream"),
        "{}",
        ran.stderr
    );

    // The connector's own per-stream state is committed with the data.
    let s = state(&wh, "faker_e2e", "faker");
    let users_state = &s["state"]["streams"]["users"];
    assert_eq!(users_state["records_committed"], 150);
    let committed = users_state["resume"]["airbyte"].clone();
    assert_eq!(committed["type"], "STREAM");
    assert_eq!(committed["stream"]["stream_state"]["loop_offset"], 150);
    assert!(committed.get("sourceStats").is_none(), "{committed}");

    // A second run hands that state back, as an array of the STREAM
    // messages the connector wrote: faker (always_updated: false) then has
    // nothing new, so nothing lands; without the state it would re-send all.
    let r2 = tmp.path().join("r2.json");
    let ran = run(&pipeline, &wh, &r2, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let given: serde_json::Value = serde_json::from_slice(&std::fs::read(&seen).unwrap()).unwrap();
    let given = given
        .as_array()
        .expect("--state is an array of state messages");
    assert_eq!(given.len(), 3, "{given:?}");
    let users_given = given
        .iter()
        .find(|m| m["stream"]["stream_descriptor"]["name"] == "users")
        .unwrap();
    assert_eq!(users_given, &committed);
    let rep = report(&r2);
    for s in rep["streams"].as_array().unwrap() {
        assert_eq!(s["rows_pulled"], 0, "{s}");
        assert_eq!(
            s["state_before"]["resume"], s["state_after"]["resume"],
            "{s}"
        );
    }
    assert_eq!(count(&wh, "faker", "users"), 150);
}

#[test]
fn airbyte_faker_incremental_run_after_updates_lands_the_new_versions_past_the_committed_cursor() {
    let faker = command("AIRBYTE_SOURCE_FAKER");
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let env = [("AIRBYTE_SOURCE_FAKER", faker.as_str())];
    let pipeline = faker_pipeline(tmp.path(), "${AIRBYTE_SOURCE_FAKER}", 60, false);
    let ran = run(&pipeline, &wh, &tmp.path().join("r1.json"), &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let first = state(&wh, "faker_e2e", "faker")["state"]["streams"]["users"].clone();
    assert_eq!(count(&wh, "faker", "users"), 60);

    // faker with always_updated: every record again, each with a new
    // updated_at: the second run lands them as new versions after the
    // committed cursor, and the cursor moves on.
    std::thread::sleep(std::time::Duration::from_millis(1100)); // faker's updated_at has whole seconds
    let pipeline = faker_pipeline(tmp.path(), "${AIRBYTE_SOURCE_FAKER}", 60, true);
    let r2 = tmp.path().join("r2.json");
    let ran = run(&pipeline, &wh, &r2, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let users = raw(&wh, "faker", "users");
    assert_eq!(count(&wh, "faker", "users"), 120);
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM (SELECT id FROM {users} GROUP BY id HAVING count(*) = 2 AND count(DISTINCT updated_at) = 2)"
        )),
        60,
        "each user twice, at two different updated_at"
    );
    let second = state(&wh, "faker_e2e", "faker")["state"]["streams"]["users"].clone();
    assert!(
        second["cursor"]["timestamp_micros"].as_i64()
            > first["cursor"]["timestamp_micros"].as_i64(),
        "{first} -> {second}"
    );
    assert_eq!(stream_report(&report(&r2), "users")["rows_committed"], 60);
}

#[test]
fn a_failing_airbyte_source_fails_the_run_with_its_error_and_stderr_tail() {
    let faker = command("AIRBYTE_SOURCE_FAKER");
    let tmp = tempfile::tempdir().unwrap();
    // The real connector, rejecting its config: TRACE error, exit code 1.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "name: faker_bad\nsources:\n  - name: faker\n    connector: \"airbyte:${AIRBYTE_SOURCE_FAKER}\"\n    config:\n      connector_config: {count: many}\n",
    )
    .unwrap();
    let wh = tmp.path().join("wh");
    let ran = run(
        &bad,
        &wh,
        &tmp.path().join("r.json"),
        &[("AIRBYTE_SOURCE_FAKER", &faker)],
    );
    assert_ne!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.all().contains(
            "exited with code 1: Config validation error: 'many' is not of type 'integer'"
        ),
        "{}",
        ran.all()
    );
    // Its TRACE error is an error line of braid's log too.
    assert!(
        ran.stderr
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("Config validation error")),
        "{}",
        ran.stderr
    );

    // The real connector dying half-way through `read` (its output cut
    // after 400 lines): the run fails with the exit code and the last
    // stderr lines, and nothing after the last committed checkpoint lands.
    let wrapper = tmp.path().join("dies.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nif [ \"$1\" != read ]; then exec \"$AIRBYTE_SOURCE_FAKER\" \"$@\"; fi\n\"$AIRBYTE_SOURCE_FAKER\" \"$@\" | head -n 400\necho 'worker lost: out of memory' >&2\nexit 137\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let pipeline = |command: &str| {
        let path = tmp.path().join("dies.yaml");
        std::fs::write(
            &path,
            format!(
                "name: faker_dies\noptions:\n  commit_every_bytes: 1\nsources:\n  - name: faker\n    connector: \"airbyte:{command}\"\n    config:\n      connector_config: {{count: 500, seed: 1, records_per_slice: 10, always_updated: false, parallelism: 1}}\n"
            ),
        )
        .unwrap();
        path
    };
    let env = [("AIRBYTE_SOURCE_FAKER", faker.as_str())];
    let r = tmp.path().join("r2.json");
    let ran = run(&pipeline(&wrapper.display().to_string()), &wh, &r, &env);
    assert_ne!(ran.code, 0, "{}", ran.all());
    assert!(ran.all().contains("exited with code 137"), "{}", ran.all());
    assert!(
        ran.all().contains("worker lost: out of memory"),
        "{}",
        ran.all()
    );
    // What was committed matches what landed: the checkpointed slices only.
    let rep = report(&r);
    let mut committed = 0;
    for s in rep["streams"].as_array().unwrap() {
        let rows = s["rows_committed"].as_i64().unwrap();
        let stream = s["stream"].as_str().unwrap();
        let landed = if wh.join(format!("raw/faker/{stream}")).exists() {
            count(&wh, "faker", stream)
        } else {
            0
        };
        assert_eq!(landed, rows, "{s}");
        committed += rows;
    }
    assert!(
        committed > 0,
        "checkpoints before the crash were committed: {rep}"
    );
    assert!(
        committed < 400,
        "records after the last checkpoint did not land: {rep}"
    );

    // The next run, with the real connector, resumes from the committed
    // states: every stream ends with each record once.
    let r3 = tmp.path().join("r3.json");
    let ran = run(&pipeline("${AIRBYTE_SOURCE_FAKER}"), &wh, &r3, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    for stream in ["users", "purchases", "products"] {
        let t = raw(&wh, "faker", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) - count(DISTINCT id) FROM {t}")),
            0,
            "{stream}"
        );
    }
}

fn write_jsonl(path: &Path, ids: std::ops::RangeInclusive<i64>, mtime: &str) {
    let text: String = ids
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"email\": \"u{i}@example.com\", \"amount\": {}.25, \"signed_up\": \"2024-0{}-0{}T10:00:00Z\", \"tags\": [\"a\", {i}], \"meta\": {{\"k\": {i}}}}}\n",
                i * 3,
                1 + i % 9,
                1 + i % 9
            )
        })
        .collect();
    std::fs::write(path, text).unwrap();
    let ok = std::process::Command::new("touch")
        .args(["-d", mtime])
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn singer_tap_jsonl_incremental_runs_land_new_records_once_and_never_boundary_records_twice() {
    let tap = command("TAP_JSONL");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_jsonl(&data.join("a.jsonl"), 1..=4, "2024-05-01 00:00:00");
    write_jsonl(&data.join("b.jsonl"), 5..=7, "2024-05-02 00:00:00");
    let pipeline = tmp.path().join("events.yaml");
    std::fs::write(
        &pipeline,
        "name: events_e2e\nsources:\n  - name: events\n    connector: \"singer:${TAP_JSONL}\"\n    config:\n      cwd: data\n      connector_config: {path: \"*.jsonl\", stream_name: events, primary_keys: [id]}\n    streams:\n      - {name: events, sync_mode: incremental}\n",
    )
    .unwrap();
    let env = [("TAP_JSONL", tap.as_str())];
    let wh = tmp.path().join("wh");
    let t = raw(&wh, "events", "events");

    let ran = run(&pipeline, &wh, &tmp.path().join("r1.json"), &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {t}")), 7);
    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/events/events"),
    );
    assert!(
        schema.contains("signed_up: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert!(schema.contains("amount: double"), "{schema}");
    assert!(
        schema.contains("_sdc_last_modified: timestamp[us, tz=UTC]"),
        "{schema}"
    );
    assert_eq!(
        duckdb(&format!("SELECT meta, tags FROM {t} WHERE id = 2")),
        vec![vec![
            serde_json::json!(r#"{"k":2}"#),
            serde_json::json!(r#"["a",2]"#)
        ]],
        "open-shaped values land as the JSON text the tap sent"
    );
    let s = state(&wh, "events_e2e", "events");
    assert!(
        s["state"]["streams"]["events"]["resume"]["singer"]["bookmarks"]["events"].is_object(),
        "{s}"
    );

    // A new file. With its state, tap-jsonl re-sends every file once per
    // bookmarked partition (and the boundary file's records at the committed
    // cursor): braid lands the new file's records, each once.
    write_jsonl(&data.join("c.jsonl"), 8..=10, "2024-05-03 00:00:00");
    let r2 = tmp.path().join("r2.json");
    let ran = run(&pipeline, &wh, &r2, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r2);
    let events = &rep["streams"][0];
    assert_eq!(events["rows_committed"], 3, "{events}");
    assert_eq!(
        events["rows_deduplicated"], 3,
        "the boundary file's records: {events}"
    );
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {t}")), 10);
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT id) FROM {t}")),
        10
    );

    // Nothing changed: nothing lands.
    let r3 = tmp.path().join("r3.json");
    let ran = run(&pipeline, &wh, &r3, &env);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(report(&r3)["streams"][0]["rows_committed"], 0);
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {t}")), 10);
}

#[test]
fn the_shipped_subprocess_pipelines_run() {
    let root = common::manifest_dir().join("..");
    let faker = command("AIRBYTE_SOURCE_FAKER");
    let tap = command("TAP_JSONL");
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    for (file, env) in [
        (
            "pipelines/airbyte_faker.yaml",
            ("AIRBYTE_SOURCE_FAKER", faker.as_str()),
        ),
        ("pipelines/singer_events.yaml", ("TAP_JSONL", tap.as_str())),
    ] {
        let ran = run(&root.join(file), &wh, &tmp.path().join("r.json"), &[env]);
        assert_eq!(ran.code, 0, "{file}: {}", ran.all());
    }
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "faker", "users")
        )),
        500
    );
    assert!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "events", "events")
        )) > 0
    );
}

/// `braid demo` over a copy of the shipped subprocess pipelines, with
/// `env` as the only connector variables.
fn demo(dir: &Path, env: &[(&str, &str)]) -> Ran {
    let root = common::manifest_dir().join("..");
    let pipes = dir.join("pipelines");
    if !pipes.exists() {
        std::fs::create_dir_all(pipes.join("data/events")).unwrap();
        for f in ["airbyte_faker.yaml", "singer_events.yaml"] {
            std::fs::copy(root.join("pipelines").join(f), pipes.join(f)).unwrap();
        }
        for e in std::fs::read_dir(root.join("pipelines/data/events")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), pipes.join("data/events").join(e.file_name())).unwrap();
        }
    }
    let mut cmd = std::process::Command::new(braid_bin());
    cmd.args(["demo", "--pipelines"])
        .arg(&pipes)
        .arg("--warehouse")
        .arg(dir.join("wh"))
        .env("BRAID_LOG_FORMAT", "text")
        .env_remove("RUST_LOG")
        .env_remove("AIRBYTE_SOURCE_FAKER")
        .env_remove("TAP_JSONL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run braid demo").into()
}

#[test]
fn the_demo_skips_subprocess_pipelines_whose_connector_is_not_installed() {
    let tap = command("TAP_JSONL");
    let tmp = tempfile::tempdir().unwrap();

    // No variables: both skipped with a line saying what to set.
    let ran = demo(tmp.path(), &[]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    for (file, var) in [
        ("airbyte_faker.yaml", "AIRBYTE_SOURCE_FAKER"),
        ("singer_events.yaml", "TAP_JSONL"),
    ] {
        let line = format!("{file}: skipped: set {var} to the connector's command");
        assert!(ran.stderr.contains(&line), "{line}\n{}", ran.stderr);
    }

    // Variables naming commands that are not there (a removed virtualenv):
    // skipped too, naming the command; the installed tap runs.
    let gone = tmp.path().join("gone/bin/source-faker");
    let ran = demo(
        tmp.path(),
        &[
            ("AIRBYTE_SOURCE_FAKER", &gone.display().to_string()),
            ("TAP_JSONL", &tap),
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    let line = format!(
        "airbyte_faker.yaml: skipped: airbyte: `{}` is not installed",
        gone.display()
    );
    assert!(ran.stderr.contains(&line), "{line}\n{}", ran.stderr);
    assert!(!tmp.path().join("wh/raw/faker").exists());
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&tmp.path().join("wh"), "events", "events")
        )),
        12
    );
}
