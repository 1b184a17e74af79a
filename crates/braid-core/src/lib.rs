//! The braid connector contract.
//!
//! A connector is a [`Connector`] (its [`ConnectorSpec`] and a way to build a
//! configured [`Source`]). A [`Source`] answers the Airbyte/Singer-shaped
//! questions: [`Source::check`], [`Source::discover`] and [`Source::read`].
//! `read` yields a stream of [`Message`]s: Arrow record batches per stream and
//! checkpoints between them. The runtime, not the connector, decides when a
//! checkpoint is durable.

mod catalog;
mod cursor;
mod error;
mod message;
mod source;
mod state;

pub use catalog::{Catalog, ConfiguredStream, StreamDescriptor, SyncMode};
pub use cursor::{cursor_column_max, cursor_value_at, CursorValue};
pub use error::{Error, ErrorKind, Result};
pub use message::{Message, MessageStream};
pub use source::{CheckOutcome, Connector, ConnectorSpec, ReadRequest, Source};
pub use state::{SourceState, StreamState};

/// Re-exported so connectors and the runtime agree on one arrow.
pub use arrow_array;
pub use arrow_schema;
