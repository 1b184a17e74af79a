use chrono::{DateTime, Utc};
use serde::Serialize;

use braid_core::{StreamState, SyncMode};

/// The machine-readable outcome of a run, written as JSON beside the warehouse.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run's id (UUIDv7; also in the `_braid_run_id` column).
    pub run_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: RunStatus,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Per source and stream.
    pub streams: Vec<StreamReport>,
    /// The error that ended the run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every stream was read and committed.
    Succeeded,
    /// A source, the warehouse or the config failed.
    Failed,
    /// Stopped by a signal.
    Interrupted,
}

/// The error of a failed run.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    /// `config`, `auth`, `rate_limit`, `transient`, `data`, `warehouse`, `interrupted` or `internal`.
    pub kind: String,
    /// The message (never contains secrets).
    pub message: String,
    /// The process exit code it maps to.
    pub exit_code: i32,
}

/// One stream of one source in a run.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// Source name.
    pub source: String,
    /// Stream name.
    pub stream: String,
    /// Mode it was read in.
    pub sync_mode: SyncMode,
    /// Rows received from the connector.
    pub rows_pulled: u64,
    /// Rows dropped because they were landed by an earlier run (cursor boundary).
    pub rows_deduplicated: u64,
    /// Rows written to staged files.
    pub rows_landed: u64,
    /// Rows in files committed by this run.
    pub rows_committed: u64,
    /// Parquet bytes committed by this run.
    pub bytes_committed: u64,
    /// Files committed by this run.
    pub files_committed: u64,
    /// Commits (checkpoints made durable) by this run.
    pub commits: u64,
    /// Pages read (HTTP responses, files).
    pub pages: u64,
    /// Requests retried.
    pub retries: u64,
    /// Time from the start of the read to the stream's last message, in milliseconds.
    pub duration_ms: u64,
    /// State before the run.
    pub state_before: StreamState,
    /// State committed at the end (equal to before if nothing was committed).
    pub state_after: StreamState,
}
