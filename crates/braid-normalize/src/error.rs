//! Errors of the unified stage.

use std::path::{Path, PathBuf};

/// What can stop a unify, explain or forget.
#[derive(Debug, thiserror::Error)]
pub enum UnifyError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The warehouse layout is not what braid wrote.
    #[error("{0}")]
    Layout(String),
    /// A manifest or data file braid wrote cannot be read.
    #[error("corrupt unified layer: {0}")]
    Corrupt(String),
    /// The pipeline's `unify` section is invalid (file:line:column diagnostics).
    #[error("{0}")]
    Config(braid_pipeline::PipelineErrors),
    /// A raw column changed type and the policy is `fail`.
    #[error("{0}")]
    TypeChange(String),
    /// Reading or writing Parquet failed.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Normalising a batch failed as a whole (not one bad value).
    #[error("{source_name}/{stream}: {message}")]
    Convert {
        /// The pipeline source.
        source_name: String,
        /// The stream.
        stream: String,
        /// What failed.
        message: String,
    },
    /// The identity graph failed.
    #[error("identity: {0}")]
    Identity(String),
    /// Nothing matches what `explain`/`forget` was asked about.
    #[error("{0}")]
    NotFound(String),
}

impl UnifyError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> UnifyError {
        UnifyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn parquet(path: &Path, e: impl std::fmt::Display) -> UnifyError {
        UnifyError::Parquet {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }
}
