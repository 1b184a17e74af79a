//! NDJSON → Arrow throughput of the files source.
//!
//! `cargo run --release -p braid-connector-files --example ndjson_throughput [records]`
//! writes a temporary file of ~10-field records, reads it through the source
//! and prints records per second.

use std::io::Write;
use std::time::Instant;

use braid_connector_files::FilesConnector;
use braid_core::{ConfiguredStream, Connector, Message, ReadRequest, SyncMode};
use futures::StreamExt;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("contacts.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":{i},"email":"user{i}@example.com","first_name":"First{i}","last_name":"Last{i}","phone":"+4930{i:07}","city":"Berlin","amount":{}.{:02},"active":{},"created_at":"2024-01-{:02}T10:00:00Z","updated_at":"2024-02-{:02}T12:30:00.123Z"}}"#,
            i % 1000,
            i % 100,
            i % 2 == 0,
            i % 28 + 1,
            i % 28 + 1
        )?;
    }
    out.flush()?;
    drop(out);
    let bytes = std::fs::metadata(&path)?.len();

    let source = FilesConnector::with_base_dir(dir.path()).build(serde_json::json!({
        "streams": [{"name": "contacts", "path": "contacts.jsonl"}]
    }))?;
    let started = Instant::now();
    let catalog = source.discover().await?;
    let request = ReadRequest {
        streams: catalog
            .streams
            .into_iter()
            .map(|stream| ConfiguredStream {
                stream,
                sync_mode: SyncMode::FullRefresh,
            })
            .collect(),
        state: Default::default(),
    };
    let mut messages = source.read(request).await?;
    let mut rows = 0usize;
    while let Some(m) = messages.next().await {
        if let Message::Batch { batch, .. } = m? {
            rows += batch.num_rows();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{rows} records, {:.1} MB in {secs:.3}s: {:.0} records/s, {:.1} MB/s",
        bytes as f64 / 1e6,
        rows as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}
