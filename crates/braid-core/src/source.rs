use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    Catalog, ConfiguredStream, CursorValue, MessageStream, Result, SourceState, StreamState,
};

/// What a connector is and how it is configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSpec {
    /// Connector name as pipelines write it (e.g. `hubspot`).
    pub name: String,
    /// Connector version.
    pub version: String,
    /// JSON Schema of the connector's config. Secret fields carry
    /// `"secret": true` and are never printed.
    pub config_schema: serde_json::Value,
}

/// A connector: its spec, and a way to build a configured [`Source`].
pub trait Connector: Send + Sync {
    /// The connector's spec.
    fn spec(&self) -> ConnectorSpec;
    /// Builds a source from its config (already `${VAR}`-interpolated).
    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>>;
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// What was reached, in a sentence (e.g. `authenticated to https://api.hubapi.com`).
    pub message: String,
}

/// What a read covers: the selected streams and the committed state.
#[derive(Debug, Clone, Default)]
pub struct ReadRequest {
    /// Streams to read, in order.
    pub streams: Vec<ConfiguredStream>,
    /// State committed by earlier runs.
    pub state: SourceState,
}

/// A configured source.
#[async_trait]
pub trait Source: Send + Sync {
    /// Can we authenticate and reach the API? Errors say which endpoint and
    /// what the vendor answered.
    async fn check(&self) -> Result<CheckOutcome>;
    /// The catalog of streams.
    async fn discover(&self) -> Result<Catalog>;
    /// Reads the requested streams. The stream ends when everything is read;
    /// the first `Err` ends the read.
    async fn read(&self, request: ReadRequest) -> Result<MessageStream>;

    /// For an incremental stream whose recent records the vendor restates
    /// (ad platforms revise the numbers of the last days), the lowest cursor
    /// value the coming read re-reads on purpose, given the stream's
    /// committed state; `None` (the default) when it only reads from the
    /// committed cursor on.
    ///
    /// When it is at or below the committed cursor, the runtime lands the
    /// re-read records at that cursor too instead of dropping them as
    /// boundary duplicates. Re-read records land as newer versions of their
    /// primary keys; readers take the newest version of each key
    /// (`_braid_ingested_at`), as for full-refresh streams.
    fn restates_from(&self, _stream: &str, _committed: &StreamState) -> Option<CursorValue> {
        None
    }

    /// Whether checkpoint `resume` values are the connector's own durable
    /// state (Airbyte and Singer state: what the next run starts from) rather
    /// than a position inside one read. When `true`, the runtime keeps the
    /// last committed `resume` of an incremental stream after a complete read
    /// instead of clearing it; a full-refresh stream's is still cleared, so
    /// a completed full refresh starts over and only an interrupted one
    /// resumes. Default `false`.
    fn durable_resume(&self) -> bool {
        false
    }
}
