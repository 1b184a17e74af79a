//! A connector written with `braid_sdk::` paths only (what
//! docs/writing-a-connector.md shows a vendor): the re-exported
//! `async_trait`, `async_stream`, `futures`, `serde_json` and arrow crates
//! are enough to implement and drive a source.

use std::sync::Arc;

use braid_sdk::arrow_array::cast::AsArray;
use braid_sdk::arrow_array::{ArrayRef, Int64Array, RecordBatch};
use braid_sdk::arrow_schema::{DataType, Field, Schema};
use braid_sdk::futures::StreamExt;
use braid_sdk::{
    Catalog, CheckOutcome, ConfiguredStream, Connector, ConnectorSpec, Message, MessageStream,
    ReadRequest, Result, Source, StreamDescriptor, SyncMode,
};

struct Counter;

struct CounterSource {
    upto: i64,
}

fn descriptor() -> StreamDescriptor {
    StreamDescriptor {
        name: "numbers".into(),
        schema: Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)])),
        primary_key: vec!["n".into()],
        cursor_field: Some("n".into()),
        sync_modes: vec![SyncMode::FullRefresh],
    }
}

impl Connector for Counter {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "counter".into(),
            version: "0.0.1".into(),
            config_schema: braid_sdk::serde_json::json!({"type": "object"}),
        }
    }

    fn build(&self, config: braid_sdk::serde_json::Value) -> Result<Box<dyn Source>> {
        let upto = config["upto"]
            .as_i64()
            .ok_or_else(|| braid_sdk::Error::Config("upto: an integer".into()))?;
        Ok(Box::new(CounterSource { upto }))
    }
}

#[braid_sdk::async_trait]
impl Source for CounterSource {
    async fn check(&self) -> Result<CheckOutcome> {
        Ok(CheckOutcome {
            message: "counting".into(),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        Ok(Catalog {
            streams: vec![descriptor()],
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let schema = request.streams[0].stream.schema.clone();
        let upto = self.upto;
        Ok(Box::pin(braid_sdk::async_stream::try_stream! {
            for start in (1..=upto).step_by(2) {
                let column: ArrayRef =
                    Arc::new(Int64Array::from_iter_values(start..=(start + 1).min(upto)));
                let batch = RecordBatch::try_new(schema.clone(), vec![column])
                    .map_err(|e| braid_sdk::Error::Internal(e.to_string()))?;
                yield Message::Batch { stream: "numbers".into(), batch };
                yield Message::Checkpoint { stream: "numbers".into(), resume: None };
            }
        }))
    }
}

#[tokio::test]
async fn a_source_written_with_sdk_paths_only_reads() {
    let source = Counter
        .build(braid_sdk::serde_json::json!({"upto": 5}))
        .unwrap();
    assert_eq!(source.check().await.unwrap().message, "counting");
    let catalog = source.discover().await.unwrap();
    let mut messages = source
        .read(ReadRequest {
            streams: vec![ConfiguredStream {
                stream: catalog.stream("numbers").unwrap().clone(),
                sync_mode: SyncMode::FullRefresh,
            }],
            state: Default::default(),
        })
        .await
        .unwrap();
    let (mut numbers, mut checkpoints) = (Vec::new(), 0);
    while let Some(m) = messages.next().await {
        match m.unwrap() {
            Message::Batch { batch, .. } => numbers.extend(
                batch
                    .column(0)
                    .as_primitive::<braid_sdk::arrow_array::types::Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            ),
            Message::Checkpoint { .. } => checkpoints += 1,
            Message::Progress { .. } => {}
        }
    }
    assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    assert_eq!(checkpoints, 3);
    let e = Counter
        .build(braid_sdk::serde_json::json!({}))
        .err()
        .unwrap();
    assert_eq!(e.kind(), braid_sdk::ErrorKind::Config);
}
