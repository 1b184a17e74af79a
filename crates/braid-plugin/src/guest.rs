//! The plugin side of the boundary: what `braid_sdk::export_plugin!`
//! expands to calls. A [`Guest`] wraps one [`Connector`] and answers the
//! C functions of [`crate::abi`].
//!
//! # Async I/O inside the plugin
//!
//! A plugin cannot use the host's tokio runtime: it links its own copy of
//! tokio, whose thread-locals and reactor the host's tasks know nothing of.
//! So the plugin owns one multi-thread runtime (two workers), created on
//! first use and never dropped. `check`/`discover`/`read` run on it with
//! `block_on` from the host's calling thread (the host calls from
//! `spawn_blocking`, never from its async workers). A read's message stream
//! is driven by a task on that runtime into a small bounded channel, so the
//! connector fetches and decodes its next page while the host is still
//! writing the previous batch — the same overlap a compiled-in connector
//! gets from the host's runtime. (A blocking pull on the caller's thread
//! would serialise fetching and writing and cost far more than the
//! boundary itself.)
//!
//! # Panics
//!
//! Every entry point runs inside `catch_unwind`, and so does every poll of
//! the connector's stream and every `get_next` of an exported Arrow stream;
//! a panic becomes an `internal` error naming the panic message. A plugin
//! must therefore be built with `panic = "unwind"` (cargo's default).

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, SchemaRef};
use braid_core::{Catalog, ConfiguredStream, Connector, Error, Message, ReadRequest, Source};
use futures::{FutureExt, StreamExt};

use crate::abi::{
    panic_message, LogFn, ReadHandle, SourceHandle, WireCatalog, WireError, WireMessage,
    WireReadRequest, WireStream, END, ERR, OK,
};

/// Messages buffered between the connector's stream and the host.
const CHANNEL_DEPTH: usize = 4;

/// One exported connector: built lazily from `make`, with the plugin's
/// runtime. Lives in a `static` made by the export macro.
pub struct Guest {
    make: fn() -> Box<dyn Connector>,
    connector: OnceLock<Box<dyn Connector>>,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

struct GuestSource {
    source: Box<dyn Source>,
    catalog: Mutex<Option<Catalog>>,
}

struct Slot {
    schema: SchemaRef,
    batches: Mutex<VecDeque<RecordBatch>>,
    opened: Mutex<bool>,
}

struct GuestRead {
    rx: Mutex<tokio::sync::mpsc::Receiver<braid_core::Result<Message>>>,
    slots: HashMap<String, Arc<Slot>>,
    task: tokio::task::JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn panicked(payload: Box<dyn std::any::Any + Send>) -> Error {
    Error::Internal(format!("plugin panicked: {}", panic_message(&*payload)))
}

/// Writes `s` as a new C string into `*out` (if `out` is not null).
///
/// # Safety
/// `out` is null or valid for a write.
unsafe fn put_string(out: *mut *mut c_char, s: String) {
    if out.is_null() {
        return;
    }
    // JSON never holds a raw NUL (serde escapes it); strip one anyway.
    let c = CString::new(s).unwrap_or_else(|e| {
        let mut v = e.into_vec();
        v.retain(|b| *b != 0);
        CString::new(v).unwrap_or_default()
    });
    unsafe { *out = c.into_raw() };
}

unsafe fn put_error(out: *mut *mut c_char, e: &Error) {
    let json = serde_json::to_string(&WireError::from(e))
        .unwrap_or_else(|_| r#"{"kind":"internal","message":"unserialisable error"}"#.into());
    unsafe { put_string(out, json) };
}

fn to_json<T: serde::Serialize>(v: &T) -> braid_core::Result<String> {
    serde_json::to_string(v)
        .map_err(|e| Error::Internal(format!("plugin: cannot encode JSON: {e}")))
}

/// # Safety
/// `s` is null or a NUL-terminated string valid for the call.
unsafe fn arg<'a>(s: *const c_char, what: &str) -> braid_core::Result<&'a str> {
    if s.is_null() {
        return Err(Error::Internal(format!("plugin: {what} is a null pointer")));
    }
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| Error::Internal(format!("plugin: {what} is not UTF-8")))
}

/// Runs `f` with panics caught; an error (or panic) is written to `err`.
fn guard(err: *mut *mut c_char, f: impl FnOnce() -> braid_core::Result<i32>) -> i32 {
    let e = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(code)) => return code,
        Ok(Err(e)) => e,
        Err(p) => panicked(p),
    };
    // SAFETY: the host passes a valid out pointer or null.
    unsafe { put_error(err, &e) };
    ERR
}

