//! The bridge to `braid-identity`: identifiers and profiles extracted from
//! canonical rows, and the persisted graph under `_braid/identity/`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use braid_identity::{Config, Graph, ResolveReport};

use crate::error::UnifyError;
use crate::schema;
use crate::unify::{record_key, str_col, ts_col};

/// Identifier columns of canonical tables -> identity type. Ids that are
/// only unique within a source (`customer_id`, `loyalty_id`) are scoped by
/// prefixing the source (`store_pos:M00001`).
pub const IDENTIFIER_COLUMNS: &[(&str, &str, bool)] = &[
    ("email", "email", false),
    ("phone", "phone", false),
    ("wechat_unionid", "wechat_unionid", false),
    ("loyalty_id", "loyalty_id", true),
    ("customer_id", "customer_id", true),
    ("click_id", "click_id", false),
    ("device_id", "device_id", false),
];

/// The identifiers batch braid-identity reads.
pub fn identifiers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("record_key", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("id_type", DataType::Utf8, false),
        Field::new("id_value", DataType::Utf8, false),
        Field::new("seen_at", schema::timestamp(), true),
    ]))
}

/// The profiles batch braid-identity reads (for its probabilistic pass).
pub fn profiles_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("record_key", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("address", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, true),
        Field::new("postcode", DataType::Utf8, true),
        Field::new("birth_date", DataType::Date32, true),
    ]))
}

/// What [`extract`] found in the fresh rows.
#[derive(Debug)]
pub struct Extracted {
    /// Identifiers (see [`identifiers_schema`]).
    pub identifiers: RecordBatch,
    /// Profiles of customer records, one per record, identifiers or not
    /// (see [`profiles_schema`]): a customer record is a person even with
    /// no identifier, and its row replaces what the graph had.
    pub profiles: RecordBatch,
    /// Keys of other fresh records with no identifier now (an order whose
    /// email was removed): taken out of the graph if they were in it.
    pub without_identifiers: Vec<String>,
}

/// Identifiers and profiles of the rows marked `fresh` in each
/// (source, canonical batch, fresh) part.
pub fn extract<'a>(
    parts: impl Iterator<Item = (&'a str, &'a RecordBatch, &'a [bool])>,
) -> Result<Extracted, UnifyError> {
    let mut without = Vec::new();
    let mut key = StringBuilder::new();
    let mut src = StringBuilder::new();
    let mut ty = StringBuilder::new();
    let mut val = StringBuilder::new();
    let mut seen = TimestampMicrosecondBuilder::new();
    let (mut pk, mut ps, mut pn, mut pa, mut pc, mut pp) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let mut pb = Date32Builder::new();
    for (source, batch, fresh) in parts {
        let (Some(ids), Some(streams)) =
            (str_col(batch, "source_id"), str_col(batch, "source_stream"))
        else {
            continue;
        };
        let times: Vec<_> = [
            "updated_at",
            "ordered_at",
            "occurred_at",
            "created_at",
            "ingested_at",
        ]
        .iter()
        .filter_map(|c| ts_col(batch, c))
        .collect();
        let id_cols: Vec<_> = IDENTIFIER_COLUMNS
            .iter()
            .filter_map(|(c, t, scoped)| str_col(batch, c).map(|a| (a, *t, *scoped)))
            .collect();
        let is_customer = batch.schema().field_with_name("full_name").is_ok();
        for i in (0..batch.num_rows()).filter(|i| fresh.get(*i).copied().unwrap_or(false)) {
            let rk = record_key(source, streams.value(i), ids.value(i));
            let at = times.iter().find(|t| t.is_valid(i)).map(|t| t.value(i));
            let mut any = false;
            for (a, t, scoped) in &id_cols {
                if a.is_null(i) {
                    continue;
                }
                any = true;
                key.append_value(&rk);
                src.append_value(source);
                ty.append_value(t);
                if *scoped {
                    val.append_value(format!("{source}:{}", a.value(i)));
                } else {
                    val.append_value(a.value(i));
                }
                seen.append_option(at);
            }
            if !any && !is_customer {
                without.push(rk.clone());
            }
            if is_customer {
                let s = |c: &str| {
                    str_col(batch, c)
                        .filter(|a| a.is_valid(i))
                        .map(|a| a.value(i).to_owned())
                };
                let name = s("full_name").or_else(|| match (s("first_name"), s("last_name")) {
                    (None, None) => None,
                    (f, l) => Some(
                        format!("{} {}", f.unwrap_or_default(), l.unwrap_or_default())
                            .trim()
                            .to_owned(),
                    ),
                });
                pk.append_value(&rk);
                ps.append_value(source);
                pn.append_option(name);
                pa.append_option(s("address"));
                pc.append_option(s("city"));
                pp.append_option(s("postcode"));
                let bd = batch
                    .column_by_name("birth_date")
                    .and_then(|a| a.as_primitive_opt::<Date32Type>())
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i));
                pb.append_option(bd);
            }
        }
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(key.finish()),
        Arc::new(src.finish()),
        Arc::new(ty.finish()),
        Arc::new(val.finish()),
        Arc::new(seen.finish().with_timezone("UTC")),
    ];
    let ids = RecordBatch::try_new(identifiers_schema(), cols)
        .map_err(|e| UnifyError::Identity(e.to_string()))?;
    let pcols: Vec<ArrayRef> = vec![
        Arc::new(pk.finish()),
        Arc::new(ps.finish()),
        Arc::new(pn.finish()),
        Arc::new(pa.finish()),
        Arc::new(pc.finish()),
        Arc::new(pp.finish()),
        Arc::new(pb.finish()),
    ];
    let profiles = RecordBatch::try_new(profiles_schema(), pcols)
        .map_err(|e| UnifyError::Identity(e.to_string()))?;
    Ok(Extracted {
        identifiers: ids,
        profiles,
        without_identifiers: without,
    })
}

