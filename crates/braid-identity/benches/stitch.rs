//! Stitching benchmark: N generated records (≈2.7 identifiers each) through
//! braid-identity's one-shot stitcher and the persisted graph's first
//! resolve, each in a child process of its own (time and peak RSS of that
//! process only), beside a DuckDB connected-components baseline over the
//! same edge file; and the graph's incremental runs (everything landed again
//! unchanged, then 1 % of the records with changed emails).
//!
//! `cargo bench -p braid-identity --bench stitch -- 1000000 5000000`
//! (`BRAID_PYTHON` = a Python with duckdb; default ~/.cache/braid/venv/bin/python).

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use braid_identity::synth::{self, SynthConfig};
use braid_identity::{Config, Graph};

/// Per-person limits are a braid rule the SQL baseline does not have: both
/// sides use the same rules here (links + 50 records per value).
fn plain() -> Config {
    let mut c = Config::default();
    for t in &mut c.types {
        t.max_per_person = None;
    }
    c
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb / 1024)
}

/// CPU seconds (user + system) this process used so far: the wall-clock
/// figures are upper bounds on a loaded machine, these are not.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name in parentheses: utime, stime
            // are the 12th and 13th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

/// The columns of braid-normalize's `identity_links` that the graph fills.
fn links_schema() -> arrow_schema::SchemaRef {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let s = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        s("source"),
        s("source_id"),
        Field::new("ingested_at", ts(), true),
        s("braid_id"),
        s("record_table"),
        s("id_type"),
        s("id_value"),
        Field::new("first_seen", ts(), true),
        Field::new("last_seen", ts(), true),
        s("status"),
        s("retired_braid_id"),
    ]))
}

fn read(path: &str) -> RecordBatch {
    let f = std::fs::File::open(path).expect("edge file");
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let rows = b.metadata().file_metadata().num_rows() as usize;
    let r = b.with_batch_size(rows.max(1)).build().unwrap();
    let batches: Vec<RecordBatch> = r.collect::<Result<_, _>>().unwrap();
    assert_eq!(batches.len(), 1, "one batch");
    batches.into_iter().next().unwrap()
}

fn child(mode: &str, path: &str) {
    let t = Instant::now();
    let batch = read(path);
    let read_s = t.elapsed().as_secs_f64();
    let (t, cpu) = (Instant::now(), cpu_seconds());
    let mut graph = None;
    let mut upsert_s = 0.0;
    let (records, clusters) = match mode {
        "stitch" => {
            let s = braid_identity::stitch(&batch, &plain()).unwrap();
            (s.records.len(), s.clusters())
        }
        "incremental" => (0, 0),
        _ => {
            let mut g = Graph::new(plain());
            g.upsert(&batch, None).unwrap();
            upsert_s = t.elapsed().as_secs_f64();
            let r = g.resolve();
            graph = Some(g);
            (r.records_resolved as usize, r.people as usize)
        }
    };
    let s = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    if mode == "incremental" {
        return incremental(&batch, read_s, s);
    }
    let peak = peak_rss_mib();
    // The graph's identity_links rows and save (what `braid unify` does
    // next), timed apart.
    let saved = graph.map_or(String::new(), |g| {
        drop(batch);
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let links = g.links(links_schema(), 0).unwrap();
        let links_s = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu, links.num_rows());
        drop(links);
        // Kept beside the edge file with BRAID_BENCH_DIR, else temporary.
        let tmp = tempfile::tempdir().unwrap();
        let dir = match std::env::var_os("BRAID_BENCH_DIR") {
            Some(_) => std::path::PathBuf::from(format!("{path}.graph")),
            None => tmp.path().to_owned(),
        };
        let (t, cpu) = (Instant::now(), cpu_seconds());
        g.save(&dir).unwrap();
        format!(
            ", \"upsert_seconds\": {upsert_s:.2}, \"links_seconds\": {:.2}, \"links_cpu_seconds\": {:.2}, \"links_rows\": {}, \"save_seconds\": {:.2}, \"save_cpu_seconds\": {:.2}, \"peak_rss_with_save_mib\": {}",
            links_s.0,
            links_s.1,
            links_s.2,
            t.elapsed().as_secs_f64(),
            cpu_seconds() - cpu,
            peak_rss_mib()
        )
    });
    println!(
        "{{\"read_seconds\": {read_s:.2}, \"seconds\": {s:.2}, \"cpu_seconds\": {cpu:.2}, \"records\": {records}, \"clusters\": {clusters}, \"peak_rss_mib\": {peak}{saved}}}"
    );
}

