use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

/// How a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Every record, every run.
    FullRefresh,
    /// Only records whose cursor is at or after the committed cursor.
    Incremental,
}

impl std::fmt::Display for SyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncMode::FullRefresh => "full_refresh",
            SyncMode::Incremental => "incremental",
        })
    }
}

/// One stream a source offers: its Arrow schema, keys and sync modes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamDescriptor {
    /// Stream name, unique within the source (e.g. `contacts`).
    pub name: String,
    /// The Arrow schema every batch of this stream has.
    pub schema: SchemaRef,
    /// Columns that identify a record (empty if the stream has none).
    pub primary_key: Vec<String>,
    /// Column incremental reads resume from, if any.
    pub cursor_field: Option<String>,
    /// Sync modes the stream supports.
    pub sync_modes: Vec<SyncMode>,
}

impl StreamDescriptor {
    /// Whether `mode` is among the stream's supported modes.
    pub fn supports(&self, mode: SyncMode) -> bool {
        self.sync_modes.contains(&mode)
    }
}

/// The streams a source offers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// The streams, in the connector's order.
    pub streams: Vec<StreamDescriptor>,
}

impl Catalog {
    /// Looks a stream up by name.
    pub fn stream(&self, name: &str) -> Option<&StreamDescriptor> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// A stream selected for a read, with the mode to read it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredStream {
    /// The stream as discovered.
    pub stream: StreamDescriptor,
    /// The mode chosen by the pipeline.
    pub sync_mode: SyncMode,
}
