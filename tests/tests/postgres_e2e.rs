//! The PostgreSQL pipeline end to end: a real server (started by scripts/test.sh,
//! `BRAID_TEST_PG_URL`) with a POS schema → `braid run` → Parquet, read back by
//! DuckDB and pyarrow and compared with what the server itself says.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

/// The server scripts/test.sh starts, as a superuser URL to its `postgres` database.
fn admin_url() -> String {
    std::env::var("BRAID_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("BRAID_TEST_PG_URL is not set: run the README's test command (scripts/test.sh), which starts a PostgreSQL server")
    })
}

/// The URL with another user, password and database.
fn url_for(db: &str, user: Option<(&str, &str)>) -> String {
    let base = admin_url();
    let (scheme_auth, rest) = base.rsplit_once('@').expect("url with user@host");
    let host_port = rest.split('/').next().unwrap();
    let auth = match user {
        Some((u, p)) => format!("postgres://{u}:{p}"),
        None => scheme_auth.to_owned(),
    };
    format!("{auth}@{host_port}/{db}")
}

/// The password in the admin URL (it must never show in braid's output).
fn admin_password() -> String {
    let base = admin_url();
    let auth = base.rsplit_once('@').unwrap().0;
    auth.rsplit_once(':').unwrap().1.to_owned()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// A new database `db` holding the POS schema of tests/fixtures/pos.sql at these sizes.
async fn pos_db(db: &str, customers: u64, transactions: u64, items: u64) -> tokio_postgres::Client {
    let admin = connect(&url_for("postgres", None)).await;
    for statement in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    let client = connect(&url_for(db, None)).await;
    let sql = std::fs::read_to_string(common::manifest_dir().join("fixtures/pos.sql")).unwrap();
    client
        .batch_execute(&format!(
            "SELECT set_config('braid.customers', '{customers}', false), \
                    set_config('braid.transactions', '{transactions}', false), \
                    set_config('braid.items', '{items}', false);\n{sql}"
        ))
        .await
        .unwrap();
    client
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn text(client: &tokio_postgres::Client, sql: &str) -> String {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// The shipped example pipeline.
fn shipped() -> PathBuf {
    common::manifest_dir().join("../pipelines/postgres_pos.yaml")
}

fn env(url: &str) -> Vec<(String, String)> {
    vec![("POS_DATABASE_URL".into(), url.into())]
}

/// A pipeline reading `streams` (name, mode) with extra source config and options.
fn pipeline(
    dir: &Path,
    name: &str,
    config: &str,
    streams: &[(&str, &str)],
    options: &str,
) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let mut yaml = format!(
        "name: {name}\nsources:\n  - name: pos\n    connector: postgres\n    config:\n      url: ${{POS_DATABASE_URL}}\n{config}    streams:\n"
    );
    for (s, mode) in streams {
        yaml.push_str(&format!("      - name: {s}\n        sync_mode: {mode}\n"));
    }
    yaml.push_str(options);
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_landing_keeps_types_then_incremental_lands_exactly_the_changes() {
    let pg = pos_db("braid_e2e_pos", 2000, 30_000, 20_000).await;
    let url = url_for("braid_e2e_pos", None);
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let r1 = tmp.path().join("r1.json");
    let ran = braid_async(run_args(&shipped(), &wh, &r1), env(&url)).await;
    assert_eq!(ran.code, 0, "first run failed:\n{}", ran.all());
    assert!(
        !ran.all().contains(&admin_password()),
        "the password leaked"
    );

    for (stream, key) in [
        ("stores", "store_id"),
        ("customers", "customer_id"),
        ("transactions", "transaction_id"),
        ("items", "transaction_id, line_no"),
    ] {
        let expected = count(&pg, &format!("SELECT count(*) FROM {stream}")).await;
        let t = raw(&wh, "pos", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            expected,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM (SELECT DISTINCT {key} FROM {t})"
            )),
            expected,
            "{stream} keys"
        );
    }
    let views = count(&pg, "SELECT count(*) FROM daily_sales").await;
    assert_eq!(
        duckdb_int(&format!(
            "SELECT count(*) FROM {}",
            raw(&wh, "pos", "daily_sales")
        )),
        views
    );

    // Decimals keep every digit: sums as text, DuckDB against the server.
    let tx = raw(&wh, "pos", "transactions");
    let landed = duckdb(&format!(
        "SELECT sum(total)::VARCHAR, sum(tax)::VARCHAR, sum(discount_rate)::VARCHAR FROM {tx}"
    ));
    let exact = pg
        .query_one(
            "SELECT sum(total)::text, sum(tax)::text, sum(discount_rate)::numeric(38,9)::text FROM transactions",
            &[],
        )
        .await
        .unwrap();
    for (i, value) in landed[0].iter().enumerate() {
        assert_eq!(
            value.as_str().unwrap(),
            exact.get::<_, String>(i),
            "column {i}"
        );
    }
    let revenue = duckdb(&format!(
        "SELECT sum(revenue)::VARCHAR FROM {}",
        raw(&wh, "pos", "daily_sales")
    ));
    assert_eq!(
        revenue[0][0].as_str().unwrap(),
        text(
            &pg,
            "SELECT sum(revenue)::numeric(38,9)::text FROM daily_sales"
        )
        .await
    );

    // Arrow types as pyarrow reads them from the Parquet files.
    let types = pyarrow(
        r#"
import sys, pyarrow.dataset as ds
s = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").schema
for f in ["total", "tax", "discount_rate", "updated_at", "sold_at", "receipt_no", "payment", "voided", "meta", "store_id"]:
    print(f, s.field(f).type)
"#,
        &wh.join("raw/pos/transactions"),
    );
    for line in [
        "total decimal128(12, 2)",
        "tax decimal128(12, 4)",
        "discount_rate decimal128(38, 9)",
        "updated_at timestamp[us, tz=UTC]",
        "sold_at timestamp[us]",
        "receipt_no string",
        "payment string",
        "voided bool",
        "meta string",
        "store_id int32",
    ] {
        assert!(types.lines().any(|l| l == line), "{line} not in:\n{types}");
    }
    let ctypes = pyarrow(
        r#"
import sys, pyarrow.dataset as ds
s = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").schema
print(s.field("tags").type, s.field("birth_date").type)
"#,
        &wh.join("raw/pos/customers"),
    );
    assert_eq!(ctypes.trim(), "list<item: string> date32[day]");

    // Time values to the microsecond, with and without zone; uuid and jsonb as text.
    let row = duckdb(&format!(
        "SELECT epoch_us(updated_at), epoch_us(sold_at), receipt_no, meta FROM {tx} WHERE transaction_id = 12346"
    ));
    let want = pg
        .query_one(
            "SELECT (extract(epoch FROM updated_at) * 1000000)::bigint, (extract(epoch FROM sold_at) * 1000000)::bigint, receipt_no::text, meta::text FROM transactions WHERE transaction_id = 12346",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row[0][0].as_i64().unwrap(), want.get::<_, i64>(0));
    assert_eq!(row[0][1].as_i64().unwrap(), want.get::<_, i64>(1));
    assert_eq!(row[0][2].as_str().unwrap(), want.get::<_, String>(2));
    assert_eq!(row[0][3].as_str().unwrap(), want.get::<_, String>(3));
    let phones = duckdb(&format!(
        "SELECT loyalty_phone, len(tags) FROM {} WHERE customer_id IN (4, 5) ORDER BY customer_id",
        raw(&wh, "pos", "customers")
    ));
    assert_eq!(phones[0][0], "+1 415 555 0004");
    assert_eq!(phones[1][1], 2);

    // Changes: 4 updated transactions and 10 new ones share one later cursor value;
    // one new row lands at exactly the committed cursor with a smaller key than
    // the committed boundary row (a tie the cursor alone cannot order); 3 customers change.
    pg.batch_execute(
        "UPDATE transactions SET total = total + 1000.01, updated_at = '2026-06-01 00:00:00+00' WHERE transaction_id IN (5, 500, 5000, 29999);
         INSERT INTO transactions (transaction_id, store_id, customer_id, receipt_no, sold_at, total, tax, payment, updated_at)
           SELECT 30000 + i, 1, NULL, md5('new' || i)::uuid, '2026-06-01 09:00:00', 10.50, 0.8400, 'card', '2026-06-01 00:00:00+00'
           FROM generate_series(1, 10) AS i;
         INSERT INTO transactions (transaction_id, store_id, customer_id, receipt_no, sold_at, total, tax, payment, updated_at)
           SELECT -1, 2, NULL, md5('tie')::uuid, '2026-06-01 09:00:00', 1.00, 0.0800, 'cash', updated_at
           FROM transactions WHERE transaction_id = 30000;
         UPDATE customers SET loyalty_phone = '+44 20 7946 0000', updated_at = '2026-06-01 00:00:00+00' WHERE customer_id IN (7, 8, 9);",
    )
    .await
    .unwrap();
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&shipped(), &wh, &r2), env(&url)).await;
    assert_eq!(ran.code, 0, "second run failed:\n{}", ran.all());
    let rep = report(&r2);
    let t = stream_report(&rep, "transactions");
    assert_eq!(t["rows_committed"], 15, "{rep}");
    assert_eq!(
        t["rows_pulled"], 15,
        "the committed boundary row is not read again: {rep}"
    );
    assert_eq!(
        stream_report(&rep, "customers")["rows_committed"],
        3,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "stores")["rows_committed"],
        8,
        "full refresh: {rep}"
    );
    let run2 = rep["run_id"].as_str().unwrap();
    let ids: Vec<i64> = duckdb(&format!(
        "SELECT transaction_id FROM {tx} WHERE _braid_run_id = '{run2}' ORDER BY transaction_id"
    ))
    .iter()
    .map(|r| r[0].as_i64().unwrap())
    .collect();
    let mut want: Vec<i64> = vec![-1, 5, 500, 5000, 29999];
    want.extend(30001..=30010);
    assert_eq!(ids, want);
    let newest = duckdb(&format!(
        "SELECT total::VARCHAR FROM {tx} WHERE transaction_id = 5 ORDER BY _braid_ingested_at DESC LIMIT 1"
    ));
    assert_eq!(
        newest[0][0].as_str().unwrap(),
        text(
            &pg,
            "SELECT total::text FROM transactions WHERE transaction_id = 5"
        )
        .await
    );

    // Nothing changed: a third run lands nothing incremental.
    let r3 = tmp.path().join("r3.json");
    let ran = braid_async(run_args(&shipped(), &wh, &r3), env(&url)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&r3);
    assert_eq!(
        stream_report(&rep, "transactions")["rows_committed"],
        0,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "customers")["rows_committed"],
        0,
        "{rep}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ties_on_the_cursor_across_batches_and_commits_land_once() {
    // Every transaction shares one of a few cursor values, batches of 7 rows cut
    // through the ties, and every checkpoint commits.
    let pg = pos_db("braid_e2e_ties", 10, 2_000, 0).await;
    pg.batch_execute(
        "UPDATE transactions SET updated_at = timestamptz '2026-02-01 00:00:00+00' + (transaction_id % 4) * interval '1 hour'",
    )
    .await
    .unwrap();
    let url = url_for("braid_e2e_ties", None);
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let p = pipeline(
        tmp.path(),
        "pos_ties",
        "      batch_rows: 7\n      tables:\n        - table: transactions\n          cursor_field: updated_at\n",
        &[("transactions", "incremental")],
        "options:\n  commit_every_bytes: 1\n",
    );
    let ran = braid_async(run_args(&p, &wh, &tmp.path().join("r1.json")), env(&url)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    let rep = report(&tmp.path().join("r1.json"));
    assert!(
        stream_report(&rep, "transactions")["commits"]
            .as_u64()
            .unwrap()
            > 100,
        "{rep}"
    );
    let tx = raw(&wh, "pos", "transactions");
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {tx}")), 2000);
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT transaction_id) FROM {tx}")),
        2000
    );
    // New rows at the highest (committed) cursor value, keys below and above the boundary.
    pg.batch_execute(
        "INSERT INTO transactions (transaction_id, store_id, receipt_no, sold_at, total, tax, payment, updated_at)
         SELECT i, 1, md5('t' || i)::uuid, '2026-02-01 10:00:00', 2.00, 0.1600, 'cash', timestamptz '2026-02-01 03:00:00+00'
         FROM (VALUES (-5), (-4), (5000), (5001)) AS v(i)",
    )
    .await
    .unwrap();
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&p, &wh, &r2), env(&url)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(
        stream_report(&report(&r2), "transactions")["rows_committed"],
        4
    );
    assert_eq!(duckdb_int(&format!("SELECT count(*) FROM {tx}")), 2004);
    assert_eq!(
        duckdb_int(&format!("SELECT count(DISTINCT transaction_id) FROM {tx}")),
        2004
    );
}

