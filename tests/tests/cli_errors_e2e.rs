//! Bad input gives the documented exit code and a message that points at the problem.

mod common;

use common::*;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn malformed_yaml_reports_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "bad.yaml",
        "name: x\nsources:\n  - name: a\n    connector: [unclosed\n",
    );
    let ran = braid(&["validate", &f], &[]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr.contains("bad.yaml:"),
        "names the file: {}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains(":4:") || ran.stderr.contains(":5:"),
        "names the line: {}",
        ran.stderr
    );
}

#[test]
fn unknown_connector_and_bad_sync_mode_point_at_their_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "p.yaml",
        "name: p\nsources:\n  - name: crm\n    connector: hubspott\n    config: {access_token: x}\n",
    );
    let ran = braid(&["validate", &f], &[]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(ran.stderr.contains("p.yaml:4:"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("hubspott") && ran.stderr.contains("hubspot"),
        "{}",
        ran.stderr
    );

    let g = write(
        tmp.path(),
        "q.yaml",
        "name: q\nsources:\n  - name: crm\n    connector: hubspot\n    config: {access_token: x}\n    streams:\n      - name: contacts\n        sync_mode: incremantal\n",
    );
    let ran = braid(&["validate", &g], &[]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(ran.stderr.contains("q.yaml:8:"), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("incremental"),
        "says what was expected: {}",
        ran.stderr
    );
}

#[test]
fn a_missing_environment_variable_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "p.yaml",
        "name: p\nsources:\n  - name: crm\n    connector: hubspot\n    config:\n      access_token: ${BRAID_TEST_SURELY_UNSET_TOKEN}\n",
    );
    let ran = braid(
        &[
            "run",
            &f,
            "--warehouse",
            &tmp.path().join("wh").display().to_string(),
        ],
        &[],
    );
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr.contains("BRAID_TEST_SURELY_UNSET_TOKEN"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("p.yaml:6:"), "{}", ran.stderr);
}

#[test]
fn the_shipped_pipelines_validate_and_the_schema_is_published() {
    let root = common::manifest_dir().join("..");
    for p in ["pipelines/hubspot_crm.yaml", "pipelines/store_files.yaml"] {
        let f = root.join(p).display().to_string();
        let ran = braid(&["validate", &f], &[("HUBSPOT_ACCESS_TOKEN", "x")]);
        assert_eq!(ran.code, 0, "{p}: {}", ran.all());
    }
    let schema = braid(&["schema"], &[]);
    assert_eq!(schema.code, 0);
    let v: serde_json::Value = serde_json::from_str(&schema.stdout).expect("schema is JSON");
    assert!(schema.stdout.contains("sync_mode") && v.is_object());
}
