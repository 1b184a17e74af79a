//! State files, the commit protocol and crash recovery.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use braid_core::SourceState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{names, storage, StagedFile, Warehouse, WarehouseError};

/// Version of the state-file format written by this crate.
pub(crate) const STATE_FORMAT: u32 = 1;

/// Leftover temp files older than this are deleted by recovery.
const STALE_TMP_AGE: Duration = Duration::from_secs(3600);

/// `<root>/_braid/state/<pipeline>/<source>.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StateFile {
    /// Format version.
    pub(crate) format: u32,
    /// The committed source state.
    pub(crate) state: SourceState,
    /// Files of the last commit not yet confirmed published.
    #[serde(default)]
    pub(crate) pending: Vec<PendingFile>,
    /// When this file was written.
    pub(crate) updated_at: DateTime<Utc>,
}

/// One staged → final rename of a commit, paths relative to the root with `/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingFile {
    pub(crate) staged: String,
    #[serde(rename = "final")]
    pub(crate) final_path: String,
}

/// The result of a [`Warehouse::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The published files, under `<root>/raw/`.
    pub files: Vec<PathBuf>,
    /// Rows in those files.
    pub rows: u64,
    /// Bytes in those files.
    pub bytes: u64,
}

/// What [`Warehouse::open`] repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Files of interrupted commits that recovery published.
    pub published: Vec<PathBuf>,
    /// Run ids whose staging directories held uncommitted files, now deleted.
    pub discarded_runs: Vec<String>,
}

impl Warehouse {
    /// Publish `files` and make `state` the committed state of `source` in
    /// `pipeline`, together: after a crash at any instant, either both are
    /// visible (possibly once [`Warehouse::open`] has run) or neither is.
    ///
    /// Every file must come from [`crate::StreamWriter::finish_file`] of a
    /// writer for `source` on this warehouse, and must not have been committed
    /// before. An empty `files` just commits the state.
    pub fn commit(
        &self,
        pipeline: &str,
        source: &str,
        state: &SourceState,
        files: Vec<StagedFile>,
    ) -> Result<CommitOutcome, WarehouseError> {
        names::validate("pipeline", pipeline)?;
        names::validate("source", source)?;
        #[cfg(feature = "object-store")]
        if let Some(remote) = self.remote() {
            let _lock = storage::lock_exclusive(&self.state_lock_path(pipeline, source))?;
            return self.commit_remote(remote, pipeline, source, state, files);
        }
        let path = self.state_path(pipeline, source);
        let _lock = storage::lock_exclusive(&self.state_lock_path(pipeline, source))?;
        // Finish an earlier interrupted commit first; this also refuses to
        // overwrite a corrupt state file.
        self.finish_pending_locked(&path)?;
        // Checked under the lock, so one file cannot be committed twice.
        let pending = self.check_staged(source, &files)?;

        crash_point(0)?;
        // Step 2, the commit point: state + pending list, durably.
        write_state_file(&path, state, &pending)?;
        crash_point(1)?;
        // Step 3: publish.
        for (i, p) in pending.iter().enumerate() {
            self.publish(&path, p)?;
            if i == 0 {
                crash_point(2)?;
            }
        }
        crash_point(3)?;
        // Step 4: nothing pending any more.
        write_state_file(&path, state, &[])?;

        let outcome = CommitOutcome {
            files: files.iter().map(|f| f.final_path.clone()).collect(),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
        };
        tracing::info!(
            pipeline,
            source,
            files = outcome.files.len(),
            rows = outcome.rows,
            bytes = outcome.bytes,
            "committed"
        );
        Ok(outcome)
    }

    /// The committed state of `source` in `pipeline`; the default (empty)
    /// state if nothing was ever committed. An interrupted commit is finished
    /// first. A state file that cannot be read is an error, never a reset.
    pub fn load_state(&self, pipeline: &str, source: &str) -> Result<SourceState, WarehouseError> {
        names::validate("pipeline", pipeline)?;
        names::validate("source", source)?;
        #[cfg(feature = "object-store")]
        if let Some(remote) = self.remote() {
            let _lock = storage::lock_exclusive(&self.state_lock_path(pipeline, source))?;
            return Ok(self
                .finish_remote_state(remote, &crate::remote_commit::state_key(pipeline, source))?
                .map(|(f, _)| f.state)
                .unwrap_or_default());
        }
        let path = self.state_path(pipeline, source);
        let _lock = storage::lock_exclusive(&self.state_lock_path(pipeline, source))?;
        Ok(self
            .finish_pending_locked(&path)?
            .map(|f| f.state)
            .unwrap_or_default())
    }

