//! The unified stage: raw Parquet -> canonical tables -> identity ->
//! `unified/`, `quarantine/`, `marts/customer_360`, as one atomic version.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow_schema::Schema;
use braid_pipeline::Pipeline;
use serde::Serialize;

use crate::config::{self, SourceMappings, TypeChangePolicy};
use crate::convert::{self, SourceContext, LINEAGE};
use crate::error::UnifyError;
use crate::identity::IdentityStore;
use crate::io::{parquet_files, read_parquet, relative, write_parquet};
use crate::layer::{Draft, Layers, Manifest, SourceEntry, TypeChange};
use crate::mart;
use crate::schema::{quarantine_schema, Table};

/// What a unify did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UnifyReport {
    /// The layer version now current.
    pub version: String,
    /// Per source.
    pub sources: Vec<SourceReport>,
    /// Records whose identifiers were (re)resolved.
    pub records_resolved: u64,
    /// Distinct braid_ids in customer_360.
    pub people: u64,
    /// Unified files written anew.
    pub files_written: u64,
    /// Unified files carried over unchanged (hard links).
    pub files_kept: u64,
    /// Type changes found in this run.
    pub type_changes: Vec<TypeChange>,
    /// What identity resolution did: records re-stitched (the affected
    /// part of the graph), ids minted, merges (retired, survivor), values
    /// not followed, probabilistic matches.
    pub identity: braid_identity::ResolveReport,
}

/// One source's part of a [`UnifyReport`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceReport {
    /// The source.
    pub source: String,
    /// Whether its rows were rebuilt from raw (new raw files or a changed mapping).
    pub rebuilt: bool,
    /// Rows per canonical table.
    pub rows: BTreeMap<String, u64>,
    /// Quarantined records (withheld) and fields (nulled).
    pub quarantined_records: u64,
    /// See above.
    pub quarantined_fields: u64,
}

/// A canonical table's rows of one source, and which came from new raw files.
struct Part {
    batch: RecordBatch,
    fresh: Vec<bool>,
    /// Converted batches not yet in `batch` (concatenated once per source,
    /// not once per raw batch).
    pending: Vec<RecordBatch>,
}

/// Key of a source record in the identity graph: `source/stream/source_id`.
pub fn record_key(source: &str, stream: &str, source_id: &str) -> String {
    format!("{source}/{stream}/{source_id}")
}