fn not_null<T>(p: *mut T, what: &str) -> braid_core::Result<*mut T> {
    if p.is_null() {
        Err(Error::Internal(format!("plugin: {what} is a null pointer")))
    } else {
        Ok(p)
    }
}

impl Guest {
    /// A guest for the connector `make` builds (called once, on first use).
    pub const fn new(make: fn() -> Box<dyn Connector>) -> Self {
        Self {
            make,
            connector: OnceLock::new(),
            runtime: OnceLock::new(),
        }
    }

    fn connector(&self) -> &dyn Connector {
        self.connector.get_or_init(|| (self.make)()).as_ref()
    }

    fn runtime(&self) -> braid_core::Result<&tokio::runtime::Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("braid-plugin")
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("plugin: cannot start its tokio runtime: {e}")))?;
        // Another thread may have won the race; its runtime is kept.
        let _ = self.runtime.set(rt);
        Ok(self.runtime.get().expect("runtime was just set"))
    }

    /// `braid_plugin_spec`.
    ///
    /// # Safety
    /// `out` is valid for a write.
    pub unsafe fn spec(&self, out: *mut *mut c_char) -> i32 {
        guard(out, || {
            let json = to_json(&self.connector().spec())?;
            unsafe { put_string(not_null(out, "out")?, json) };
            Ok(OK)
        })
    }

    /// `braid_plugin_string_free`.
    ///
    /// # Safety
    /// `s` is null or a string this plugin returned, not yet freed.
    pub unsafe fn string_free(s: *mut c_char) {
        if !s.is_null() {
            drop(unsafe { CString::from_raw(s) });
        }
    }

    /// `braid_plugin_set_logger`: the plugin's `tracing` events at or
    /// above `max_level` (1 error … 5 trace, 0 off) go to `log`. The first
    /// call wins.
    pub fn set_logger(log: LogFn, max_level: u32) {
        let _ = catch_unwind(|| {
            let Some(max) = level_from(max_level) else {
                return;
            };
            let _ = tracing::subscriber::set_global_default(HostLogger { log, max });
        });
    }

    /// `braid_source_build`.
    ///
    /// # Safety
    /// `config` is a NUL-terminated string; `out` and `err` are valid for writes.
    pub unsafe fn source_build(
        &self,
        config: *const c_char,
        out: *mut *mut SourceHandle,
        err: *mut *mut c_char,
    ) -> i32 {
        guard(err, || {
            let out = not_null(out, "out")?;
            let text = unsafe { arg(config, "config") }?;
            let value: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::Config(format!("config is not JSON: {e}")))?;
            let _enter = self.runtime()?.enter();
            let source = self.connector().build(value)?;
            let handle = Box::new(GuestSource {
                source,
                catalog: Mutex::new(None),
            });
            unsafe { *out = Box::into_raw(handle).cast() };
            Ok(OK)
        })
    }

    /// `braid_source_free`.
    ///
    /// # Safety
    /// `source` is null or a handle from `source_build`, not yet freed.
    pub unsafe fn source_free(&self, source: *mut SourceHandle) {
        if source.is_null() {
            return;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _enter = self.runtime().ok().map(|rt| rt.enter());
            drop(unsafe { Box::from_raw(source.cast::<GuestSource>()) });
        }));
    }

    /// `braid_source_check`.
    ///
    /// # Safety
    /// `source` is a live handle; `out` is valid for a write.
    pub unsafe fn source_check(&self, source: *mut SourceHandle, out: *mut *mut c_char) -> i32 {
        guard(out, || {
            let src = unsafe { source_ref(source) }?;
            let outcome = self.runtime()?.block_on(src.source.check())?;
            unsafe { put_string(not_null(out, "out")?, to_json(&outcome)?) };
            Ok(OK)
        })
    }

    fn catalog(&self, src: &GuestSource) -> braid_core::Result<Catalog> {
        if let Some(c) = lock(&src.catalog).as_ref() {
            return Ok(c.clone());
        }
        let c = self.runtime()?.block_on(src.source.discover())?;
        *lock(&src.catalog) = Some(c.clone());
        Ok(c)
    }

    /// `braid_source_discover`.
    ///
    /// # Safety
    /// `source` is a live handle; `out` is valid for a write.
    pub unsafe fn source_discover(&self, source: *mut SourceHandle, out: *mut *mut c_char) -> i32 {
        guard(out, || {
            let src = unsafe { source_ref(source) }?;
            let catalog = self.runtime()?.block_on(src.source.discover())?;
            let wire = WireCatalog {
                streams: catalog
                    .streams
                    .iter()
                    .map(|s| WireStream {
                        name: s.name.clone(),
                        primary_key: s.primary_key.clone(),
                        cursor_field: s.cursor_field.clone(),
                        sync_modes: s.sync_modes.clone(),
                    })
                    .collect(),
            };
            *lock(&src.catalog) = Some(catalog);
            unsafe { put_string(not_null(out, "out")?, to_json(&wire)?) };
            Ok(OK)
        })
    }

    /// `braid_source_schema`.
    ///
    /// # Safety
    /// `source` is a live handle; `stream` a NUL-terminated string; `out`
    /// points to an `FFI_ArrowSchema` the host owns; `err` is valid for a write.
    pub unsafe fn source_schema(
        &self,
        source: *mut SourceHandle,
        stream: *const c_char,
        out: *mut FFI_ArrowSchema,
        err: *mut *mut c_char,
    ) -> i32 {
        guard(err, || {
            let src = unsafe { source_ref(source) }?;
            let name = unsafe { arg(stream, "stream") }?;
            let out = not_null(out, "out")?;
            let catalog = self.catalog(src)?;
            let s = catalog
                .stream(name)
                .ok_or_else(|| Error::Config(format!("unknown stream `{name}`")))?;
            let ffi = FFI_ArrowSchema::try_from(s.schema.as_ref())?;
            unsafe { std::ptr::write(out, ffi) };
            Ok(OK)
        })
    }

    /// `braid_source_read`.
    ///
    /// # Safety
    /// `source` is a live handle; `request` a NUL-terminated string; `out`
    /// and `err` are valid for writes.
    pub unsafe fn source_read(
        &self,
        source: *mut SourceHandle,
        request: *const c_char,
        out: *mut *mut ReadHandle,
        err: *mut *mut c_char,
    ) -> i32 {
        guard(err, || {
            let src = unsafe { source_ref(source) }?;
            let out = not_null(out, "out")?;
            let text = unsafe { arg(request, "request") }?;
            let wire: WireReadRequest = serde_json::from_str(text)
                .map_err(|e| Error::Internal(format!("plugin: bad read request JSON: {e}")))?;
            let catalog = self.catalog(src)?;
            let mut streams = Vec::with_capacity(wire.streams.len());
            let mut slots = HashMap::new();
            for w in wire.streams {
                let mut d = catalog
                    .stream(&w.name)
                    .cloned()
                    .ok_or_else(|| Error::Config(format!("unknown stream `{}`", w.name)))?;
                d.primary_key = w.primary_key;
                d.cursor_field = w.cursor_field;
                slots.insert(
                    d.name.clone(),
                    Arc::new(Slot {
                        schema: d.schema.clone(),
                        batches: Mutex::new(VecDeque::new()),
                        opened: Mutex::new(false),
                    }),
                );
                streams.push(ConfiguredStream {
                    stream: d,
                    sync_mode: w.sync_mode,
                });
            }
            let rt = self.runtime()?;
            let mut messages = rt.block_on(src.source.read(ReadRequest {
                streams,
                state: wire.state,
            }))?;
            let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_DEPTH);
            let task = rt.spawn(async move {
                loop {
                    let item = match AssertUnwindSafe(messages.next()).catch_unwind().await {
                        Ok(Some(item)) => item,
                        Ok(None) => break,
                        Err(p) => Err(panicked(p)),
                    };
                    let stop = item.is_err();
                    if tx.send(item).await.is_err() || stop {
                        break;
                    }
                }
            });
            let read = Box::new(GuestRead {
                rx: Mutex::new(rx),
                slots,
                task,
            });
            unsafe { *out = Box::into_raw(read).cast() };
            Ok(OK)
        })
    }

    /// `braid_read_stream`.
    ///
    /// # Safety
    /// `read` is a live handle; `stream` a NUL-terminated string; `out`
    /// points to an `FFI_ArrowArrayStream` the host owns; `err` is valid for a write.
    pub unsafe fn read_stream(
        &self,
        read: *mut ReadHandle,
        stream: *const c_char,
        out: *mut FFI_ArrowArrayStream,
        err: *mut *mut c_char,
    ) -> i32 {
        guard(err, || {
            let read = unsafe { read_ref(read) }?;
            let name = unsafe { arg(stream, "stream") }?;
            let out = not_null(out, "out")?;
            let slot = read.slots.get(name).ok_or_else(|| {
                Error::Internal(format!("plugin: stream `{name}` is not being read"))
            })?;
            let mut opened = lock(&slot.opened);
            if *opened {
                return Err(Error::Internal(format!(
                    "plugin: stream `{name}` was already opened"
                )));
            }
            *opened = true;
            let reader = SlotReader {
                name: name.to_owned(),
                slot: slot.clone(),
            };
            unsafe { std::ptr::write(out, FFI_ArrowArrayStream::new(Box::new(reader))) };
            Ok(OK)
        })
    }

    /// `braid_read_next`.
    ///
    /// # Safety
    /// `read` is a live handle; `out` is valid for a write.
    pub unsafe fn read_next(&self, read: *mut ReadHandle, out: *mut *mut c_char) -> i32 {
        guard(out, || {
            let read = unsafe { read_ref(read) }?;
            let out = not_null(out, "out")?;
            let Some(item) = lock(&read.rx).blocking_recv() else {
                return Ok(END);
            };
            let wire = match item? {
                Message::Batch { stream, batch } => {
                    let slot = read.slots.get(&stream).ok_or_else(|| {
                        Error::data(
                            &stream,
                            "the connector yielded a batch of a stream that was not requested",
                        )
                    })?;
                    let want = slot.schema.fields();
                    let got = batch.schema_ref().fields();
                    if want.len() != got.len()
                        || want
                            .iter()
                            .zip(got.iter())
                            .any(|(w, g)| w.data_type() != g.data_type())
                    {
                        return Err(Error::data(
                            &stream,
                            format!(
                                "the connector yielded a batch whose schema differs from the discovered one (got {got:?})"
                            ),
                        ));
                    }
                    let rows = batch.num_rows() as u64;
                    lock(&slot.batches).push_back(batch);
                    WireMessage::Batch { stream, rows }
                }
                Message::Checkpoint { stream, resume } => {
                    WireMessage::Checkpoint { stream, resume }
                }
                Message::Progress {
                    stream,
                    pages,
                    retries,
                } => WireMessage::Progress {
                    stream,
                    pages,
                    retries,
                },
            };
            unsafe { put_string(out, to_json(&wire)?) };
            Ok(OK)
        })
    }

    /// `braid_read_free`.
    ///
    /// # Safety
    /// `read` is null or a handle from `source_read`, not yet freed.
    pub unsafe fn read_free(&self, read: *mut ReadHandle) {
        if read.is_null() {
            return;
        }
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let read = unsafe { Box::from_raw(read.cast::<GuestRead>()) };
            read.task.abort();
            let _enter = self.runtime().ok().map(|rt| rt.enter());
            drop(read);
        }));
    }
}

