//! `braid identity forget`: remove a person from every unified table,
//! quarantine file and mart, and record the erasure.
//!
//! The erasure is written to `_braid/erasures/<uuid>.json` with the
//! braid_id, when it happened, which files were rewritten, and SHA-256
//! hashes (never the values) of the person's record keys and identifiers.
//! Later unify runs read those hashes and keep the records out, so a
//! re-read of raw data does not bring the person back. Only the files that
//! held the person are rewritten; every other file of the new layer
//! version is a hard link to the old one.

use std::collections::HashSet;
use std::path::Path;

use arrow_array::{Array, BooleanArray, RecordBatch};
use serde::{Deserialize, Serialize};

use crate::error::UnifyError;
use crate::identity::IdentityStore;
use crate::io::{read_parquet, write_parquet};
use crate::layer::Layers;
use crate::schema::Table;
use crate::unify::{record_key, str_col, versioned};
use crate::values;

const ERASURES_DIR: &str = "_braid/erasures";

/// One erasure request, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Erasure {
    /// The erasure's id.
    pub id: String,
    /// When it was carried out (RFC 3339).
    pub erased_at: String,
    /// What was asked for, with the value replaced by its hash.
    pub requested: String,
    /// The braid_id removed.
    pub braid_id: String,
    /// SHA-256 of each removed record key (`source/stream/source_id`).
    pub record_keys_sha256: Vec<String>,
    /// SHA-256 of each removed identifier (`type:value`).
    pub identifiers_sha256: Vec<String>,
    /// Layer files rewritten without the person (relative to the layer version).
    pub files_rewritten: Vec<String>,
    /// The layer version that no longer holds the person.
    pub version: String,
}

/// Hex SHA-256 of `s`.
pub fn hash(s: &str) -> String {
    crate::config::sha_hex(s.as_bytes())
}

/// Hashes of every erased record key.
pub fn erased_keys(root: &Path) -> Result<HashSet<String>, UnifyError> {
    let mut out = HashSet::new();
    for e in erasures(root)? {
        out.extend(e.record_keys_sha256);
    }
    Ok(out)
}

/// Every recorded erasure, oldest first.
pub fn erasures(root: &Path) -> Result<Vec<Erasure>, UnifyError> {
    let dir = root.join(ERASURES_DIR);
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| UnifyError::io(&dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        let bytes = std::fs::read(&p).map_err(|e| UnifyError::io(&p, e))?;
        out.push(
            serde_json::from_slice(&bytes)
                .map_err(|e| UnifyError::Corrupt(format!("{}: {e}", p.display())))?,
        );
    }
    Ok(out)
}

/// Reads `what` as a braid_id or an identifier: `type:value` (e.g.
/// `phone:+8613912345678`, `wechat_unionid:o6_...`), an email, or a phone
/// number in E.164. Returns the braid_id it belongs to.
pub fn find_person(identity: &IdentityStore, what: &str) -> Result<String, UnifyError> {
    let what = what.trim();
    if identity.exists(what) {
        return Ok(what.to_owned());
    }
    if let Some(current) = identity.current(what).filter(|c| identity.exists(c)) {
        return Ok(current);
    }
    let candidates: Vec<(String, String)> = match what.split_once(':') {
        Some((t, v))
            if crate::identity::IDENTIFIER_COLUMNS
                .iter()
                .any(|(_, ty, _)| *ty == t) =>
        {
            let v = match t {
                "email" => values::email(v).unwrap_or_else(|_| v.to_owned()),
                "phone" => values::phone(v, None).unwrap_or_else(|_| v.to_owned()),
                _ => v.to_owned(),
            };
            vec![(t.to_owned(), v)]
        }
        _ if what.contains('@') => vec![(
            "email".into(),
            values::email(what).unwrap_or_else(|_| what.to_owned()),
        )],
        _ => {
            let mut c = Vec::new();
            if let Ok(p) = values::phone(what, None) {
                c.push(("phone".into(), p));
            }
            c.push(("wechat_unionid".into(), what.to_owned()));
            c
        }
    };
    for (t, v) in &candidates {
        if let Some(id) = identity.lookup(t, v) {
            return Ok(id);
        }
    }
    Err(UnifyError::NotFound(format!(
        "no person with braid_id or identifier {what:?} (use a braid_id, an email, an E.164 phone, or type:value such as wechat_unionid:o6_...)"
    )))
}