/// After the first resolve: the whole batch landed again unchanged (a
/// full-refresh source), then the rows of 1 % of the records with their
/// emails changed (each record now shares another record's email).
fn incremental(batch: &RecordBatch, read_s: f64, first_s: f64) {
    let mut g = Graph::new(plain());
    let t = Instant::now();
    g.upsert(batch, None).unwrap();
    g.resolve();
    let first_s = first_s + t.elapsed().as_secs_f64();
    let t = Instant::now();
    g.upsert(batch, None).unwrap();
    let same = g.resolve();
    let same_s = t.elapsed().as_secs_f64();
    let keys = batch.column(0).as_string::<i32>();
    let types = batch.column(2).as_string::<i32>();
    let values = batch.column(3).as_string::<i32>();
    let emails: Vec<usize> = (0..batch.num_rows())
        .filter(|&i| types.value(i) == "email")
        .collect();
    let n_records = keys
        .iter()
        .flatten()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let wanted = n_records / 100;
    let mut rows = 0;
    let mut seen = 0;
    for i in 0..batch.num_rows() {
        if i == 0 || keys.value(i) != keys.value(i - 1) {
            if seen == wanted {
                break;
            }
            seen += 1;
        }
        rows = i + 1;
    }
    let changed: arrow_array::StringArray = (0..rows)
        .map(|i| {
            Some(if types.value(i) == "email" {
                // Another record's email, far away in the batch.
                values.value(emails[(i * 7919 + emails.len() / 2) % emails.len()])
            } else {
                values.value(i)
            })
        })
        .collect();
    let delta = RecordBatch::try_from_iter(vec![
        ("record_key", batch.column(0).slice(0, rows)),
        ("source", batch.column(1).slice(0, rows)),
        ("id_type", batch.column(2).slice(0, rows)),
        ("id_value", Arc::new(changed) as arrow_array::ArrayRef),
    ])
    .unwrap();
    let t = Instant::now();
    g.upsert(&delta, None).unwrap();
    let r = g.resolve();
    let delta_s = t.elapsed().as_secs_f64();
    println!(
        "{{\"read_seconds\": {read_s:.2}, \"first_seconds\": {first_s:.2}, \"unchanged_seconds\": {same_s:.2}, \"unchanged_resolved\": {}, \"changed_records\": {seen}, \"changed_seconds\": {delta_s:.3}, \"changed_resolved\": {}, \"merges\": {}, \"clusters\": {}, \"peak_rss_mib\": {}}}",
        same.records_resolved,
        r.records_resolved,
        r.merges.len(),
        r.people,
        peak_rss_mib()
    );
}

