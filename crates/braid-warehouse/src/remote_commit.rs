//! The commit protocol on an object store (see `remote.rs` for the steps)
//! and its recovery.

use std::path::{Path, PathBuf};

use braid_core::SourceState;
use chrono::Utc;
use object_store::{PutMode, UpdateVersion};

use crate::commit::{crash_point, parse_state_file, state_file_bytes, PendingFile, StateFile};
use crate::remote::{PutOutcome, Remote};
use crate::{CommitOutcome, StagedFile, Warehouse, WarehouseError};

/// Staged objects older than this that no state references are deleted on open.
const STALE_STAGING_HOURS: i64 = 24;

/// `_braid/state/<pipeline>/<source>.json`.
pub(crate) fn state_key(pipeline: &str, source: &str) -> String {
    format!("{}/{pipeline}/{source}.json", crate::STATE_DIR)
}

/// Test hook for crash tests of whole processes: `BRAID_CRASH_AT=after-upload`
/// aborts the process once the staged files are uploaded, before the commit
/// point.
fn process_crash_point(name: &str) {
    if std::env::var("BRAID_CRASH_AT").is_ok_and(|v| v == name) {
        eprintln!("BRAID_CRASH_AT={name}: aborting");
        std::process::abort();
    }
}

impl Warehouse {
    fn remote_path(&self, remote: &Remote, rel: &str) -> PathBuf {
        PathBuf::from(format!("{}/{rel}", remote.uri()))
    }

    /// Reads a state object and finishes its pending publishes; the state
    /// file and the version to update it from.
    pub(crate) fn finish_remote_state(
        &self,
        remote: &Remote,
        key: &str,
    ) -> Result<Option<(StateFile, UpdateVersion)>, WarehouseError> {
        let Some((bytes, version)) = remote.get(key)? else {
            return Ok(None);
        };
        let shown = self.remote_path(remote, key);
        let mut file = parse_state_file(&shown, &bytes)?;
        if file.pending.is_empty() {
            return Ok(Some((file, version)));
        }
        for p in &file.pending {
            self.publish_remote(remote, &shown, p)?;
        }
        let bytes = state_file_bytes(&file.state, &[]);
        let version = match remote.put(key, bytes, PutMode::Update(version))? {
            PutOutcome::Written(v) => v,
            PutOutcome::Conflict => {
                return Err(WarehouseError::Conflict(format!(
                    "{} changed while its interrupted commit was being finished",
                    shown.display()
                )))
            }
        };
        tracing::info!(state = %shown.display(), files = file.pending.len(), "finished an interrupted commit");
        file.pending.clear();
        Ok(Some((file, version)))
    }

    /// Copies one staged object to its final key (idempotent).
    fn publish_remote(
        &self,
        remote: &Remote,
        state: &Path,
        p: &PendingFile,
    ) -> Result<(), WarehouseError> {
        if remote.exists(&p.staged)? {
            remote.copy(&p.staged, &p.final_path)?;
            remote.delete(&p.staged)?;
            Ok(())
        } else if remote.exists(&p.final_path)? {
            Ok(())
        } else {
            Err(WarehouseError::corrupt(
                state,
                format!(
                    "committed object {} is missing and so is its staged copy {}",
                    p.final_path, p.staged
                ),
            ))
        }
    }

    /// [`Warehouse::commit`] on an object store. The caller holds the local state lock.
    pub(crate) fn commit_remote(
        &self,
        remote: &Remote,
        pipeline: &str,
        source: &str,
        state: &SourceState,
        files: Vec<StagedFile>,
    ) -> Result<CommitOutcome, WarehouseError> {
        let key = state_key(pipeline, source);
        let shown = self.remote_path(remote, &key);
        let before = self.finish_remote_state(remote, &key)?;
        let pending = self.check_staged(source, &files)?;
        crash_point(0)?;
        // Step 1: upload under _braid/staging (invisible to readers of raw/).
        for (p, f) in pending.iter().zip(&files) {
            remote.upload(&f.staged, &p.staged)?;
        }
        process_crash_point("after-upload");
        // Step 2, the commit point: the state object, conditionally.
        let mode = match before {
            Some((_, version)) => PutMode::Update(version),
            None => PutMode::Create,
        };
        let version = match remote.put(&key, state_file_bytes(state, &pending), mode)? {
            PutOutcome::Written(v) => v,
            PutOutcome::Conflict => {
                for p in &pending {
                    let _ = remote.delete(&p.staged);
                }
                return Err(WarehouseError::Conflict(format!(
                    "{} was changed by another writer since this run read it; nothing of this commit is visible",
                    shown.display()
                )));
            }
        };
        crash_point(1)?;
        process_crash_point("after-state");
        // Step 3: publish.
        for p in &pending {
            self.publish_remote(remote, &shown, p)?;
        }
        crash_point(3)?;
        // Step 4: nothing pending any more.
        if let PutOutcome::Conflict =
            remote.put(&key, state_file_bytes(state, &[]), PutMode::Update(version))?
        {
            return Err(WarehouseError::Conflict(format!(
                "{} changed while this commit was being published",
                shown.display()
            )));
        }
        // The local copies are no longer needed.
        for f in &files {
            let _ = std::fs::remove_file(&f.staged);
        }
        let outcome = CommitOutcome {
            files: pending
                .iter()
                .map(|p| self.remote_path(remote, &p.final_path))
                .collect(),
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

    /// Finishes every interrupted commit on the store and deletes old staged
    /// objects of crashed runs. Run when an object-store warehouse is opened.
    pub(crate) fn recover_remote(&self, remote: &Remote) -> Result<(), WarehouseError> {
        for (key, _) in remote.list(crate::STATE_DIR)? {
            if key.ends_with(".json") {
                self.finish_remote_state(remote, &key)?;
            }
        }
        let cutoff = Utc::now() - chrono::Duration::hours(STALE_STAGING_HOURS);
        for (key, modified) in remote.list(crate::STAGING_DIR)? {
            if modified < cutoff {
                remote.delete(&key)?;
            }
        }
        Ok(())
    }
}
