//! The host side: loads a plugin with `libloading`, checks its ABI version
//! before anything else, and runs it as a [`Connector`]/[`Source`].
//!
//! Every call into a plugin runs on tokio's blocking pool
//! (`spawn_blocking`), never on the host's async workers; a read is pumped
//! by one blocking task that pulls control messages and imports batches
//! through the Arrow C Stream Interface. A loaded library is never
//! unloaded: the release callbacks of the batches it produced live in it.

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::ffi_stream::{ArrowArrayStreamReader, FFI_ArrowArrayStream};
use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{Schema, SchemaRef};
use async_trait::async_trait;
use braid_core::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, Error, Message, MessageStream, ReadRequest,
    Source, StreamDescriptor,
};
use futures::StreamExt;

use crate::abi::{self, symbols, ReadHandle, SourceHandle, WireCatalog, WireError, WireMessage};

/// The environment variable listing directories searched for plugins by
/// name (`:`-separated, like `PATH`).
pub const PLUGIN_PATH_ENV: &str = "BRAID_PLUGIN_PATH";

/// What can go wrong finding or loading a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The dynamic loader refused the file.
    #[error("cannot load plugin {path}: {message}")]
    Load {
        /// The library.
        path: PathBuf,
        /// What the loader said.
        message: String,
    },
    /// The plugin was built for another ABI version.
    #[error(
        "plugin {path} was built for braid plugin ABI version {plugin}, but this braid speaks ABI version {host}; rebuild the plugin against a braid-sdk of ABI version {host}"
    )]
    AbiMismatch {
        /// The library.
        path: PathBuf,
        /// The plugin's ABI version.
        plugin: u32,
        /// The host's ABI version.
        host: u32,
    },
    /// A required function is missing.
    #[error(
        "plugin {path} does not export `{symbol}`; is it built with braid_sdk::export_plugin!?"
    )]
    MissingSymbol {
        /// The library.
        path: PathBuf,
        /// The symbol.
        symbol: String,
    },
    /// The plugin answered something the ABI does not allow.
    #[error("plugin {path}: {message}")]
    Protocol {
        /// The library.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// No plugin of that name was found.
    #[error("no plugin named `{name}` found in {PLUGIN_PATH_ENV} ({searched})")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The directories searched.
        searched: String,
    },
}

impl From<PluginError> for Error {
    fn from(e: PluginError) -> Self {
        Error::Config(e.to_string())
    }
}

#[derive(Clone, Copy)]
struct Fns {
    string_free: abi::StringFreeFn,
    source_build: abi::SourceBuildFn,
    source_free: abi::SourceFreeFn,
    source_check: abi::SourceJsonFn,
    source_discover: abi::SourceJsonFn,
    source_schema: abi::SourceSchemaFn,
    source_read: abi::SourceReadFn,
    read_stream: abi::ReadStreamFn,
    read_next: abi::ReadNextFn,
    read_free: abi::ReadFreeFn,
}

/// A loaded plugin: its path, ABI version and spec. Loaded once per
/// process and never unloaded.
pub struct Plugin {
    path: PathBuf,
    spec: ConnectorSpec,
    fns: Fns,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("spec", &self.spec.name)
            .finish()
    }
}

fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<Plugin>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Plugin>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

fn libraries() -> &'static Mutex<HashMap<PathBuf, &'static libloading::Library>> {
    static LIBS: OnceLock<Mutex<HashMap<PathBuf, &'static libloading::Library>>> = OnceLock::new();
    LIBS.get_or_init(Default::default)
}

/// Opens (once) and keeps the library at `path` for the life of the process.
fn open(path: &Path) -> Result<&'static libloading::Library, PluginError> {
    let mut libs = libraries().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(lib) = libs.get(path) {
        return Ok(lib);
    }
    // SAFETY: loading runs the library's initialisers; a braid plugin has
    // none beyond Rust's. The library is leaked: never unloaded.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| PluginError::Load {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    libs.insert(path.to_owned(), lib);
    Ok(lib)
}

