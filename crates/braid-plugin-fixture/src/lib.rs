//! `connector: fixture` — a plugin for braid-plugin's own tests. One stream,
//! `numbers` (`id` Int64, `label` Utf8, `value` Float64), `rows` rows in
//! batches of `batch_rows`, incremental on `id`; `panic_in` makes one entry
//! point panic (`build`, `check`, `discover`, `read`, `stream`), `fail_in`
//! makes it return an auth error (`check`, `stream`).

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, Message, MessageStream,
    ReadRequest, Result, Source, StreamDescriptor, SyncMode,
};
use serde::Deserialize;

/// The fixture connector.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixtureConnector;

/// Its config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureConfig {
    /// Rows in `numbers`.
    #[serde(default = "ten")]
    pub rows: i64,
    /// Rows per batch.
    #[serde(default = "four")]
    pub batch_rows: i64,
    /// The entry point that panics.
    #[serde(default)]
    pub panic_in: Option<String>,
    /// The entry point that fails with an auth error.
    #[serde(default)]
    pub fail_in: Option<String>,
}

fn ten() -> i64 {
    10
}
fn four() -> i64 {
    4
}

impl Connector for FixtureConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "fixture".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: serde_json::json!({
                "type": "object",
                "properties": {
                    "rows": {"type": "integer"},
                    "batch_rows": {"type": "integer"},
                    "panic_in": {"type": "string"},
                    "fail_in": {"type": "string"},
                    "token": {"type": "string", "secret": true}
                }
            }),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        let config: FixtureConfig = serde_json::from_value(config)
            .map_err(|e| Error::Config(format!("fixture config: {e}")))?;
        if config.panic_in.as_deref() == Some("build") {
            panic!("fixture panics in build");
        }
        Ok(Box::new(FixtureSource { config }))
    }
}

struct FixtureSource {
    config: FixtureConfig,
}

/// The `numbers` schema.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

fn batch(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let labels: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 3 != 0).then(|| format!("row {i}")))
        .collect();
    let values: Vec<f64> = ids.iter().map(|i| *i as f64 * 1.5).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(labels)),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .expect("fixture batch")
}

impl FixtureSource {
    fn hook(&self, at: &str) -> Result<()> {
        if self.config.panic_in.as_deref() == Some(at) {
            panic!("fixture panics in {at}");
        }
        if self.config.fail_in.as_deref() == Some(at) {
            return Err(Error::Auth {
                endpoint: format!("/fixture/{at}"),
                message: "fixture refuses".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl Source for FixtureSource {
    async fn check(&self) -> Result<CheckOutcome> {
        self.hook("check")?;
        // Proves the plugin's own runtime drives async work.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        tracing::info!(rows = self.config.rows, "fixture checked");
        Ok(CheckOutcome {
            message: format!("fixture with {} rows", self.config.rows),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        self.hook("discover")?;
        Ok(Catalog {
            streams: vec![StreamDescriptor {
                name: "numbers".into(),
                schema: schema(),
                primary_key: vec!["id".into()],
                cursor_field: Some("id".into()),
                sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
            }],
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        self.hook("read")?;
        let start = match request
            .state
            .stream("numbers")
            .and_then(|s| s.cursor.clone())
        {
            Some(CursorValue::Int(i)) => i,
            _ => 0,
        };
        let rows = self.config.rows;
        let step = self.config.batch_rows.max(1);
        let fault = self.config.panic_in.clone();
        let fail = self.config.fail_in.clone();
        Ok(Box::pin(async_stream(start, rows, step, fault, fail)))
    }
}

fn async_stream(
    start: i64,
    rows: i64,
    step: i64,
    panic_in: Option<String>,
    fail_in: Option<String>,
) -> impl futures::Stream<Item = Result<Message>> + Send {
    futures::stream::unfold((start, 0u8), move |(at, phase)| {
        let panic_in = panic_in.clone();
        let fail_in = fail_in.clone();
        async move {
            if at >= rows {
                return None;
            }
            if at > start && panic_in.as_deref() == Some("stream") {
                panic!("fixture panics in stream at row {at}");
            }
            if at > start && fail_in.as_deref() == Some("stream") {
                return Some((
                    Err(Error::Auth {
                        endpoint: "/fixture/stream".into(),
                        message: "fixture refuses mid-stream".into(),
                    }),
                    (rows, 0),
                ));
            }
            let to = (at + step).min(rows);
            match phase {
                0 => Some((
                    Ok(Message::Batch {
                        stream: "numbers".into(),
                        batch: batch(at, to),
                    }),
                    (at, 1),
                )),
                1 => Some((
                    Ok(Message::Progress {
                        stream: "numbers".into(),
                        pages: 1,
                        retries: 0,
                    }),
                    (at, 2),
                )),
                _ => Some((
                    Ok(Message::Checkpoint {
                        stream: "numbers".into(),
                        resume: Some(serde_json::json!({ "next": to })),
                    }),
                    (to, 0),
                )),
            }
        }
    })
}

braid_sdk::export_plugin!(FixtureConnector);
