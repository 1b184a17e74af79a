//! Object-store warehouses: `s3://bucket/prefix`, `gs://bucket/prefix`,
//! `az://container/prefix`, through the `object_store` crate, with
//! credentials from the environment as the vendors' SDKs read them
//! (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …).
//!
//! The commit protocol is the local one, mapped onto what object stores
//! guarantee (an object appears whole or not at all; conditional writes):
//!
//! 1. Parquet files are written locally (a work directory), then uploaded
//!    to `_braid/staging/<run>/…` (multipart above 16 MiB). Nothing under
//!    `raw/` changes, so a crash here leaves nothing visible.
//! 2. **Commit point**: the state object `_braid/state/<pipeline>/<source>.json`
//!    (new state + the list of staged → final keys) is written with a
//!    conditional put against the version read before (`If-Match`, or
//!    `If-None-Match: *` for the first commit), so two writers can never both
//!    commit from the same state.
//! 3. Each staged object is copied to its final key under `raw/` and the
//!    staged copy deleted; then the state is written again without pending.
//!
//! Opening the warehouse finishes any interrupted step 3 (copies are
//! idempotent), exactly as the local recovery does.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};

use crate::WarehouseError;

/// Files above this are uploaded in parts.
const MULTIPART_THRESHOLD: usize = 16 << 20;
/// Part size of multipart uploads.
const PART_SIZE: usize = 8 << 20;

/// Why a multipart upload failed: reading the local file or the store.
enum Upload {
    Io(std::io::Error),
    Store(object_store::Error),
}

/// A conditional write lost against another writer.
#[derive(Debug)]
pub(crate) enum PutOutcome {
    /// Written; its new version.
    Written(UpdateVersion),
    /// The object changed (or appeared) since it was read.
    Conflict,
}

/// One object-store warehouse root.
pub(crate) struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    uri: String,
    /// The store's own I/O runtime (`None` only while dropping).
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        // Dropping a runtime may block; this may run inside another runtime.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("uri", &self.uri).finish()
    }
}