/// The contents of the committed state of source `pos`, if any.
fn committed(wh: &Path, pipeline: &str, stream: &str) -> u64 {
    std::fs::read(wh.join(format!("_braid/state/{pipeline}/pos.json")))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["state"]["streams"][stream]["records_committed"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_killed_mid_run_fails_clearly_and_the_rerun_lands_nothing_twice() {
    let pg = pos_db("braid_e2e_kill", 100, 120_000, 60_000).await;
    let url = url_for("braid_e2e_kill", None);
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let p = pipeline(
        tmp.path(),
        "pos_kill",
        "      batch_rows: 32\n      application_name: braid-e2e-kill\n      cursor_field: updated_at\n      tables:\n        - table: transactions\n        - table: items\n",
        &[("transactions", "incremental"), ("items", "full_refresh")],
        "options:\n  commit_every_bytes: 65536\n  commit_every_seconds: 1\n",
    );
    let mut child = std::process::Command::new(braid_bin())
        .args(run_args(&p, &wh, &tmp.path().join("r1.json")))
        .envs(env(&url))
        .env("BRAID_LOG_FORMAT", "text")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once both streams committed part of their rows, the DBA terminates braid's sessions.
    let started = Instant::now();
    loop {
        if committed(&wh, "pos_kill", "transactions") > 0 && committed(&wh, "pos_kill", "items") > 0
        {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before anything was committed mid-way"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "nothing committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = count(
        &pg,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'braid-e2e-kill') t",
    )
    .await;
    assert!(killed >= 1);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a lost connection is a source failure:\n{stderr}"
    );
    assert!(
        stderr.contains("terminating connection due to administrator command")
            || stderr.contains("connection closed"),
        "says what happened: {stderr}"
    );
    assert!(
        stderr.contains("postgres://braid@127.0.0.1"),
        "names the server: {stderr}"
    );
    assert!(!stderr.contains(&admin_password()), "the password leaked");
    let before_tx = committed(&wh, "pos_kill", "transactions");
    let before_items = committed(&wh, "pos_kill", "items");
    assert!(
        before_tx < 120_000 || before_items < 60_000,
        "the kill came too late"
    );

    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&p, &wh, &r2), env(&url)).await;
    assert_eq!(ran.code, 0, "re-run failed:\n{}", ran.all());
    let rep = report(&r2);
    // The re-run continues where the last commit stopped: the full refresh after its
    // last committed key, the incremental read after its committed cursor.
    assert_eq!(
        stream_report(&rep, "items")["rows_committed"]
            .as_u64()
            .unwrap(),
        60_000 - before_items,
        "{rep}"
    );
    assert_eq!(
        stream_report(&rep, "transactions")["rows_committed"]
            .as_u64()
            .unwrap(),
        120_000 - before_tx,
        "{rep}"
    );
    for (stream, n, key) in [
        ("transactions", 120_000, "transaction_id"),
        ("items", 60_000, "transaction_id, line_no"),
    ] {
        let t = raw(&wh, "pos", stream);
        assert_eq!(
            duckdb_int(&format!("SELECT count(*) FROM {t}")),
            n,
            "{stream}"
        );
        assert_eq!(
            duckdb_int(&format!(
                "SELECT count(*) FROM (SELECT DISTINCT {key} FROM {t})"
            )),
            n,
            "{stream} landed a row twice"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_column_lands_with_the_rows_that_change_after_it() {
    let pg = pos_db("braid_e2e_schema", 300, 10, 0).await;
    let url = url_for("braid_e2e_schema", None);
    let tmp = tempfile::tempdir().unwrap();
    let wh = tmp.path().join("wh");
    let p = pipeline(
        tmp.path(),
        "pos_schema",
        "      cursor_field: updated_at\n      tables:\n        - table: customers\n",
        &[("customers", "incremental")],
        "",
    );
    let ran = braid_async(run_args(&p, &wh, &tmp.path().join("r1.json")), env(&url)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    pg.batch_execute(
        "ALTER TABLE customers ADD COLUMN tier text, ADD COLUMN lifetime_value numeric(14,2);
         UPDATE customers SET tier = 'gold', lifetime_value = 1234.56, updated_at = '2026-07-01 00:00:00+00' WHERE customer_id <= 5;",
    )
    .await
    .unwrap();
    let discovered = braid_async(vec!["discover".into(), p.display().to_string()], env(&url)).await;
    assert_eq!(discovered.code, 0, "{}", discovered.all());
    assert!(discovered.stdout.contains("tier"), "{}", discovered.stdout);
    let r2 = tmp.path().join("r2.json");
    let ran = braid_async(run_args(&p, &wh, &r2), env(&url)).await;
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(
        stream_report(&report(&r2), "customers")["rows_committed"],
        5
    );
    let rows = duckdb(&format!(
        "SELECT count(*), count(tier), sum(lifetime_value)::VARCHAR FROM read_parquet('{}/raw/pos/customers/**/*.parquet', union_by_name = true)",
        wh.display()
    ));
    assert_eq!(rows[0][0], 305);
    assert_eq!(rows[0][1], 5);
    assert_eq!(rows[0][2], "6172.80");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_bad_password_unreachable_server_and_missing_grants_clearly() {
    let pg = pos_db("braid_e2e_check", 10, 10, 10).await;
    let tmp = tempfile::tempdir().unwrap();
    let p = pipeline(
        tmp.path(),
        "pos_check",
        "      tables:\n        - table: stores\n        - table: transactions\n",
        &[("stores", "full_refresh"), ("transactions", "full_refresh")],
        "",
    );
    let check = |url: String| braid_async(vec!["check".into(), p.display().to_string()], env(&url));

    let ok = check(url_for("braid_e2e_check", None)).await;
    assert_eq!(ok.code, 0, "{}", ok.all());
    assert!(
        ok.stdout.contains("2 table(s)/view(s) readable"),
        "{}",
        ok.stdout
    );

    let wrong = "not-the-password-42";
    let bad = check(url_for("braid_e2e_check", Some(("braid", wrong)))).await;
    assert_eq!(bad.code, 3, "{}", bad.all());
    assert!(
        bad.all()
            .contains("password authentication failed for user \"braid\""),
        "{}",
        bad.all()
    );
    assert!(bad.all().contains("28P01"), "{}", bad.all());
    assert!(
        !bad.all().contains(wrong),
        "the password leaked: {}",
        bad.all()
    );

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = check(format!("postgres://braid:{wrong}@127.0.0.1:{port}/pos")).await;
    assert_eq!(down.code, 4, "{}", down.all());
    assert!(
        down.all().contains(&format!("127.0.0.1:{port}")),
        "{}",
        down.all()
    );
    assert!(
        down.all().to_lowercase().contains("connect"),
        "{}",
        down.all()
    );
    assert!(
        !down.all().contains(wrong),
        "the password leaked: {}",
        down.all()
    );

    // A user who may read stores but not transactions.
    pg.batch_execute(
        "DROP ROLE IF EXISTS pos_reader; CREATE ROLE pos_reader LOGIN PASSWORD 'reader-pw-77';
         GRANT CONNECT ON DATABASE braid_e2e_check TO pos_reader; GRANT USAGE ON SCHEMA public TO pos_reader;
         GRANT SELECT ON stores TO pos_reader;",
    )
    .await
    .unwrap();
    let reader = url_for("braid_e2e_check", Some(("pos_reader", "reader-pw-77")));
    let denied = check(reader.clone()).await;
    assert_eq!(denied.code, 3, "{}", denied.all());
    assert!(
        denied
            .all()
            .contains("may not SELECT from public.transactions"),
        "{}",
        denied.all()
    );
    assert!(!denied.all().contains("reader-pw-77"), "{}", denied.all());
    let run = braid_async(
        run_args(&p, &tmp.path().join("wh"), &tmp.path().join("r.json")),
        env(&reader),
    )
    .await;
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.all()
            .contains("permission denied for table transactions"),
        "quotes the server: {}",
        run.all()
    );
    assert!(!run.all().contains("reader-pw-77"), "{}", run.all());
    pg.batch_execute("REVOKE ALL ON stores FROM pos_reader; REVOKE ALL ON SCHEMA public FROM pos_reader; REVOKE ALL ON DATABASE braid_e2e_check FROM pos_reader;")
        .await
        .unwrap();
}
