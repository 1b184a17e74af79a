//! The `files` source: CSV and newline-delimited JSON from local files, a
//! directory or a glob, as Arrow record batches.
//!
//! ```yaml
//! config:
//!   streams:
//!     - name: orders
//!       path: ./data/orders/*.jsonl     # a file, a directory or a glob
//!       format: jsonl                   # jsonl | csv; default from the extension
//!       schema:                         # optional; inferred otherwise
//!         - {name: id, type: int64, nullable: false}
//!         - {name: amount, type: "decimal(12,2)"}
//!       primary_key: [id]
//!       cursor_field: updated_at        # enables incremental
//! ```
//!
//! Files are read in sorted path order; names starting with `.` are skipped,
//! and a directory contributes only files whose extension fits the format
//! (`.jsonl`/`.ndjson`/`.json`, `.csv`/`.tsv`). Decoding runs on a blocking thread
//! and batches reach the async side through a small bounded channel. A full
//! refresh checkpoints after each file (`{"files_done": [...]}`) so a crashed
//! run resumes after the last completed file; an incremental read keeps rows
//! whose cursor is at or after the committed cursor and checkpoints once, at
//! the end (files are not ordered by cursor). Bad records fail the read with
//! an [`Error::Data`] naming the file and line; they are never dropped.

mod config;
mod decode;
mod filter;
mod infer;
mod paths;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::{DataType, SchemaRef};
use async_trait::async_trait;
use braid_core::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, Message, MessageStream,
    ReadRequest, Result, Source, StreamDescriptor, SyncMode,
};
use tokio::sync::mpsc;

pub use config::{
    parse_type, timestamp_type, CsvDialect, CsvOptions, FieldConfig, FileFormat, FilesConfig,
    StreamConfig, UnknownFields, DEFAULT_BATCH_ROWS, DEFAULT_INFER_ROWS,
};
pub use paths::{resolve, ResolvedFiles};

/// Batches in flight between the decoding thread and the reader of the stream.
const CHANNEL_CAPACITY: usize = 4;

/// The key of the resume state: paths of the files a full refresh completed.
pub const FILES_DONE: &str = "files_done";

/// The `files` connector.
#[derive(Debug, Clone, Default)]
pub struct FilesConnector {
    base_dir: Option<PathBuf>,
}

impl FilesConnector {
    /// A connector resolving relative paths against the current directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A connector resolving relative paths against `dir` (e.g. the
    /// directory of the pipeline YAML).
    pub fn with_base_dir(dir: impl Into<PathBuf>) -> Self {
        FilesConnector {
            base_dir: Some(dir.into()),
        }
    }

    /// The directory relative paths resolve against, if set.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }
}

impl Connector for FilesConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "files".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::config_json_schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(FilesSource::new(
            FilesConfig::from_value(config)?,
            self.base_dir.clone(),
        )))
    }
}

/// A configured `files` source.
#[derive(Debug, Clone)]
pub struct FilesSource {
    config: Arc<FilesConfig>,
    base_dir: Option<PathBuf>,
}

impl FilesSource {
    /// A source over `config`, relative paths resolved against `base_dir`
    /// (or the current directory).
    pub fn new(config: FilesConfig, base_dir: Option<PathBuf>) -> Self {
        FilesSource {
            config: Arc::new(config),
            base_dir,
        }
    }

    /// The source's config.
    pub fn config(&self) -> &FilesConfig {
        &self.config
    }
}

/// Runs blocking file work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("files: blocking task failed: {e}")))?
}

fn no_files(stream: &StreamConfig) -> Error {
    Error::Config(format!(
        "files: stream `{}`: no readable file matches `{}`",
        stream.name, stream.path
    ))
}

/// The stream's files; none is a config error.
fn files_of(stream: &StreamConfig, base_dir: Option<&Path>) -> Result<ResolvedFiles> {
    let resolved = resolve(stream, base_dir)?;
    if resolved.files.is_empty() {
        return Err(no_files(stream));
    }
    Ok(resolved)
}

fn is_cursor_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int64
            | DataType::Int32
            | DataType::Timestamp(_, _)
            | DataType::Date32
            | DataType::Utf8
            | DataType::LargeUtf8
    )
}