/// Runs the unified stage for `pipeline` on the warehouse at `root`.
pub fn unify(root: &Path, pipeline: &Pipeline) -> Result<UnifyReport, UnifyError> {
    let (cfg, sources) = config::load(pipeline).map_err(UnifyError::Config)?;
    let zone = pipeline
        .schedule
        .as_ref()
        .map(|s| s.timezone)
        .unwrap_or(chrono_tz::UTC);
    let _lock = crate::lock(root)?;
    let mut layers = Layers::open(root)?;
    let mut draft = layers.draft()?;
    let erased = crate::forget::erased_keys(root)?;
    let mut identity = IdentityStore::open(root, cfg.identity.to_config())?;
    let mut report = UnifyReport {
        version: draft.manifest.version.clone(),
        ..Default::default()
    };

    // 1. Rebuild the sources whose raw files or mappings changed.
    let mut built: BTreeMap<(Table, String), Part> = BTreeMap::new();
    let mut quarantine: BTreeMap<(Table, String), Vec<RecordBatch>> = BTreeMap::new();
    let mut rebuilt: BTreeSet<String> = BTreeSet::new();
    for sm in sources.iter().filter(|s| !s.mappings.is_empty()) {
        let raw_files = list_raw(root, sm)?;
        let prev = draft.manifest.sources.get(&sm.source).cloned();
        let unchanged = prev
            .as_ref()
            .is_some_and(|p| p.raw_files == raw_files && p.mapping == sm.fingerprint);
        let mut sr = SourceReport {
            source: sm.source.clone(),
            rebuilt: !unchanged,
            ..Default::default()
        };
        if unchanged {
            report.sources.push(sr);
            continue;
        }
        rebuilt.insert(sm.source.clone());
        let seen: HashSet<String> = match &prev {
            Some(p) if p.mapping == sm.fingerprint => {
                p.raw_files.values().flatten().cloned().collect()
            }
            _ => HashSet::new(),
        };
        let cx = SourceContext {
            source: sm.source.clone(),
            timezone: zone,
            default_region: sm.phone_region.clone(),
        };
        for (stream, files) in &raw_files {
            let maps: Vec<_> = sm.mappings.iter().filter(|m| &m.stream == stream).collect();
            for rel in files {
                let fresh = !seen.contains(rel);
                let path = root.join(rel);
                let batches = read_parquet(&path)?;
                let Some(first) = batches.first() else {
                    continue;
                };
                let held = check_types(
                    &mut draft.manifest,
                    &sm.source,
                    stream,
                    rel,
                    first.schema().as_ref(),
                    fresh,
                    cfg.type_changes,
                    &mut report.type_changes,
                )?;
                for raw in &batches {
                    for m in &maps {
                        if let Some(reason) = &held {
                            let problems: Vec<convert::Quarantined> = (0..raw.num_rows())
                                .map(|row| convert::Quarantined {
                                    row,
                                    source_id: None,
                                    action: "record",
                                    column: String::new(),
                                    reason: reason.clone(),
                                })
                                .collect();
                            sr.quarantined_records += problems.len() as u64;
                            let q =
                                convert::quarantine_batch(raw, &problems, &sm.source, stream, rel)
                                    .map_err(|message| convert_err(sm, stream, message))?;
                            quarantine
                                .entry((m.table, sm.source.clone()))
                                .or_default()
                                .push(q);
                            continue;
                        }
                        let c = convert::convert(raw, m, &cx)
                            .map_err(|message| convert_err(sm, stream, message))?;
                        if !c.quarantined.is_empty() {
                            sr.quarantined_records += c.withheld.len() as u64;
                            sr.quarantined_fields +=
                                c.quarantined.iter().filter(|p| p.action == "field").count() as u64;
                            let q = convert::quarantine_batch(
                                raw,
                                &c.quarantined,
                                &sm.source,
                                stream,
                                rel,
                            )
                            .map_err(|message| convert_err(sm, stream, message))?;
                            quarantine
                                .entry((m.table, sm.source.clone()))
                                .or_default()
                                .push(q);
                        }
                        let part = built
                            .entry((m.table, sm.source.clone()))
                            .or_insert_with(|| Part {
                                batch: RecordBatch::new_empty(m.table.schema()),
                                fresh: Vec::new(),
                                pending: Vec::new(),
                            });
                        part.fresh
                            .extend(std::iter::repeat_n(fresh, c.batch.num_rows()));
                        part.pending.push(c.batch);
                    }
                }
            }
        }
        // Latest version of each record wins; erased people stay out.
        for ((table, source), part) in built.iter_mut().filter(|((_, s), _)| s == &sm.source) {
            let pending = std::mem::take(&mut part.pending);
            part.batch = arrow_select::concat::concat_batches(
                &table.schema(),
                std::iter::once(&part.batch).chain(&pending),
            )
            .map_err(|e| convert_err(sm, table.name(), e.to_string()))?;
            drop(pending);
            dedup(part, source, &erased)
                .map_err(|message| convert_err(sm, table.name(), message))?;
            sr.rows
                .insert(table.name().to_owned(), part.batch.num_rows() as u64);
        }
        draft.manifest.sources.insert(
            sm.source.clone(),
            SourceEntry {
                raw_files,
                mapping: sm.fingerprint.clone(),
                files: Vec::new(),
            },
        );
        report.sources.push(sr);
    }

    // 2. Resolve what changed.
    let found = crate::identity::extract(
        built
            .iter()
            .map(|((_, s), p)| (s.as_str(), &p.batch, p.fresh.as_slice())),
    )?;
    report.records_resolved = found.records();
    if !found.is_empty() || identity.pending() > 0 {
        report.identity = identity.resolve(
            &found.identifiers,
            &found.profiles,
            &found.without_identifiers,
        )?;
    }

    // 3. Write rebuilt sources; carry or re-stamp the others.
    let version = draft.manifest.version.clone();
    let mut kept_sources: Vec<String> = draft
        .manifest
        .sources
        .keys()
        .filter(|s| !rebuilt.contains(*s))
        .cloned()
        .collect();
    kept_sources.sort();
    for ((table, source), part) in &built {
        let batch = stamp(&part.batch, source, &identity)?;
        let rel = format!("unified/{}/{}/part-{version}.parquet", table.name(), source);
        write_parquet(&draft.path(&rel)?, &table.schema(), &[batch])?;
        report.files_written += 1;
        push_file(&mut draft, source, rel);
    }
    for ((table, source), batches) in &quarantine {
        let rel = format!(
            "quarantine/{}/{}/part-{version}.parquet",
            table.name(),
            source
        );
        write_parquet(&draft.path(&rel)?, &quarantine_schema(), batches)?;
        push_file(&mut draft, source, rel);
    }
    for source in kept_sources {
        let files = std::mem::take(
            &mut draft
                .manifest
                .sources
                .get_mut(&source)
                .map(|e| &mut e.files)
                .unwrap_or(&mut Vec::new())
                .clone(),
        );
        let mut out = Vec::new();
        for rel in files {
            if rel.starts_with("unified/") {
                let prev = draft
                    .previous(&rel)
                    .ok_or_else(|| UnifyError::Corrupt(format!("{rel} is listed but missing")))?;
                let batches = read_parquet(&prev)?;
                let mut changed = false;
                let mut restamped = Vec::new();
                for b in &batches {
                    let s = stamp(b, &source, &identity)?;
                    changed |= s.column_by_name("braid_id") != b.column_by_name("braid_id");
                    restamped.push(s);
                }
                if changed {
                    let new_rel = versioned(&rel, &version);
                    let schema = batches
                        .first()
                        .map(|b| b.schema())
                        .unwrap_or_else(|| Arc::new(Schema::empty()));
                    write_parquet(&draft.path(&new_rel)?, &schema, &restamped)?;
                    report.files_written += 1;
                    out.push(new_rel);
                    continue;
                }
                report.files_kept += 1;
            }
            draft.keep(&rel)?;
            out.push(rel);
        }
        if let Some(e) = draft.manifest.sources.get_mut(&source) {
            e.files = out;
        }
    }

    // 4. identity_links and the mart.
    let links = identity.links()?;
    let rel = format!("unified/identity_links/part-{version}.parquet");
    write_parquet(&draft.path(&rel)?, &Table::IdentityLinks.schema(), &[links])?;
    report.people = mart::build(&draft)?;
    identity.save()?;
    layers.commit(draft)?;
    tracing::info!(version = %report.version, resolved = report.records_resolved, people = report.people, "unified layer committed");
    Ok(report)
}