    /// Crash recovery: finish every interrupted commit, then delete staging
    /// directories of runs that no live process holds. Run by [`Warehouse::open`].
    pub(crate) fn recover(&self) -> Result<RecoveryReport, WarehouseError> {
        let mut report = RecoveryReport {
            published: self.finish_all_pending()?,
            discarded_runs: Vec::new(),
        };
        remove_stale_tmp(&self.runs_dir())?;
        for dir in storage::list_dir(&self.staging_dir())? {
            if !dir.is_dir() {
                continue;
            }
            let run_id = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if self.holds_run_lock(&run_id) {
                continue;
            }
            match storage::try_lock_exclusive(&dir.join(crate::RUN_LOCK_FILE))? {
                Some(_lock) => {
                    let had_data = storage::has_files(&dir, crate::RUN_LOCK_FILE)?;
                    storage::remove_dir_all(&dir)?;
                    if had_data {
                        tracing::info!(
                            run_id,
                            "removed uncommitted staging data of an interrupted run"
                        );
                        report.discarded_runs.push(run_id);
                    }
                }
                None => tracing::debug!(run_id, "staging directory in use by another process"),
            }
        }
        Ok(report)
    }

    /// Finish the pending publishes of every state file; returns the files published.
    pub(crate) fn finish_all_pending(&self) -> Result<Vec<PathBuf>, WarehouseError> {
        let mut published = Vec::new();
        for pipeline_dir in storage::list_dir(&self.state_dir())? {
            if !pipeline_dir.is_dir() {
                continue;
            }
            remove_stale_tmp(&pipeline_dir)?;
            for path in storage::list_dir(&pipeline_dir)? {
                let hidden = path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if hidden || path.extension().is_none_or(|e| e != "json") || !path.is_file() {
                    continue;
                }
                let _lock = storage::lock_exclusive(&path.with_extension("lock"))?;
                let Some(before) = read_state_file(&path)? else {
                    continue;
                };
                if before.pending.is_empty() {
                    continue;
                }
                for p in &before.pending {
                    if let Some(done) = self.publish(&path, p)? {
                        published.push(done);
                    }
                }
                write_state_file(&path, &before.state, &[])?;
                tracing::info!(state_file = %path.display(), files = before.pending.len(), "finished an interrupted commit");
            }
        }
        Ok(published)
    }

    /// With the state lock held: read the state file, publish what it has
    /// pending and clear the list. `None` if there is no state file.
    fn finish_pending_locked(&self, path: &Path) -> Result<Option<StateFile>, WarehouseError> {
        let Some(mut file) = read_state_file(path)? else {
            return Ok(None);
        };
        if !file.pending.is_empty() {
            for p in &file.pending {
                self.publish(path, p)?;
            }
            write_state_file(path, &file.state, &[])?;
            tracing::info!(state_file = %path.display(), files = file.pending.len(), "finished an interrupted commit");
            file.pending.clear();
        }
        Ok(Some(file))
    }

    /// Step 3 for one file, idempotent: rename if the staged file is there;
    /// done already if only the final file is there. Returns the final path
    /// if this call renamed it.
    fn publish(
        &self,
        state_path: &Path,
        p: &PendingFile,
    ) -> Result<Option<PathBuf>, WarehouseError> {
        let staged = self.resolve(state_path, &p.staged, crate::STAGING_DIR)?;
        let final_path = self.resolve(state_path, &p.final_path, crate::RAW_DIR)?;
        if storage::is_file(&staged) {
            storage::rename_durable(&staged, &final_path)?;
            Ok(Some(final_path))
        } else if storage::is_file(&final_path) {
            Ok(None)
        } else {
            Err(WarehouseError::corrupt(
                state_path,
                format!(
                    "committed file {} is missing and so is its staged copy {}",
                    final_path.display(),
                    staged.display()
                ),
            ))
        }
    }

    /// Turn a relative `/`-separated path from a state file into an absolute
    /// one under `<root>/<prefix>`, refusing anything that escapes it.
    fn resolve(
        &self,
        state_path: &Path,
        rel: &str,
        prefix: &str,
    ) -> Result<PathBuf, WarehouseError> {
        let segments: Vec<&str> = rel.split('/').collect();
        let prefix_segments: Vec<&str> = prefix.split('/').collect();
        let valid = segments.len() > prefix_segments.len()
            && segments.starts_with(&prefix_segments)
            && segments.iter().all(|s| {
                !s.is_empty() && *s != "." && *s != ".." && !s.contains('\\') && !s.contains('\0')
            });
        if !valid {
            return Err(WarehouseError::corrupt(
                state_path,
                format!("pending path {rel:?} is not under {prefix}/"),
            ));
        }
        let mut out = self.root().to_path_buf();
        out.extend(segments);
        Ok(out)
    }