fn describe(stream: &StreamConfig, base_dir: Option<&Path>) -> Result<StreamDescriptor> {
    let label = format!("files: stream `{}`", stream.name);
    let schema: SchemaRef = match stream.declared_schema(&label)? {
        Some(s) => s,
        None => {
            let resolved = files_of(stream, base_dir)?;
            infer::infer_schema(
                &stream.name,
                resolved.format,
                &stream.dialect(&label)?,
                &resolved.files,
                stream.infer_rows,
            )?
        }
    };
    for key in &stream.primary_key {
        if schema.index_of(key).is_err() {
            return Err(Error::Config(format!(
                "{label}: `primary_key` column `{key}` is not in the files (columns: {})",
                column_list(&schema)
            )));
        }
    }
    let mut sync_modes = vec![SyncMode::FullRefresh];
    if let Some(cursor) = &stream.cursor_field {
        let field = schema.field_with_name(cursor).map_err(|_| {
            Error::Config(format!(
                "{label}: `cursor_field` `{cursor}` is not in the files (columns: {})",
                column_list(&schema)
            ))
        })?;
        if !is_cursor_type(field.data_type()) {
            return Err(Error::Config(format!(
                "{label}: `cursor_field` `{cursor}` has type {}; a cursor must be an integer, date, timestamp or string",
                field.data_type()
            )));
        }
        sync_modes.push(SyncMode::Incremental);
    }
    Ok(StreamDescriptor {
        name: stream.name.clone(),
        schema,
        primary_key: stream.primary_key.clone(),
        cursor_field: stream.cursor_field.clone(),
        sync_modes,
    })
}

