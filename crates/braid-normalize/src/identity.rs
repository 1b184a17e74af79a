//! The bridge to `braid-identity`: identifiers and profiles extracted from
//! canonical rows, and the persisted graph under `_braid/identity/`.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::builder::{Date32Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

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

/// Identifiers and profiles of the rows marked `fresh` in each
/// (source, canonical batch, fresh) part.
pub fn extract<'a>(
    parts: impl Iterator<Item = (&'a str, &'a RecordBatch, &'a [bool])>,
) -> Result<(RecordBatch, RecordBatch), UnifyError> {
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
            for (a, t, scoped) in &id_cols {
                if a.is_null(i) {
                    continue;
                }
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
    Ok((ids, profiles))
}

/// Distinct record keys in an identifiers batch.
pub fn distinct_records(ids: &RecordBatch) -> u64 {
    let Some(k) = ids.column_by_name("record_key") else {
        return 0;
    };
    let k = k.as_string::<i32>();
    k.iter().flatten().collect::<HashSet<_>>().len() as u64
}

/// Identifier values shared by more than this many records are reported and
/// not followed (a store's default phone, `test@example.com`).
pub const MAX_RECORDS_PER_VALUE: usize = 50;

/// A record's source and its (id_type, id_value, seen_at) identifiers.
type SourceIds = (String, Vec<(String, String, Option<i64>)>);

/// The persisted identity graph of a warehouse (`_braid/identity/graph.json`).
///
/// Interim: `braid-identity` (the identity graph crate with per-type
/// limits, the probabilistic pass and explanations) had not landed on main
/// when this stage was written, so this store does exact-match stitching
/// only: records sharing a normalised identifier value join, values held by
/// more than [`MAX_RECORDS_PER_VALUE`] records are not followed. It keeps
/// braid_ids stable (a merged cluster keeps its smallest existing id; the
/// others are recorded as retired). Swap its internals for braid-identity's
/// API; the stage only uses the methods below.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct IdentityStore {
    #[serde(skip)]
    path: std::path::PathBuf,
    /// record_key -> (source, [(id_type, id_value, seen_at)])
    records: std::collections::BTreeMap<String, SourceIds>,
    /// record_key -> braid_id
    assigned: std::collections::BTreeMap<String, String>,
    /// retired braid_id -> surviving braid_id
    retired: std::collections::BTreeMap<String, String>,
    /// identifier values not followed (type:value -> records holding it)
    #[serde(default)]
    capped: std::collections::BTreeMap<String, usize>,
}