impl Remote {
    /// Connects to `uri` with credentials from the environment.
    pub(crate) fn open(uri: &str) -> Result<Remote, WarehouseError> {
        let err = |message: String| WarehouseError::Remote {
            uri: uri.to_owned(),
            message,
        };
        let store: Arc<dyn ObjectStore> = if uri.starts_with("s3") {
            Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(uri)
                    .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            )
        } else if uri.starts_with("gs://") {
            Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(uri)
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            )
        } else {
            Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(uri)
                    .build()
                    .map_err(|e| err(e.to_string()))?,
            )
        };
        // The prefix is the URI's path after the bucket.
        let after_scheme = uri.split_once("://").map(|x| x.1).unwrap_or_default();
        let prefix = after_scheme
            .split_once('/')
            .map(|x| x.1)
            .unwrap_or_default()
            .trim_matches('/');
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("braid-object-store")
            .enable_all()
            .build()
            .map_err(|e| err(format!("cannot start the I/O runtime: {e}")))?;
        Ok(Remote {
            store,
            prefix: ObjPath::from(prefix),
            uri: uri.trim_end_matches('/').to_owned(),
            rt: Some(rt),
        })
    }

    /// The warehouse URI (no credentials: they come from the environment).
    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    /// Runs `fut` on the store's own runtime and waits (callable from
    /// blocking threads and from inside other runtimes alike).
    fn block<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if let Some(rt) = &self.rt {
            rt.spawn(async move {
                let _ = tx.send(fut.await);
            });
        }
        match rx.recv() {
            Ok(v) => v,
            Err(_) => panic!("object-store task dropped"),
        }
    }

    fn key(&self, rel: &str) -> ObjPath {
        let mut parts: Vec<String> = self.prefix.parts().map(|p| p.as_ref().to_owned()).collect();
        parts.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_owned));
        ObjPath::from_iter(parts)
    }

    fn rel_of(&self, key: &ObjPath) -> String {
        let skip = self.prefix.parts().count();
        key.parts()
            .skip(skip)
            .map(|p| p.as_ref().to_owned())
            .collect::<Vec<_>>()
            .join("/")
    }

    fn fail(&self, rel: &str, e: object_store::Error) -> WarehouseError {
        WarehouseError::Remote {
            uri: format!("{}/{rel}", self.uri),
            message: e.to_string(),
        }
    }

    /// Reads `rel`: its bytes and version, or `None` if absent.
    pub(crate) fn get(&self, rel: &str) -> Result<Option<(Bytes, UpdateVersion)>, WarehouseError> {
        let store = self.store.clone();
        let key = self.key(rel);
        let r = self.block(async move {
            let got = store.get(&key).await?;
            let version = UpdateVersion {
                e_tag: got.meta.e_tag.clone(),
                version: got.meta.version.clone(),
            };
            Ok::<_, object_store::Error>((got.bytes().await?, version))
        });
        match r {
            Ok(v) => Ok(Some(v)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail(rel, e)),
        }
    }

    /// Writes `rel` with `mode`; a lost condition is [`PutOutcome::Conflict`].
    pub(crate) fn put(
        &self,
        rel: &str,
        bytes: Vec<u8>,
        mode: PutMode,
    ) -> Result<PutOutcome, WarehouseError> {
        let store = self.store.clone();
        let key = self.key(rel);
        let r = self.block(async move {
            let opts = PutOptions {
                mode,
                ..Default::default()
            };
            store.put_opts(&key, PutPayload::from(bytes), opts).await
        });
        match r {
            Ok(res) => Ok(PutOutcome::Written(res.into())),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(PutOutcome::Conflict),
            Err(e) => Err(self.fail(rel, e)),
        }
    }

    /// Uploads a local file to `rel`: one put when small, otherwise a
    /// multipart upload read from disk part by part (memory stays at a few
    /// parts whatever the file's size). An upload that fails is aborted, so
    /// no part lingers on the store.
    pub(crate) fn upload(&self, local: &FsPath, rel: &str) -> Result<(), WarehouseError> {
        let len = std::fs::metadata(local)
            .map_err(|e| WarehouseError::io(local, e))?
            .len();
        if len <= MULTIPART_THRESHOLD as u64 {
            let bytes = std::fs::read(local).map_err(|e| WarehouseError::io(local, e))?;
            let store = self.store.clone();
            let key = self.key(rel);
            return self
                .block(async move { store.put(&key, PutPayload::from(bytes)).await.map(|_| ()) })
                .map_err(|e| self.fail(rel, e));
        }
        let mut file = std::fs::File::open(local).map_err(|e| WarehouseError::io(local, e))?;
        let store = self.store.clone();
        let key = self.key(rel);
        let path = local.to_path_buf();
        let r = self.block(async move {
            use std::io::Read;
            let upload = store.put_multipart(&key).await.map_err(Upload::Store)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = w.abort().await;
                        return Err(Upload::Io(e));
                    }
                };
                if let Err(e) = w.wait_for_capacity(4).await {
                    let _ = w.abort().await;
                    return Err(Upload::Store(e));
                }
                w.write(&buf[..n]);
            }
            w.finish().await.map(|_| ()).map_err(Upload::Store)
        });
        match r {
            Ok(()) => Ok(()),
            Err(Upload::Io(e)) => Err(WarehouseError::io(&path, e)),
            Err(Upload::Store(e)) => Err(self.fail(rel, e)),
        }
    }

    /// Server-side copy `from` → `to`.
    pub(crate) fn copy(&self, from: &str, to: &str) -> Result<(), WarehouseError> {
        let store = self.store.clone();
        let (f, t) = (self.key(from), self.key(to));
        self.block(async move { store.copy(&f, &t).await })
            .map_err(|e| self.fail(from, e))
    }

    /// Whether `rel` exists.
    pub(crate) fn exists(&self, rel: &str) -> Result<bool, WarehouseError> {
        let store = self.store.clone();
        let key = self.key(rel);
        match self.block(async move { store.head(&key).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.fail(rel, e)),
        }
    }

    /// Deletes `rel` (absent is fine).
    pub(crate) fn delete(&self, rel: &str) -> Result<(), WarehouseError> {
        let store = self.store.clone();
        let key = self.key(rel);
        match self.block(async move { store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail(rel, e)),
        }
    }

    /// Every object under `rel_prefix`: relative key and last-modified time.
    pub(crate) fn list(
        &self,
        rel_prefix: &str,
    ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, WarehouseError> {
        let store = self.store.clone();
        let key = self.key(rel_prefix);
        let metas = self
            .block(async move { store.list(Some(&key)).try_collect::<Vec<_>>().await })
            .map_err(|e| self.fail(rel_prefix, e))?;
        let mut out: Vec<_> = metas
            .into_iter()
            .map(|m| (self.rel_of(&m.location), m.last_modified))
            .collect();
        out.sort();
        Ok(out)
    }
}
