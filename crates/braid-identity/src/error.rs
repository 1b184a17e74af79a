//! Errors of identity resolution.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The input batch lacks a column or has the wrong type.
    #[error("identity input: {0}")]
    Input(String),
    /// Reading or writing the persisted graph.
    #[error("identity graph {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The persisted graph cannot be read back.
    #[error("identity graph is corrupt: {0}")]
    Corrupt(String),
    /// No such person.
    #[error("{0}")]
    NotFound(String),
}

impl IdentityError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> IdentityError {
        IdentityError::Io {
            path: path.to_owned(),
            source,
        }
    }
}
