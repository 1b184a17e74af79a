//! What a braid connector author depends on.
//!
//! The contract ([`Source`], [`Message`], [`Error`], …) re-exported from
//! `braid-core`, plus the helpers every HTTP connector needs: an
//! [`HttpClient`] with retries (exponential backoff with jitter, `Retry-After`),
//! client-side rate limits and bounded concurrency whose errors never carry
//! secrets, and a [`PageTokenGuard`] that stops a paginator from looping.
//! With the `plugin` feature, [`export_plugin!`] turns a connector crate
//! into a dynamic-library plugin.
//!
//! The crates a connector's code names in its signatures are re-exported
//! ([`arrow_array`], [`arrow_schema`], [`async_trait`](macro@async_trait),
//! [`futures`], [`async_stream`], [`serde_json`]), so a connector crate outside this
//! repository depends on `braid-sdk` (and `serde` for its config) and
//! always gets the versions braid was built with.

pub mod config_value;
pub mod envelope;
mod http;
pub mod json_page;
pub mod oauth;
mod paging;
#[cfg(feature = "plugin")]
mod plugin_export;
/// The plugin boundary (feature `plugin`), used by [`export_plugin!`].
#[cfg(feature = "plugin")]
pub use braid_plugin as plugin;
pub mod report_window;

pub use braid_core::*;

/// `async_stream::try_stream!` builds a [`MessageStream`] from a loop.
pub use async_stream;
/// `#[braid_sdk::async_trait]` on `impl Source for …`.
pub use async_trait::async_trait;
/// [`MessageStream`] is a `futures` stream.
pub use futures;
pub use http::{
    EnvelopeCheck, EnvelopeError, ErrorClassifier, HttpClient, HttpConfig, HttpError, HttpResponse,
    HttpStats,
};
pub use json_page::{JsonPage, JsonPageDecoder, JsonPageError};
pub use oauth::{AccessToken, Grant, OAuth2, TokenCache, TokenFetcher};
pub use paging::{next_link, PageTokenGuard};
pub use report_window::ReportRange;
/// Configs, specs and resume state are `serde_json` values.
pub use serde_json;

/// The batches a stream has buffered, as one batch (`None` when there are
/// none); `pending` is left empty for the next ones.
pub fn take_batch(
    schema: &arrow_schema::SchemaRef,
    pending: &mut Vec<arrow_array::RecordBatch>,
) -> Result<Option<arrow_array::RecordBatch>> {
    if pending.is_empty() {
        return Ok(None);
    }
    let b = arrow_select::concat::concat_batches(schema, pending.iter())
        .map_err(|e| Error::Internal(format!("concat: {e}")))?;
    pending.clear();
    Ok(Some(b))
}