/// Removes the person `what` names (see [`find_person`]) from the warehouse
/// at `root`; returns the recorded erasure.
pub fn forget(root: &Path, what: &str) -> Result<Erasure, UnifyError> {
    let _lock = crate::lock(root)?;
    let mut layers = Layers::open(root)?;
    let mut identity = IdentityStore::load(root)?;
    let braid_id = find_person(&identity, what)?;
    let records: Vec<String> = identity.records(&braid_id);
    let identifiers: Vec<String> = identity
        .identifiers(&braid_id)
        .into_iter()
        .map(|(t, v)| format!("{t}:{v}"))
        .collect();
    let keys: HashSet<&str> = records.iter().map(String::as_str).collect();
    let mut draft = layers.draft()?;
    let version = draft.manifest.version.clone();
    let mut rewritten = Vec::new();
    let sources: Vec<String> = draft.manifest.sources.keys().cloned().collect();
    for source in sources {
        let files = draft.manifest.sources[&source].files.clone();
        let mut out = Vec::new();
        for rel in files {
            let prev = draft
                .previous(&rel)
                .ok_or_else(|| UnifyError::Corrupt(format!("{rel} is listed but missing")))?;
            let batches = read_parquet(&prev)?;
            let mut hit = false;
            let mut kept = Vec::new();
            for b in &batches {
                let keep = keep_mask(b, &source, &braid_id, &keys);
                if keep.true_count() < b.num_rows() {
                    hit = true;
                }
                kept.push(
                    arrow_select::filter::filter_record_batch(b, &keep)
                        .map_err(|e| UnifyError::Corrupt(e.to_string()))?,
                );
            }
            if hit {
                let new_rel = versioned(&rel, &version);
                let schema = batches[0].schema();
                write_parquet(&draft.path(&new_rel)?, &schema, &kept)?;
                rewritten.push(new_rel.clone());
                out.push(new_rel);
            } else {
                draft.keep(&rel)?;
                out.push(rel);
            }
        }
        if let Some(e) = draft.manifest.sources.get_mut(&source) {
            e.files = out;
        }
    }
    identity.forget(&braid_id)?;
    let links = identity.links()?;
    let rel = format!("unified/identity_links/part-{version}.parquet");
    write_parquet(&draft.path(&rel)?, &Table::IdentityLinks.schema(), &[links])?;
    rewritten.push(rel);
    crate::mart::build(&draft)?;
    rewritten.push(format!("marts/customer_360/part-{version}.parquet"));
    let erasure = Erasure {
        id: uuid::Uuid::now_v7().to_string(),
        erased_at: chrono::Utc::now().to_rfc3339(),
        requested: if what == braid_id {
            braid_id.clone()
        } else {
            format!("identifier sha256:{}", hash(what))
        },
        braid_id: braid_id.clone(),
        record_keys_sha256: records.iter().map(|k| hash(k)).collect(),
        identifiers_sha256: identifiers.iter().map(|k| hash(k)).collect(),
        files_rewritten: rewritten,
        version: version.clone(),
    };
    // The erasure is recorded before the layer switches: if we crash between,
    // the next unify still keeps the person out.
    let dir = root.join(ERASURES_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| UnifyError::io(&dir, e))?;
    let bytes =
        serde_json::to_vec_pretty(&erasure).map_err(|e| UnifyError::Corrupt(e.to_string()))?;
    crate::layer::write_durable(&dir.join(format!("{}.json", erasure.id)), &bytes)?;
    identity.save()?;
    layers.commit(draft)?;
    Ok(erasure)
}

/// Rows to keep: those not of `braid_id` and whose record key is not the person's.
fn keep_mask(b: &RecordBatch, source: &str, braid_id: &str, keys: &HashSet<&str>) -> BooleanArray {
    let bid = str_col(b, "braid_id");
    let sid = str_col(b, "source_id");
    let stream = str_col(b, "source_stream");
    (0..b.num_rows())
        .map(|i| {
            let by_id = bid.is_some_and(|a| a.is_valid(i) && a.value(i) == braid_id);
            let by_key = match (sid, stream) {
                (Some(s), Some(st)) if s.is_valid(i) && st.is_valid(i) => {
                    keys.contains(record_key(source, st.value(i), s.value(i)).as_str())
                }
                _ => false,
            };
            Some(!(by_id || by_key))
        })
        .collect()
}
