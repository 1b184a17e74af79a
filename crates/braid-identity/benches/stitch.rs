//! Stitching benchmark: N generated records (≈2.7 identifiers each) through
//! braid-identity's one-shot stitcher and the persisted graph's first
//! resolve, each in a child process of its own (time and peak RSS of that
//! process only), beside a DuckDB connected-components baseline over the
//! same edge file.
//!
//! `cargo bench -p braid-identity --bench stitch -- 1000000 5000000`
//! (`BRAID_PYTHON` = a Python with duckdb; default ~/.cache/braid/venv/bin/python).

use std::process::Command;
use std::time::Instant;

use arrow_array::RecordBatch;
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
    let t = Instant::now();
    let (records, clusters) = match mode {
        "stitch" => {
            let s = braid_identity::stitch(&batch, &plain()).unwrap();
            (s.records.len(), s.clusters())
        }
        _ => {
            let mut g = Graph::new(Config::default());
            g.upsert(&batch, None).unwrap();
            let r = g.resolve();
            (r.records_resolved as usize, r.people as usize)
        }
    };
    let s = t.elapsed().as_secs_f64();
    println!(
        "{{\"read_seconds\": {read_s:.2}, \"seconds\": {s:.2}, \"records\": {records}, \"clusters\": {clusters}, \"peak_rss_mib\": {}}}",
        peak_rss_mib()
    );
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
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    for n in sizes {
        let t = Instant::now();
        let data = synth::generate(&SynthConfig::for_records(n, 1));
        let ids = data.identifiers;
        let edges = RecordBatch::try_from_iter(vec![
            ("record_key", ids.column(0).clone()),
            ("source", ids.column(1).clone()),
            ("id_type", ids.column(2).clone()),
            ("id_value", ids.column(3).clone()),
        ])
        .unwrap();
        let path = dir.path().join(format!("edges-{n}.parquet"));
        let f = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, edges.schema(), None).unwrap();
        w.write(&edges).unwrap();
        w.close().unwrap();
        println!(
            "N = {} records, {} edges (generated and written in {:.1?})",
            data.records.len(),
            edges.num_rows(),
            t.elapsed()
        );
        drop((edges, ids, data.profiles));
        let p = path.to_str().unwrap();
        for mode in ["stitch", "graph"] {
            let out = Command::new(&me)
                .args(["--child", mode, p])
                .output()
                .unwrap();
            println!(
                "  braid-identity {mode:6}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        let out = Command::new(&python).args([script, p]).output().unwrap();
        println!(
            "  duckdb baseline      : {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}
