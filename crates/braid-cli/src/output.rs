//! Logging set-up and the human-readable tables the CLI prints.

use std::path::Path;

use braid_core::Catalog;
use braid_runtime::RunReport;
use tracing_subscriber::EnvFilter;

/// Logs go to stderr: JSON lines with `--log-format json`, plain text otherwise.
/// On an interactive terminal the default level is `warn` (the progress display
/// says the rest); elsewhere `info`. `RUST_LOG` overrides.
pub fn init_logging(json: bool, interactive: bool, verbose: u8) {
    let default = match (interactive, verbose) {
        (_, 2..) => "debug",
        (true, 0) => "warn",
        _ => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.with_ansi(interactive).init();
    }
}

/// Prints a source's catalog as a table.
pub fn print_catalog(source: &str, catalog: &Catalog) {
    for s in &catalog.streams {
        let modes: Vec<String> = s.sync_modes.iter().map(|m| m.to_string()).collect();
        println!(
            "{source}.{}  primary key: [{}]  cursor: {}  modes: {}",
            s.name,
            s.primary_key.join(", "),
            s.cursor_field.as_deref().unwrap_or("-"),
            modes.join(", ")
        );
        for f in s.schema.fields() {
            println!(
                "    {:<28} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            );
        }
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Prints rows, bytes and time per source and stream, then DuckDB queries to look at the data.
pub fn print_summary(reports: &[RunReport], warehouse: &Path) {
    println!();
    println!(
        "{:<22} {:<14} {:<24} {:>10} {:>10} {:>10} {:>9} {:>12}",
        "pipeline", "source", "stream", "rows", "dedup", "bytes", "time", "status"
    );
    let mut queries = Vec::new();
    for r in reports {
        for s in &r.streams {
            println!(
                "{:<22} {:<14} {:<24} {:>10} {:>10} {:>10} {:>8.1}s {:>12}",
                r.pipeline,
                s.source,
                s.stream,
                s.rows_committed,
                s.rows_deduplicated,
                human_bytes(s.bytes_committed),
                s.duration_ms as f64 / 1000.0,
                format!("{:?}", r.status).to_lowercase(),
            );
            let q = format!(
                "SELECT * FROM read_parquet('{}/raw/{}/{}/**/*.parquet', hive_partitioning = true) LIMIT 10;",
                warehouse.display(),
                s.source,
                s.stream
            );
            if !queries.contains(&q) {
                queries.push(q);
            }
        }
        if let Some(e) = &r.error {
            println!("  {} failed ({}): {}", r.pipeline, e.kind, e.message);
        }
    }
    if !queries.is_empty() {
        println!();
        println!("Look at the data with DuckDB (`duckdb`, then paste):");
        for q in queries.iter().take(6) {
            println!("  {q}");
        }
        println!("Run reports (JSON): {}/_braid/runs/", warehouse.display());
    }
}

/// Prints run-history rows as a table, oldest first.
pub fn print_runs(runs: &[braid_runtime::RunSummary]) {
    if runs.is_empty() {
        println!("no runs recorded");
        return;
    }
    println!(
        "{:<20} {:<24} {:<12} {:>10} {:>12}  run id / error",
        "started (UTC)", "pipeline", "status", "seconds", "rows"
    );
    for r in runs {
        let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
        println!(
            "{:<20} {:<24} {:<12} {:>10.1} {:>12}  {}",
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.pipeline,
            r.status,
            secs,
            r.rows_committed,
            r.error.as_deref().unwrap_or(&r.run_id)
        );
    }
}