fn column_list(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One stream of a read, planned before any file is opened.
struct StreamPlan {
    config: StreamConfig,
    spec_schema: SchemaRef,
    mode: SyncMode,
    cursor_from: Option<CursorValue>,
    files_done: HashSet<String>,
}

fn files_done_of(stream: &str, resume: Option<&serde_json::Value>) -> HashSet<String> {
    let Some(resume) = resume else {
        return HashSet::new();
    };
    match resume.get(FILES_DONE).and_then(|v| v.as_array()) {
        Some(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        None => {
            tracing::warn!(
                stream,
                "files: ignoring unrecognised resume state; reading every file"
            );
            HashSet::new()
        }
    }
}

/// Sends on the channel from the blocking thread; `false` once the reader is gone.
fn send(tx: &mpsc::Sender<Result<Message>>, m: Result<Message>) -> bool {
    tx.blocking_send(m).is_ok()
}

/// Reads every planned stream, sending messages; stops at the first error.
fn run_read(plans: Vec<StreamPlan>, base_dir: Option<PathBuf>, tx: mpsc::Sender<Result<Message>>) {
    for plan in plans {
        match read_stream(&plan, base_dir.as_deref(), &tx) {
            Ok(true) => {}
            Ok(false) => return, // the reader went away
            Err(e) => {
                send(&tx, Err(e));
                return;
            }
        }
    }
}

/// Reads one stream; `Ok(false)` if the reader went away.
fn read_stream(
    plan: &StreamPlan,
    base_dir: Option<&Path>,
    tx: &mpsc::Sender<Result<Message>>,
) -> Result<bool> {
    let stream = &plan.config;
    let name = &stream.name;
    let label = format!("files: stream `{name}`");
    let resolved = files_of(stream, base_dir)?;
    let spec = decode::FileReadSpec::new(
        name.clone(),
        plan.spec_schema.clone(),
        resolved.format,
        stream.dialect(&label)?,
        stream.batch_rows,
        stream.unknown_fields,
    );
    let filter = match (plan.mode, &plan.cursor_from) {
        (SyncMode::Incremental, Some(from)) => {
            let field = stream.cursor_field.as_deref().ok_or_else(|| {
                Error::Config(format!("{label}: incremental needs `cursor_field`"))
            })?;
            Some(filter::CursorFilter::new(
                name,
                &plan.spec_schema,
                field,
                from,
            )?)
        }
        _ => None,
    };
    let incremental = plan.mode == SyncMode::Incremental;

    let pending: Vec<&PathBuf> = resolved
        .files
        .iter()
        .filter(|p| incremental || !plan.files_done.contains(&p.to_string_lossy().into_owned()))
        .collect();
    let mut done: Vec<String> = if incremental {
        Vec::new()
    } else {
        resolved
            .files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| plan.files_done.contains(p))
            .collect()
    };
    let mut null_cursors = 0usize;
    for (i, path) in pending.iter().enumerate() {
        let mut failed: Option<Error> = None;
        let mut gone = false;
        let mut emit = |batch: arrow_array::RecordBatch| -> bool {
            let batch = match &filter {
                None => batch,
                Some(f) => match f.apply(&batch) {
                    Ok((b, nulls)) => {
                        null_cursors += nulls;
                        b
                    }
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                },
            };
            if batch.num_rows() == 0 {
                return true;
            }
            let ok = send(
                tx,
                Ok(Message::Batch {
                    stream: name.clone(),
                    batch,
                }),
            );
            gone = !ok;
            ok
        };
        decode::read_file(&spec, path, &mut emit)?;
        if let Some(e) = failed {
            return Err(e);
        }
        if gone {
            return Ok(false);
        }
        if !send(
            tx,
            Ok(Message::Progress {
                stream: name.clone(),
                pages: 1,
                retries: 0,
            }),
        ) {
            return Ok(false);
        }
        let last = i + 1 == pending.len();
        if !incremental && !last {
            done.push(path.to_string_lossy().into_owned());
            let resume = serde_json::json!({ FILES_DONE: done });
            if !send(
                tx,
                Ok(Message::Checkpoint {
                    stream: name.clone(),
                    resume: Some(resume),
                }),
            ) {
                return Ok(false);
            }
        }
    }
    if null_cursors > 0 {
        tracing::warn!(
            stream = %name,
            rows = null_cursors,
            "files: rows with a null cursor were skipped by the incremental read"
        );
    }
    Ok(send(
        tx,
        Ok(Message::Checkpoint {
            stream: name.clone(),
            resume: None,
        }),
    ))
}

#[async_trait]
impl Source for FilesSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let config = self.config.clone();
        let base = self.base_dir.clone();
        blocking(move || {
            let mut total = 0;
            let mut parts = Vec::new();
            for stream in &config.streams {
                let resolved = files_of(stream, base.as_deref())?;
                for f in &resolved.files {
                    std::fs::File::open(f).map_err(|e| {
                        Error::Config(format!(
                            "files: stream `{}`: cannot read `{}` (matched by `{}`): {e}",
                            stream.name,
                            f.display(),
                            stream.path
                        ))
                    })?;
                }
                total += resolved.files.len();
                parts.push(format!("{}: {}", stream.name, resolved.files.len()));
            }
            Ok(CheckOutcome {
                message: format!(
                    "{total} readable file(s) for {} stream(s) ({})",
                    config.streams.len(),
                    parts.join(", ")
                ),
            })
        })
        .await
    }

    async fn discover(&self) -> Result<Catalog> {
        let config = self.config.clone();
        let base = self.base_dir.clone();
        blocking(move || {
            let streams = config
                .streams
                .iter()
                .map(|s| describe(s, base.as_deref()))
                .collect::<Result<Vec<_>>>()?;
            Ok(Catalog { streams })
        })
        .await
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut plans = Vec::with_capacity(request.streams.len());
        for configured in &request.streams {
            let name = &configured.stream.name;
            let stream = self.config.stream(name).ok_or_else(|| {
                Error::Config(format!("files: stream `{name}` is not configured"))
            })?;
            if configured.sync_mode == SyncMode::Incremental && stream.cursor_field.is_none() {
                return Err(Error::Config(format!(
                    "files: stream `{name}`: incremental needs `cursor_field`"
                )));
            }
            let state = request.state.stream(name);
            plans.push(StreamPlan {
                config: stream.clone(),
                spec_schema: configured.stream.schema.clone(),
                mode: configured.sync_mode,
                cursor_from: state.and_then(|s| s.cursor.clone()),
                files_done: files_done_of(name, state.and_then(|s| s.resume.as_ref())),
            });
        }
        let base = self.base_dir.clone();
        let stream = async_stream::stream! {
            let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
            let handle = tokio::task::spawn_blocking(move || run_read(plans, base, tx));
            while let Some(m) = rx.recv().await {
                let failed = m.is_err();
                yield m;
                if failed {
                    return;
                }
            }
            if let Err(e) = handle.await {
                yield Err(Error::Internal(format!("files: reader thread failed: {e}")));
            }
        };
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests;
