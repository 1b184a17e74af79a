//! Raw landing of Arrow record batches as Parquet, with atomic publishing and
//! committed source state.
//!
//! # Layout
//!
//! ```text
//! <root>/raw/<source>/<stream>/ingest_date=YYYY-MM-DD/part-<run_id>-<seq:05>.parquet   published data
//! <root>/_braid/staging/<run_id>/<source>/<stream>/part-….parquet                     files being written
//! <root>/_braid/state/<pipeline>/<source>.json                                         committed state + pending publishes
//! <root>/_braid/runs/<run_id>.json                                                     run reports
//! <root>/_braid/runs/<run_id>.parquet                                                  run history (one row per run)
//! ```
//!
//! `ingest_date` is the UTC date of the run's start (a Hive-style partition).
//! Every file gets the stream's columns (nanosecond timestamps stored as
//! microseconds) followed by the lineage columns `_braid_source`,
//! `_braid_run_id` and `_braid_ingested_at`.
//!
//! # Commit protocol
//!
//! A commit makes a set of staged files and a new [`SourceState`] visible
//! together ([`Warehouse::commit`]):
//!
//! 1. The caller closes the staged files being committed
//!    ([`StreamWriter::finish_file`]; each file is fsynced then).
//! 2. The state file `<pipeline>/<source>.json` is written as
//!    `{"state": …, "pending": [{"staged": …, "final": …}], …}` through a temp
//!    file, fsync, rename and fsync of the directory. **This is the commit
//!    point.**
//! 3. Each staged file is renamed to its final path (partition directories
//!    created) and the directories are fsynced.
//! 4. The state file is rewritten with `pending` empty.
//!
//! Recovery ([`Warehouse::open`], also [`Warehouse::load_state`] for one
//! source) finishes step 3 for every state file that still lists pending
//! files: a staged file that still exists is renamed; a missing staged file
//! whose final file exists was already published; both missing is reported as
//! [`WarehouseError::Corrupt`]. Then it clears `pending`, and deletes the
//! staging directories of runs that no live process holds (their data was never
//! committed and is pulled again from the committed state). So a process
//! killed at any instant never leaves a partial or uncommitted file under
//! `raw/`, and committed data is never lost.
//!
//! Concurrency: commits and recovery of one state file are serialised by an
//! advisory lock on `<pipeline>/<source>.lock`; a run's staging directory is
//! locked (`.lock` inside it) by the [`Warehouse`] that writes it, from its
//! first [`Warehouse::stream_writer`] until [`Warehouse::discard_staging`] or
//! until the warehouse is dropped, so opening the same root elsewhere does not
//! delete a live run's files.

#![warn(missing_docs)]

mod commit;
mod error;
mod history;
mod lock;
mod names;
#[cfg(feature = "object-store")]
mod remote;
#[cfg(feature = "object-store")]
mod remote_commit;
mod storage;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_schema::SchemaRef;
pub use braid_core::SourceState;
use chrono::{DateTime, Utc};

use crate::error::IoContext;
pub use commit::{CommitOutcome, RecoveryReport};
pub use error::WarehouseError;
pub use lock::PipelineLock;
pub use writer::{
    StagedFile, StreamWriter, WriterOptions, INGESTED_AT_COLUMN, RUN_ID_COLUMN, SOURCE_COLUMN,
    STREAM_METADATA_KEY,
};

/// Published data, relative to the root.
pub(crate) const RAW_DIR: &str = "raw";
/// Files being written, relative to the root.
pub(crate) const STAGING_DIR: &str = "_braid/staging";
/// Committed state, relative to the root.
pub(crate) const STATE_DIR: &str = "_braid/state";
/// Run reports, relative to the root.
/// Whether `location` names an object store (`s3://`, `gs://`, `az://`, …).
pub fn is_remote(location: &str) -> bool {
    [
        "s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://",
    ]
    .iter()
    .any(|p| location.starts_with(p))
}

pub(crate) const RUNS_DIR: &str = "_braid/runs";
/// Lock file inside a run's staging directory.
pub(crate) const RUN_LOCK_FILE: &str = ".lock";

/// Identity of one run: its id and start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInfo {
    /// A UUIDv7 string (time-ordered) when made by [`RunInfo::new`].
    pub run_id: String,
    /// When the run started; gives `ingest_date` and `_braid_ingested_at`.
    pub started_at: DateTime<Utc>,
}

impl RunInfo {
    /// A new run starting now, with a fresh UUIDv7 id.
    pub fn new() -> Self {
        RunInfo {
            run_id: uuid::Uuid::now_v7().to_string(),
            started_at: Utc::now(),
        }
    }

    /// The `ingest_date` partition value: the UTC date of the start, `YYYY-MM-DD`.
    pub fn ingest_date(&self) -> String {
        self.started_at.format("%Y-%m-%d").to_string()
    }
}

