//! The C ABI between the braid host and a plugin (a `cdylib`), version
//! [`ABI_VERSION`].
//!
//! Only C types cross: integers, NUL-terminated UTF-8 strings, opaque
//! handles and the Arrow C Data/Stream Interface structs. Rust types,
//! allocators, panics and async runtimes stay on their side.
//!
//! # Exported symbols (all `extern "C"`)
//!
//! | symbol | signature | what |
//! |---|---|---|
//! | `braid_plugin_abi_version` | `() -> u32` | resolved and called **first**; the host refuses any other value |
//! | `braid_plugin_spec` | `(out: *mut *mut c_char) -> i32` | the [`ConnectorSpec`](braid_core::ConnectorSpec) as JSON |
//! | `braid_plugin_string_free` | `(s: *mut c_char)` | frees a string the plugin returned |
//! | `braid_plugin_set_logger` | `(log: LogFn, max_level: u32)` | routes the plugin's `tracing` events to the host |
//! | `braid_source_build` | `(config: *const c_char, out: *mut *mut SourceHandle, err: *mut *mut c_char) -> i32` | builds a source from config JSON |
//! | `braid_source_free` | `(source: *mut SourceHandle)` | drops it |
//! | `braid_source_check` | `(source, out: *mut *mut c_char) -> i32` | [`CheckOutcome`](braid_core::CheckOutcome) JSON, or error JSON |
//! | `braid_source_discover` | `(source, out: *mut *mut c_char) -> i32` | catalog JSON ([`WireCatalog`]: streams without schemas), or error JSON |
//! | `braid_source_schema` | `(source, stream: *const c_char, out: *mut FFI_ArrowSchema, err) -> i32` | a discovered stream's Arrow schema |
//! | `braid_source_read` | `(source, request: *const c_char, out: *mut *mut ReadHandle, err) -> i32` | starts a read ([`WireReadRequest`] JSON) |
//! | `braid_read_stream` | `(read, stream: *const c_char, out: *mut FFI_ArrowArrayStream, err) -> i32` | the Arrow C stream of one stream's batches |
//! | `braid_read_next` | `(read, out: *mut *mut c_char) -> i32` | the next message ([`WireMessage`] JSON), [`END`], or error JSON |
//! | `braid_read_free` | `(read: *mut ReadHandle)` | stops the read and drops it |
//!
//! Status codes are [`OK`], [`ERR`] (the `out`/`err` string then holds a
//! [`WireError`]) and [`END`]. Every string the plugin hands out is freed by
//! the host with `braid_plugin_string_free`; strings the host passes in are
//! borrowed for the call only. Arrow structs follow the C Data Interface:
//! their `release` callbacks (which live in the plugin) free them, so a
//! loaded plugin is never unloaded.
//!
//! # Data
//!
//! `braid_read_next` yields control messages in the connector's order. A
//! `{"type":"batch","stream":"members"}` message means the next
//! `get_next` on that stream's `FFI_ArrowArrayStream` returns exactly that
//! batch; checkpoints and progress carry their JSON. Each stream's Arrow
//! stream is opened once (before the first `braid_read_next`) and its
//! schema checked against the discovered one.

use std::ffi::c_char;

use braid_core::{Error, ErrorKind, SourceState, SyncMode};
use serde::{Deserialize, Serialize};

/// The ABI version this crate speaks. Bumped on any change to the symbols,
/// their signatures or the JSON documents above.
pub const ABI_VERSION: u32 = 1;

/// Success.
pub const OK: i32 = 0;
/// Failure; the out string holds a [`WireError`] JSON.
pub const ERR: i32 = 1;
/// `braid_read_next`: the read is finished.
pub const END: i32 = 2;