impl Extracted {
    /// Distinct records in it.
    pub fn records(&self) -> u64 {
        let mut keys: HashSet<&str> = HashSet::new();
        for b in [&self.identifiers, &self.profiles] {
            if let Some(k) = b.column_by_name("record_key") {
                keys.extend(k.as_string::<i32>().iter().flatten());
            }
        }
        keys.extend(self.without_identifiers.iter().map(String::as_str));
        keys.len() as u64
    }

    /// Whether there is nothing to resolve.
    pub fn is_empty(&self) -> bool {
        self.identifiers.num_rows() == 0
            && self.profiles.num_rows() == 0
            && self.without_identifiers.is_empty()
    }
}

/// The persisted identity graph of a warehouse: braid-identity's [`Graph`]
/// under `_braid/identity/` (generations of Parquet files switched by an
/// atomic rename of `CURRENT`).
///
/// Deterministic stitching with per-type limits (a value held by more than
/// its type's `max_records_per_value` records is reported and not
/// followed; at most one WeChat unionid per person), the probabilistic
/// pass when the pipeline's `unify.identity.probabilistic` is on, stable
/// braid_ids (a merge keeps the oldest id and records the others as
/// retired), and incremental resolution of only the part of the graph a
/// run touches.
#[derive(Debug)]
pub struct IdentityStore {
    dir: PathBuf,
    graph: Graph,
}

/// Where a warehouse keeps its identity graph.
pub fn graph_dir(root: &Path) -> PathBuf {
    root.join("_braid/identity")
}

impl IdentityStore {
    /// Loads the graph of the warehouse at `root` to be resolved with
    /// `cfg` (empty if none yet). A graph resolved with another
    /// configuration is re-resolved whole at the next [`Self::resolve`].
    pub fn open(root: &Path, cfg: Config) -> Result<IdentityStore, UnifyError> {
        let dir = graph_dir(root);
        let graph = Graph::open(&dir, cfg).map_err(identity_err)?;
        let mut store = IdentityStore { dir, graph };
        store.migrate(root)?;
        Ok(store)
    }

    /// Loads the graph with the configuration it was last resolved with
    /// (for explain and forget).
    pub fn load(root: &Path) -> Result<IdentityStore, UnifyError> {
        let dir = graph_dir(root);
        let graph = Graph::load(&dir).map_err(identity_err)?;
        let mut store = IdentityStore { dir, graph };
        store.migrate(root)?;
        Ok(store)
    }