unsafe fn source_ref<'a>(p: *mut SourceHandle) -> braid_core::Result<&'a GuestSource> {
    let p = not_null(p, "source")?;
    Ok(unsafe { &*p.cast::<GuestSource>() })
}

unsafe fn read_ref<'a>(p: *mut ReadHandle) -> braid_core::Result<&'a GuestRead> {
    let p = not_null(p, "read")?;
    Ok(unsafe { &*p.cast::<GuestRead>() })
}

/// The exported Arrow stream of one data stream: hands out the batches
/// `read_next` announced, in order.
struct SlotReader {
    name: String,
    slot: Arc<Slot>,
}

impl Iterator for SlotReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        // arrow's exported get_next does not catch panics; a panic unwinding
        // into the host's C call would abort it.
        let popped = catch_unwind(AssertUnwindSafe(|| lock(&self.slot.batches).pop_front()));
        Some(match popped {
            Ok(Some(batch)) => Ok(batch),
            Ok(None) => Err(ArrowError::CDataInterface(format!(
                "no batch of stream `{}` was announced by braid_read_next",
                self.name
            ))),
            Err(p) => Err(ArrowError::CDataInterface(format!(
                "plugin panicked: {}",
                panic_message(&*p)
            ))),
        })
    }
}

impl RecordBatchReader for SlotReader {
    fn schema(&self) -> SchemaRef {
        self.slot.schema.clone()
    }
}

fn level_from(n: u32) -> Option<tracing::Level> {
    Some(match n {
        1 => tracing::Level::ERROR,
        2 => tracing::Level::WARN,
        3 => tracing::Level::INFO,
        4 => tracing::Level::DEBUG,
        5 => tracing::Level::TRACE,
        _ => return None,
    })
}

/// Hands the plugin's `tracing` events to the host's log callback (spans
/// are not forwarded; their fields are not either).
struct HostLogger {
    log: LogFn,
    max: tracing::Level,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            if self.0.is_empty() {
                let _ = write!(self.0, "{value:?}");
            } else {
                self.0 = format!("{value:?} {}", self.0);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}

impl tracing::Subscriber for HostLogger {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => 1,
            tracing::Level::WARN => 2,
            tracing::Level::INFO => 3,
            tracing::Level::DEBUG => 4,
            tracing::Level::TRACE => 5,
        };
        let target = CString::new(event.metadata().target()).unwrap_or_default();
        let message = CString::new(fields.0.replace('\0', "")).unwrap_or_default();
        (self.log)(level, target.as_ptr(), message.as_ptr());
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
