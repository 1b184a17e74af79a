use std::path::{Path, PathBuf};

/// An error from the warehouse. Paths are included; secrets never are (the
/// warehouse handles none).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarehouseError {
    /// A file-system operation failed.
    #[error("I/O error at {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The Parquet writer failed.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// An Arrow operation (cast, batch assembly) failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A pipeline, source, stream or run name is not `[A-Za-z0-9_-]+`.
    #[error("invalid {kind} name {name:?}: only ASCII letters, digits, '_' and '-' are allowed")]
    InvalidName {
        /// What was being named: "source", "stream", "pipeline" or "run id".
        kind: &'static str,
        /// The rejected name.
        name: String,
    },
    /// A state file cannot be read as committed state, or it references data
    /// that no longer exists. The state is never reset silently.
    #[error("corrupt state file {}: {message}", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A batch does not match the schema the stream writer was created with.
    #[error("schema mismatch in stream {stream}, field {field:?}: {message}")]
    SchemaMismatch {
        /// The stream being written.
        stream: String,
        /// The first differing field.
        field: String,
        /// How it differs.
        message: String,
    },
    /// The stream schema uses a column name the warehouse reserves (`_braid_*` lineage columns).
    #[error("stream {stream} has a field named {field:?}, which is reserved for lineage")]
    ReservedField {
        /// The stream.
        stream: String,
        /// The offending field.
        field: String,
    },
    /// A file handed to [`crate::Warehouse::commit`] is not a staged file of this warehouse.
    #[error("cannot commit {}: {message}", path.display())]
    InvalidStagedFile {
        /// The staged (or final) path in question.
        path: PathBuf,
        /// Why it was refused.
        message: String,
    },
    /// [`crate::WriterOptions`] hold an unusable value.
    #[error("invalid writer options: {0}")]
    InvalidOptions(String),
    /// Another process holds the staging lock of this run id.
    #[error("run {0} is already staging data in another process")]
    RunInUse(String),
    /// The object store refused or failed an operation.
    #[error("object store {uri}: {message}")]
    Remote {
        /// The object (or warehouse) URI; never credentials.
        uri: String,
        /// What the store said.
        message: String,
    },
    /// Another writer committed state for the same source at the same time.
    #[error("concurrent commit: {0}")]
    Conflict(String),
    /// Another process is running this pipeline on this warehouse.
    #[error("pipeline {pipeline} is already running ({holder}); not starting a second run")]
    Locked {
        /// The pipeline.
        pipeline: String,
        /// Who holds the lock, and until when.
        holder: String,
    },
}

impl WarehouseError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        WarehouseError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        WarehouseError::Corrupt {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}

/// Attach a path to an I/O result.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, WarehouseError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, WarehouseError> {
        self.map_err(|e| WarehouseError::io(path, e))
    }
}
