//! A connector as a dynamic-library plugin end to end: the LoyaltyLion
//! connector (connectors/loyaltylion, written against braid-sdk alone) is
//! loaded from its `cdylib` by `connector: plugin:…` and must land exactly
//! what the same code lands compiled into braid.

mod common;

use std::path::{Path, PathBuf};

use braid_sandbox::SandboxConfig;
use common::*;

const KEY: &str = "ll_e2e_program_key_0123456789";

fn config(customers: u64, transactions: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.loyaltylion.api_key = KEY.into();
    c.loyaltylion.customers = customers;
    c.loyaltylion.transactions = transactions;
    c.loyaltylion.requests_per_second = 1000;
    c
}

fn pipeline() -> PathBuf {
    common::manifest_dir().join("../pipelines/loyaltylion.yaml")
}

/// The plugin library, built beside the `braid` binary (scripts/test.sh
/// builds it with `cargo build -p braid-connector-loyaltylion`).
fn plugin_library() -> PathBuf {
    let file = format!(
        "{}braid_connector_loyaltylion{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let p = braid_bin()
        .parent()
        .expect("the braid binary's directory")
        .join(file);
    assert!(
        p.is_file(),
        "{} missing: build it with `cargo build -p braid-connector-loyaltylion`",
        p.display()
    );
    p
}

fn env(sb: &braid_sandbox::Sandbox, connector: Option<&str>) -> Vec<(String, String)> {
    let mut e = vec![
        (
            "LOYALTYLION_BASE_URL".into(),
            format!("{}/loyaltylion", sb.base_url()),
        ),
        ("LOYALTYLION_API_KEY".into(), KEY.into()),
    ];
    if let Some(c) = connector {
        e.push(("LOYALTYLION_CONNECTOR".into(), c.into()));
    }
    e
}

/// Rows of `a` missing from `b`, braid's per-run columns left out.
fn rows_missing(a: &str, b: &str) -> i64 {
    let cols = "* EXCLUDE (_braid_run_id, _braid_ingested_at)";
    duckdb_int(&format!(
        "SELECT count(*) FROM (SELECT {cols} FROM {a} EXCEPT ALL SELECT {cols} FROM {b})"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_lands_what_the_compiled_in_connector_lands() {
    let sb = sandbox(config(1500, 4000)).await;
    let tmp = tempfile::tempdir().unwrap();
    let lib = plugin_library();
    let (builtin_wh, plugin_wh) = (tmp.path().join("builtin"), tmp.path().join("plugin"));

    let ran = braid_async(
        run_args(&pipeline(), &builtin_wh, &tmp.path().join("b.json")),
        env(&sb, None),
    )
    .await;
    assert_eq!(ran.code, 0, "compiled in:\n{}", ran.all());
    let connector = format!("plugin:{}", lib.display());
    let r1 = tmp.path().join("p1.json");
    let ran = braid_async(
        run_args(&pipeline(), &plugin_wh, &r1),
        env(&sb, Some(&connector)),
    )
    .await;
    assert_eq!(ran.code, 0, "plugin:\n{}", ran.all());
    assert!(!ran.all().contains(KEY), "the key leaked");

    for (stream, n) in [("customers", 1500), ("transactions", 4000)] {
        let a = raw(&builtin_wh, "loyaltylion", stream);
        let b = raw(&plugin_wh, "loyaltylion", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {b}")),
            n,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!("SELECT count(DISTINCT id) FROM {b}")),
            n,
            "{stream}"
        );
        assert_eq!(
            rows_missing(&a, &b),
            0,
            "{stream}: compiled-in rows the plugin lacks"
        );
        assert_eq!(
            rows_missing(&b, &a),
            0,
            "{stream}: plugin rows the compiled-in lacks"
        );
    }
    // Same Arrow schema through the C Stream Interface: nested structs, lists, zoned times.
    let schema = |wh: &Path| {
        pyarrow(
            "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema.remove_metadata())",
            &wh.join("raw/loyaltylion/customers"),
        )
    };
    let plugin_schema = schema(&plugin_wh);
    assert_eq!(schema(&builtin_wh), plugin_schema);
    assert!(
        plugin_schema.contains("updated_at: timestamp[us, tz=UTC] not null"),
        "{plugin_schema}"
    );

    // Incremental through the plugin: its state round-trips as JSON.
    let changed = admin(
        &sb,
        "/_sandbox/loyaltylion/mutate",
        serde_json::json!({"object": "customers", "count": 30, "create": 5}),
    )
    .await;
    let expected = mutated_ids(&changed);
    admin(
        &sb,
        "/_sandbox/loyaltylion/mutate",
        serde_json::json!({"object": "transactions", "create": 12}),
    )
    .await;
    let r2 = tmp.path().join("p2.json");
    let ran = braid_async(
        run_args(&pipeline(), &plugin_wh, &r2),
        env(&sb, Some(&connector)),
    )
    .await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r2);
    assert_eq!(
        stream_report(&rep, "customers")["rows_committed"],
        35,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "transactions")["rows_committed"],
        12,
        "{rep}"
    );
    let run2 = rep["run_id"].as_str().unwrap();
    assert_eq!(
        run_ids(&raw(&plugin_wh, "loyaltylion", "customers"), run2),
        expected,
        "exactly the changed members"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_found_by_name_in_braid_plugin_path_and_listed() {
    let sb = sandbox(config(200, 300)).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("plugins");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        plugin_library(),
        dir.join("libbraid_connector_loyaltylion.so"),
    )
    .unwrap();
    std::fs::write(dir.join("libbroken.so"), b"not a library").unwrap();
    let path = dir.display().to_string();

    let listed = braid(&["plugins", "list"], &[("BRAID_PLUGIN_PATH", &path)]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    let line = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("loyaltylion"))
        .unwrap_or_else(|| panic!("{}", listed.all()));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &words[..3],
        &["loyaltylion", env!("CARGO_PKG_VERSION"), "1"],
        "name, version, ABI version: {line}"
    );
    assert!(
        listed.stdout.contains("libbroken.so") && listed.stdout.contains("cannot load plugin"),
        "{}",
        listed.stdout
    );
    let json = braid(
        &["plugins", "list", "--json"],
        &[("BRAID_PLUGIN_PATH", &path)],
    );
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "loyaltylion" && r["abi_version"] == 1));

    // By name: the spec name resolves through BRAID_PLUGIN_PATH.
    let mut e = env(&sb, Some("plugin:loyaltylion"));
    e.push(("BRAID_PLUGIN_PATH".into(), path.clone()));
    let wh = tmp.path().join("wh");
    let ran = braid_async(run_args(&pipeline(), &wh, &tmp.path().join("r.json")), e).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "loyaltylion", "transactions")
        )),
        300
    );

    // A name found nowhere: a config error at the connector's line, naming the search.
    let mut e = env(&sb, Some("plugin:acme_pos"));
    e.push(("BRAID_PLUGIN_PATH".into(), path.clone()));
    let ran = braid_async(
        run_args(
            &pipeline(),
            &tmp.path().join("wh2"),
            &tmp.path().join("r2.json"),
        ),
        e,
    )
    .await;
    assert_eq!(ran.code, 2, "config errors exit 2:\n{}", ran.all());
    assert!(
        ran.stderr.contains("loyaltylion.yaml:")
            && ran
                .stderr
                .contains("no plugin named `acme_pos` found in BRAID_PLUGIN_PATH")
            && ran.stderr.contains(&path),
        "{}",
        ran.stderr
    );
    sb.shutdown().await;
}