    /// Carries a graph of braid before braid-identity (`graph.json`: record
    /// identifiers, assigned and retired ids) into the graph, keeping every
    /// braid_id, then removes the file once the graph is saved.
    fn migrate(&mut self, root: &Path) -> Result<(), UnifyError> {
        let path = legacy_path(root);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(UnifyError::io(&path, e)),
        };
        if self.graph.people() > 0 {
            // Already carried over (crashed before the file was removed).
            return Ok(());
        }
        let old: Legacy = serde_json::from_slice(&bytes)
            .map_err(|e| UnifyError::Corrupt(format!("{}: {e}", path.display())))?;
        let mut key = StringBuilder::new();
        let mut src = StringBuilder::new();
        let mut ty = StringBuilder::new();
        let mut val = StringBuilder::new();
        let mut seen = TimestampMicrosecondBuilder::new();
        for (k, (source, ids)) in &old.records {
            for (t, v, at) in ids {
                key.append_value(k);
                src.append_value(source);
                ty.append_value(t);
                val.append_value(v);
                seen.append_option(*at);
            }
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(key.finish()),
            Arc::new(src.finish()),
            Arc::new(ty.finish()),
            Arc::new(val.finish()),
            Arc::new(seen.finish().with_timezone("UTC")),
        ];
        let batch = RecordBatch::try_new(identifiers_schema(), cols)
            .map_err(|e| UnifyError::Identity(e.to_string()))?;
        self.graph
            .adopt(
                &batch,
                old.assigned.iter().map(|(k, b)| (k.as_str(), b.as_str())),
                old.retired.iter().map(|(o, n)| (o.as_str(), n.as_str())),
            )
            .map_err(identity_err)?;
        self.graph.resolve();
        Ok(())
    }

    /// Replaces the identifiers and profiles of the records in `ids` and
    /// `profiles` (see [`extract`]), takes `retracted` records (no
    /// identifiers any more) out, and re-resolves the affected part.
    pub fn resolve(
        &mut self,
        ids: &RecordBatch,
        profiles: &RecordBatch,
        retracted: &[String],
    ) -> Result<ResolveReport, UnifyError> {
        for k in retracted {
            self.graph.retract(k);
        }
        self.graph
            .upsert(ids, Some(profiles))
            .map_err(identity_err)?;
        Ok(self.graph.resolve())
    }

    /// Records waiting to be re-resolved (all of them after a change of the
    /// identity configuration).
    pub fn pending(&self) -> usize {
        self.graph.pending()
    }

    /// The braid_id of a record, if it is in the graph.
    pub fn braid_id(&self, record_key: &str) -> Option<&str> {
        self.graph.braid_id(record_key)
    }

    /// Whether `braid_id` is a current id.
    pub fn exists(&self, braid_id: &str) -> bool {
        self.graph.exists(braid_id)
    }

    /// The braid_id holding identifier `id_type`/`id_value`.
    pub fn lookup(&self, id_type: &str, id_value: &str) -> Option<String> {
        self.graph.lookup(id_type, id_value).map(str::to_owned)
    }

    /// Record keys of a person (a retired id names the person it merged into).
    pub fn records(&self, braid_id: &str) -> Vec<String> {
        self.graph.records(braid_id)
    }

    /// The current id of `braid_id` (itself, or the id it was retired into).
    pub fn current(&self, braid_id: &str) -> Option<String> {
        self.graph.current(braid_id).map(str::to_owned)
    }

    /// Distinct identifiers of a person.
    pub fn identifiers(&self, braid_id: &str) -> Vec<(String, String)> {
        self.graph.identifiers(braid_id)
    }

    /// Why the records of `braid_id` are one person: shared identifiers
    /// (deterministic edges, score 1), probabilistic matches with their
    /// score and per-field weights, values not followed, retired ids.
    pub fn explain(&self, braid_id: &str) -> Result<serde_json::Value, UnifyError> {
        self.graph.explain(braid_id).map_err(identity_err)
    }

    /// Removes a person's records from the graph; the id is never minted again.
    pub fn forget(&mut self, braid_id: &str) -> Result<(), UnifyError> {
        self.graph
            .forget(braid_id)
            .map(|_| ())
            .map_err(identity_err)
    }

    /// The graph as `identity_links` rows: one per (record, identifier)
    /// (`active` or `not_followed`), two per probabilistic match
    /// (`probabilistic`), one per retired braid_id (`retired`).
    pub fn links(&self) -> Result<RecordBatch, UnifyError> {
        self.graph
            .links(
                schema::Table::IdentityLinks.schema(),
                chrono::Utc::now().timestamp_micros(),
            )
            .map_err(identity_err)
    }

    /// Writes the graph back as a new generation.
    pub fn save(&self) -> Result<(), UnifyError> {
        self.graph.save(&self.dir).map_err(identity_err)?;
        let legacy = self.dir.join(LEGACY_FILE);
        match std::fs::remove_file(&legacy) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(UnifyError::io(&legacy, e)),
        }
    }
}

fn identity_err(e: braid_identity::IdentityError) -> UnifyError {
    match e {
        braid_identity::IdentityError::NotFound(m) => UnifyError::NotFound(m),
        other => UnifyError::Identity(other.to_string()),
    }
}

const LEGACY_FILE: &str = "graph.json";

fn legacy_path(root: &Path) -> PathBuf {
    graph_dir(root).join(LEGACY_FILE)
}

/// A record's source and its (id_type, id_value, seen_at) identifiers.
type SourceIds = (String, Vec<(String, String, Option<i64>)>);

/// `graph.json` as written before braid-identity.
#[derive(serde::Deserialize)]
struct Legacy {
    records: BTreeMap<String, SourceIds>,
    assigned: BTreeMap<String, String>,
    retired: BTreeMap<String, String>,
}