fn symbol<T: Copy>(
    lib: &'static libloading::Library,
    path: &Path,
    name: &[u8],
) -> Result<T, PluginError> {
    // SAFETY: `T` is the signature abi.rs documents for `name`.
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|_| PluginError::MissingSymbol {
            path: path.to_owned(),
            symbol: String::from_utf8_lossy(&name[..name.len() - 1]).into_owned(),
        })
}

fn canonical(path: &Path) -> Result<PathBuf, PluginError> {
    path.canonicalize().map_err(|e| PluginError::Load {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The ABI version the library at `path` was built for, calling nothing
/// else in it.
pub fn abi_version(path: &Path) -> Result<u32, PluginError> {
    let path = canonical(path)?;
    let lib = open(&path)?;
    let f: abi::AbiVersionFn = symbol(lib, &path, symbols::ABI_VERSION)?;
    // SAFETY: documented signature, no arguments.
    Ok(unsafe { f() })
}

impl Plugin {
    /// Loads the plugin at `path` (once per process): checks its ABI
    /// version first, then resolves its functions and reads its spec.
    pub fn load(path: &Path) -> Result<Arc<Plugin>, PluginError> {
        let path = canonical(path)?;
        if let Some(p) = loaded()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&path)
        {
            return Ok(p.clone());
        }
        let version = abi_version(&path)?;
        if version != abi::ABI_VERSION {
            return Err(PluginError::AbiMismatch {
                path,
                plugin: version,
                host: abi::ABI_VERSION,
            });
        }
        let lib = open(&path)?;
        let fns = Fns {
            string_free: symbol(lib, &path, symbols::STRING_FREE)?,
            source_build: symbol(lib, &path, symbols::SOURCE_BUILD)?,
            source_free: symbol(lib, &path, symbols::SOURCE_FREE)?,
            source_check: symbol(lib, &path, symbols::SOURCE_CHECK)?,
            source_discover: symbol(lib, &path, symbols::SOURCE_DISCOVER)?,
            source_schema: symbol(lib, &path, symbols::SOURCE_SCHEMA)?,
            source_read: symbol(lib, &path, symbols::SOURCE_READ)?,
            read_stream: symbol(lib, &path, symbols::READ_STREAM)?,
            read_next: symbol(lib, &path, symbols::READ_NEXT)?,
            read_free: symbol(lib, &path, symbols::READ_FREE)?,
        };
        let spec_fn: abi::SpecFn = symbol(lib, &path, symbols::SPEC)?;
        if let Ok(set_logger) = symbol::<abi::SetLoggerFn>(lib, &path, symbols::SET_LOGGER) {
            // SAFETY: documented signature; `host_log` lives as long as the process.
            unsafe { set_logger(host_log, host_max_level()) };
        }
        let mut plugin = Plugin {
            path: path.clone(),
            spec: ConnectorSpec {
                name: String::new(),
                version: String::new(),
                config_schema: serde_json::Value::Null,
            },
            fns,
        };
        // SAFETY: documented signature; the out pointer is valid.
        let (code, text) = plugin.call(|out| unsafe { spec_fn(out) });
        let text = text.unwrap_or_default();
        if code != abi::OK {
            return Err(PluginError::Protocol {
                path,
                message: format!("spec failed: {}", wire_error(&text)),
            });
        }
        plugin.spec = serde_json::from_str(&text).map_err(|e| PluginError::Protocol {
            path: path.clone(),
            message: format!("its spec is not valid JSON: {e}"),
        })?;
        let plugin = Arc::new(plugin);
        loaded()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path, plugin.clone());
        Ok(plugin)
    }

    /// Where the library is (canonical path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connector's spec, as the plugin reported it.
    pub fn spec(&self) -> &ConnectorSpec {
        &self.spec
    }

    /// The ABI version (always [`abi::ABI_VERSION`] for a loaded plugin).
    pub fn abi_version(&self) -> u32 {
        abi::ABI_VERSION
    }

    /// Calls `f` with an out-string pointer; returns the status and the
    /// string (copied, then freed by the plugin).
    fn call(&self, f: impl FnOnce(*mut *mut c_char) -> i32) -> (i32, Option<String>) {
        let mut out: *mut c_char = std::ptr::null_mut();
        let code = f(&mut out);
        (code, self.take(out))
    }

    fn take(&self, s: *mut c_char) -> Option<String> {
        if s.is_null() {
            return None;
        }
        // SAFETY: the plugin returned a NUL-terminated string it allocated.
        let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
        // SAFETY: freed once, by the side that allocated it.
        unsafe { (self.fns.string_free)(s) };
        Some(text)
    }

    fn error(&self, text: Option<String>) -> Error {
        match text.as_deref().map(serde_json::from_str::<WireError>) {
            Some(Ok(w)) => w.into(),
            Some(Err(e)) => Error::Internal(format!(
                "plugin {}: unreadable error JSON: {e}",
                self.path.display()
            )),
            None => Error::Internal(format!(
                "plugin {}: failed without saying why",
                self.path.display()
            )),
        }
    }

    fn protocol(&self, message: impl std::fmt::Display) -> Error {
        Error::Internal(format!("plugin {}: {message}", self.path.display()))
    }
}

fn wire_error(text: &str) -> String {
    serde_json::from_str::<WireError>(text)
        .map(|w| Error::from(w).to_string())
        .unwrap_or_else(|_| text.to_owned())
}

fn host_max_level() -> u32 {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::OFF => 0,
        LevelFilter::ERROR => 1,
        LevelFilter::WARN => 2,
        LevelFilter::INFO => 3,
        LevelFilter::DEBUG => 4,
        _ => 5,
    }
}

