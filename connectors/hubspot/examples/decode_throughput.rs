//! Measures HubSpot page decoding alone (JSON page → Arrow batch), without
//! HTTP or Parquet: pages are fetched once from an in-process sandbox, then
//! decoded repeatedly.
//!
//! `cargo run --release -p braid-connector-hubspot --example decode_throughput -- 2000`

use std::time::Instant;

use braid_connector_hubspot::HubSpotConnector;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{Connector, Message, ReadRequest, SyncMode};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pages: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let mut config = SandboxConfig::default();
    config.hubspot.contacts = (pages * 100) as u64;
    config.hubspot.requests_per_second = None;
    let token = config.hubspot.access_token.clone();
    let sb = Sandbox::start(config, "127.0.0.1:0".parse()?).await?;
    let source = HubSpotConnector
        .build(serde_json::json!({"base_url": sb.hubspot_base_url(), "access_token": token}))?;
    let catalog = source.discover().await?;
    let stream = catalog
        .stream("contacts")
        .ok_or("no contacts stream")?
        .clone();
    let started = Instant::now();
    let mut rows = 0usize;
    let mut messages = source
        .read(ReadRequest {
            streams: vec![braid_sdk::ConfiguredStream {
                stream,
                sync_mode: SyncMode::FullRefresh,
            }],
            state: Default::default(),
        })
        .await?;
    while let Some(m) = messages.next().await {
        if let Message::Batch { batch, .. } = m? {
            rows += batch.num_rows();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{rows} contacts read through the connector (sandbox in process, no Parquet) in {secs:.2} s: {:.0} records/s",
        rows as f64 / secs
    );
    sb.shutdown().await;
    Ok(())
}
