use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::CursorValue;

/// Committed state of one stream.
///
/// Incremental reads resume with an inclusive lower bound at `cursor`; the
/// records that share that exact cursor value and were already landed are
/// listed in `boundary_keys` so they are dropped instead of landed twice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Highest cursor value committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorValue>,
    /// Primary keys (joined with `\u{1f}` when composite) of the committed
    /// records whose cursor equals `cursor`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boundary_keys: Vec<String>,
    /// Connector-private resume state from the last committed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<serde_json::Value>,
    /// Records committed for this stream over all runs.
    #[serde(default)]
    pub records_committed: u64,
}

/// Committed state of every stream of a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceState {
    /// Per stream, by name.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamState>,
}

impl SourceState {
    /// The committed state of `stream`, if any.
    pub fn stream(&self, stream: &str) -> Option<&StreamState> {
        self.streams.get(stream)
    }
}
