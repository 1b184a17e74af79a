//! `braid run --backfill --from D --to D`: re-pulls a date range of the
//! date-cursor streams, keeps the committed cursor, and the next regular run
//! continues where the last one stopped.

mod common;

use std::path::Path;

use common::*;

fn write_orders(dir: &Path, name: &str, days: std::ops::RangeInclusive<u32>) {
    let mut csv = String::from("order_id,amount,updated_at\n");
    for day in days {
        for i in 0..10 {
            csv.push_str(&format!(
                "o-{day:02}-{i},{}.50,2026-11-{day:02}T{:02}:15:00Z\n",
                10 + i,
                8 + i
            ));
        }
    }
    std::fs::write(dir.join(name), csv).unwrap();
}

fn pipeline(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("orders.yaml");
    std::fs::write(
        &path,
        r#"name: orders_backfill
sources:
  - name: shop
    connector: files
    config:
      streams:
        - name: orders
          path: data/orders-*.csv
          primary_key: [order_id]
          cursor_field: updated_at
          schema:
            - {name: order_id, type: string, nullable: false}
            - {name: amount, type: "decimal(10,2)"}
            - {name: updated_at, type: timestamp}
        - name: notes
          path: data/notes.csv
    streams:
      - name: orders
        sync_mode: incremental
      - name: notes
        sync_mode: full_refresh
"#,
    )
    .unwrap();
    path
}

fn stream<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == name)
        .unwrap_or_else(|| panic!("no stream {name} in {report}"))
}

fn run(pipeline: &Path, wh: &Path, report: &Path, extra: &[&str]) -> Ran {
    let mut args: Vec<String> = run_args(pipeline, wh, report);
    args.extend(extra.iter().map(|s| s.to_string()));
    braid(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[])
}

#[test]
fn a_backfill_repulls_the_window_only_and_keeps_the_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_orders(&data, "orders-a.csv", 1..=10);
    std::fs::write(data.join("notes.csv"), "note\nhello\n").unwrap();
    let p = pipeline(tmp.path());
    let wh = tmp.path().join("wh");

    let r1 = tmp.path().join("r1.json");
    let ran = run(&p, &wh, &r1, &[]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let first = report(&r1);
    assert_eq!(stream(&first, "orders")["rows_committed"], 100);
    let cursor = stream(&first, "orders")["state_after"]["cursor"].clone();
    assert!(!cursor.is_null());

    // Backfill 3–4 November: exactly those 20 orders again, only the date-cursor stream.
    let r2 = tmp.path().join("r2.json");
    let ran = run(
        &p,
        &wh,
        &r2,
        &["--backfill", "--from", "2026-11-03", "--to", "2026-11-04"],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    let back = report(&r2);
    let orders = stream(&back, "orders");
    assert_eq!(orders["rows_committed"], 20, "{orders}");
    assert_eq!(orders["state_after"]["cursor"], cursor, "the cursor moved");
    assert!(
        back["streams"].as_array().unwrap().len() == 1,
        "a stream without a date cursor was read: {back}"
    );
    let table = raw(&wh, "shop", "orders");
    let days = duckdb(&format!(
        "SELECT strftime(updated_at, '%d') AS d, count(*) FROM {table} \
         WHERE _braid_run_id = '{}' GROUP BY d ORDER BY d",
        back["run_id"].as_str().unwrap()
    ));
    assert_eq!(
        days,
        vec![
            vec![serde_json::json!("03"), serde_json::json!(10)],
            vec![serde_json::json!("04"), serde_json::json!(10)],
        ]
    );

    // The next regular run continues from the committed cursor: only the new day.
    write_orders(&data, "orders-b.csv", 11..=11);
    let r3 = tmp.path().join("r3.json");
    let ran = run(&p, &wh, &r3, &[]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(stream(&report(&r3), "orders")["rows_committed"], 10);
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT order_id) FROM {table}")),
        110
    );

    // A reversed window is a usage error.
    let ran = run(
        &p,
        &wh,
        &tmp.path().join("r4.json"),
        &["--backfill", "--from", "2026-11-05", "--to", "2026-11-01"],
    );
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(ran.stderr.contains("is after"), "{}", ran.all());
}