    /// Validate files for a commit and turn them into pending entries.
    pub(crate) fn check_staged(
        &self,
        source: &str,
        files: &[StagedFile],
    ) -> Result<Vec<PendingFile>, WarehouseError> {
        let staging_root = self.staging_dir();
        let raw_source = self.raw_dir().join(source);
        let mut seen = BTreeSet::new();
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let refuse = |path: &Path, message: &str| WarehouseError::InvalidStagedFile {
                path: path.to_path_buf(),
                message: message.to_owned(),
            };
            let staged = self
                .relative(&f.staged, &staging_root)
                .ok_or_else(|| refuse(&f.staged, "not a staged file of this warehouse"))?;
            let final_path = self.relative(&f.final_path, &raw_source).ok_or_else(|| {
                refuse(
                    &f.final_path,
                    &format!("not a path under raw/{source}/ of this warehouse"),
                )
            })?;
            if !seen.insert(staged.clone()) {
                return Err(refuse(&f.staged, "listed twice"));
            }
            if !storage::is_file(&f.staged) {
                return Err(refuse(
                    &f.staged,
                    "staged file does not exist (already committed or discarded?)",
                ));
            }
            if f.final_path.exists() {
                return Err(refuse(&f.final_path, "final path already exists"));
            }
            out.push(PendingFile { staged, final_path });
        }
        Ok(out)
    }

    /// `path` relative to the root as `/`-separated segments, if it lies
    /// strictly under `under` and has only plain segments.
    fn relative(&self, path: &Path, under: &Path) -> Option<String> {
        let rest = path.strip_prefix(under).ok()?;
        if rest.as_os_str().is_empty()
            || rest
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let rel = path.strip_prefix(self.root()).ok()?;
        let mut segs = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(s) => segs.push(s.to_str()?.to_owned()),
                _ => return None,
            }
        }
        Some(segs.join("/"))
    }
}

#[cfg(test)]
thread_local! {
    /// Test hook: make `commit` stop ("crash") at this point: 0 before the
    /// state write, 1 after it, 2 after the first rename, 3 before clearing `pending`.
    pub(crate) static CRASH_AT: std::cell::Cell<Option<u8>> = const { std::cell::Cell::new(None) };
}

pub(crate) fn crash_point(_point: u8) -> Result<(), WarehouseError> {
    #[cfg(test)]
    if CRASH_AT.get() == Some(_point) {
        return Err(WarehouseError::io(
            format!("<crash point {_point}>"),
            std::io::Error::other("simulated crash"),
        ));
    }
    Ok(())
}

pub(crate) fn parse_state_file(path: &Path, bytes: &[u8]) -> Result<StateFile, WarehouseError> {
    let file: StateFile = serde_json::from_slice(bytes)
        .map_err(|e| WarehouseError::corrupt(path, format!("not a braid state file: {e}")))?;
    if file.format != STATE_FORMAT {
        return Err(WarehouseError::corrupt(
            path,
            format!(
                "state format {} is not supported (this build reads {STATE_FORMAT})",
                file.format
            ),
        ));
    }
    Ok(file)
}

/// The bytes of a state file holding `state` and `pending`.
pub(crate) fn state_file_bytes(state: &SourceState, pending: &[PendingFile]) -> Vec<u8> {
    let file = StateFile {
        format: STATE_FORMAT,
        state: state.clone(),
        pending: pending.to_vec(),
        updated_at: Utc::now(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn read_state_file(path: &Path) -> Result<Option<StateFile>, WarehouseError> {
    match storage::read_optional(path)? {
        Some(bytes) => parse_state_file(path, &bytes).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn write_state_file(
    path: &Path,
    state: &SourceState,
    pending: &[PendingFile],
) -> Result<(), WarehouseError> {
    storage::write_atomic(path, &state_file_bytes(state, pending))
}

/// Delete temp files of interrupted atomic writes in `dir` (old ones only, so
/// a concurrent writer's fresh temp file is left alone).
fn remove_stale_tmp(dir: &Path) -> Result<(), WarehouseError> {
    let now = SystemTime::now();
    for path in storage::list_dir(dir)? {
        let is_tmp = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(storage::TMP_PREFIX));
        if !is_tmp {
            continue;
        }
        let old = storage::modified(&path)
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= STALE_TMP_AGE);
        if old {
            storage::remove_file(&path)?;
        }
    }
    Ok(())
}