/// Symbol names, NUL-terminated for `dlsym`.
pub mod symbols {
    /// `() -> u32`
    pub const ABI_VERSION: &[u8] = b"braid_plugin_abi_version\0";
    /// `(out) -> i32`
    pub const SPEC: &[u8] = b"braid_plugin_spec\0";
    /// `(s)`
    pub const STRING_FREE: &[u8] = b"braid_plugin_string_free\0";
    /// `(log, max_level)`
    pub const SET_LOGGER: &[u8] = b"braid_plugin_set_logger\0";
    /// `(config, out, err) -> i32`
    pub const SOURCE_BUILD: &[u8] = b"braid_source_build\0";
    /// `(source)`
    pub const SOURCE_FREE: &[u8] = b"braid_source_free\0";
    /// `(source, out) -> i32`
    pub const SOURCE_CHECK: &[u8] = b"braid_source_check\0";
    /// `(source, out) -> i32`
    pub const SOURCE_DISCOVER: &[u8] = b"braid_source_discover\0";
    /// `(source, stream, out, err) -> i32`
    pub const SOURCE_SCHEMA: &[u8] = b"braid_source_schema\0";
    /// `(source, request, out, err) -> i32`
    pub const SOURCE_READ: &[u8] = b"braid_source_read\0";
    /// `(read, stream, out, err) -> i32`
    pub const READ_STREAM: &[u8] = b"braid_read_stream\0";
    /// `(read, out) -> i32`
    pub const READ_NEXT: &[u8] = b"braid_read_next\0";
    /// `(read)`
    pub const READ_FREE: &[u8] = b"braid_read_free\0";
}

/// Opaque plugin-side source. Only ever used behind a pointer.
#[repr(C)]
pub struct SourceHandle {
    _private: [u8; 0],
}

/// Opaque plugin-side read. Only ever used behind a pointer.
#[repr(C)]
pub struct ReadHandle {
    _private: [u8; 0],
}

/// The host's log sink: `level` is 1 (error) to 5 (trace); both strings
/// are borrowed for the call.
pub type LogFn = extern "C" fn(level: u32, target: *const c_char, message: *const c_char);

/// `braid_plugin_abi_version`
pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
/// `braid_plugin_spec`
pub type SpecFn = unsafe extern "C" fn(out: *mut *mut c_char) -> i32;
/// `braid_plugin_string_free`
pub type StringFreeFn = unsafe extern "C" fn(s: *mut c_char);
/// `braid_plugin_set_logger`
pub type SetLoggerFn = unsafe extern "C" fn(log: LogFn, max_level: u32);
/// `braid_source_build`
pub type SourceBuildFn = unsafe extern "C" fn(
    config: *const c_char,
    out: *mut *mut SourceHandle,
    err: *mut *mut c_char,
) -> i32;
/// `braid_source_free`
pub type SourceFreeFn = unsafe extern "C" fn(source: *mut SourceHandle);
/// `braid_source_check` and `braid_source_discover`
pub type SourceJsonFn =
    unsafe extern "C" fn(source: *mut SourceHandle, out: *mut *mut c_char) -> i32;
/// `braid_source_schema`
pub type SourceSchemaFn = unsafe extern "C" fn(
    source: *mut SourceHandle,
    stream: *const c_char,
    out: *mut arrow_schema::ffi::FFI_ArrowSchema,
    err: *mut *mut c_char,
) -> i32;
/// `braid_source_read`
pub type SourceReadFn = unsafe extern "C" fn(
    source: *mut SourceHandle,
    request: *const c_char,
    out: *mut *mut ReadHandle,
    err: *mut *mut c_char,
) -> i32;
/// `braid_read_stream`
pub type ReadStreamFn = unsafe extern "C" fn(
    read: *mut ReadHandle,
    stream: *const c_char,
    out: *mut arrow_array::ffi_stream::FFI_ArrowArrayStream,
    err: *mut *mut c_char,
) -> i32;
/// `braid_read_next`
pub type ReadNextFn = unsafe extern "C" fn(read: *mut ReadHandle, out: *mut *mut c_char) -> i32;
/// `braid_read_free`
pub type ReadFreeFn = unsafe extern "C" fn(read: *mut ReadHandle);