fn convert_err(sm: &SourceMappings, stream: &str, message: String) -> UnifyError {
    UnifyError::Convert {
        source_name: sm.source.clone(),
        stream: stream.to_owned(),
        message,
    }
}

fn push_file(draft: &mut Draft, source: &str, rel: String) {
    if let Some(e) = draft.manifest.sources.get_mut(source) {
        e.files.push(rel);
    }
}

/// `unified/t/s/part-v000001.parquet` -> `unified/t/s/part-<version>.parquet`.
pub(crate) fn versioned(rel: &str, version: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/part-{version}.parquet"),
        None => format!("part-{version}.parquet"),
    }
}

/// Raw files per mapped stream of a source, relative to the root.
fn list_raw(root: &Path, sm: &SourceMappings) -> Result<BTreeMap<String, Vec<String>>, UnifyError> {
    let mut out = BTreeMap::new();
    let streams: BTreeSet<&str> = sm.mappings.iter().map(|m| m.stream.as_str()).collect();
    for stream in streams {
        let dir = root.join("raw").join(&sm.source).join(stream);
        let files: Vec<String> = parquet_files(&dir)?
            .iter()
            .map(|p| relative(root, p))
            .collect();
        out.insert(stream.to_owned(), files);
    }
    Ok(out)
}

