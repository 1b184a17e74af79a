//! The pipeline lock: one run of a pipeline per warehouse at a time, across
//! processes and machines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
#[cfg(feature = "object-store")]
use std::time::Duration;

#[cfg(feature = "object-store")]
use chrono::{DateTime, Utc};
#[cfg(feature = "object-store")]
use serde::{Deserialize, Serialize};

use crate::{Warehouse, WarehouseError};

/// The lock object `_braid/locks/<pipeline>.json`.
#[cfg(feature = "object-store")]
#[derive(Debug, Serialize, Deserialize)]
struct LockFile {
    owner: String,
    expires_at: DateTime<Utc>,
}

/// A held pipeline lock; released on drop.
pub struct PipelineLock {
    #[allow(dead_code)]
    local: Option<crate::storage::FileLock>,
    stop: Option<Arc<AtomicBool>>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for PipelineLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineLock").finish_non_exhaustive()
    }
}

impl Drop for PipelineLock {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            stop.store(true, Ordering::SeqCst);
        }
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
    }
}

#[cfg(feature = "object-store")]
fn lock_ttl() -> Duration {
    std::env::var("BRAID_LOCK_TTL_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(120))
}

#[cfg(feature = "object-store")]
fn owner() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown-host".into());
    format!(
        "{host} pid {} ({})",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Warehouse {
    /// Takes the lock that keeps two processes from running `pipeline` on
    /// this warehouse at once. On a local directory it is a file lock (freed
    /// when the process ends); on an object store it is an object created
    /// with a conditional write, renewed while held and taken over by others
    /// only after it expires (`BRAID_LOCK_TTL_SECONDS`, default 120), so a
    /// crashed worker cannot block the pipeline forever.
    pub fn lock_pipeline(&self, pipeline: &str) -> Result<PipelineLock, WarehouseError> {
        crate::names::validate("pipeline", pipeline)?;
        #[cfg(feature = "object-store")]
        if let Some(remote) = self.remote_arc() {
            return lock_remote(remote, pipeline);
        }
        let path = self
            .root()
            .join("_braid/locks")
            .join(format!("{pipeline}.lock"));
        match crate::storage::try_lock_exclusive(&path)? {
            Some(l) => Ok(PipelineLock {
                local: Some(l),
                stop: None,
                renewer: None,
            }),
            None => Err(WarehouseError::Locked {
                pipeline: pipeline.to_owned(),
                holder: "another process on this machine".into(),
            }),
        }
    }
}

#[cfg(feature = "object-store")]
fn lock_remote(
    remote: Arc<crate::remote::Remote>,
    pipeline: &str,
) -> Result<PipelineLock, WarehouseError> {
    let key = format!("_braid/locks/{pipeline}.json");
    let ttl = lock_ttl();
    let me = owner();
    let body = move |owner: &str| {
        serde_json::to_vec(&LockFile {
            owner: owner.to_owned(),
            expires_at: Utc::now() + chrono::Duration::from_std(ttl).unwrap_or_default(),
        })
        .unwrap_or_default()
    };
    let version = match remote.put(&key, body(&me), object_store::PutMode::Create)? {
        crate::remote::PutOutcome::Written(v) => v,
        crate::remote::PutOutcome::Conflict => {
            let Some((bytes, version)) = remote.get(&key)? else {
                return Err(WarehouseError::Locked {
                    pipeline: pipeline.to_owned(),
                    holder: "another worker (the lock changed while it was read)".into(),
                });
            };
            let held: Option<LockFile> = serde_json::from_slice(&bytes).ok();
            let expired = held.as_ref().is_none_or(|l| l.expires_at < Utc::now());
            if !expired {
                let l = held.expect("checked");
                return Err(WarehouseError::Locked {
                    pipeline: pipeline.to_owned(),
                    holder: format!("held by {} until {}", l.owner, l.expires_at),
                });
            }
            // Take over an expired lock, conditionally: of two takers one wins.
            match remote.put(&key, body(&me), object_store::PutMode::Update(version))? {
                crate::remote::PutOutcome::Written(v) => {
                    tracing::warn!(pipeline, "took over an expired lock");
                    v
                }
                crate::remote::PutOutcome::Conflict => {
                    return Err(WarehouseError::Locked {
                        pipeline: pipeline.to_owned(),
                        holder: "another worker took over the expired lock first".into(),
                    })
                }
            }
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = {
        let stop = stop.clone();
        let pipeline = pipeline.to_owned();
        std::thread::Builder::new()
            .name("braid-lock-renew".into())
            .spawn(move || {
                let mut version = version;
                let step = Duration::from_millis(200);
                let mut waited = Duration::ZERO;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(step);
                    waited += step;
                    if waited < ttl / 3 {
                        continue;
                    }
                    waited = Duration::ZERO;
                    match remote.put(&key, body(&me), object_store::PutMode::Update(version.clone())) {
                        Ok(crate::remote::PutOutcome::Written(v)) => version = v,
                        Ok(crate::remote::PutOutcome::Conflict) => {
                            tracing::error!(%pipeline, "lost the pipeline lock to another worker");
                            return;
                        }
                        Err(e) => tracing::warn!(%pipeline, error = %e, "could not renew the pipeline lock"),
                    }
                }
                // Release, only if it is still ours.
                if let Ok(Some((_, v))) = remote.get(&key) {
                    if v == version {
                        let _ = remote.delete(&key);
                    }
                }
            })
            .map_err(|e| WarehouseError::io("braid-lock-renew thread", e))?
    };
    Ok(PipelineLock {
        local: None,
        stop: Some(stop),
        renewer: Some(renewer),
    })
}