impl Default for RunInfo {
    fn default() -> Self {
        RunInfo::new()
    }
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Staging locks of the runs this warehouse writes.
    run_locks: Mutex<HashMap<String, storage::FileLock>>,
    /// Next file sequence number per (run, source, stream).
    next_seq: Mutex<HashMap<(String, String, String), u32>>,
    recovery: RecoveryReport,
    /// The object store this warehouse lives in; the root is then a local
    /// work directory for files being written.
    #[cfg(feature = "object-store")]
    remote: Option<Arc<remote::Remote>>,
}

/// A local warehouse directory. Cheap to clone; clones share locks and counters.
#[derive(Debug, Clone)]
pub struct Warehouse {
    inner: Arc<Inner>,
}

impl Warehouse {
    /// Open (creating if needed) the warehouse at `root` and run crash
    /// recovery (see the crate docs). Fails on a corrupt state file rather
    /// than dropping it.
    pub fn open(root: impl AsRef<Path>) -> Result<Warehouse, WarehouseError> {
        let root = root.as_ref();
        storage::create_dir_all_durable(root)?;
        let root = std::fs::canonicalize(root).at(root)?;
        for dir in [RAW_DIR, STAGING_DIR, STATE_DIR, RUNS_DIR] {
            storage::create_dir_all_durable(&root.join(dir))?;
        }
        let mut warehouse = Warehouse {
            inner: Arc::new(Inner {
                root,
                run_locks: Mutex::new(HashMap::new()),
                next_seq: Mutex::new(HashMap::new()),
                recovery: RecoveryReport::default(),
                #[cfg(feature = "object-store")]
                remote: None,
            }),
        };
        let report = warehouse.recover()?;
        if let Some(inner) = Arc::get_mut(&mut warehouse.inner) {
            inner.recovery = report;
        }
        Ok(warehouse)
    }

