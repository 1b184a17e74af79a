//! The file-system seam: every durable file operation of the warehouse goes
//! through here, so an object-store backend can later replace this module
//! without touching the commit protocol or the Parquet writer.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::WarehouseError;

/// Prefix of temporary files made by [`write_atomic`]; recovery deletes leftovers.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// fsync a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WarehouseError> {
    #[cfg(unix)]
    {
        File::open(dir).and_then(|d| d.sync_all()).at(dir)
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for sync on this platform; renames are
        // made durable by the file system itself.
        let _ = dir;
        Ok(())
    }
}

/// Create `dir` and its missing parents, fsyncing the parent of each created directory.
pub(crate) fn create_dir_all_durable(dir: &Path) -> Result<(), WarehouseError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_all_durable(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(WarehouseError::io(dir, e)),
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Replace `path` with `bytes` atomically: temp file in the same directory,
/// fsync, rename over `path`, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WarehouseError> {
    let dir = parent_of(path)?;
    create_dir_all_durable(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{}-{file_name}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        drop(f);
        fs::rename(&tmp, path).at(path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Rename `from` to `to` (creating `to`'s parents) and fsync both directories.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> Result<(), WarehouseError> {
    let to_dir = parent_of(to)?;
    create_dir_all_durable(to_dir)?;
    fs::rename(from, to).at(from)?;
    sync_dir(to_dir)?;
    let from_dir = parent_of(from)?;
    if from_dir != to_dir {
        sync_dir(from_dir)?;
    }
    Ok(())
}

/// Create a new file for writing; fails if it exists.
pub(crate) fn create_new(path: &Path) -> Result<File, WarehouseError> {
    create_dir_all_durable(parent_of(path)?)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .at(path)
}

/// Read a whole file, `None` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, WarehouseError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(WarehouseError::io(path, e)),
    }
}

/// Whether `path` exists as a regular file.
pub(crate) fn is_file(path: &Path) -> bool {
    path.is_file()
}

/// Last modification time of `path`, if it can be read.
pub(crate) fn modified(path: &Path) -> Option<std::time::SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Entries of `dir` (empty if it does not exist), sorted by name.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, WarehouseError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(WarehouseError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        out.push(entry.at(dir)?.path());
    }
    out.sort();
    Ok(out)
}

/// Remove a directory tree (nothing if it does not exist) and fsync its parent.
pub(crate) fn remove_dir_all(dir: &Path) -> Result<(), WarehouseError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(WarehouseError::io(dir, e)),
    }
    match dir.parent() {
        Some(p) => sync_dir(p),
        None => Ok(()),
    }
}

/// Whether the tree under `dir` holds any file other than ones named `ignore`.
pub(crate) fn has_files(dir: &Path, ignore: &str) -> Result<bool, WarehouseError> {
    for entry in list_dir(dir)? {
        if entry.is_dir() {
            if has_files(&entry, ignore)? {
                return Ok(true);
            }
        } else if entry.file_name().is_none_or(|n| n != ignore) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Remove a file if it exists.
pub(crate) fn remove_file(path: &Path) -> Result<(), WarehouseError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WarehouseError::io(path, e)),
    }
}

/// An exclusive advisory lock on a file, released on drop.
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

/// Open (creating) `path` and take an exclusive lock on it, waiting for other holders.
pub(crate) fn lock_exclusive(path: &Path) -> Result<FileLock, WarehouseError> {
    create_dir_all_durable(parent_of(path)?)?;
    let file = open_lock_file(path)?;
    file.lock().at(path)?;
    Ok(FileLock { _file: file })
}

/// Like [`lock_exclusive`] but `None` instead of waiting when another holder has it.
pub(crate) fn try_lock_exclusive(path: &Path) -> Result<Option<FileLock>, WarehouseError> {
    create_dir_all_durable(parent_of(path)?)?;
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(WarehouseError::io(path, e)),
    }
}

fn open_lock_file(path: &Path) -> Result<File, WarehouseError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .at(path)
}

fn parent_of(path: &Path) -> Result<&Path, WarehouseError> {
    path.parent().ok_or_else(|| {
        WarehouseError::io(
            path,
            std::io::Error::new(ErrorKind::InvalidInput, "path has no parent directory"),
        )
    })
}