extern "C" fn host_log(level: u32, target: *const c_char, message: *const c_char) {
    let _ = std::panic::catch_unwind(|| {
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                // SAFETY: the plugin passes NUL-terminated strings valid for the call.
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
        let (target, message) = (text(target), text(message));
        match level {
            1 => tracing::error!(target: "braid_plugin", plugin_target = %target, "{message}"),
            2 => tracing::warn!(target: "braid_plugin", plugin_target = %target, "{message}"),
            3 => tracing::info!(target: "braid_plugin", plugin_target = %target, "{message}"),
            4 => tracing::debug!(target: "braid_plugin", plugin_target = %target, "{message}"),
            _ => tracing::trace!(target: "braid_plugin", plugin_target = %target, "{message}"),
        }
    });
}

/// A plugin as a [`Connector`]: `build` makes a plugin-side source.
#[derive(Debug, Clone)]
pub struct PluginConnector {
    plugin: Arc<Plugin>,
}

impl PluginConnector {
    /// Wraps a loaded plugin.
    pub fn new(plugin: Arc<Plugin>) -> Self {
        Self { plugin }
    }

    /// Loads the plugin at `path`.
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        Ok(Self::new(Plugin::load(path)?))
    }

    /// The plugin.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }
}

impl Connector for PluginConnector {
    fn spec(&self) -> ConnectorSpec {
        self.plugin.spec.clone()
    }

    /// Called synchronously, like every connector's `build`: a plugin's
    /// build only parses its config (no I/O), as the contract asks.
    fn build(&self, config: serde_json::Value) -> braid_core::Result<Box<dyn Source>> {
        let p = &self.plugin;
        let config = CString::new(config.to_string())
            .map_err(|_| Error::Config("config holds a NUL character".into()))?;
        let mut handle: *mut SourceHandle = std::ptr::null_mut();
        // SAFETY: documented signature; pointers valid for the call.
        let (code, err) =
            p.call(|err| unsafe { (p.fns.source_build)(config.as_ptr(), &mut handle, err) });
        if code != abi::OK {
            return Err(p.error(err));
        }
        if handle.is_null() {
            return Err(p.protocol("build returned no source"));
        }
        Ok(Box::new(PluginSource {
            inner: Arc::new(SourceInner {
                plugin: p.clone(),
                handle,
            }),
        }))
    }
}