/// An error as it crosses the boundary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// `config`, `auth`, `rate_limit`, `transient`, `data` or `internal`.
    pub kind: String,
    /// The message (for `auth`/`rate_limit`/`transient`, what the vendor said).
    pub message: String,
    /// Endpoint, for `auth`/`rate_limit`/`transient`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Stream, for `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// `Retry-After`, for `rate_limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        let mut w = WireError {
            kind: match e.kind() {
                ErrorKind::Config => "config",
                ErrorKind::Auth => "auth",
                ErrorKind::RateLimit => "rate_limit",
                ErrorKind::Transient => "transient",
                ErrorKind::Data => "data",
                ErrorKind::Internal => "internal",
            }
            .into(),
            message: String::new(),
            endpoint: None,
            stream: None,
            retry_after_ms: None,
        };
        match e {
            Error::Config(m) | Error::Internal(m) => w.message = m.clone(),
            Error::Auth { endpoint, message } | Error::Transient { endpoint, message } => {
                w.message = message.clone();
                w.endpoint = Some(endpoint.clone());
            }
            Error::RateLimit {
                endpoint,
                message,
                retry_after,
            } => {
                w.message = message.clone();
                w.endpoint = Some(endpoint.clone());
                w.retry_after_ms = retry_after.map(|d| d.as_millis() as u64);
            }
            Error::Data { stream, message } => {
                w.message = message.clone();
                w.stream = Some(stream.clone());
            }
        }
        w
    }
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Self {
        let endpoint = w.endpoint.unwrap_or_default();
        match w.kind.as_str() {
            "config" => Error::Config(w.message),
            "auth" => Error::Auth {
                endpoint,
                message: w.message,
            },
            "rate_limit" => Error::RateLimit {
                endpoint,
                message: w.message,
                retry_after: w.retry_after_ms.map(std::time::Duration::from_millis),
            },
            "transient" => Error::Transient {
                endpoint,
                message: w.message,
            },
            "data" => Error::Data {
                stream: w.stream.unwrap_or_default(),
                message: w.message,
            },
            _ => Error::Internal(w.message),
        }
    }
}

/// One stream of the catalog as it crosses the boundary; its Arrow schema
/// comes separately through `braid_source_schema` (C Data Interface), so
/// host and plugin need not share an arrow version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireStream {
    /// Stream name.
    pub name: String,
    /// Primary key columns.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Cursor column.
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// Supported sync modes.
    pub sync_modes: Vec<SyncMode>,
}

/// `braid_source_discover`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireCatalog {
    /// The streams, in the connector's order.
    pub streams: Vec<WireStream>,
}

/// A stream selected for a read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireConfiguredStream {
    /// Stream name (as discovered).
    pub name: String,
    /// Mode chosen by the pipeline.
    pub sync_mode: SyncMode,
    /// Primary key the host reads with.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Cursor column the host reads with.
    #[serde(default)]
    pub cursor_field: Option<String>,
}

/// `braid_source_read`'s request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireReadRequest {
    /// Streams to read, in order.
    pub streams: Vec<WireConfiguredStream>,
    /// Committed state.
    #[serde(default)]
    pub state: SourceState,
}

/// `braid_read_next`'s answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireMessage {
    /// The next `get_next` on `stream`'s Arrow stream returns this batch.
    Batch {
        /// Stream name.
        stream: String,
        /// Rows in the batch.
        rows: u64,
    },
    /// See [`braid_core::Message::Checkpoint`].
    Checkpoint {
        /// Stream name.
        stream: String,
        /// Connector-private resume state.
        #[serde(default)]
        resume: Option<serde_json::Value>,
    },
    /// See [`braid_core::Message::Progress`].
    Progress {
        /// Stream name.
        stream: String,
        /// Pages read.
        pages: u64,
        /// Requests retried.
        retries: u64,
    },
}

/// A panic payload as text.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn errors_keep_their_kind_and_fields_across_the_wire() {
        let cases = vec![
            Error::Config("bad".into()),
            Error::Auth {
                endpoint: "/v1/members".into(),
                message: "token expired".into(),
            },
            Error::RateLimit {
                endpoint: "/v1/members".into(),
                message: "slow down".into(),
                retry_after: Some(Duration::from_millis(1500)),
            },
            Error::Transient {
                endpoint: "/v1/x".into(),
                message: "503".into(),
            },
            Error::data("members", "bad points"),
            Error::Internal("bug".into()),
        ];
        for e in cases {
            let json = serde_json::to_string(&WireError::from(&e)).unwrap();
            let back: Error = serde_json::from_str::<WireError>(&json).unwrap().into();
            assert_eq!(back.kind(), e.kind());
            assert_eq!(back.to_string(), e.to_string());
        }
    }

    #[test]
    fn messages_are_tagged_json() {
        let m = WireMessage::Checkpoint {
            stream: "members".into(),
            resume: Some(serde_json::json!({"page": 3})),
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"type":"checkpoint","stream":"members","resume":{"page":3}}"#
        );
        assert_eq!(serde_json::from_str::<WireMessage>(&json).unwrap(), m);
    }
}
