//! Identity resolution through `braid run` and `braid unify`: braid-identity's
//! persisted graph keeps braid_ids stable across runs, records merges as
//! retired ids in identity_links, explains edges and probabilistic scores,
//! re-resolves only what a run touched, and re-resolves everything (ids
//! kept) when the identity configuration changes.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const MEMBERS: &str = r#"{"member_id": "M1", "name": "Wang Fang", "phone": "+86 139 3028 4657", "wechat_unionid": null, "addr": null, "city": null, "zip": null, "born": null, "joined_at": "2023-01-05T09:00:00Z"}
{"member_id": "M2", "name": "Li Na", "phone": null, "wechat_unionid": "o6_w1", "addr": "88 Nanjing West Road Apt 12", "city": "Shanghai", "zip": "200041", "born": "1990-01-02", "joined_at": "2023-02-05T09:00:00Z"}
{"member_id": "M3", "name": "Li Na", "phone": "13100000003", "wechat_unionid": null, "addr": "88 Nanjing West Road Apt 12", "city": "Shanghai", "zip": "200041", "born": "1990-01-02", "joined_at": "2023-03-05T09:00:00Z"}
{"member_id": "M4", "name": "Zhao Lei", "phone": "13100000004", "wechat_unionid": null, "addr": "1 Century Avenue", "city": "Shanghai", "zip": "200120", "born": "1985-07-30", "joined_at": "2023-04-05T09:00:00Z"}
"#;

const HEADER: &str =
    "order_id,store_id,customer_phone,customer_email,amount,currency,status,created_at,updated_at\n";