struct SourceInner {
    plugin: Arc<Plugin>,
    handle: *mut SourceHandle,
}

// SAFETY: a plugin-side source is a `Box<dyn Source>` (Send + Sync); the
// handle is only a pointer to it.
unsafe impl Send for SourceInner {}
unsafe impl Sync for SourceInner {}

impl Drop for SourceInner {
    fn drop(&mut self) {
        // SAFETY: freed once, by the plugin that made it.
        unsafe { (self.plugin.fns.source_free)(self.handle) };
    }
}

impl SourceInner {
    fn json(&self, f: abi::SourceJsonFn) -> braid_core::Result<String> {
        let p = &self.plugin;
        // SAFETY: documented signature; live handle.
        let (code, text) = p.call(|out| unsafe { f(self.handle, out) });
        if code != abi::OK {
            return Err(p.error(text));
        }
        text.ok_or_else(|| p.protocol("answered OK without a document"))
    }

    fn check(&self) -> braid_core::Result<CheckOutcome> {
        let text = self.json(self.plugin.fns.source_check)?;
        serde_json::from_str(&text).map_err(|e| self.plugin.protocol(format!("check answer: {e}")))
    }

    fn discover(&self) -> braid_core::Result<Catalog> {
        let p = &self.plugin;
        let text = self.json(p.fns.source_discover)?;
        let wire: WireCatalog =
            serde_json::from_str(&text).map_err(|e| p.protocol(format!("catalog: {e}")))?;
        let mut streams = Vec::with_capacity(wire.streams.len());
        for s in wire.streams {
            let name =
                CString::new(s.name.clone()).map_err(|_| p.protocol("NUL in a stream name"))?;
            let mut ffi = FFI_ArrowSchema::empty();
            // SAFETY: documented signature; `ffi` is ours to fill.
            let (code, err) = p.call(|err| unsafe {
                (p.fns.source_schema)(self.handle, name.as_ptr(), &mut ffi, err)
            });
            if code != abi::OK {
                return Err(p.error(err));
            }
            let schema = Schema::try_from(&ffi).map_err(|e| {
                p.protocol(format!("stream `{}`: unusable Arrow schema: {e}", s.name))
            })?;
            streams.push(StreamDescriptor {
                name: s.name,
                schema: Arc::new(schema),
                primary_key: s.primary_key,
                cursor_field: s.cursor_field,
                sync_modes: s.sync_modes,
            });
        }
        Ok(Catalog { streams })
    }

    fn start_read(&self, request: ReadRequest) -> braid_core::Result<PluginRead> {
        let p = &self.plugin;
        let wire = abi::WireReadRequest {
            streams: request
                .streams
                .iter()
                .map(|c| abi::WireConfiguredStream {
                    name: c.stream.name.clone(),
                    sync_mode: c.sync_mode,
                    primary_key: c.stream.primary_key.clone(),
                    cursor_field: c.stream.cursor_field.clone(),
                })
                .collect(),
            state: request.state,
        };
        let json = serde_json::to_string(&wire)
            .map_err(|e| Error::Internal(format!("read request JSON: {e}")))?;
        let json = CString::new(json).map_err(|_| Error::Internal("NUL in read request".into()))?;
        let mut handle: *mut ReadHandle = std::ptr::null_mut();
        // SAFETY: documented signature; pointers valid for the call.
        let (code, err) = p.call(|err| unsafe {
            (p.fns.source_read)(self.handle, json.as_ptr(), &mut handle, err)
        });
        if code != abi::OK {
            return Err(p.error(err));
        }
        if handle.is_null() {
            return Err(p.protocol("read returned no handle"));
        }
        let mut read = PluginRead {
            plugin: p.clone(),
            handle,
            streams: HashMap::new(),
        };
        for c in &request.streams {
            let name = CString::new(c.stream.name.clone())
                .map_err(|_| p.protocol("NUL in a stream name"))?;
            let mut stream = FFI_ArrowArrayStream::empty();
            // SAFETY: documented signature; `stream` is ours to fill.
            let (code, err) = p.call(|err| unsafe {
                (p.fns.read_stream)(read.handle, name.as_ptr(), &mut stream, err)
            });
            if code != abi::OK {
                return Err(p.error(err));
            }
            let reader = ArrowArrayStreamReader::try_new(stream).map_err(|e| {
                p.protocol(format!(
                    "stream `{}`: unusable Arrow stream: {e}",
                    c.stream.name
                ))
            })?;
            if reader.schema().fields() != c.stream.schema.fields() {
                return Err(Error::data(
                    &c.stream.name,
                    format!(
                        "plugin {}: the stream's Arrow schema differs from the discovered one",
                        p.path.display()
                    ),
                ));
            }
            read.streams.insert(
                c.stream.name.clone(),
                ImportedStream {
                    reader,
                    schema: c.stream.schema.clone(),
                },
            );
        }
        Ok(read)
    }
}

