//! What a braid connector author depends on.
//!
//! The contract ([`Source`], [`Message`], [`Error`], …) re-exported from
//! `braid-core`, plus the helpers every HTTP connector needs: an
//! [`HttpClient`] with retries (exponential backoff with jitter, `Retry-After`),
//! client-side rate limits and bounded concurrency whose errors never carry
//! secrets, and a [`PageTokenGuard`] that stops a paginator from looping.
//! With the `plugin` feature, [`export_plugin!`] turns a connector crate
//! into a dynamic-library plugin.

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
pub use http::{
    EnvelopeCheck, EnvelopeError, ErrorClassifier, HttpClient, HttpConfig, HttpResponse, HttpStats,
};
pub use json_page::{JsonPage, JsonPageDecoder};
pub use oauth::{AccessToken, Grant, OAuth2, TokenCache, TokenFetcher};
pub use paging::{next_link, PageTokenGuard};
pub use report_window::ReportRange;