impl IdentityStore {
    /// Loads the graph of the warehouse at `root` (empty if none yet).
    pub fn open(root: &std::path::Path) -> Result<IdentityStore, UnifyError> {
        let path = root.join("_braid/identity/graph.json");
        let mut store = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| UnifyError::Corrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IdentityStore::default(),
            Err(e) => return Err(UnifyError::io(&path, e)),
        };
        store.path = path;
        Ok(store)
    }

    /// Adds or replaces the identifiers of the records in `ids` and re-resolves.
    pub fn resolve(
        &mut self,
        ids: &RecordBatch,
        _profiles: &RecordBatch,
    ) -> Result<(), UnifyError> {
        let col = |n: &str| ids.column_by_name(n).map(|a| a.as_string::<i32>().clone());
        let (Some(k), Some(s), Some(t), Some(v)) = (
            col("record_key"),
            col("source"),
            col("id_type"),
            col("id_value"),
        ) else {
            return Err(UnifyError::Identity(
                "identifiers batch lacks columns".into(),
            ));
        };
        let seen = ids.column_by_name("seen_at").and_then(|a| {
            a.as_primitive_opt::<arrow_array::types::TimestampMicrosecondType>()
                .cloned()
        });
        let mut fresh: std::collections::BTreeMap<String, SourceIds> = Default::default();
        for i in 0..ids.num_rows() {
            let e = fresh
                .entry(k.value(i).to_owned())
                .or_insert_with(|| (s.value(i).to_owned(), Vec::new()));
            e.1.push((
                t.value(i).to_owned(),
                v.value(i).to_owned(),
                seen.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i)),
            ));
        }
        self.records.extend(fresh);
        self.recompute();
        Ok(())
    }

    fn recompute(&mut self) {
        let keys: Vec<&String> = self.records.keys().collect();
        let index: std::collections::HashMap<&str, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let mut parent: Vec<usize> = (0..keys.len()).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut by_value: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (k, (_, ids)) in &self.records {
            for (t, v, _) in ids {
                by_value
                    .entry(format!("{t}:{v}"))
                    .or_default()
                    .push(index[k.as_str()]);
            }
        }
        self.capped.clear();
        for (value, recs) in &by_value {
            if recs.len() > MAX_RECORDS_PER_VALUE {
                self.capped.insert(value.clone(), recs.len());
                continue;
            }
            for w in recs.windows(2) {
                let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        let mut clusters: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for i in 0..keys.len() {
            let r = find(&mut parent, i);
            clusters.entry(r).or_default().push(i);
        }
        let mut next = std::collections::BTreeMap::new();
        for members in clusters.values() {
            let existing: std::collections::BTreeSet<&String> = members
                .iter()
                .filter_map(|m| self.assigned.get(keys[*m]))
                .filter(|id| !self.retired.contains_key(*id))
                .collect();
            let id = match existing.iter().next() {
                Some(id) => (*id).clone(),
                None => format!(
                    "b_{}",
                    &crate::config::sha_hex(keys[members[0]].as_bytes())[..16]
                ),
            };
            for old in existing.iter().skip(1) {
                self.retired.insert((*old).clone(), id.clone());
            }
            for m in members {
                next.insert(keys[*m].clone(), id.clone());
            }
        }
        self.assigned = next;
    }

    /// The braid_id of a record, if it has identifiers.
    pub fn braid_id(&self, record_key: &str) -> Option<String> {
        self.assigned.get(record_key).cloned()
    }

    /// Whether `braid_id` is a current id.
    pub fn exists(&self, braid_id: &str) -> bool {
        self.assigned.values().any(|v| v == braid_id)
    }

    /// The braid_id holding identifier `id_type`/`id_value`.
    pub fn lookup(&self, id_type: &str, id_value: &str) -> Option<String> {
        self.records
            .iter()
            .find(|(_, (_, ids))| ids.iter().any(|(t, v, _)| t == id_type && v == id_value))
            .and_then(|(k, _)| self.braid_id(k))
    }

    /// Record keys of a person.
    pub fn records(&self, braid_id: &str) -> Vec<String> {
        self.assigned
            .iter()
            .filter(|(_, v)| *v == braid_id)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Distinct identifiers of a person.
    pub fn identifiers(&self, braid_id: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .records(braid_id)
            .iter()
            .flat_map(|k| {
                self.records[k]
                    .1
                    .iter()
                    .map(|(t, v, _)| (t.clone(), v.clone()))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Which records joined `braid_id` and through which shared identifiers.
    pub fn explain(&self, braid_id: &str) -> Result<serde_json::Value, UnifyError> {
        let current = self
            .retired
            .get(braid_id)
            .cloned()
            .unwrap_or_else(|| braid_id.to_owned());
        let recs = self.records(&current);
        if recs.is_empty() {
            return Err(UnifyError::NotFound(format!(
                "no person with braid_id {braid_id:?}"
            )));
        }
        let mut edges = Vec::new();
        let mut by_value: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
        for k in &recs {
            for (t, v, _) in &self.records[k].1 {
                by_value.entry(format!("{t}:{v}")).or_default().push(k);
            }
        }
        for (value, ks) in &by_value {
            if ks.len() > 1 {
                edges.push(serde_json::json!({"identifier": value, "records": ks, "kind": "deterministic", "score": 1.0}));
            }
        }
        let capped: Vec<_> = by_value
            .keys()
            .filter(|v| self.capped.contains_key(*v))
            .map(|v| serde_json::json!({"identifier": v, "records_holding_it": self.capped[v]}))
            .collect();
        let retired: Vec<&String> = self
            .retired
            .iter()
            .filter(|(_, s)| **s == current)
            .map(|(r, _)| r)
            .collect();
        Ok(
            serde_json::json!({"braid_id": current, "records": recs, "edges": edges, "not_followed": capped, "retired_ids": retired}),
        )
    }

    /// Removes a person's records from the graph.
    pub fn forget(&mut self, braid_id: &str) -> Result<(), UnifyError> {
        for k in self.records(braid_id) {
            self.records.remove(&k);
            self.assigned.remove(&k);
        }
        self.retired.retain(|_, s| s != braid_id);
        Ok(())
    }

    /// The graph as `identity_links` rows: one per (record, identifier),
    /// plus one row per retired braid_id.
    pub fn links(&self) -> Result<RecordBatch, UnifyError> {
        let schema = schema::Table::IdentityLinks.schema();
        let mut cols: Vec<StringBuilder> = (0..12).map(|_| StringBuilder::new()).collect();
        let mut first = TimestampMicrosecondBuilder::new();
        let mut last = TimestampMicrosecondBuilder::new();
        let mut ingested = TimestampMicrosecondBuilder::new();
        let now = chrono::Utc::now().timestamp_micros();
        let mut push = |vals: [Option<&str>; 8], f: Option<i64>, l: Option<i64>| {
            // source, source_id, braid_id, record_table, id_type, id_value, status, retired_braid_id
            for (b, v) in cols.iter_mut().zip(vals) {
                b.append_option(v);
            }
            first.append_option(f);
            last.append_option(l);
            ingested.append_value(now);
        };
        for (k, (source, ids)) in &self.records {
            let bid = self.assigned.get(k).map(String::as_str);
            let mut parts = k.splitn(3, '/');
            let (_, stream, sid) = (parts.next(), parts.next(), parts.next());
            for (t, v, seen) in ids {
                let status = if self.capped.contains_key(&format!("{t}:{v}")) {
                    "not_followed"
                } else {
                    "active"
                };
                push(
                    [
                        Some(source),
                        sid,
                        bid,
                        stream,
                        Some(t),
                        Some(v),
                        Some(status),
                        None,
                    ],
                    *seen,
                    *seen,
                );
            }
        }
        for (old, new) in &self.retired {
            push(
                [
                    Some("braid"),
                    Some(old),
                    Some(new),
                    None,
                    Some("braid_id"),
                    Some(old),
                    Some("retired"),
                    Some(old),
                ],
                None,
                None,
            );
        }
        let mut s: Vec<ArrayRef> = cols
            .iter_mut()
            .take(8)
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        let f: ArrayRef = Arc::new(first.finish().with_timezone("UTC"));
        let l: ArrayRef = Arc::new(last.finish().with_timezone("UTC"));
        let ing: ArrayRef = Arc::new(ingested.finish().with_timezone("UTC"));
        // Schema order: source, source_id, ingested_at, braid_id, record_table, id_type, id_value, first_seen, last_seen, status, retired_braid_id
        let ordered = vec![
            s[0].clone(),
            s[1].clone(),
            ing,
            s[2].clone(),
            s[3].clone(),
            s[4].clone(),
            s[5].clone(),
            f,
            l,
            s[6].clone(),
            s.remove(7),
        ];
        RecordBatch::try_new(schema, ordered).map_err(|e| UnifyError::Identity(e.to_string()))
    }

    /// Writes the graph back.
    pub fn save(&self) -> Result<(), UnifyError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| UnifyError::io(dir, e))?;
        }
        let bytes = serde_json::to_vec(self).map_err(|e| UnifyError::Corrupt(e.to_string()))?;
        let tmp = self.path.with_extension("json.tmp");
        crate::layer::write_durable(&tmp, &bytes)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| UnifyError::io(&self.path, e))
    }
}