struct ImportedStream {
    reader: ArrowArrayStreamReader,
    schema: SchemaRef,
}

impl ImportedStream {
    fn next_batch(&mut self, name: &str, plugin: &Plugin) -> braid_core::Result<RecordBatch> {
        match self.reader.next() {
            None => {
                Err(plugin.protocol(format!("stream `{name}` ended before an announced batch")))
            }
            Some(Err(e)) => Err(plugin.protocol(format!("stream `{name}`: {e}"))),
            // The discovered schema (same fields, checked when the stream was
            // opened) so every batch of a stream shares one `SchemaRef`.
            Some(Ok(batch)) => batch
                .with_schema(self.schema.clone())
                .map_err(|e| Error::data(name, format!("plugin batch: {e}"))),
        }
    }
}

struct PluginRead {
    plugin: Arc<Plugin>,
    handle: *mut ReadHandle,
    streams: HashMap<String, ImportedStream>,
}

// SAFETY: the plugin-side read is used from one thread at a time (the
// pump), and its parts are Send.
unsafe impl Send for PluginRead {}

impl Drop for PluginRead {
    fn drop(&mut self) {
        // The Arrow streams first (their release callbacks), then the read.
        self.streams.clear();
        // SAFETY: freed once, by the plugin that made it.
        unsafe { (self.plugin.fns.read_free)(self.handle) };
    }
}

impl PluginRead {
    /// The next message; `None` at the end.
    fn next(&mut self) -> Option<braid_core::Result<Message>> {
        let p = self.plugin.clone();
        let handle = self.handle;
        // SAFETY: documented signature; live handle.
        let (code, text) = p.call(|out| unsafe { (p.fns.read_next)(handle, out) });
        match code {
            abi::END => return None,
            abi::OK => {}
            _ => return Some(Err(p.error(text))),
        }
        let Some(text) = text else {
            return Some(Err(p.protocol("read_next answered OK without a message")));
        };
        let wire: WireMessage = match serde_json::from_str(&text) {
            Ok(w) => w,
            Err(e) => return Some(Err(p.protocol(format!("message JSON: {e}")))),
        };
        Some(match wire {
            WireMessage::Batch { stream, rows } => match self.streams.get_mut(&stream) {
                None => Err(p.protocol(format!("a batch of unrequested stream `{stream}`"))),
                Some(s) => s.next_batch(&stream, &p).and_then(|batch| {
                    if batch.num_rows() as u64 != rows {
                        Err(p.protocol(format!(
                            "stream `{stream}`: announced {rows} rows, got {}",
                            batch.num_rows()
                        )))
                    } else {
                        Ok(Message::Batch { stream, batch })
                    }
                }),
            },
            WireMessage::Checkpoint { stream, resume } => {
                Ok(Message::Checkpoint { stream, resume })
            }
            WireMessage::Progress {
                stream,
                pages,
                retries,
            } => Ok(Message::Progress {
                stream,
                pages,
                retries,
            }),
        })
    }
}