fn field(json: &str, key: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json.lines().last()?).ok()?;
    v.get(key)?.as_f64()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1], &args[2]);
    }
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![1_000_000]
    } else {
        sizes
    };
    let python = std::env::var("BRAID_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/.cache/braid/venv/bin/python",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/identity_baseline.py"
    );
    // BRAID_BENCH_DIR keeps the edge files (to profile a child on one).
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("BRAID_BENCH_DIR").map_or_else(|| tmp.path().to_owned(), Into::into);
    let skip_duckdb = std::env::var_os("BRAID_BENCH_NO_DUCKDB").is_some();
    let me = std::env::current_exe().unwrap();
    let mut table = Vec::new();
    for n in sizes {
        let t = Instant::now();
        // A few more people than needed, then exactly the first n records
        // holding identifiers (a record's rows are contiguous).
        let data = synth::generate(&SynthConfig::for_records(n + n / 20, 1));
        let ids = data.identifiers;
        let keys = ids.column(0).as_string::<i32>();
        let mut rows = keys.len();
        let mut seen = 0usize;
        for i in 0..keys.len() {
            if i == 0 || keys.value(i) != keys.value(i - 1) {
                if seen == n {
                    rows = i;
                    break;
                }
                seen += 1;
            }
        }
        let edges = RecordBatch::try_from_iter(vec![
            ("record_key", ids.column(0).slice(0, rows)),
            ("source", ids.column(1).slice(0, rows)),
            ("id_type", ids.column(2).slice(0, rows)),
            ("id_value", ids.column(3).slice(0, rows)),
        ])
        .unwrap();
        let path = dir.join(format!("edges-{n}.parquet"));
        let f = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, edges.schema(), None).unwrap();
        w.write(&edges).unwrap();
        w.close().unwrap();
        let (records, n_edges) = (seen, edges.num_rows());
        println!(
            "N = {records} records, {n_edges} edges ({:.2} per record; generated and written in {:.1?})",
            n_edges as f64 / records as f64,
            t.elapsed()
        );
        drop((edges, ids, data.profiles, data.records, data.truth));
        let p = path.to_str().unwrap();
        let mut out: Vec<String> = Vec::new();
        for mode in ["stitch", "graph"] {
            let o = Command::new(&me)
                .args(["--child", mode, p])
                .output()
                .unwrap();
            let line = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            println!(
                "  braid-identity {mode:6}: {line}{}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            out.push(line);
        }
        let o = Command::new(&me)
            .args(["--child", "incremental", p])
            .output()
            .unwrap();
        println!(
            "  braid-identity graph, then again unchanged, then 1 % changed: {}{}",
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
        let line = if skip_duckdb {
            String::new()
        } else {
            let o = Command::new(&python).args([script, p]).output().unwrap();
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        };
        println!("  duckdb baseline      : {line}");
        out.push(line);
        let clusters: Vec<Option<f64>> = out.iter().map(|l| field(l, "clusters")).collect();
        // (DuckDB left out with BRAID_BENCH_NO_DUCKDB: the two braid runs.)
        let agree = clusters[0].is_some()
            && clusters
                .iter()
                .enumerate()
                .all(|(i, c)| *c == clusters[0] || (i == 2 && skip_duckdb));
        println!(
            "  clusters: stitch {:?}, graph {:?}, duckdb {:?} — {}",
            clusters[0],
            clusters[1],
            clusters[2],
            if agree { "same" } else { "DIFFERENT" }
        );
        let s = |i: usize, k: &str| field(&out[i], k).map_or("?".into(), |v| format!("{v:.2}"));
        let m =
            |i: usize| field(&out[i], "peak_rss_mib").map_or("?".into(), |v| format!("{v:.0} MiB"));
        let with_read = |i: usize| match (field(&out[i], "read_seconds"), field(&out[i], "seconds"))
        {
            (Some(r), Some(x)) => format!("{:.2}", r + x),
            _ => "?".into(),
        };
        table.push(format!(
            "| {records} | {n_edges} | {} s ({} s with the Parquet read) | {} | {} s | {} | {} s | {} | {} |",
            s(0, "seconds"),
            with_read(0),
            m(0),
            s(1, "seconds"),
            m(1),
            s(2, "seconds"),
            m(2),
            if agree { "yes" } else { "NO" }
        ));
    }
    println!("\n| records | edges | braid stitch | RSS | braid graph (first resolve) | RSS | DuckDB | RSS | same clusters |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in table {
        println!("{r}");
    }
}
