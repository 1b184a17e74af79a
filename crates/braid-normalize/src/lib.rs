//! The unified layer of braid: the canonical Arrow schema ([`schema`]),
//! declarative mappings from connector streams to canonical tables
//! ([`mapping`], built-ins embedded from `mappings/<connector>.yaml`),
//! normalisers ([`values`]), quarantine of what cannot be normalised, and
//! the unified stage ([`unify()`]) that resolves identities and writes
//! `unified/`, `marts/` and `quarantine/` atomically ([`layer`]).

#![warn(missing_docs)]

pub mod config;
pub mod convert;
mod error;
pub mod expr;
pub mod forget;
pub mod identity;
pub mod io;
pub mod layer;
pub mod mapping;
mod mart;
pub mod paths;
pub mod schema;
pub mod unify;
pub mod values;

pub use error::UnifyError;
pub use forget::{forget, Erasure};
pub use unify::{unify, UnifyReport};

/// Serialises unify and forget on one warehouse (`_braid/unify.lock`).
pub(crate) fn lock(root: &std::path::Path) -> Result<std::fs::File, UnifyError> {
    let dir = root.join("_braid");
    std::fs::create_dir_all(&dir).map_err(|e| UnifyError::io(&dir, e))?;
    let path = dir.join("unify.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| UnifyError::io(&path, e))?;
    f.lock().map_err(|e| UnifyError::io(&path, e))?;
    Ok(f)
}

/// `braid identity explain`: which records make up `braid_id` (a retired id
/// names the person it merged into), through which shared identifiers
/// (score 1) and probabilistic matches (score, threshold and per-field
/// weights), which values were not followed, and the retired ids.
pub fn explain(root: &std::path::Path, braid_id: &str) -> Result<serde_json::Value, UnifyError> {
    identity::IdentityStore::load(root)?.explain(braid_id)
}

#[cfg(test)]
mod tests;
