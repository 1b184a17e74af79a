use std::time::Duration;

/// The class of an error: retries, exit codes and messages follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The configuration is wrong; retrying will not help.
    Config,
    /// The vendor refused the credentials or their scope.
    Auth,
    /// The vendor asked us to slow down.
    RateLimit,
    /// A failure that may pass: timeouts, 5xx, connection resets.
    Transient,
    /// The vendor sent data we cannot read.
    Data,
    /// A bug or an invariant broken inside braid.
    Internal,
}

/// An error from a connector, typed by what caused it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad or missing configuration.
    #[error("configuration error: {0}")]
    Config(String),
    /// Credentials refused; `message` is what the vendor said (never the secret).
    #[error("authentication failed at {endpoint}: {message}")]
    Auth {
        /// The endpoint (path, no query string) that refused.
        endpoint: String,
        /// The vendor's explanation.
        message: String,
    },
    /// Rate limited and out of retries.
    #[error("rate limited at {endpoint}: {message}")]
    RateLimit {
        /// The endpoint that limited us.
        endpoint: String,
        /// The vendor's explanation.
        message: String,
        /// How long the vendor asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// A failure that may pass with time.
    #[error("transient failure at {endpoint}: {message}")]
    Transient {
        /// The endpoint, or host, that failed.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// The vendor sent something we cannot read.
    #[error("bad data in stream {stream}: {message}")]
    Data {
        /// The stream being read.
        stream: String,
        /// What was wrong, with enough context to find it.
        message: String,
    },
    /// A bug or broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) => ErrorKind::Config,
            Error::Auth { .. } => ErrorKind::Auth,
            Error::RateLimit { .. } => ErrorKind::RateLimit,
            Error::Transient { .. } => ErrorKind::Transient,
            Error::Data { .. } => ErrorKind::Data,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::RateLimit | ErrorKind::Transient)
    }

    /// Shorthand for a [`Error::Data`].
    pub fn data(stream: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Data {
            stream: stream.into(),
            message: message.into(),
        }
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

/// Result with a connector [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
