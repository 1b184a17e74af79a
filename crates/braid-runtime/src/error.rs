use braid_core::ErrorKind;
use braid_warehouse::WarehouseError;

/// Why a run failed. Each variant maps to a stable exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The pipeline or a source's configuration is wrong (message includes file:line:column when known).
    #[error("{0}")]
    Config(String),
    /// A source failed; the inner error's kind says how.
    #[error("source `{source_name}`: {error}")]
    Source {
        /// The source's name in the pipeline.
        source_name: String,
        /// What the connector reported.
        #[source]
        error: braid_core::Error,
    },
    /// Records could not be landed as they came.
    #[error("bad data in stream `{stream}`: {message}")]
    Data {
        /// The stream.
        stream: String,
        /// What was wrong.
        message: String,
    },
    /// Writing or committing to the warehouse failed.
    #[error("warehouse: {0}")]
    Warehouse(#[from] WarehouseError),
    /// Stopped by a signal; committed checkpoints are kept.
    #[error("interrupted; committed checkpoints are kept and the next run resumes from them")]
    Interrupted,
    /// A bug or broken invariant in braid.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Exit codes of `braid run` (stable, documented in the README).
pub mod exit_code {
    /// Success.
    pub const OK: i32 = 0;
    /// Internal error.
    pub const INTERNAL: i32 = 1;
    /// Configuration error (pipeline file, connector config, usage).
    pub const CONFIG: i32 = 2;
    /// Authentication or permission refused by a vendor.
    pub const AUTH: i32 = 3;
    /// A source failed: rate limits or transient failures past retries, bad vendor data.
    pub const SOURCE: i32 = 4;
    /// The warehouse could not be written.
    pub const WAREHOUSE: i32 = 5;
    /// Not run: another process is running the same pipeline on this warehouse.
    pub const LOCKED: i32 = 6;
    /// Interrupted by SIGINT/SIGTERM.
    pub const INTERRUPTED: i32 = 130;
}

impl RunError {
    pub(crate) fn data(stream: &str, message: impl Into<String>) -> Self {
        RunError::Data {
            stream: stream.to_owned(),
            message: message.into(),
        }
    }

    /// The error class as a word for reports and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RunError::Config(_) => "config",
            RunError::Source { error, .. } => match error.kind() {
                ErrorKind::Config => "config",
                ErrorKind::Auth => "auth",
                ErrorKind::RateLimit => "rate_limit",
                ErrorKind::Transient => "transient",
                ErrorKind::Data => "data",
                ErrorKind::Internal => "internal",
            },
            RunError::Data { .. } => "data",
            RunError::Warehouse(WarehouseError::Locked { .. }) => "locked",
            RunError::Warehouse(_) => "warehouse",
            RunError::Interrupted => "interrupted",
            RunError::Internal(_) => "internal",
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            "config" => exit_code::CONFIG,
            "auth" => exit_code::AUTH,
            "rate_limit" | "transient" | "data" => exit_code::SOURCE,
            "warehouse" => exit_code::WAREHOUSE,
            "locked" => exit_code::LOCKED,
            "interrupted" => exit_code::INTERRUPTED,
            _ => exit_code::INTERNAL,
        }
    }
}

impl From<arrow_schema::ArrowError> for RunError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        RunError::Internal(format!("arrow: {e}"))
    }
}