/// A configured plugin-side source.
pub struct PluginSource {
    inner: Arc<SourceInner>,
}

fn joined(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("plugin call did not finish: {e}"))
}

#[async_trait]
impl Source for PluginSource {
    async fn check(&self) -> braid_core::Result<CheckOutcome> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.check())
            .await
            .map_err(joined)?
    }

    async fn discover(&self) -> braid_core::Result<Catalog> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.discover())
            .await
            .map_err(joined)?
    }

    async fn read(&self, request: ReadRequest) -> braid_core::Result<MessageStream> {
        let inner = self.inner.clone();
        let mut read = tokio::task::spawn_blocking(move || inner.start_read(request))
            .await
            .map_err(joined)??;
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::task::spawn_blocking(move || {
            while let Some(item) = read.next() {
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    break;
                }
            }
        });
        Ok(
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) })
                .boxed(),
        )
    }
}

/// The directories of [`PLUGIN_PATH_ENV`].
pub fn search_dirs() -> Vec<PathBuf> {
    std::env::var_os(PLUGIN_PATH_ENV)
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn is_library(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("so" | "dylib" | "dll")
    )
}

/// The libraries in `dirs`, sorted.
pub fn candidates(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_library(p))
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// Resolves the part after `plugin:` in a pipeline's `connector:`: a path
/// (containing a `/` or ending in a library extension; relative paths
/// resolve from `base_dir`, the pipeline file's directory), or a name:
/// `lib<name>.so`, `<name>.so` (`.dylib`, `.dll`) in a
/// [`PLUGIN_PATH_ENV`] directory, or else the plugin there whose spec name
/// is `name`.
pub fn resolve(reference: &str, base_dir: &Path, dirs: &[PathBuf]) -> Result<PathBuf, PluginError> {
    let as_path = Path::new(reference);
    if reference.contains('/') || reference.contains('\\') || is_library(as_path) {
        return Ok(if as_path.is_absolute() {
            as_path.to_owned()
        } else {
            base_dir.join(as_path)
        });
    }
    let stem = reference.replace('-', "_");
    for d in dirs {
        for ext in ["so", "dylib", "dll"] {
            for file in [format!("lib{stem}.{ext}"), format!("{stem}.{ext}")] {
                let p = d.join(file);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
    }
    for p in candidates(dirs) {
        if let Ok(plugin) = Plugin::load(&p) {
            if plugin.spec.name == reference {
                return Ok(p);
            }
        }
    }
    Err(PluginError::NotFound {
        name: reference.to_owned(),
        searched: if dirs.is_empty() {
            "not set".into()
        } else {
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        },
    })
}

/// The connector for `plugin:<reference>` (see [`resolve`]).
pub fn connector(reference: &str, base_dir: &Path) -> Result<PluginConnector, PluginError> {
    let path = resolve(reference, base_dir, &search_dirs())?;
    PluginConnector::load(&path)
}

/// One library found in the plugin directories.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The library.
    pub path: PathBuf,
    /// Its ABI version, if it answered.
    pub abi_version: Option<u32>,
    /// Its spec, if it loaded.
    pub spec: Option<ConnectorSpec>,
    /// Why it cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Every library in `dirs`, loaded to read its name, version and ABI version.
pub fn list(dirs: &[PathBuf]) -> Vec<Listing> {
    candidates(dirs)
        .into_iter()
        .map(|path| {
            let abi_version = abi_version(&path).ok();
            match Plugin::load(&path) {
                Ok(p) => Listing {
                    path,
                    abi_version,
                    spec: Some(p.spec.clone()),
                    problem: None,
                },
                Err(e) => Listing {
                    path,
                    abi_version,
                    spec: None,
                    problem: Some(e.to_string()),
                },
            }
        })
        .collect()
}