/// Compares a raw file's schema with the one recorded for its stream and
/// applies the policy. `Some(reason)` means: quarantine the file's rows.
#[allow(clippy::too_many_arguments)]
fn check_types(
    manifest: &mut Manifest,
    source: &str,
    stream: &str,
    rel: &str,
    schema: &Schema,
    fresh: bool,
    policy: TypeChangePolicy,
    found: &mut Vec<TypeChange>,
) -> Result<Option<String>, UnifyError> {
    let key = format!("{source}/{stream}");
    if let Some(tc) = manifest
        .type_changes
        .iter()
        .find(|t| t.file == rel && t.action == "quarantined")
    {
        return Ok(Some(format!(
            "column {} changed type from {} to {} (type_changes: quarantine)",
            tc.column, tc.from, tc.to
        )));
    }
    let known = manifest.raw_schemas.entry(key.clone()).or_default();
    let first_file = known.is_empty();
    let mut held = None;
    for f in schema.fields() {
        if LINEAGE.contains(&f.name().as_str()) {
            continue;
        }
        let ty = f.data_type().to_string();
        match known.get(f.name()) {
            None => {
                if fresh && !first_file {
                    tracing::info!(stream = %key, column = %f.name(), r#type = %ty, "new source column: carried in `extra` until a mapping reads it");
                }
                known.insert(f.name().clone(), ty);
            }
            Some(before) if *before != ty && fresh => {
                let action = match policy {
                    TypeChangePolicy::Fail => {
                        return Err(UnifyError::TypeChange(format!(
                            "{rel}: column {} of {key} changed type from {before} to {ty} (unify.type_changes: fail; set it to widen or quarantine to go on)",
                            f.name()
                        )))
                    }
                    TypeChangePolicy::Widen => "widened",
                    TypeChangePolicy::Quarantine => "quarantined",
                };
                tracing::warn!(stream = %key, column = %f.name(), from = %before, to = %ty, action, "raw column changed type");
                let tc = TypeChange {
                    stream: key.clone(),
                    column: f.name().clone(),
                    from: before.clone(),
                    to: ty.clone(),
                    file: rel.to_owned(),
                    action: action.to_owned(),
                };
                if policy == TypeChangePolicy::Quarantine {
                    held = Some(format!(
                        "column {} changed type from {before} to {ty} (type_changes: quarantine)",
                        f.name()
                    ));
                } else {
                    known.insert(f.name().clone(), ty);
                }
                found.push(tc.clone());
                manifest.type_changes.push(tc);
            }
            Some(_) => {}
        }
    }
    Ok(held)
}

/// Keeps the last row per source_id (raw files are read oldest first) and
/// drops erased records.
fn dedup(part: &mut Part, source: &str, erased: &HashSet<String>) -> Result<(), String> {
    let b = &part.batch;
    let ids = b
        .column_by_name("source_id")
        .ok_or("no source_id")?
        .as_string::<i32>();
    let streams = b
        .column_by_name("source_stream")
        .ok_or("no source_stream")?
        .as_string::<i32>();
    let mut seen = HashSet::new();
    let mut keep = Vec::new();
    for i in (0..b.num_rows()).rev() {
        let key = record_key(source, streams.value(i), ids.value(i));
        if erased.contains(&crate::forget::hash(&key)) {
            continue;
        }
        if seen.insert(key) {
            keep.push(i as u32);
        }
    }
    keep.reverse();
    if keep.len() == b.num_rows() {
        return Ok(());
    }
    let idx = UInt32Array::from(keep.clone());
    part.batch = arrow_select::take::take_record_batch(b, &idx).map_err(|e| e.to_string())?;
    part.fresh = keep.iter().map(|i| part.fresh[*i as usize]).collect();
    Ok(())
}

/// `batch` with its braid_id column set from the identity graph.
fn stamp(
    batch: &RecordBatch,
    source: &str,
    identity: &IdentityStore,
) -> Result<RecordBatch, UnifyError> {
    let schema = batch.schema();
    let (Ok(bi), Some(ids), Some(streams)) = (
        schema.index_of("braid_id"),
        batch.column_by_name("source_id"),
        batch.column_by_name("source_stream"),
    ) else {
        return Ok(batch.clone());
    };
    let ids = ids.as_string::<i32>();
    let streams = streams.as_string::<i32>();
    let mut b = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 20);
    for i in 0..batch.num_rows() {
        match identity.braid_id(&record_key(source, streams.value(i), ids.value(i))) {
            Some(id) => b.append_value(id),
            None => b.append_null(),
        }
    }
    let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
    cols[bi] = Arc::new(b.finish());
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| UnifyError::Corrupt(e.to_string()))
}

/// A timestamp column of `batch` by name, if it has one.
pub(crate) fn ts_col<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Option<&'a arrow_array::PrimitiveArray<TimestampMicrosecondType>> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_primitive_opt::<TimestampMicrosecondType>())
}

/// A string column of `batch` by name, if it has one.
pub(crate) fn str_col<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_string_opt::<i32>())
}
