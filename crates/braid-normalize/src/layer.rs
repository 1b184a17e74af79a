//! Atomic snapshots of the derived layers (`unified/`, `marts/`, `quarantine/`).
//!
//! Each unify or forget builds a complete new version under
//! `_braid/layers/<version>/{unified,marts,quarantine}`: files it did not
//! change are hard links to the previous version's (no copy, no rewrite),
//! files it changed are written anew and fsynced. Then the symbolic links
//! `<root>/unified`, `<root>/marts` and `<root>/quarantine` are switched to
//! the new version, each by an atomic rename of a new link over the old one.
//! `unified` is switched first and is the commit point; `open` re-points the
//! other two if a crash came between. A reader that resolves
//! `<root>/unified/...` therefore sees one whole version, never a
//! half-written one. The previous version is kept (readers in flight keep
//! their files); older ones are deleted.
//!
//! This is the warehouse's protocol (write aside, fsync, one atomic rename
//! as the commit point, idempotent recovery) applied to a whole layer, since
//! these layers replace files rather than only adding them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::UnifyError;

/// The layer names, in switch order (`unified` is the commit point).
pub const LAYERS: [&str; 3] = ["unified", "marts", "quarantine"];
const VERSIONS_DIR: &str = "_braid/layers";
const MANIFEST: &str = "manifest.json";

/// What a version holds, beside its files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this file.
    pub format: u32,
    /// The version's name (`v000001`, ...).
    pub version: String,
    /// Per source: the raw files it was built from, per stream (paths relative to the root).
    pub sources: BTreeMap<String, SourceEntry>,
    /// The schema of each raw stream as last seen: `source/stream` -> column -> Arrow type.
    pub raw_schemas: BTreeMap<String, BTreeMap<String, String>>,
    /// Type changes reported so far.
    #[serde(default)]
    pub type_changes: Vec<TypeChange>,
}

/// One source's part of a version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceEntry {
    /// Stream -> raw files read.
    pub raw_files: BTreeMap<String, Vec<String>>,
    /// A fingerprint of the mappings applied (a change rebuilds the source).
    pub mapping: String,
    /// Files of this source in the version, relative to the version dir.
    pub files: Vec<String>,
}

/// A raw column whose type changed between files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeChange {
    /// `source/stream`.
    pub stream: String,
    /// The column.
    pub column: String,
    /// Type before.
    pub from: String,
    /// Type now.
    pub to: String,
    /// The raw file where it showed.
    pub file: String,
    /// What the policy did: `widened`, `quarantined`.
    pub action: String,
}

/// The current version of a warehouse's derived layers.
#[derive(Debug)]
pub struct Layers {
    root: PathBuf,
    current: Option<(String, Manifest)>,
}

/// A version being built.
#[derive(Debug)]
pub struct Draft {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest (written at commit).
    pub manifest: Manifest,
    prev_dir: Option<PathBuf>,
}