fn pipeline(dir: &Path, probabilistic: bool) -> std::path::PathBuf {
    let path = dir.join("identity.yaml");
    let yaml = format!(
        r#"name: identity_e2e
sources:
  - name: store_pos
    connector: files
    config:
      streams:
        - name: orders
          path: data/orders-*.csv
          primary_key: [order_id]
          cursor_field: updated_at
          schema:
            - {{name: order_id, type: string, nullable: false}}
            - {{name: store_id, type: string}}
            - {{name: customer_phone, type: string}}
            - {{name: customer_email, type: string}}
            - {{name: amount, type: "decimal(12,2)"}}
            - {{name: currency, type: string}}
            - {{name: status, type: string}}
            - {{name: created_at, type: timestamp}}
            - {{name: updated_at, type: timestamp}}
        - name: loyalty_members
          path: data/members.jsonl
          primary_key: [member_id]
    streams:
      - name: orders
        sync_mode: incremental
      - name: loyalty_members
        sync_mode: full_refresh
unify:
  identity:
    probabilistic: {probabilistic}
  mappings:
    - source: store_pos
      stream: loyalty_members
      table: customers
      columns:
        address: addr
        city: city
        postcode: zip
        birth_date: born
"#
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// braid_id per (stream, source_id) in the unified layer.
fn ids(wh: &Path) -> std::collections::BTreeMap<String, Option<String>> {
    let mut out = std::collections::BTreeMap::new();
    for table in ["customers", "orders"] {
        for row in duckdb(&format!(
            "SELECT source_id, braid_id FROM read_parquet('{}/unified/{table}/store_pos/*.parquet') ORDER BY 1",
            wh.display()
        )) {
            out.insert(
                row[0].as_str().unwrap().to_owned(),
                row[1].as_str().map(str::to_owned),
            );
        }
    }
    out
}

fn id(map: &std::collections::BTreeMap<String, Option<String>>, k: &str) -> String {
    map.get(k)
        .and_then(Clone::clone)
        .unwrap_or_else(|| panic!("{k} has no braid_id: {map:?}"))
}

fn run(pipeline: &Path, wh: &Path, tmp: &Path, name: &str) -> Ran {
    let report = tmp.join(format!("{name}.json"));
    let ran = braid(
        &run_args(pipeline, wh, &report)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    ran
}

fn explain(wh: &Path, braid_id: &str) -> Value {
    let ran = braid(
        &[
            "identity",
            "explain",
            braid_id,
            "--warehouse",
            &wh.display().to_string(),
        ],
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
}

#[test]
fn braid_ids_are_stable_across_runs_merges_retire_ids_and_explain_shows_scores() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("members.jsonl"), MEMBERS).unwrap();
    std::fs::write(
        data.join("orders-1.csv"),
        format!(
            "{HEADER}O1,SH-1,139 3028 4657,a@x.com,10.00,CNY,paid,2024-03-01T10:00:00Z,2024-03-01T10:00:00Z\n\
             O2,SH-1,13100000004,,20.00,CNY,paid,2024-03-01T11:00:00Z,2024-03-01T11:00:00Z\n\
             O3,SH-1,,,5.00,CNY,paid,2024-03-01T12:00:00Z,2024-03-01T12:00:00Z\n"
        ),
    )
    .unwrap();
    let p = pipeline(dir, true);
    let wh = dir.join("wh");

    // Run 1: O1 and M1 share a phone; M2 and M3 share no identifier but
    // the same name, address, postcode and birth date (probabilistic);
    // O2 and M4 share a phone; O3 has no identifier (no person).
    let ran = run(&p, &wh, dir, "r1");
    assert!(ran.stderr.contains("probabilistic match"), "{}", ran.stderr);
    let r1 = ids(&wh);
    assert_eq!(id(&r1, "O1"), id(&r1, "M1"));
    assert_eq!(id(&r1, "M2"), id(&r1, "M3"));
    assert_eq!(id(&r1, "O2"), id(&r1, "M4"));
    assert_eq!(r1["O3"], None);
    let people: std::collections::BTreeSet<String> = r1.values().flatten().cloned().collect();
    assert_eq!(people.len(), 3);
    let mart = format!(
        "read_parquet('{}/marts/customer_360/*.parquet')",
        wh.display()
    );
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {mart}")), 3);

    // explain: the shared phone is a deterministic edge of score 1; the
    // name/address match carries its score, the threshold and per-field weights.
    let e = explain(&wh, &id(&r1, "O1"));
    let edges = e["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{e}");
    assert_eq!(edges[0]["identifier"], "phone:+8613930284657");
    assert_eq!(edges[0]["score"], 1.0);
    assert_eq!(
        edges[0]["records"],
        serde_json::json!(["store_pos/loyalty_members/M1", "store_pos/orders/O1"])
    );
    let e = explain(&wh, &id(&r1, "M2"));
    assert_eq!(e["edges"].as_array().unwrap().len(), 0, "{e}");
    let m = &e["probabilistic"][0];
    assert_eq!(
        m["records"],
        serde_json::json!([
            "store_pos/loyalty_members/M2",
            "store_pos/loyalty_members/M3"
        ])
    );
    let (score, needed) = (m["score"].as_f64().unwrap(), m["needed"].as_f64().unwrap());
    assert!(score >= needed && needed > 0.0, "{m}");
    let fields: Vec<&str> = m["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["level"] == "agree")
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for f in ["name", "address", "postcode", "birth_date"] {
        assert!(fields.contains(&f), "{f} agrees: {m}");
    }
    let links = format!(
        "read_parquet('{}/unified/identity_links/*.parquet')",
        wh.display()
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {links} WHERE status = 'probabilistic'"
        )),
        2,
        "one row per side of the match"
    );

    // Run 2: nothing new in the orders, the members are re-landed whole
    // (full refresh): every id stays.
    let ran = run(&p, &wh, dir, "r2");
    assert_eq!(ids(&wh), r1);
    // Landed again as they were: nothing to re-stitch.
    assert!(!ran.stderr.contains("re-stitched"), "{}", ran.stderr);

    // Run 3: a new order joins Wang Fang (email a@x.com) and Zhao Lei
    // (phone of M4): the older id survives (both were minted in run 1: the
    // smaller), the other is retired into it; nobody else changes.
    std::fs::write(
        data.join("orders-2.csv"),
        format!(
            "{HEADER}O4,SH-2,+86 131 0000 0004,A@X.com,30.00,CNY,paid,2024-03-02T10:00:00Z,2024-03-02T10:00:00Z\n"
        ),
    )
    .unwrap();
    let ran = run(&p, &wh, dir, "r3");
    assert!(
        ran.stderr.contains("1 merged into older ids"),
        "{}",
        ran.stderr
    );
    // Incremental: only O4 and the two clusters it touches (O1, M1, O2,
    // M4) are re-stitched; M2 and M3, landed again unchanged, are not.
    assert!(
        ran.stderr
            .contains("identity: 5 record(s) re-stitched, 0 braid_id(s) minted"),
        "{}",
        ran.stderr
    );
    let r3 = ids(&wh);
    let (a, b) = (id(&r1, "O1"), id(&r1, "O2"));
    let (survivor, retired) = if a < b { (a, b) } else { (b, a) };
    for k in ["O1", "M1", "O2", "M4", "O4"] {
        assert_eq!(id(&r3, k), survivor, "{k}");
    }
    assert_eq!(id(&r3, "M2"), id(&r1, "M2"));
    assert_eq!(r3["O3"], None);
    assert_eq!(
        duckdb(&format!(
            "SELECT braid_id, retired_braid_id FROM {links} WHERE status = 'retired'"
        )),
        vec![vec![
            Value::from(survivor.clone()),
            Value::from(retired.clone())
        ]]
    );
    // A retired id explains the person it merged into.
    let e = explain(&wh, &retired);
    assert_eq!(e["braid_id"], survivor.as_str());
    assert_eq!(e["retired_ids"], serde_json::json!([retired]));
    assert_eq!(e["records"].as_array().unwrap().len(), 5);
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {mart}")), 2);

    // Probabilistic pass off (`braid unify` with the changed file): the
    // whole graph is re-resolved (7 records: the 4 members and the 3
    // orders with identifiers; O3 has none and is not in the graph); M2 keeps the id (smaller key), M3 gets a
    // new one, the merged person keeps its id.
    let off = pipeline(dir, false);
    let ran = braid(
        &[
            "unify",
            &off.display().to_string(),
            "--warehouse",
            &wh.display().to_string(),
        ],
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stderr.contains("identity: 7 record(s) re-stitched"),
        "{}",
        ran.stderr
    );
    let r4 = ids(&wh);
    assert_eq!(id(&r4, "M2"), id(&r1, "M2"));
    let m3 = id(&r4, "M3");
    assert_ne!(m3, id(&r1, "M2"));
    assert_eq!(id(&r4, "O1"), survivor);
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {links} WHERE status = 'probabilistic'"
        )),
        0
    );
    // And nothing changes on a re-run with the same configuration.
    let ran = braid(
        &[
            "unify",
            &off.display().to_string(),
            "--warehouse",
            &wh.display().to_string(),
        ],
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!ran.stderr.contains("re-stitched"), "{}", ran.stderr);
    assert_eq!(ids(&wh), r4);
}
