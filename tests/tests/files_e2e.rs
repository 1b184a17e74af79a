//! The shipped store-files pipeline end to end, read back by DuckDB and pyarrow.

mod common;

use common::*;

#[test]
fn store_files_pipeline_lands_every_row_with_exact_types_then_nothing_new() {
    let root = common::manifest_dir().join("..");
    let pipeline = root.join("pipelines/store_files.yaml");
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid(
        &run_args(&pipeline, &wh, &r1)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());

    let data = root.join("pipelines/data/pos");
    let csv_rows: usize = ["orders-2024-03.csv", "orders-2024-04.csv"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(data.join(f))
                .unwrap()
                .lines()
                .count()
                - 1
        })
        .sum();
    let members = std::fs::read_to_string(data.join("loyalty_members.jsonl"))
        .unwrap()
        .lines()
        .count();
    let orders = raw(&wh, "store_pos", "orders");
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {orders}")),
        csv_rows as i64
    );
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT order_id) FROM {orders}")),
        csv_rows as i64
    );
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "store_pos", "loyalty_members")
        )),
        members as i64
    );
    // The first order's amount is exact.
    let first = std::fs::read_to_string(data.join("orders-2024-03.csv")).unwrap();
    let line: Vec<&str> = first.lines().nth(1).unwrap().split(',').collect();
    let got = duckdb(&format!(
        "SELECT CAST(amount AS VARCHAR) FROM {orders} WHERE order_id = '{}'",
        line[0]
    ));
    assert_eq!(got[0][0].as_str().unwrap(), line[4]);

    let schema = pyarrow(
        "import pyarrow.dataset as ds, sys; print(ds.dataset(sys.argv[1], format='parquet', partitioning='hive').schema)",
        &wh.join("raw/store_pos/orders"),
    );
    assert!(schema.contains("amount: decimal128(12, 2)"), "{schema}");
    assert!(
        schema.contains("updated_at: timestamp[us, tz=UTC]"),
        "{schema}"
    );

    // Incremental orders: a second run with unchanged files lands no order twice.
    let r2 = tmp.path().join("r2.json");
    let ran = braid(
        &run_args(&pipeline, &wh, &r2)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(stream_report(&report(&r2), "orders")["rows_committed"], 0);
    assert_eq!(
        duckdb_int(&format!("SELECT count(*) FROM {orders}")),
        csv_rows as i64
    );
}