impl Layers {
    /// The layers of the warehouse at `root`, finishing an interrupted switch
    /// and deleting unfinished versions.
    pub fn open(root: &Path) -> Result<Layers, UnifyError> {
        let versions = root.join(VERSIONS_DIR);
        fs::create_dir_all(&versions).map_err(|e| UnifyError::io(&versions, e))?;
        for name in LAYERS {
            let link = root.join(name);
            if let Ok(meta) = fs::symlink_metadata(&link) {
                if !meta.file_type().is_symlink() {
                    return Err(UnifyError::Layout(format!(
                        "{} is a directory, not braid's link to a layer version; move it away",
                        link.display()
                    )));
                }
            }
        }
        let current = read_link_version(&root.join("unified"));
        let mut layers = Layers {
            root: root.to_path_buf(),
            current: None,
        };
        if let Some(v) = current {
            let dir = versions.join(&v);
            let text =
                fs::read(dir.join(MANIFEST)).map_err(|e| UnifyError::io(&dir.join(MANIFEST), e))?;
            let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
                UnifyError::Corrupt(format!("{}: {e}", dir.join(MANIFEST).display()))
            })?;
            // Finish a switch a crash interrupted.
            for name in &LAYERS[1..] {
                if read_link_version(&root.join(name)).as_deref() != Some(v.as_str()) {
                    switch_link(root, name, &v)?;
                }
            }
            layers.current = Some((v, manifest));
        }
        layers.clean()?;
        Ok(layers)
    }

    /// The current manifest, if a version exists.
    pub fn manifest(&self) -> Option<&Manifest> {
        self.current.as_ref().map(|(_, m)| m)
    }

    /// The current version's directory.
    pub fn current_dir(&self) -> Option<PathBuf> {
        self.current
            .as_ref()
            .map(|(v, _)| self.root.join(VERSIONS_DIR).join(v))
    }

    /// Starts the next version (an empty directory and a copy of the manifest).
    pub fn draft(&self) -> Result<Draft, UnifyError> {
        let next = match &self.current {
            Some((v, _)) => v.trim_start_matches('v').parse::<u64>().unwrap_or(0) + 1,
            None => 1,
        };
        let version = format!("v{next:06}");
        let dir = self.root.join(VERSIONS_DIR).join(&version);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| UnifyError::io(&dir, e))?;
        }
        for name in LAYERS {
            fs::create_dir_all(dir.join(name)).map_err(|e| UnifyError::io(&dir, e))?;
        }
        let mut manifest = self.manifest().cloned().unwrap_or_default();
        manifest.format = 1;
        manifest.version = version;
        Ok(Draft {
            dir,
            manifest,
            prev_dir: self.current_dir(),
        })
    }

    /// Makes `draft` the current version (see the module docs).
    pub fn commit(&mut self, draft: Draft) -> Result<(), UnifyError> {
        let manifest_path = draft.dir.join(MANIFEST);
        let bytes = serde_json::to_vec_pretty(&draft.manifest)
            .map_err(|e| UnifyError::Corrupt(e.to_string()))?;
        write_durable(&manifest_path, &bytes)?;
        sync_tree(&draft.dir)?;
        let v = draft.manifest.version.clone();
        for name in LAYERS {
            switch_link(&self.root, name, &v)?;
        }
        self.current = Some((v, draft.manifest));
        self.clean()
    }

    /// Deletes versions other than the current and the one before it.
    fn clean(&self) -> Result<(), UnifyError> {
        let versions = self.root.join(VERSIONS_DIR);
        let mut names: Vec<String> = fs::read_dir(&versions)
            .map_err(|e| UnifyError::io(&versions, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('v'))
            .collect();
        names.sort();
        let Some((current, _)) = &self.current else {
            for n in names {
                let _ = fs::remove_dir_all(versions.join(n));
            }
            return Ok(());
        };
        let keep_prev = names.iter().rfind(|n| *n < current).cloned();
        for n in names {
            if &n != current && Some(&n) != keep_prev.as_ref() {
                fs::remove_dir_all(versions.join(&n))
                    .map_err(|e| UnifyError::io(&versions.join(&n), e))?;
            }
        }
        Ok(())
    }
}

impl Draft {
    /// Hard-links `rel` (relative to a version dir) from the previous version.
    pub fn keep(&self, rel: &str) -> Result<(), UnifyError> {
        let Some(prev) = &self.prev_dir else {
            return Err(UnifyError::Corrupt(format!(
                "no previous version holds {rel}"
            )));
        };
        let from = prev.join(rel);
        let to = self.dir.join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| UnifyError::io(parent, e))?;
        }
        fs::hard_link(&from, &to).map_err(|e| UnifyError::io(&from, e))
    }

    /// The previous version's path of `rel`, if there is one.
    pub fn previous(&self, rel: &str) -> Option<PathBuf> {
        self.prev_dir
            .as_ref()
            .map(|p| p.join(rel))
            .filter(|p| p.is_file())
    }

    /// An absolute path for a new file `rel`, its directory created.
    pub fn path(&self, rel: &str) -> Result<PathBuf, UnifyError> {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|e| UnifyError::io(parent, e))?;
        }
        Ok(p)
    }
}

fn read_link_version(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    // _braid/layers/<v>/<layer>
    target
        .parent()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

fn switch_link(root: &Path, name: &str, version: &str) -> Result<(), UnifyError> {
    let target = Path::new(VERSIONS_DIR).join(version).join(name);
    let tmp = root.join(format!(".tmp-{name}-{version}"));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp).map_err(|e| UnifyError::io(&tmp, e))?;
    fs::rename(&tmp, root.join(name)).map_err(|e| UnifyError::io(&root.join(name), e))?;
    fs::File::open(root)
        .and_then(|d| d.sync_all())
        .map_err(|e| UnifyError::io(root, e))
}

/// Writes `bytes` to `path` and fsyncs it.
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), UnifyError> {
    let mut f = fs::File::create(path).map_err(|e| UnifyError::io(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| UnifyError::io(path, e))
}

/// Fsyncs every directory under `dir` (files are fsynced when written).
fn sync_tree(dir: &Path) -> Result<(), UnifyError> {
    for entry in fs::read_dir(dir)
        .map_err(|e| UnifyError::io(dir, e))?
        .flatten()
    {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync_tree(&entry.path())?;
        }
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| UnifyError::io(dir, e))
}