    /// Opens a warehouse by location: a directory (or `file://` URI), or an
    /// object store URI (`s3://bucket/prefix`, `gs://…`, `az://…`) with
    /// credentials from the environment. For an object store, files are
    /// written first under a local work directory (`BRAID_WORK_DIR`, default
    /// the system temp directory) and the commit protocol runs on the store.
    pub fn open_location(location: &str) -> Result<Warehouse, WarehouseError> {
        if let Some(path) = location.strip_prefix("file://") {
            return Warehouse::open(path);
        }
        if !is_remote(location) {
            return Warehouse::open(location);
        }
        #[cfg(feature = "object-store")]
        {
            let remote = Arc::new(remote::Remote::open(location)?);
            let base = std::env::var_os("BRAID_WORK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir);
            let safe: String = location
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let mut warehouse = Warehouse::open(base.join("braid-work").join(safe))?;
            if let Some(inner) = Arc::get_mut(&mut warehouse.inner) {
                inner.remote = Some(remote.clone());
            }
            warehouse.recover_remote(&remote)?;
            Ok(warehouse)
        }
        #[cfg(not(feature = "object-store"))]
        Err(WarehouseError::Remote {
            uri: location.to_owned(),
            message:
                "this build of braid has no object-store support (cargo feature `object-store`)"
                    .into(),
        })
    }

    /// Where the warehouse is, as a user wrote it: the object-store URI, or the directory.
    pub fn location(&self) -> String {
        #[cfg(feature = "object-store")]
        if let Some(r) = &self.inner.remote {
            return r.uri().to_owned();
        }
        self.root().display().to_string()
    }

    /// Whether the warehouse lives in an object store.
    pub fn is_remote(&self) -> bool {
        #[cfg(feature = "object-store")]
        return self.inner.remote.is_some();
        #[cfg(not(feature = "object-store"))]
        false
    }

    #[cfg(feature = "object-store")]
    pub(crate) fn remote(&self) -> Option<&remote::Remote> {
        self.inner.remote.as_deref()
    }

    #[cfg(feature = "object-store")]
    pub(crate) fn remote_arc(&self) -> Option<Arc<remote::Remote>> {
        self.inner.remote.clone()
    }

    /// The warehouse root (absolute); for an object store, the local work directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The directory of a raw table, `<root>/raw/<source>/<stream>` (its
    /// `ingest_date=…` partitions hold the published files).
    pub fn table_dir(&self, source: &str, stream: &str) -> Result<PathBuf, WarehouseError> {
        names::validate("source", source)?;
        names::validate("stream", stream)?;
        Ok(self.raw_dir().join(source).join(stream))
    }

    /// What recovery did when this warehouse was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// A writer for `stream` of `source` in `run`. Batches must have `schema`.
    /// Takes this run's staging lock if not held yet.
    pub fn stream_writer(
        &self,
        run: &RunInfo,
        source: &str,
        stream: &str,
        schema: SchemaRef,
        options: WriterOptions,
    ) -> Result<StreamWriter, WarehouseError> {
        names::validate("run id", &run.run_id)?;
        names::validate("source", source)?;
        names::validate("stream", stream)?;
        self.ensure_run_lock(&run.run_id)?;
        StreamWriter::new(
            self.clone(),
            &run.run_id,
            run.started_at,
            source,
            stream,
            schema,
            options,
        )
    }

    /// Write `<root>/_braid/runs/<run_id>.json` atomically (temp file, fsync,
    /// rename); returns its path.
    pub fn write_run_report(&self, run_id: &str, json: &[u8]) -> Result<PathBuf, WarehouseError> {
        names::validate("run id", run_id)?;
        let path = self.runs_dir().join(format!("{run_id}.json"));
        storage::write_atomic(&path, json)?;
        #[cfg(feature = "object-store")]
        if let Some(r) = self.remote() {
            let rel = format!("{RUNS_DIR}/{run_id}.json");
            r.upload(&path, &rel)?;
            return Ok(PathBuf::from(format!("{}/{rel}", r.uri())));
        }
        Ok(path)
    }

    /// Delete the staging data of `run_id` that was not committed, and release
    /// its staging lock. Call it when a run ends, failed or not. Interrupted
    /// commits are finished first, so committed files are never deleted.
    pub fn discard_staging(&self, run_id: &str) -> Result<(), WarehouseError> {
        names::validate("run id", run_id)?;
        self.finish_all_pending()?;
        let dir = self.staging_dir().join(run_id);
        let held = lock_map(&self.inner.run_locks).remove(run_id);
        let lock = match held {
            Some(lock) => lock,
            None if !dir.exists() => return Ok(()),
            None => storage::try_lock_exclusive(&dir.join(RUN_LOCK_FILE))?
                .ok_or_else(|| WarehouseError::RunInUse(run_id.to_owned()))?,
        };
        storage::remove_dir_all(&dir)?;
        drop(lock);
        lock_map(&self.inner.next_seq).retain(|(run, _, _), _| run != run_id);
        tracing::debug!(run_id, "staging discarded");
        Ok(())
    }

    fn ensure_run_lock(&self, run_id: &str) -> Result<(), WarehouseError> {
        let mut locks = lock_map(&self.inner.run_locks);
        if !locks.contains_key(run_id) {
            let path = self.staging_dir().join(run_id).join(RUN_LOCK_FILE);
            let lock = storage::try_lock_exclusive(&path)?
                .ok_or_else(|| WarehouseError::RunInUse(run_id.to_owned()))?;
            locks.insert(run_id.to_owned(), lock);
        }
        Ok(())
    }

    fn holds_run_lock(&self, run_id: &str) -> bool {
        lock_map(&self.inner.run_locks).contains_key(run_id)
    }

    /// Staged and final paths of the next file of a stream.
    pub(crate) fn allocate_file(
        &self,
        run_id: &str,
        source: &str,
        stream: &str,
        ingest_date: &str,
    ) -> Result<(PathBuf, PathBuf), WarehouseError> {
        self.ensure_run_lock(run_id)?;
        let staged_dir = self.staging_dir().join(run_id).join(source).join(stream);
        let final_dir = self
            .raw_dir()
            .join(source)
            .join(stream)
            .join(format!("ingest_date={ingest_date}"));
        let mut seqs = lock_map(&self.inner.next_seq);
        let seq = seqs
            .entry((run_id.to_owned(), source.to_owned(), stream.to_owned()))
            .or_insert(0);
        loop {
            let name = format!("part-{run_id}-{:05}.parquet", *seq);
            *seq += 1;
            let staged = staged_dir.join(&name);
            let final_path = final_dir.join(&name);
            if !staged.exists() && !final_path.exists() {
                return Ok((staged, final_path));
            }
        }
    }

    fn raw_dir(&self) -> PathBuf {
        self.root().join(RAW_DIR)
    }

    fn staging_dir(&self) -> PathBuf {
        self.root().join(STAGING_DIR)
    }

    fn state_dir(&self) -> PathBuf {
        self.root().join(STATE_DIR)
    }

    pub(crate) fn runs_dir(&self) -> PathBuf {
        self.root().join(RUNS_DIR)
    }

    pub(crate) fn state_path(&self, pipeline: &str, source: &str) -> PathBuf {
        self.state_dir()
            .join(pipeline)
            .join(format!("{source}.json"))
    }

    pub(crate) fn state_lock_path(&self, pipeline: &str, source: &str) -> PathBuf {
        self.state_dir()
            .join(pipeline)
            .join(format!("{source}.lock"))
    }
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it (the
/// maps stay consistent: every update is a single insert/remove).
fn lock_map<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
