//! The persisted identity graph: records, their identifier edges and
//! profiles, the braid_id of every record, the history of retired ids and
//! the probabilistic matches with their scores.
//!
//! **Stable ids.** A run keeps the ids of the last one. When clusters merge,
//! the surviving braid_id is the *oldest* of theirs (minted in the earliest
//! run; ties: the smallest string) and the others are recorded as retired
//! into it (`identity_links` rows with status `retired`). When a cluster
//! splits (an identifier was removed, or a value went over its limit), each
//! old id stays with the part holding most of its records; the other parts
//! get new ids. A new id is `b_` + 16 hex digits of a hash of the cluster's
//! smallest record key, so the same input gives the same ids.
//!
//! **Incremental.** [`Graph::upsert`] replaces the identifiers (and profile)
//! of the records it is given; [`Graph::resolve`] then re-stitches only the
//! *affected* part of the graph: the changed records, the old clusters they
//! were in, and the clusters of every record holding a value they gained or
//! lost. A record upserted again with the same identifiers and profile is
//! not a change (its seen times are updated). Nothing else can change: a value no changed record touches keeps its
//! holders and its count, so the clusters it made stay as they were.
//!
//! **On disk** (`<dir>/gen-<run>/`, switched by an atomic rename of
//! `<dir>/CURRENT`): `records.parquet`, `edges.parquet`, `ids.parquet`,
//! `matches.parquet` and `meta.json`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::IdentityError;
use crate::intern::Interner;
use crate::prob::{self, FieldScore, Prepared};
use crate::stitch::{utf8, Held, Problem, TypeTable, UnionFind};

const NONE: u32 = u32::MAX;

/// Value -> why it is held and by how many records: looked up per edge
/// (saves, links), so hashed with `ahash`, not SipHash (no iteration
/// order depends on it).
type HeldMap = hashbrown::HashMap<u32, (Held, u32), ahash::RandomState>;

/// No time known: `i64::MIN` microseconds (292,277 BC) stands for `None`,
/// so an edge is 24 bytes instead of 40.
const NO_TIME: i64 = i64::MIN;

fn time(t: i64) -> Option<i64> {
    (t != NO_TIME).then_some(t)
}

fn min_time(a: i64, b: i64) -> i64 {
    match (a, b) {
        (NO_TIME, x) | (x, NO_TIME) => x,
        (x, y) => x.min(y),
    }
}

fn max_time(a: i64, b: i64) -> i64 {
    match (a, b) {
        (NO_TIME, x) | (x, NO_TIME) => x,
        (x, y) => x.max(y),
    }
}

/// A record's identifier value with its first and last seen times
/// ([`NO_TIME`] if unknown). `Graph::edges` is kept sorted by
/// `(rec, val)`: a record's edges are one contiguous run.
#[derive(Debug, Clone, Copy)]
struct Edge {
    rec: u32,
    val: u32,
    first: i64,
    last: i64,
}

/// An identifier row of an upsert waiting for the next resolve.
#[derive(Debug, Clone, Copy)]
struct Row {
    rec: u32,
    val: u32,
    at: i64,
}

/// `Graph::rec_flags`: the record waits for the next resolve.
const PENDING: u8 = 1;
/// `Graph::rec_flags`: re-stitch the record even if its identifiers are
/// as they were (its profile changed, it was retracted, or all are forced).
const FORCED: u8 = 2;

#[derive(Debug, Clone, Default, PartialEq)]
struct Profile {
    name: Option<String>,
    address: Option<String>,
    city: Option<String>,
    postcode: Option<String>,
    birth_date: Option<i32>,
}

impl Profile {
    fn is_empty(&self) -> bool {
        *self == Profile::default()
    }
    fn prepare(&self) -> Prepared {
        prob::prepare(
            self.name.as_deref(),
            self.address.as_deref(),
            self.city.as_deref(),
            self.postcode.as_deref(),
            self.birth_date,
        )
    }
}

#[derive(Debug, Clone)]
struct Bid {
    minted: u64,
    retired_into: u32,
    retired_run: u64,
    erased: bool,
}

/// An accepted probabilistic match between two records.
#[derive(Debug, Clone, Serialize)]
pub struct Match {
    a: u32,
    b: u32,
    /// Total weight.
    pub score: f64,
    /// Per-field levels and weights.
    pub fields: Vec<FieldScore>,
    /// The weight a pair needed when it was accepted.
    pub needed: f64,
    run: u64,
}

/// What a [`Graph::resolve`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResolveReport {
    /// Records re-stitched (the affected part of the graph).
    pub records_resolved: u64,
    /// Records whose braid_id changed (new, merged or split).
    pub records_changed: u64,
    /// braid_ids minted.
    pub ids_minted: u64,
    /// (retired, survivor) pairs of this run.
    pub merges: Vec<(String, String)>,
    /// Values not followed because too many records hold them.
    pub not_followed: u64,
    /// Values not followed because they would break a per-person limit.
    pub conflicts: u64,
    /// Probabilistic matches accepted.
    pub probabilistic_matches: u64,
    /// Blocks skipped by the probabilistic pass for their size.
    pub blocks_skipped: u64,
    /// Current people (braid_ids in use).
    pub people: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    run: u64,
    /// The configuration the ids were resolved with (absent in graphs
    /// saved before it was recorded).
    #[serde(default)]
    config: Option<Config>,
}

/// The identity graph. See the module docs.
#[derive(Debug)]
pub struct Graph {
    cfg: Config,
    types: TypeTable,
    recs: Interner,
    sources: Interner,
    rec_source: Vec<u32>,
    rec_live: Vec<bool>,
    rec_bid: Vec<u32>,
    rec_profile: Vec<u32>,
    profiles: Vec<Profile>,
    vals: Interner,
    edges: Vec<Edge>,
    ids: Interner,
    bids: Vec<Bid>,
    matches: Vec<Match>,
    /// Value -> why it is held, as of the last resolve of its records.
    held: HeldMap,
    run: u64,
    /// Identifier rows upserted since the last resolve, in arrival order.
    rows: Vec<Row>,
    /// Per record: [`PENDING`], [`FORCED`].
    rec_flags: Vec<u8>,
    /// Records with [`PENDING`] set.
    pending: usize,
    /// Records retracted or forgotten since the last resolve: their rows
    /// before this index in `rows` no longer count.
    cleared: HashMap<u32, usize>,
}

impl Graph {
    /// An empty graph.
    pub fn new(cfg: Config) -> Graph {
        Graph {
            types: TypeTable::new(&cfg),
            cfg,
            recs: Interner::default(),
            sources: Interner::default(),
            rec_source: Vec::new(),
            rec_live: Vec::new(),
            rec_bid: Vec::new(),
            rec_profile: Vec::new(),
            profiles: Vec::new(),
            vals: Interner::default(),
            edges: Vec::new(),
            ids: Interner::default(),
            bids: Vec::new(),
            matches: Vec::new(),
            held: HeldMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4)),
            run: 0,
            rows: Vec::new(),
            rec_flags: Vec::new(),
            pending: 0,
            cleared: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The id of record `key` of source `src` (a `sources` id), added or
    /// brought back to life if need be.
    fn record(&mut self, key: &str, src: u32) -> u32 {
        let r = self.recs.intern(0, key);
        if r as usize == self.rec_live.len() {
            self.rec_source.push(src);
            self.rec_live.push(true);
            self.rec_bid.push(NONE);
            self.rec_profile.push(NONE);
            self.rec_flags.push(0);
        } else if !self.rec_live[r as usize] {
            self.rec_live[r as usize] = true;
            self.rec_bid[r as usize] = NONE;
            self.rec_source[r as usize] = src;
        }
        r
    }

    /// Marks `r` for the next resolve (with `extra` flags).
    fn mark(&mut self, r: u32, extra: u8) {
        let f = &mut self.rec_flags[r as usize];
        if *f & PENDING == 0 {
            self.pending += 1;
        }
        *f |= PENDING | extra;
    }

    /// Voids the rows of `r` upserted so far.
    fn clear_rows(&mut self, r: u32) {
        self.cleared.insert(r, self.rows.len());
    }

    /// Takes a record out of the graph (a source record that no longer has
    /// any identifier or profile): its edges go at the next
    /// [`Graph::resolve`], which re-stitches the cluster it was in; it has
    /// no braid_id from then on. Returns whether the record was in the graph.
    pub fn retract(&mut self, record_key: &str) -> bool {
        let Some(r) = self.recs.get(0, record_key) else {
            return false;
        };
        if !self.rec_live[r as usize] {
            return false;
        }
        self.rec_live[r as usize] = false;
        self.rec_profile[r as usize] = NONE;
        self.clear_rows(r);
        self.mark(r, FORCED);
        true
    }

    /// Marks every record for re-resolution at the next [`Graph::resolve`]
    /// (with the identifiers it has), e.g. after a configuration change.
    /// Ids stay stable as in any run: each keeps the part holding most of
    /// its records.
    pub fn touch_all(&mut self) {
        for r in 0..self.rec_live.len() as u32 {
            if self.rec_live[r as usize] {
                // Forced: re-resolved even if nothing about it changed.
                self.mark(r, FORCED);
            }
        }
        let live = &self.rec_live;
        self.rows.extend(
            self.edges
                .iter()
                .filter(|e| live[e.rec as usize])
                .map(|e| Row {
                    rec: e.rec,
                    val: e.val,
                    at: NO_TIME,
                }),
        );
    }

    /// Seeds an empty graph from another identity store: `identifiers` as
    /// for [`Graph::upsert`], the braid_id each record had (`assigned`:
    /// record_key, braid_id) and the ids retired into others (`retired`:
    /// old, survivor). The ids count as minted before the first run; the
    /// next [`Graph::resolve`] keeps each with the cluster holding most of
    /// its records, as in any run. Records in `assigned` but not in
    /// `identifiers` are ignored.
    pub fn adopt<'a>(
        &mut self,
        identifiers: &RecordBatch,
        assigned: impl IntoIterator<Item = (&'a str, &'a str)>,
        retired: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), IdentityError> {
        if !self.bids.is_empty() || !self.edges.is_empty() {
            return Err(IdentityError::Input(
                "adopt seeds an empty graph only".into(),
            ));
        }
        self.upsert(identifiers, None)?;
        for (key, bid) in assigned {
            if let Some(r) = self.recs.get(0, key) {
                let b = self.adopted_id(bid);
                self.rec_bid[r as usize] = b;
            }
        }
        for (old, into) in retired {
            let (o, n) = (self.adopted_id(old), self.adopted_id(into));
            if o != n {
                self.bids[o as usize].retired_into = n;
            }
        }
        Ok(())
    }

    fn adopted_id(&mut self, id: &str) -> u32 {
        if let Some(b) = self.ids.get(0, id) {
            return b;
        }
        let b = self.ids.intern(0, id);
        self.bids.push(Bid {
            minted: 0,
            retired_into: NONE,
            retired_run: 0,
            erased: false,
        });
        b
    }

    /// Records waiting for the next [`Graph::resolve`].
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Replaces the identifiers of every record in `identifiers` (columns
    /// `record_key`, `source`, `id_type`, `id_value`, optional `seen_at`) and
    /// the profile of every record in `profiles` (`record_key`, `source`,
    /// optional `name`, `address`, `city`, `postcode`, `birth_date`). A
    /// record in `profiles` but not in `identifiers` has no identifiers now.
    /// Takes effect at the next [`Graph::resolve`]. Returns the records touched.
    pub fn upsert(
        &mut self,
        identifiers: &RecordBatch,
        profiles: Option<&RecordBatch>,
    ) -> Result<usize, IdentityError> {
        let before = self.pending;
        if identifiers.num_rows() > 0 {
            let key = utf8(identifiers, "record_key")?;
            let src = utf8(identifiers, "source")?;
            let ty = utf8(identifiers, "id_type")?;
            let val = utf8(identifiers, "id_value")?;
            let seen = identifiers
                .column_by_name("seen_at")
                .and_then(|a| a.as_primitive_opt::<TimestampMicrosecondType>());
            // Records: a few rows each; values: at most one per row.
            let bytes = |a: &StringArray| {
                let o = a.value_offsets();
                (o[o.len() - 1] - o[0]) as usize
            };
            self.recs
                .reserve(identifiers.num_rows() / 2, bytes(key) / 2);
            self.vals.reserve(identifiers.num_rows(), bytes(val));
            self.rows.reserve(identifiers.num_rows());
            let mut last: (&str, u16) = ("\0", 0);
            let mut last_src: (&str, u32) = ("\0", NONE);
            let mut last_rec: Option<(&str, &str, u32)> = None;
            for i in 0..identifiers.num_rows() {
                let t = ty.value(i);
                if t != last.0 {
                    last = (t, self.types.tag(&self.cfg, t));
                }
                // A record's rows usually come together: look it up once.
                let (k, so) = (key.value(i), src.value(i));
                let r = match last_rec {
                    Some((lk, ls, r)) if lk == k && ls == so => r,
                    _ => {
                        if so != last_src.0 || last_src.1 == NONE {
                            last_src = (so, self.sources.intern(0, so));
                        }
                        let r = self.record(k, last_src.1);
                        self.mark(r, 0);
                        last_rec = Some((k, so, r));
                        r
                    }
                };
                let v = self.vals.intern(last.1, val.value(i));
                let at = seen
                    .filter(|s| s.is_valid(i))
                    .map_or(NO_TIME, |s| s.value(i));
                self.rows.push(Row { rec: r, val: v, at });
            }
        }
        if let Some(p) = profiles.filter(|p| p.num_rows() > 0) {
            let key = utf8(p, "record_key")?;
            let src = utf8(p, "source")?;
            let col = |n: &str| p.column_by_name(n).and_then(|a| a.as_string_opt::<i32>());
            let (name, addr, city, pc) =
                (col("name"), col("address"), col("city"), col("postcode"));
            let birth = p
                .column_by_name("birth_date")
                .and_then(|a| a.as_primitive_opt::<Date32Type>());
            let get = |a: Option<&StringArray>, i: usize| {
                a.filter(|a| a.is_valid(i) && !a.value(i).trim().is_empty())
                    .map(|a| a.value(i).to_owned())
            };
            for i in 0..p.num_rows() {
                let so = self.sources.intern(0, src.value(i));
                let r = self.record(key.value(i), so);
                let prof = Profile {
                    name: get(name, i),
                    address: get(addr, i),
                    city: get(city, i),
                    postcode: get(pc, i),
                    birth_date: birth.filter(|b| b.is_valid(i)).map(|b| b.value(i)),
                };
                let changed = self.set_profile(r, prof);
                self.mark(r, if changed { FORCED } else { 0 });
            }
        }
        Ok(self.pending - before)
    }

    /// Sets a record's profile; whether it changed.
    fn set_profile(&mut self, r: u32, prof: Profile) -> bool {
        let slot = self.rec_profile[r as usize];
        if prof.is_empty() {
            self.rec_profile[r as usize] = NONE;
            slot != NONE
        } else if slot == NONE {
            self.rec_profile[r as usize] = self.profiles.len() as u32;
            self.profiles.push(prof);
            true
        } else if self.profiles[slot as usize] == prof {
            false
        } else {
            self.profiles[slot as usize] = prof;
            true
        }
    }

    /// Distinct live holders per value, and CSR (value -> records).
    fn by_value(&self) -> (Vec<u32>, Vec<u32>) {
        let nv = self.vals.len();
        let mut start = vec![0u32; nv + 1];
        for e in &self.edges {
            start[e.val as usize + 1] += 1;
        }
        for i in 0..nv {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut recs = vec![0u32; self.edges.len()];
        for e in &self.edges {
            recs[fill[e.val as usize] as usize] = e.rec;
            fill[e.val as usize] += 1;
        }
        (start, recs)
    }

    /// Where each record's run of edges starts (`edges` is sorted by
    /// record): the edges of `r` are `edges[start[r]..start[r + 1]]`.
    fn by_record(&self) -> Vec<u32> {
        let nr = self.rec_live.len();
        let mut start = vec![0u32; nr + 1];
        for e in &self.edges {
            start[e.rec as usize + 1] += 1;
        }
        for i in 0..nr {
            start[i + 1] += start[i];
        }
        start
    }

    /// The edges of record `r` (`start` from [`Graph::by_record`]).
    fn edges_of<'a>(&'a self, start: &[u32], r: u32) -> &'a [Edge] {
        &self.edges[start[r as usize] as usize..start[r as usize + 1] as usize]
    }

    fn by_bid(&self) -> (Vec<u32>, Vec<u32>) {
        let nb = self.bids.len();
        let mut start = vec![0u32; nb + 1];
        for (r, &b) in self.rec_bid.iter().enumerate() {
            if b != NONE && self.rec_live[r] {
                start[b as usize + 1] += 1;
            }
        }
        for i in 0..nb {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut recs = vec![0u32; start[nb] as usize];
        for (r, &b) in self.rec_bid.iter().enumerate() {
            if b != NONE && self.rec_live[r] {
                recs[fill[b as usize] as usize] = r as u32;
                fill[b as usize] += 1;
            }
        }
        (start, recs)
    }

    /// Re-stitches what changed since the last resolve. See the module docs.
    pub fn resolve(&mut self) -> ResolveReport {
        let mut report = ResolveReport::default();
        if self.pending == 0 {
            self.rows.clear();
            self.cleared.clear();
            report.people = self.people();
            return report;
        }
        self.run += 1;
        let nr = self.rec_live.len();
        let flags = std::mem::replace(&mut self.rec_flags, vec![0; nr]);
        self.pending = 0;
        let changed = |r: u32| flags[r as usize] & PENDING != 0;
        // 1. The rows that still count, by (record, value).
        let mut rows = std::mem::take(&mut self.rows);
        let cleared = std::mem::take(&mut self.cleared);
        if cleared.is_empty() {
            rows.retain(|x| changed(x.rec));
        } else {
            let mut i = 0;
            rows.retain(|x| {
                i += 1;
                changed(x.rec) && cleared.get(&x.rec).is_none_or(|&c| i > c)
            });
        }
        if rows.is_sorted_by_key(|x| x.rec) {
            // The usual upsert: each record's rows together, new records
            // in id order. Only each record's few rows need sorting.
            for run in rows.chunk_by_mut(|x, y| x.rec == y.rec) {
                run.sort_unstable_by_key(|x| x.val);
            }
        } else {
            rows.sort_unstable_by_key(|x| (x.rec, x.val));
        }
        // The new edges of the changed records, keeping first_seen.
        let mut fresh: Vec<Edge> = Vec::with_capacity(rows.len());
        let mut touched: Vec<u32> = Vec::new();
        let mut really: Vec<u32> = Vec::new();
        let mut ri = 0;
        for r in (0..nr as u32).filter(|&r| changed(r)) {
            let lo = self.edges.partition_point(|e| e.rec < r);
            let hi = lo + self.edges[lo..].partition_point(|e| e.rec == r);
            let before = &self.edges[lo..hi];
            let r_end = ri + rows[ri..].iter().take_while(|x| x.rec == r).count();
            let list = &rows[ri..r_end];
            ri = r_end;
            // Distinct values with their first/last seen, the old edge's
            // times kept.
            let from = fresh.len();
            let mut oj = 0;
            for x in list {
                match fresh[from..].last_mut() {
                    Some(m) if m.val == x.val => {
                        m.first = min_time(m.first, x.at);
                        m.last = max_time(m.last, x.at);
                    }
                    _ => {
                        while oj < before.len() && before[oj].val < x.val {
                            oj += 1;
                        }
                        let (f, l) = match before.get(oj) {
                            Some(o) if o.val == x.val => (o.first, o.last),
                            _ => (NO_TIME, NO_TIME),
                        };
                        fresh.push(Edge {
                            rec: r,
                            val: x.val,
                            first: min_time(f, x.at),
                            last: max_time(l, x.at),
                        });
                    }
                }
            }
            let merged = &fresh[from..];
            // A record landed again as it was (a full-refresh stream) only
            // has its times updated: nothing about its cluster can change.
            let same = self.rec_live[r as usize]
                && self.rec_bid[r as usize] != NONE
                && flags[r as usize] & FORCED == 0
                && before.len() == merged.len()
                && before.iter().zip(merged).all(|(o, m)| o.val == m.val);
            if !same {
                really.push(r);
                touched.extend(before.iter().map(|o| o.val));
                touched.extend(merged.iter().map(|m| m.val));
            }
        }
        drop(rows);
        // Swap them in: drop the changed records' old edges, then merge
        // the new ones in from the back, in place (no copy of the graph's
        // edges for a small change).
        if self.edges.is_empty() {
            fresh.shrink_to_fit();
            self.edges = fresh;
        } else {
            self.edges.retain(|e| !changed(e.rec));
            let mut i = self.edges.len();
            let mut j = fresh.len();
            let filler = Edge {
                rec: 0,
                val: 0,
                first: NO_TIME,
                last: NO_TIME,
            };
            self.edges.resize(i + j, filler);
            for k in (0..i + j).rev() {
                if j == 0 {
                    break;
                }
                // No record is on both sides: compare records only.
                if i > 0 && self.edges[i - 1].rec > fresh[j - 1].rec {
                    self.edges[k] = self.edges[i - 1];
                    i -= 1;
                } else {
                    self.edges[k] = fresh[j - 1];
                    j -= 1;
                }
            }
        }
        drop(flags);
        debug_assert!(self.edges.is_sorted_by_key(|e| (e.rec, e.val)));
        touched.sort_unstable();
        touched.dedup();
        if really.is_empty() {
            report.people = self.people();
            return report;
        }
        // 2. The affected records.
        let (vstart, vrecs) = self.by_value();
        let (bstart, brecs) = self.by_bid();
        let mut in_a = vec![false; nr];
        let mut a: Vec<u32> = Vec::new();
        let mut bid_done = vec![false; self.bids.len()];
        let mut add =
            |r: u32, in_a: &mut Vec<bool>, a: &mut Vec<u32>, rec_bid: &[u32], live: &[bool]| {
                let b = rec_bid[r as usize];
                if b != NONE && !bid_done[b as usize] {
                    bid_done[b as usize] = true;
                    for &m in &brecs[bstart[b as usize] as usize..bstart[b as usize + 1] as usize] {
                        if !in_a[m as usize] && live[m as usize] {
                            in_a[m as usize] = true;
                            a.push(m);
                        }
                    }
                }
                if !in_a[r as usize] && live[r as usize] {
                    in_a[r as usize] = true;
                    a.push(r);
                }
            };
        for &r in &really {
            add(r, &mut in_a, &mut a, &self.rec_bid, &self.rec_live);
        }
        for &v in &touched {
            for &r in &vrecs[vstart[v as usize] as usize..vstart[v as usize + 1] as usize] {
                add(r, &mut in_a, &mut a, &self.rec_bid, &self.rec_live);
            }
        }
        // A value refused for a per-person limit may be followed now that
        // its holders' clusters change: bring in all its holders, to a fixpoint.
        let rstart = self.by_record();
        let mut done = 0;
        let mut seen_vals: std::collections::HashSet<u32> = Default::default();
        while done < a.len() {
            let r = a[done];
            done += 1;
            for e in self.edges_of(&rstart, r) {
                let v = e.val;
                if !matches!(self.held.get(&v), Some((Held::Conflict, _))) || !seen_vals.insert(v) {
                    continue;
                }
                for &h in &vrecs[vstart[v as usize] as usize..vstart[v as usize + 1] as usize] {
                    add(h, &mut in_a, &mut a, &self.rec_bid, &self.rec_live);
                }
            }
        }
        a.sort_unstable();
        // 3. Deterministic pass on the affected part.
        let mut local = vec![NONE; nr];
        for (i, &r) in a.iter().enumerate() {
            local[r as usize] = i as u32;
        }
        // Local value ids in first-met order, then the problem's holders
        // by value straight from the graph's index (no edge list between).
        let mut lval = vec![NONE; self.vals.len()];
        let mut gval: Vec<u32> = Vec::new();
        let mut n_ledges = 0;
        for &r in &a {
            let es = self.edges_of(&rstart, r);
            n_ledges += es.len();
            for e in es {
                let v = e.val;
                if lval[v as usize] == NONE {
                    lval[v as usize] = gval.len() as u32;
                    gval.push(v);
                }
            }
        }
        drop((lval, rstart));
        let mut lstart: Vec<u32> = Vec::with_capacity(gval.len() + 1);
        let mut holders: Vec<u32> = Vec::with_capacity(n_ledges);
        lstart.push(0);
        for &v in &gval {
            let all = &vrecs[vstart[v as usize] as usize..vstart[v as usize + 1] as usize];
            holders.extend(
                all.iter()
                    .map(|&r| local[r as usize])
                    .filter(|&l| l != NONE),
            );
            lstart.push(holders.len() as u32);
        }
        let value_type: Vec<u16> = gval.iter().map(|&v| self.vals.tag(v)).collect();
        let counts: Vec<u32> = gval
            .iter()
            .map(|&v| vstart[v as usize + 1] - vstart[v as usize])
            .collect();
        drop((vstart, vrecs));
        let order = |lv: u32| self.vals.stable_hash(gval[lv as usize]);
        let sol = Problem {
            n_records: a.len(),
            start: lstart,
            holders,
            value_type: &value_type,
            rules: &self.types.rules,
            global_count: Some(&counts),
            order_key: &order,
        }
        .solve();
        let mut uf = sol.uf;
        if !self.held.is_empty() {
            for &v in &gval {
                self.held.remove(&v);
            }
        }
        for &(lv, why, n) in &sol.held {
            match why {
                Held::TooCommon => report.not_followed += 1,
                Held::Conflict => report.conflicts += 1,
            }
            self.held.insert(gval[lv as usize], (why, n));
        }
        // 4. Probabilistic pass.
        self.matches
            .retain(|m| !(in_a[m.a as usize] || in_a[m.b as usize]));
        if let Some(pcfg) = self.cfg.probabilistic.clone() {
            self.probabilistic(
                &pcfg,
                &mut a,
                &mut local,
                &mut uf,
                &bstart,
                &brecs,
                &mut report,
            );
        }
        // 5. Ids for the components.
        self.assign(&a, &mut uf, &mut report);
        report.records_resolved = a.len() as u64;
        report.people = self.people();
        report
    }

    #[allow(clippy::too_many_arguments)]
    fn probabilistic(
        &mut self,
        pcfg: &prob::ProbConfig,
        a: &mut Vec<u32>,
        local: &mut [u32],
        uf: &mut UnionFind,
        bstart: &[u32],
        brecs: &[u32],
        report: &mut ResolveReport,
    ) {
        let nr = self.rec_live.len();
        let (email_t, phone_t) = (self.types.get("email"), self.types.get("phone"));
        let rstart = self.by_record();
        let prepared: Vec<Option<Prepared>> = (0..nr)
            .map(|r| {
                let p = self.rec_profile[r];
                (self.rec_live[r] && p != NONE).then(|| {
                    let mut prep = self.profiles[p as usize].prepare();
                    for e in self.edges_of(&rstart, r as u32) {
                        let v = e.val;
                        let t = Some(self.vals.tag(v));
                        if t == email_t {
                            prep.emails.push(self.vals.str(v).to_owned());
                        } else if t == phone_t {
                            prep.phones.push(self.vals.str(v).to_owned());
                        }
                    }
                    prep
                })
            })
            .collect();
        let mut prepared = prepared;
        // Each record's cluster (already one person).
        let mut groups: Vec<Option<u64>> = vec![None; nr];
        for r in 0..nr {
            if prepared[r].is_some() {
                groups[r] = if local[r] != NONE {
                    Some(u64::from(uf.find(local[r])))
                } else if self.rec_bid[r] != NONE {
                    Some((1 << 32) | u64::from(self.rec_bid[r]))
                } else {
                    None
                };
            }
        }
        // Name frequencies count people, not records: a record counts
        // 1 / (its cluster's records with that name).
        {
            let mut seen: HashMap<(u64, &str), u32> = HashMap::new();
            for (p, g) in prepared.iter().zip(&groups) {
                if let (Some(p), Some(g)) = (p, g) {
                    if let Some(n) = &p.name_latin {
                        *seen.entry((*g, n.as_str())).or_default() += 1;
                    }
                }
            }
            let own: Vec<u32> = prepared
                .iter()
                .zip(&groups)
                .map(
                    |(p, g)| match (p.as_ref().and_then(|p| p.name_latin.as_deref()), g) {
                        (Some(n), Some(g)) => seen[&(*g, n)],
                        _ => 1,
                    },
                )
                .collect();
            drop(seen);
            for (p, n) in prepared.iter_mut().zip(own) {
                if let Some(p) = p {
                    p.name_seen = n;
                }
            }
        }
        let freq = prob::Frequencies::new(prepared.iter().flatten());
        let n_profiles = prepared.iter().flatten().count().max(2) as f64;
        // A record's missing fields are filled from the other records of
        // its cluster: a till record with a name and a city compares with
        // the postcode and birth date its CRM twin gave. Frequencies stay
        // those of the records as given.
        let mut donors: HashMap<u64, Prepared> = HashMap::new();
        for (p, g) in prepared.iter().zip(&groups) {
            if let (Some(p), Some(g)) = (p, g) {
                donors
                    .entry(*g)
                    .and_modify(|d| d.fill_from(p))
                    .or_insert_with(|| p.clone());
            }
        }
        for (p, g) in prepared.iter_mut().zip(&groups) {
            if let (Some(p), Some(g)) = (p.as_mut(), g) {
                p.fill_from(&donors[g]);
            }
        }
        drop(donors);
        let cut = n_profiles.log2() + pcfg.threshold;
        let focus: Option<Vec<u32>> = if a.len() == self.rec_live.iter().filter(|l| **l).count() {
            None
        } else {
            Some(a.clone())
        };
        let (pairs, skipped) = prob::candidates(pcfg, &prepared, focus.as_deref());
        report.blocks_skipped = skipped as u64;
        let params = if pcfg.estimate {
            let pats: Vec<_> = pairs
                .iter()
                .filter_map(|&(i, j)| {
                    Some(prob::levels(
                        prepared[i as usize].as_ref()?,
                        prepared[j as usize].as_ref()?,
                    ))
                })
                .collect();
            prob::estimate(&pcfg.params, &pats, 20)
        } else {
            pcfg.params
        };
        let mut scored: Vec<(f64, u32, u32, [FieldScore; prob::NF])> = Vec::new();
        for &(i, j) in &pairs {
            let (Some(pi), Some(pj)) = (&prepared[i as usize], &prepared[j as usize]) else {
                continue;
            };
            let (li, lj) = (local[i as usize], local[j as usize]);
            if li != NONE && lj != NONE && uf.find(li) == uf.find(lj) {
                continue;
            }
            if li == NONE && lj == NONE {
                continue;
            }
            let (s, f) = prob::score(pcfg, &params, &freq, pi, pj);
            if s >= cut {
                scored.push((s, i, j, f));
            }
        }
        if std::env::var_os("BRAID_IDENTITY_DEBUG").is_some() {
            eprintln!(
                "prob: {} candidates, cut {cut:.1}, {} over it, {} blocks skipped",
                pairs.len(),
                scored.len(),
                skipped
            );
        }
        scored.sort_by(|x, y| {
            y.0.total_cmp(&x.0)
                .then_with(|| self.recs.str(x.1).cmp(self.recs.str(y.1)))
                .then_with(|| self.recs.str(x.2).cmp(self.recs.str(y.2)))
        });
        // Limited identifier values per component, to refuse unions that
        // would break a per-person limit.
        let limited: Vec<(u16, u32)> = self
            .types
            .rules
            .iter()
            .enumerate()
            .filter_map(|(t, (r, _))| r.max_per_person.map(|m| (t as u16, m)))
            .collect();
        let lim_vals = |g: &Graph, r: u32| -> Vec<u32> {
            g.edges_of(&rstart, r)
                .iter()
                .map(|e| e.val)
                .filter(|v| {
                    limited.iter().any(|(t, _)| g.vals.tag(*v) == *t) && !g.held.contains_key(v)
                })
                .collect()
        };
        let mut comp_vals: HashMap<u32, Vec<u32>> = HashMap::new();
        if !limited.is_empty() {
            for (i, &r) in a.iter().enumerate() {
                let root = uf.find(i as u32);
                let vs = lim_vals(self, r);
                if !vs.is_empty() {
                    comp_vals.entry(root).or_default().extend(vs);
                }
            }
        }
        let mut merged: HashMap<u32, Prepared> = HashMap::new();
        for (s, i, j, fields) in scored {
            // Pull a partner's whole (unchanged) cluster into the problem.
            for r in [i, j] {
                if local[r as usize] != NONE {
                    continue;
                }
                let b = self.rec_bid[r as usize];
                let members: Vec<u32> = if b == NONE {
                    vec![r]
                } else {
                    brecs[bstart[b as usize] as usize..bstart[b as usize + 1] as usize].to_vec()
                };
                let mut root = NONE;
                let mut vs_all = Vec::new();
                for m in members {
                    if local[m as usize] != NONE {
                        continue;
                    }
                    let id = uf.push();
                    local[m as usize] = id;
                    a.push(m);
                    vs_all.extend(lim_vals(self, m));
                    root = if root == NONE {
                        id
                    } else {
                        uf.union_roots(root, id)
                    };
                }
                if root != NONE && !vs_all.is_empty() {
                    vs_all.sort_unstable();
                    vs_all.dedup();
                    comp_vals.insert(root, vs_all);
                }
            }
            let (ri, rj) = (uf.find(local[i as usize]), uf.find(local[j as usize]));
            if ri == rj {
                continue;
            }
            // Scored against the clusters as they stand now: a union made
            // earlier in this pass may have brought a birth date or a
            // postcode this pair disagrees on.
            let (Some(mi), Some(mj)) = (
                merged.get(&ri).or(prepared[i as usize].as_ref()),
                merged.get(&rj).or(prepared[j as usize].as_ref()),
            ) else {
                continue;
            };
            let (s, fields) = if merged.contains_key(&ri) || merged.contains_key(&rj) {
                let (s2, f2) = prob::score(pcfg, &params, &freq, mi, mj);
                if s2 < cut {
                    continue;
                }
                (s.min(s2), if s2 < s { f2 } else { fields })
            } else {
                (s, fields)
            };
            let mut both = mi.clone();
            both.fill_from(mj);
            let (vi, vj) = (
                comp_vals.get(&ri).cloned().unwrap_or_default(),
                comp_vals.get(&rj).cloned().unwrap_or_default(),
            );
            let mut joined: Vec<u32> = vi.iter().chain(&vj).copied().collect();
            joined.sort_unstable();
            joined.dedup();
            let ok = limited.iter().all(|(t, max)| {
                joined.iter().filter(|v| self.vals.tag(**v) == *t).count() as u32 <= *max
            });
            if !ok {
                continue;
            }
            let root = uf.union_roots(ri, rj);
            merged.remove(&ri);
            merged.remove(&rj);
            merged.insert(root, both);
            comp_vals.remove(&ri);
            comp_vals.remove(&rj);
            if !joined.is_empty() {
                comp_vals.insert(root, joined);
            }
            report.probabilistic_matches += 1;
            self.matches.push(Match {
                a: i,
                b: j,
                score: s,
                fields: fields.to_vec(),
                needed: cut,
                run: self.run,
            });
        }
    }

    /// A new braid_id for a cluster whose smallest record key is `key`
    /// (`h` = `fnv64(key)`): `b_` + 16 hex digits of `h`, or of a hash of
    /// `key#1`, `key#2`, ... if that id exists already.
    fn mint(&mut self, key: &str, h: u64) -> u32 {
        use std::fmt::Write;
        let mut id = String::with_capacity(18);
        let mut salt = 0u32;
        loop {
            let h = if salt == 0 {
                h
            } else {
                fnv64(format!("{key}#{salt}").as_bytes())
            };
            id.clear();
            let _ = write!(id, "b_{h:016x}");
            let before = self.ids.len();
            let i = self.ids.intern(0, &id);
            if self.ids.len() > before {
                self.bids.push(Bid {
                    minted: self.run,
                    retired_into: NONE,
                    retired_run: 0,
                    erased: false,
                });
                return i;
            }
            salt += 1;
        }
    }

    /// Gives each component of `uf` (over the records `a`) its braid_id:
    /// the oldest of the old ids it holds most records of, else a new one.
    fn assign(&mut self, a: &[u32], uf: &mut UnionFind, report: &mut ResolveReport) {
        // Components as one CSR (members by component), numbered in
        // first-member order.
        let mut comp_of_root = vec![NONE; a.len()];
        let mut comp_of: Vec<u32> = vec![NONE; a.len()];
        let mut n_comps = 0usize;
        for (i, &r) in a.iter().enumerate() {
            if self.rec_live[r as usize] {
                let root = uf.find(i as u32) as usize;
                if comp_of_root[root] == NONE {
                    comp_of_root[root] = n_comps as u32;
                    n_comps += 1;
                }
                comp_of[i] = comp_of_root[root];
            }
        }
        drop(comp_of_root);
        let mut start = vec![0u32; n_comps + 1];
        for &c in comp_of.iter().filter(|c| **c != NONE) {
            start[c as usize + 1] += 1;
        }
        for c in 0..n_comps {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut members = vec![0u32; start[n_comps] as usize];
        for (i, &c) in comp_of.iter().enumerate() {
            if c != NONE {
                members[fill[c as usize] as usize] = a[i];
                fill[c as usize] += 1;
            }
        }
        drop((fill, comp_of));
        let comp = |c: usize| &members[start[c] as usize..start[c + 1] as usize];
        // Each component's smallest record key names it (and a new id).
        let key = |r: u32| self.recs.str(r);
        let smallest: Vec<u32> = (0..n_comps)
            .map(|c| {
                let m = comp(c);
                m[1..]
                    .iter()
                    .fold(m[0], |s, &r| if key(r) < key(s) { r } else { s })
            })
            .collect();
        // Each old id goes to the component holding most of its records
        // (ties: the one with the smallest key).
        let mut best: HashMap<u32, (usize, usize)> = HashMap::new();
        let mut held: Vec<u32> = Vec::new();
        for c in 0..n_comps {
            held.clear();
            held.extend(
                comp(c)
                    .iter()
                    .map(|&r| self.rec_bid[r as usize])
                    .filter(|&b| b != NONE),
            );
            held.sort_unstable();
            for run in held.chunk_by(|x, y| x == y) {
                let n = run.len();
                let e = best.entry(run[0]).or_insert((c, n));
                if n > e.1 || (n == e.1 && key(smallest[c]) < key(smallest[e.0])) {
                    *e = (c, n);
                }
            }
        }
        // (component, old id) it keeps, by component.
        let mut claimed: Vec<(u32, u32)> = best.iter().map(|(&b, &(c, _))| (c as u32, b)).collect();
        claimed.sort_unstable();
        // Work in the order of the new ids' hashes (ties, i.e. the same new
        // id: smallest key first), a sort of integers instead of strings.
        let hashes: Vec<u64> = smallest.iter().map(|&r| fnv64(key(r).as_bytes())).collect();
        let mut order: Vec<u32> = (0..n_comps as u32).collect();
        order.sort_unstable_by(|&x, &y| {
            hashes[x as usize]
                .cmp(&hashes[y as usize])
                .then_with(|| key(smallest[x as usize]).cmp(key(smallest[y as usize])))
        });
        let new_ids = n_comps.saturating_sub(best.len());
        self.ids.reserve(new_ids, new_ids * 18);
        self.bids.reserve(new_ids);
        // Merges by component, reported in the components' key order.
        let mut merges: Vec<(u32, u32, u32)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for &c in &order {
            let c = c as usize;
            let from = claimed.partition_point(|x| (x.0 as usize) < c);
            let to = claimed.partition_point(|x| (x.0 as usize) <= c);
            ids.clear();
            ids.extend(claimed[from..to].iter().map(|x| x.1));
            ids.sort_by(|x, y| {
                self.bids[*x as usize]
                    .minted
                    .cmp(&self.bids[*y as usize].minted)
                    .then_with(|| self.ids.str(*x).cmp(self.ids.str(*y)))
            });
            let id = match ids.first() {
                Some(&b) => b,
                None => {
                    report.ids_minted += 1;
                    let k = self.recs.str(smallest[c]).to_owned();
                    self.mint(&k, hashes[c])
                }
            };
            for &old in ids.iter().skip(1) {
                self.bids[old as usize].retired_into = id;
                self.bids[old as usize].retired_run = self.run;
                merges.push((smallest[c], old, id));
            }
            for &r in &members[start[c] as usize..start[c + 1] as usize] {
                if self.rec_bid[r as usize] != id {
                    self.rec_bid[r as usize] = id;
                    report.records_changed += 1;
                }
            }
        }
        merges.sort_by(|x, y| self.recs.str(x.0).cmp(self.recs.str(y.0)));
        report.merges.extend(
            merges
                .into_iter()
                .map(|(_, old, id)| (self.ids.str(old).to_owned(), self.ids.str(id).to_owned())),
        );
    }

    /// Current braid_ids.
    pub fn people(&self) -> u64 {
        let mut used = vec![false; self.bids.len()];
        for (r, &b) in self.rec_bid.iter().enumerate() {
            if b != NONE && self.rec_live[r] {
                used[b as usize] = true;
            }
        }
        used.iter().filter(|u| **u).count() as u64
    }

    /// The braid_id of a record.
    pub fn braid_id(&self, record_key: &str) -> Option<&str> {
        let r = self.recs.get(0, record_key)?;
        let b = self.rec_bid[r as usize];
        (self.rec_live[r as usize] && b != NONE).then(|| self.ids.str(b))
    }

    /// The current id of `braid_id`, following retirements.
    pub fn current(&self, braid_id: &str) -> Option<&str> {
        let mut b = self.ids.get(0, braid_id)?;
        for _ in 0..self.bids.len() {
            let e = &self.bids[b as usize];
            if e.erased {
                return None;
            }
            if e.retired_into == NONE {
                return Some(self.ids.str(b));
            }
            b = e.retired_into;
        }
        None
    }

    /// Whether `braid_id` is an id in use.
    pub fn exists(&self, braid_id: &str) -> bool {
        self.ids.get(0, braid_id).is_some_and(|b| {
            self.rec_bid
                .iter()
                .enumerate()
                .any(|(r, x)| *x == b && self.rec_live[r])
        })
    }

    /// The braid_id of the person holding `id_type`/`id_value`.
    pub fn lookup(&self, id_type: &str, id_value: &str) -> Option<&str> {
        let t = self.types.get(id_type)?;
        let v = self.vals.get(t, id_value)?;
        let r = self.edges.iter().find(|e| e.val == v)?.rec;
        let b = self.rec_bid[r as usize];
        (b != NONE).then(|| self.ids.str(b))
    }

    fn members(&self, braid_id: &str) -> Vec<u32> {
        let Some(b) = self.current(braid_id).and_then(|c| self.ids.get(0, c)) else {
            return Vec::new();
        };
        let mut m: Vec<u32> = (0..self.rec_bid.len() as u32)
            .filter(|r| self.rec_bid[*r as usize] == b && self.rec_live[*r as usize])
            .collect();
        m.sort_by(|x, y| self.recs.str(*x).cmp(self.recs.str(*y)));
        m
    }

    /// Record keys of a person (following retirements), sorted.
    pub fn records(&self, braid_id: &str) -> Vec<String> {
        self.members(braid_id)
            .into_iter()
            .map(|r| self.recs.str(r).to_owned())
            .collect()
    }

    /// Distinct (type, value) identifiers of a person, sorted.
    pub fn identifiers(&self, braid_id: &str) -> Vec<(String, String)> {
        let m: BTreeSet<u32> = self.members(braid_id).into_iter().collect();
        let mut out: Vec<(String, String)> = self
            .edges
            .iter()
            .filter(|e| m.contains(&e.rec))
            .map(|e| {
                (
                    self.types.names[self.vals.tag(e.val) as usize].clone(),
                    self.vals.str(e.val).to_owned(),
                )
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Why the records of `braid_id` are one person: the shared identifiers
    /// (deterministic edges), the probabilistic matches with per-field
    /// levels and weights, values not followed, and retired ids.
    pub fn explain(&self, braid_id: &str) -> Result<serde_json::Value, IdentityError> {
        let members = self.members(braid_id);
        let Some(current) = self.current(braid_id).filter(|_| !members.is_empty()) else {
            return Err(IdentityError::NotFound(format!(
                "no person with braid_id {braid_id:?}"
            )));
        };
        let set: BTreeSet<u32> = members.iter().copied().collect();
        let mut by_value: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut held = Vec::new();
        for e in self.edges.iter().filter(|e| set.contains(&e.rec)) {
            let t = self.types.names[self.vals.tag(e.val) as usize].clone();
            let v = self.vals.str(e.val).to_owned();
            if let Some((why, n)) = self.held.get(&e.val) {
                held.push(serde_json::json!({
                    "identifier": format!("{t}:{v}"),
                    "record": self.recs.str(e.rec),
                    "reason": match why { Held::TooCommon => "held by too many records", Held::Conflict => "would give the person too many values of its type" },
                    "records_holding_it": n,
                }));
                continue;
            }
            by_value
                .entry((t, v))
                .or_default()
                .push(self.recs.str(e.rec).to_owned());
        }
        let edges: Vec<_> = by_value
            .into_iter()
            .filter(|(_, r)| r.len() > 1)
            .map(|((t, v), mut r)| {
                r.sort();
                serde_json::json!({"kind": "deterministic", "identifier": format!("{t}:{v}"), "records": r, "score": 1.0})
            })
            .collect();
        let matches: Vec<_> = self
            .matches
            .iter()
            .filter(|m| set.contains(&m.a) && set.contains(&m.b))
            .map(|m| {
                serde_json::json!({
                    "kind": "probabilistic",
                    "records": [self.recs.str(m.a), self.recs.str(m.b)],
                    "score": m.score,
                    "needed": m.needed,
                    "fields": m.fields,
                })
            })
            .collect();
        let cur = self.ids.get(0, current).unwrap_or(NONE);
        let retired: Vec<_> = self
            .bids
            .iter()
            .enumerate()
            .filter(|(_, b)| b.retired_into != NONE && self.chain_ends(b.retired_into) == cur)
            .map(|(i, _)| self.ids.str(i as u32))
            .collect();
        Ok(serde_json::json!({
            "braid_id": current,
            "records": members.iter().map(|r| self.recs.str(*r)).collect::<Vec<_>>(),
            "edges": edges,
            "probabilistic": matches,
            "not_followed": held,
            "retired_ids": retired,
        }))
    }

    fn chain_ends(&self, mut b: u32) -> u32 {
        for _ in 0..self.bids.len() {
            let n = self.bids[b as usize].retired_into;
            if n == NONE {
                return b;
            }
            b = n;
        }
        b
    }

    /// Removes a person (all records of `braid_id`) from the graph; the id
    /// is kept as erased so it is never minted again. Returns the record keys.
    pub fn forget(&mut self, braid_id: &str) -> Result<Vec<String>, IdentityError> {
        let members = self.members(braid_id);
        if members.is_empty() {
            return Err(IdentityError::NotFound(format!(
                "no person with braid_id {braid_id:?}"
            )));
        }
        let keys = members
            .iter()
            .map(|r| self.recs.str(*r).to_owned())
            .collect();
        let set: BTreeSet<u32> = members.iter().copied().collect();
        self.edges.retain(|e| !set.contains(&e.rec));
        self.matches
            .retain(|m| !set.contains(&m.a) && !set.contains(&m.b));
        for &r in &members {
            self.rec_live[r as usize] = false;
            self.rec_bid[r as usize] = NONE;
            if self.rec_profile[r as usize] != NONE {
                self.profiles[self.rec_profile[r as usize] as usize] = Profile::default();
                self.rec_profile[r as usize] = NONE;
            }
            if self.rec_flags[r as usize] & PENDING != 0 {
                self.rec_flags[r as usize] &= !PENDING;
                self.pending -= 1;
            }
            self.clear_rows(r);
        }
        if let Some(b) = self.ids.get(0, braid_id) {
            let end = self.chain_ends(b);
            self.bids[end as usize].erased = true;
        }
        Ok(keys)
    }

    /// The `identity_links` rows: one per (record, identifier) with status
    /// `active` or `not_followed`, one per probabilistic match
    /// (`probabilistic`, id_type `match`, id_value the other record and the
    /// score), one per retired id (`retired`). Columns are filled by name
    /// into `schema` (`source, source_id, ingested_at, braid_id,
    /// record_table, id_type, id_value, first_seen, last_seen, status,
    /// retired_braid_id`; others null). Record keys are `source/stream/id`.
    pub fn links(&self, schema: SchemaRef, now_micros: i64) -> Result<RecordBatch, IdentityError> {
        // The string columns, in the order `push` takes them.
        const COLS: [&str; 8] = [
            "source",
            "source_id",
            "braid_id",
            "record_table",
            "id_type",
            "id_value",
            "status",
            "retired_braid_id",
        ];
        let mut s: [StringBuilder; 8] = std::array::from_fn(|_| StringBuilder::new());
        let mut first = TimestampMicrosecondBuilder::new();
        let mut last = TimestampMicrosecondBuilder::new();
        let mut rows = 0usize;
        let mut push =
            |s: &mut [StringBuilder; 8], v: [Option<&str>; 8], f: Option<i64>, l: Option<i64>| {
                for (b, x) in s.iter_mut().zip(v) {
                    b.append_option(x);
                }
                first.append_option(f);
                last.append_option(l);
                rows += 1;
            };
        // By record key, then type and value: the edges are grouped by
        // record already, so the records are sorted (keys are unique), then
        // each record's few edges.
        let rstart = self.by_record();
        let mut recs: Vec<u32> = (0..self.rec_live.len() as u32)
            .filter(|&r| rstart[r as usize] < rstart[r as usize + 1])
            .collect();
        recs.sort_unstable_by(|x, y| self.recs.str(*x).cmp(self.recs.str(*y)));
        let mut order: Vec<&Edge> = Vec::with_capacity(self.edges.len());
        for r in recs {
            let from = order.len();
            order.extend(self.edges_of(&rstart, r));
            order[from..].sort_unstable_by(|a, b| {
                self.vals
                    .tag(a.val)
                    .cmp(&self.vals.tag(b.val))
                    .then_with(|| self.vals.str(a.val).cmp(self.vals.str(b.val)))
            });
        }
        for e in order {
            let key = self.recs.str(e.rec);
            let mut parts = key.splitn(3, '/');
            let (_, stream, sid) = (parts.next(), parts.next(), parts.next());
            let b = self.rec_bid[e.rec as usize];
            let status = if self.held.contains_key(&e.val) {
                "not_followed"
            } else {
                "active"
            };
            push(
                &mut s,
                [
                    Some(self.sources.str(self.rec_source[e.rec as usize])),
                    sid,
                    (b != NONE).then(|| self.ids.str(b)),
                    stream,
                    Some(&self.types.names[self.vals.tag(e.val) as usize]),
                    Some(self.vals.str(e.val)),
                    Some(status),
                    None,
                ],
                time(e.first),
                time(e.last),
            );
        }
        for m in &self.matches {
            for (x, y) in [(m.a, m.b), (m.b, m.a)] {
                let key = self.recs.str(x);
                let mut parts = key.splitn(3, '/');
                let (_, stream, sid) = (parts.next(), parts.next(), parts.next());
                let b = self.rec_bid[x as usize];
                let value = format!("{} (score {:.2})", self.recs.str(y), m.score);
                push(
                    &mut s,
                    [
                        Some(self.sources.str(self.rec_source[x as usize])),
                        sid,
                        (b != NONE).then(|| self.ids.str(b)),
                        stream,
                        Some("match"),
                        Some(&value),
                        Some("probabilistic"),
                        None,
                    ],
                    None,
                    None,
                );
            }
        }
        for (i, b) in self.bids.iter().enumerate() {
            if b.retired_into == NONE || b.erased {
                continue;
            }
            let end = self.chain_ends(i as u32);
            if self.bids[end as usize].erased {
                continue;
            }
            let old = self.ids.str(i as u32);
            push(
                &mut s,
                [
                    Some("braid"),
                    Some(old),
                    Some(self.ids.str(end)),
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
        let mut first = Some(first.finish().with_timezone("UTC"));
        let mut last = Some(last.finish().with_timezone("UTC"));
        let mut cols: Vec<ArrayRef> = Vec::new();
        for f in schema.fields() {
            let n = f.name().as_str();
            let col: ArrayRef = match n {
                "first_seen" | "last_seen" => {
                    let t = if n == "first_seen" {
                        first.take()
                    } else {
                        last.take()
                    };
                    match t {
                        Some(t) => Arc::new(t),
                        None => arrow_array::new_null_array(f.data_type(), rows),
                    }
                }
                "ingested_at" => Arc::new(
                    arrow_array::TimestampMicrosecondArray::from(vec![now_micros; rows])
                        .with_timezone("UTC"),
                ),
                _ => match COLS.iter().position(|c| *c == n) {
                    Some(i) => Arc::new(s[i].finish()),
                    None => arrow_array::new_null_array(f.data_type(), rows),
                },
            };
            let col = if col.data_type() != f.data_type() {
                return Err(IdentityError::Input(format!(
                    "identity_links column {n} is {}, expected {}",
                    f.data_type(),
                    col.data_type()
                )));
            } else {
                col
            };
            cols.push(col);
        }
        RecordBatch::try_new(schema, cols).map_err(|e| IdentityError::Input(e.to_string()))
    }

    // ---- persistence -------------------------------------------------

    /// Loads the graph saved in `dir` with the configuration it was saved
    /// with (the default for an empty graph or one saved without it), for
    /// look-ups, explanations and erasure.
    pub fn load(dir: &Path) -> Result<Graph, IdentityError> {
        let cfg = match read_meta(dir)? {
            Some(m) => m.meta.config.unwrap_or_default(),
            None => Config::default(),
        };
        Graph::open(dir, cfg)
    }

    /// Loads the graph saved in `dir` (an empty graph if there is none) to
    /// be resolved with `cfg`. If the graph was resolved with another
    /// configuration, every record is re-resolved at the next
    /// [`Graph::resolve`] (see [`Graph::touch_all`]).
    pub fn open(dir: &Path, cfg: Config) -> Result<Graph, IdentityError> {
        let mut g = Graph::new(cfg);
        let saved = g.open_into(dir)?;
        if saved.is_some_and(|c| c.as_ref() != Some(&g.cfg)) {
            g.touch_all();
        }
        Ok(g)
    }

    /// Reads the saved generation into `self`; `None` if there is none,
    /// else the configuration it was saved with.
    fn open_into(&mut self, dir: &Path) -> Result<Option<Option<Config>>, IdentityError> {
        let g = self;
        let Some(meta) = read_meta(dir)? else {
            return Ok(None);
        };
        let gen = dir.join(&meta.gen);
        let meta = meta.meta;
        g.run = meta.run;
        for b in read(&gen.join("ids.parquet"))? {
            let id = req_str(&b, "braid_id")?;
            let minted = b
                .column_by_name("minted_run")
                .and_then(|a| a.as_primitive_opt::<UInt64Type>());
            let erased = b
                .column_by_name("erased")
                .and_then(|a| a.as_boolean_opt().cloned());
            for i in 0..b.num_rows() {
                g.ids.intern(0, id.value(i));
                g.bids.push(Bid {
                    minted: minted.map_or(0, |m| m.value(i)),
                    retired_into: NONE,
                    retired_run: 0,
                    erased: erased.as_ref().is_some_and(|e| e.value(i)),
                });
            }
            let into = req_str(&b, "retired_into")?;
            let rrun = b
                .column_by_name("retired_run")
                .and_then(|a| a.as_primitive_opt::<UInt64Type>());
            for i in 0..b.num_rows() {
                if into.is_valid(i) {
                    let me = g.ids.get(0, id.value(i)).unwrap_or(NONE);
                    let to = g.ids.intern(0, into.value(i));
                    if to as usize >= g.bids.len() {
                        return Err(IdentityError::Corrupt(format!(
                            "retired_into {} is not an id",
                            into.value(i)
                        )));
                    }
                    g.bids[me as usize].retired_into = to;
                    g.bids[me as usize].retired_run = rrun.map_or(0, |m| m.value(i));
                }
            }
        }
        for b in read(&gen.join("records.parquet"))? {
            let key = req_str(&b, "record_key")?;
            let src = req_str(&b, "source")?;
            let bid = req_str(&b, "braid_id")?;
            let col = |n: &str| b.column_by_name(n).and_then(|a| a.as_string_opt::<i32>());
            let (name, addr, city, pc) =
                (col("name"), col("address"), col("city"), col("postcode"));
            let birth = b
                .column_by_name("birth_date")
                .and_then(|a| a.as_primitive_opt::<Date32Type>());
            let get = |a: Option<&StringArray>, i: usize| {
                a.filter(|a| a.is_valid(i)).map(|a| a.value(i).to_owned())
            };
            for i in 0..b.num_rows() {
                let so = g.sources.intern(0, src.value(i));
                let r = g.record(key.value(i), so);
                if bid.is_valid(i) {
                    g.rec_bid[r as usize] = g.ids.get(0, bid.value(i)).ok_or_else(|| {
                        IdentityError::Corrupt(format!(
                            "record braid_id {} is not an id",
                            bid.value(i)
                        ))
                    })?;
                }
                g.set_profile(
                    r,
                    Profile {
                        name: get(name, i),
                        address: get(addr, i),
                        city: get(city, i),
                        postcode: get(pc, i),
                        birth_date: birth.filter(|x| x.is_valid(i)).map(|x| x.value(i)),
                    },
                );
            }
        }
        for b in read(&gen.join("edges.parquet"))? {
            let key = req_str(&b, "record_key")?;
            let ty = req_str(&b, "id_type")?;
            let val = req_str(&b, "id_value")?;
            let held = req_str(&b, "held")?;
            let held_n = b
                .column_by_name("held_records")
                .and_then(|a| a.as_primitive_opt::<UInt64Type>());
            let ts = |n: &str| {
                b.column_by_name(n)
                    .and_then(|a| a.as_primitive_opt::<TimestampMicrosecondType>())
            };
            let (f, l) = (ts("first_seen"), ts("last_seen"));
            for i in 0..b.num_rows() {
                let rec = g.recs.get(0, key.value(i)).ok_or_else(|| {
                    IdentityError::Corrupt(format!("edge of unknown record {}", key.value(i)))
                })?;
                let t = g.types.tag(&g.cfg, ty.value(i));
                let v = g.vals.intern(t, val.value(i));
                g.edges.push(Edge {
                    rec,
                    val: v,
                    first: f.filter(|x| x.is_valid(i)).map_or(NO_TIME, |x| x.value(i)),
                    last: l.filter(|x| x.is_valid(i)).map_or(NO_TIME, |x| x.value(i)),
                });
                if held.is_valid(i) {
                    let why = if held.value(i) == "conflict" {
                        Held::Conflict
                    } else {
                        Held::TooCommon
                    };
                    g.held
                        .insert(v, (why, held_n.map_or(0, |h| h.value(i)) as u32));
                }
            }
        }
        // Graphs saved before edges were kept by record are in update order.
        if !g.edges.is_sorted_by_key(|e| (e.rec, e.val)) {
            g.edges.sort_unstable_by_key(|e| (e.rec, e.val));
        }
        for b in read(&gen.join("matches.parquet"))? {
            let (ka, kb) = (req_str(&b, "record_a")?, req_str(&b, "record_b")?);
            let score = b
                .column_by_name("score")
                .and_then(|a| a.as_primitive_opt::<Float64Type>());
            let needed = b
                .column_by_name("needed")
                .and_then(|a| a.as_primitive_opt::<Float64Type>());
            let detail = req_str(&b, "fields")?;
            let run = b
                .column_by_name("run")
                .and_then(|a| a.as_primitive_opt::<UInt64Type>());
            for i in 0..b.num_rows() {
                let (Some(a), Some(bb)) = (g.recs.get(0, ka.value(i)), g.recs.get(0, kb.value(i)))
                else {
                    return Err(IdentityError::Corrupt("match of an unknown record".into()));
                };
                let fields: Vec<StoredField> = serde_json::from_str(detail.value(i))
                    .map_err(|e| IdentityError::Corrupt(format!("match fields: {e}")))?;
                g.matches.push(Match {
                    a,
                    b: bb,
                    score: score.map_or(0.0, |s| s.value(i)),
                    needed: needed.map_or(0.0, |s| s.value(i)),
                    fields: fields.into_iter().map(StoredField::into_score).collect(),
                    run: run.map_or(0, |r| r.value(i)),
                });
            }
        }
        Ok(Some(meta.config))
    }

    /// Writes the graph to `dir` as a new generation and switches `CURRENT`
    /// to it atomically; older generations are removed.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(|e| IdentityError::io(dir, e))?;
        let name = format!("gen-{:06}-{}", self.run, std::process::id());
        let tmp = dir.join(format!("{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| IdentityError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| IdentityError::io(&tmp, e))?;
        self.write_ids(&tmp)?;
        self.write_records(&tmp)?;
        self.write_edges(&tmp)?;
        self.write_matches(&tmp)?;
        let meta = serde_json::to_vec(&Meta {
            format: 1,
            run: self.run,
            config: Some(self.cfg.clone()),
        })
        .map_err(|e| IdentityError::Corrupt(e.to_string()))?;
        write_durable(&tmp.join("meta.json"), &meta)?;
        let gen = dir.join(&name);
        if gen.exists() {
            std::fs::remove_dir_all(&gen).map_err(|e| IdentityError::io(&gen, e))?;
        }
        std::fs::rename(&tmp, &gen).map_err(|e| IdentityError::io(&gen, e))?;
        let cur_tmp = dir.join("CURRENT.tmp");
        write_durable(&cur_tmp, name.as_bytes())?;
        let cur = dir.join("CURRENT");
        std::fs::rename(&cur_tmp, &cur).map_err(|e| IdentityError::io(&cur, e))?;
        if let Ok(f) = std::fs::File::open(dir) {
            let _ = f.sync_all();
        }
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("gen-") && n != name {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }

    fn write_ids(&self, dir: &Path) -> Result<(), IdentityError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("braid_id", DataType::Utf8, false),
            Field::new("minted_run", DataType::UInt64, false),
            Field::new("retired_into", DataType::Utf8, true),
            Field::new("retired_run", DataType::UInt64, true),
            Field::new("erased", DataType::Boolean, false),
        ]));
        write_chunked(
            &dir.join("ids.parquet"),
            schema,
            &["braid_id"],
            self.bids.len(),
            |range| {
                let n = range.len();
                let mut id = StringBuilder::with_capacity(n, n * 18);
                let mut minted = UInt64Builder::with_capacity(n);
                let mut into = StringBuilder::new();
                let mut rrun = UInt64Builder::with_capacity(n);
                let mut erased = BooleanBuilder::with_capacity(n);
                for i in range {
                    let b = &self.bids[i];
                    id.append_value(self.ids.str(i as u32));
                    minted.append_value(b.minted);
                    into.append_option(
                        (b.retired_into != NONE).then(|| self.ids.str(b.retired_into)),
                    );
                    rrun.append_option((b.retired_into != NONE).then_some(b.retired_run));
                    erased.append_value(b.erased);
                }
                vec![
                    Arc::new(id.finish()),
                    Arc::new(minted.finish()),
                    Arc::new(into.finish()),
                    Arc::new(rrun.finish()),
                    Arc::new(erased.finish()),
                ]
            },
        )
    }

    fn write_records(&self, dir: &Path) -> Result<(), IdentityError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_key", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("braid_id", DataType::Utf8, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("address", DataType::Utf8, true),
            Field::new("city", DataType::Utf8, true),
            Field::new("postcode", DataType::Utf8, true),
            Field::new("birth_date", DataType::Date32, true),
        ]));
        write_chunked(
            &dir.join("records.parquet"),
            schema,
            &["record_key", "braid_id"],
            self.rec_live.len(),
            |range| {
                let n = range.len();
                let (mut k, mut s, mut b) = (
                    StringBuilder::with_capacity(n, n * 24),
                    StringBuilder::with_capacity(n, n * 8),
                    StringBuilder::with_capacity(n, n * 18),
                );
                let (mut nm, mut a, mut c, mut p) = (
                    StringBuilder::new(),
                    StringBuilder::new(),
                    StringBuilder::new(),
                    StringBuilder::new(),
                );
                let mut bd = Date32Builder::new();
                let empty = Profile::default();
                for r in range {
                    if !self.rec_live[r] {
                        continue;
                    }
                    k.append_value(self.recs.str(r as u32));
                    s.append_value(self.sources.str(self.rec_source[r]));
                    let bid = self.rec_bid[r];
                    b.append_option((bid != NONE).then(|| self.ids.str(bid)));
                    let prof = match self.rec_profile[r] {
                        NONE => &empty,
                        i => &self.profiles[i as usize],
                    };
                    nm.append_option(prof.name.as_deref());
                    a.append_option(prof.address.as_deref());
                    c.append_option(prof.city.as_deref());
                    p.append_option(prof.postcode.as_deref());
                    bd.append_option(prof.birth_date);
                }
                vec![
                    Arc::new(k.finish()),
                    Arc::new(s.finish()),
                    Arc::new(b.finish()),
                    Arc::new(nm.finish()),
                    Arc::new(a.finish()),
                    Arc::new(c.finish()),
                    Arc::new(p.finish()),
                    Arc::new(bd.finish()),
                ]
            },
        )
    }

    fn write_edges(&self, dir: &Path) -> Result<(), IdentityError> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_key", DataType::Utf8, false),
            Field::new("id_type", DataType::Utf8, false),
            Field::new("id_value", DataType::Utf8, false),
            Field::new("first_seen", ts_type(), true),
            Field::new("last_seen", ts_type(), true),
            Field::new("held", DataType::Utf8, true),
            Field::new("held_records", DataType::UInt64, true),
        ]));
        write_chunked(
            &dir.join("edges.parquet"),
            schema,
            &["record_key", "id_value"],
            self.edges.len(),
            |range| {
                let n = range.len();
                let (mut k, mut t, mut v, mut h) = (
                    StringBuilder::with_capacity(n, n * 24),
                    StringBuilder::with_capacity(n, n * 6),
                    StringBuilder::with_capacity(n, n * 20),
                    StringBuilder::new(),
                );
                let mut hn = UInt64Builder::new();
                let (mut f, mut l) = (
                    TimestampMicrosecondBuilder::with_capacity(n),
                    TimestampMicrosecondBuilder::with_capacity(n),
                );
                for e in &self.edges[range] {
                    k.append_value(self.recs.str(e.rec));
                    t.append_value(&self.types.names[self.vals.tag(e.val) as usize]);
                    v.append_value(self.vals.str(e.val));
                    f.append_option(time(e.first));
                    l.append_option(time(e.last));
                    match self.held.get(&e.val) {
                        Some((why, c)) => {
                            h.append_value(match why {
                                Held::TooCommon => "too_common",
                                Held::Conflict => "conflict",
                            });
                            hn.append_value(u64::from(*c));
                        }
                        None => {
                            h.append_null();
                            hn.append_null();
                        }
                    }
                }
                vec![
                    Arc::new(k.finish()),
                    Arc::new(t.finish()),
                    Arc::new(v.finish()),
                    Arc::new(f.finish().with_timezone("UTC")),
                    Arc::new(l.finish().with_timezone("UTC")),
                    Arc::new(h.finish()),
                    Arc::new(hn.finish()),
                ]
            },
        )
    }

    fn write_matches(&self, dir: &Path) -> Result<(), IdentityError> {
        let (mut a, mut b, mut d) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let mut s = Float64Builder::new();
        let mut nd = Float64Builder::new();
        let mut r = UInt64Builder::new();
        for m in &self.matches {
            nd.append_value(m.needed);
            a.append_value(self.recs.str(m.a));
            b.append_value(self.recs.str(m.b));
            s.append_value(m.score);
            d.append_value(serde_json::to_string(&m.fields).unwrap_or_else(|_| "[]".into()));
            r.append_value(m.run);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_a", DataType::Utf8, false),
            Field::new("record_b", DataType::Utf8, false),
            Field::new("score", DataType::Float64, false),
            Field::new("needed", DataType::Float64, false),
            Field::new("fields", DataType::Utf8, false),
            Field::new("run", DataType::UInt64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(a.finish()),
            Arc::new(b.finish()),
            Arc::new(s.finish()),
            Arc::new(nd.finish()),
            Arc::new(d.finish()),
            Arc::new(r.finish()),
        ];
        write(&dir.join("matches.parquet"), schema, cols)
    }
}

/// A [`FieldScore`] read back (field names owned).
#[derive(Deserialize)]
struct StoredField {
    field: String,
    level: prob::Level,
    weight: f64,
}

impl StoredField {
    fn into_score(self) -> FieldScore {
        FieldScore {
            field: prob::FIELDS
                .iter()
                .find(|f| **f == self.field)
                .copied()
                .unwrap_or("other"),
            level: self.level,
            weight: self.weight,
        }
    }
}

/// The `meta.json` of the current generation and the generation's name.
struct Current {
    gen: String,
    meta: Meta,
}

fn read_meta(dir: &Path) -> Result<Option<Current>, IdentityError> {
    let current = dir.join("CURRENT");
    let name = match std::fs::read_to_string(&current) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IdentityError::io(&current, e)),
    };
    let meta_path = dir.join(&name).join("meta.json");
    let meta: Meta = serde_json::from_slice(
        &std::fs::read(&meta_path).map_err(|e| IdentityError::io(&meta_path, e))?,
    )
    .map_err(|e| IdentityError::Corrupt(format!("{}: {e}", meta_path.display())))?;
    if meta.format != 1 {
        return Err(IdentityError::Corrupt(format!(
            "{}: format {} is newer than this braid reads (1)",
            meta_path.display(),
            meta.format
        )));
    }
    Ok(Some(Current { gen: name, meta }))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn fnv64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in b {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn req_str<'a>(b: &'a RecordBatch, n: &str) -> Result<&'a StringArray, IdentityError> {
    b.column_by_name(n)
        .and_then(|a| a.as_string_opt::<i32>())
        .ok_or_else(|| IdentityError::Corrupt(format!("graph file lacks column {n}")))
}

fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| IdentityError::io(path, e))?;
    f.write_all(bytes).map_err(|e| IdentityError::io(path, e))?;
    f.sync_all().map_err(|e| IdentityError::io(path, e))
}

fn write(path: &PathBuf, schema: SchemaRef, cols: Vec<ArrayRef>) -> Result<(), IdentityError> {
    let mut cols = Some(cols);
    write_chunked(path, schema, &[], 1, |_| cols.take().unwrap_or_default())
}

/// Rows per batch handed to the Parquet writer by [`write_chunked`].
const CHUNK: usize = 65_536;

/// Writes a table of `n` items to `path`, [`CHUNK`] items at a time:
/// `columns(range)` builds the columns of the rows of items `range`, so no
/// whole-table copy of the graph's strings is held while saving. Columns
/// in `unique` (values that rarely repeat) are written without a
/// dictionary, which would only be tried and dropped.
fn write_chunked(
    path: &PathBuf,
    schema: SchemaRef,
    unique: &[&str],
    n: usize,
    mut columns: impl FnMut(std::ops::Range<usize>) -> Vec<ArrayRef>,
) -> Result<(), IdentityError> {
    let err =
        |e: &dyn std::fmt::Display| IdentityError::Corrupt(format!("{}: {e}", path.display()));
    let f = std::fs::File::create(path).map_err(|e| IdentityError::io(path, e))?;
    let mut props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()));
    for c in unique {
        props = props
            .set_column_dictionary_enabled(parquet::schema::types::ColumnPath::from(*c), false);
    }
    let mut w = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props.build()))
        .map_err(|e| err(&e))?;
    let mut from = 0;
    while from < n {
        let to = n.min(from + CHUNK);
        let batch = RecordBatch::try_new(schema.clone(), columns(from..to)).map_err(|e| err(&e))?;
        w.write(&batch).map_err(|e| err(&e))?;
        from = to;
    }
    let f = w.into_inner().map_err(|e| err(&e))?;
    f.sync_all().map_err(|e| IdentityError::io(path, e))
}

fn read(path: &Path) -> Result<Vec<RecordBatch>, IdentityError> {
    let f = std::fs::File::open(path).map_err(|e| IdentityError::io(path, e))?;
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| IdentityError::Corrupt(format!("{}: {e}", path.display())))?;
    r.collect::<Result<Vec<_>, _>>()
        .map_err(|e| IdentityError::Corrupt(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` records in pairs: record 2i and 2i+1 share an email, each has
    /// its own phone; listed in reverse key order.
    fn pairs(n: usize) -> RecordBatch {
        let (mut k, mut s, mut t, mut v) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        for i in (0..n).rev() {
            for (ty, val) in [
                ("email", format!("p{}@x.com", i / 2)),
                ("phone", format!("+44{i:08}")),
            ] {
                k.append_value(format!("crm/c/{i:06}"));
                s.append_value("crm");
                t.append_value(ty);
                v.append_value(val);
            }
        }
        RecordBatch::try_from_iter(vec![
            ("record_key", Arc::new(k.finish()) as ArrayRef),
            ("source", Arc::new(s.finish()) as ArrayRef),
            ("id_type", Arc::new(t.finish()) as ArrayRef),
            ("id_value", Arc::new(v.finish()) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn a_graph_saved_in_several_chunks_loads_back_as_it_was() {
        // 140,000 edges: three chunks of the edge table, two of records.
        let n = 70_000;
        let dir = tempfile::tempdir().unwrap();
        let mut g = Graph::new(Config::default());
        g.upsert(&pairs(n), None).unwrap();
        let r = g.resolve();
        assert_eq!((r.records_resolved, r.people), (n as u64, n as u64 / 2));
        g.save(dir.path()).unwrap();
        let mut back = Graph::load(dir.path()).unwrap();
        assert_eq!(back.people(), n as u64 / 2);
        assert_eq!(back.edges.len(), 2 * n);
        for i in [0, 1, 65_535, 65_536, n - 1] {
            let key = format!("crm/c/{i:06}");
            assert_eq!(back.braid_id(&key), g.braid_id(&key), "{key}");
            assert!(back.braid_id(&key).is_some());
        }
        assert_eq!(back.braid_id("crm/c/000000"), back.braid_id("crm/c/000001"));
        assert_ne!(back.braid_id("crm/c/000001"), back.braid_id("crm/c/000002"));
        // Landed again unchanged: nothing is re-stitched.
        back.upsert(&pairs(n), None).unwrap();
        assert_eq!(back.resolve().records_resolved, 0);
    }

    #[test]
    fn edges_saved_in_update_order_are_put_back_by_record() {
        // Graphs saved before edges were kept by record list them in the
        // order runs changed them: simulate with the edge file reversed.
        let dir = tempfile::tempdir().unwrap();
        let mut g = Graph::new(Config::default());
        g.upsert(&pairs(10), None).unwrap();
        g.resolve();
        g.save(dir.path()).unwrap();
        let gen = dir
            .path()
            .join(std::fs::read_to_string(dir.path().join("CURRENT")).unwrap());
        let path = gen.join("edges.parquet");
        let batch = read(&path).unwrap().remove(0);
        let rev: Vec<u32> = (0..batch.num_rows() as u32).rev().collect();
        let idx = arrow_array::UInt32Array::from(rev);
        let cols: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| arrow_select_take(c, &idx))
            .collect();
        write(&path, batch.schema(), cols).unwrap();
        let mut back = Graph::load(dir.path()).unwrap();
        assert!(back.edges.is_sorted_by_key(|e| (e.rec, e.val)));
        assert_eq!(back.braid_id("crm/c/000004"), g.braid_id("crm/c/000004"));
        // Unchanged records are recognised as such, a changed one is not.
        back.upsert(&pairs(10), None).unwrap();
        assert_eq!(back.resolve().records_resolved, 0);
        back.retract("crm/c/000009");
        let r = back.resolve();
        assert_eq!((r.records_resolved, r.people), (1, 5));
        assert_eq!(back.braid_id("crm/c/000009"), None);
        assert!(back.braid_id("crm/c/000008").is_some());
    }

    fn rows(rows: &[(&str, &str, &str)]) -> RecordBatch {
        let col = |f: &dyn Fn(&(&str, &str, &str)) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
        };
        RecordBatch::try_from_iter(vec![
            ("record_key", col(&|r| r.0.to_owned())),
            ("source", col(&|_| "crm".to_owned())),
            ("id_type", col(&|r| r.1.to_owned())),
            ("id_value", col(&|r| r.2.to_owned())),
        ])
        .unwrap()
    }

    #[test]
    fn rows_upserted_before_a_retract_do_not_count_those_after_do() {
        let mut g = Graph::new(Config::default());
        g.upsert(
            &rows(&[
                ("crm/c/a", "email", "x@x.com"),
                ("crm/c/b", "email", "x@x.com"),
            ]),
            None,
        )
        .unwrap();
        g.resolve();
        assert_eq!(g.braid_id("crm/c/a"), g.braid_id("crm/c/b"));
        let old = g.braid_id("crm/c/a").unwrap().to_owned();
        // b lands with its email, is retracted, then lands with a phone
        // only, all before one resolve: b now holds the phone alone.
        g.upsert(&rows(&[("crm/c/b", "email", "x@x.com")]), None)
            .unwrap();
        assert!(g.retract("crm/c/b"));
        g.upsert(&rows(&[("crm/c/b", "phone", "+4401")]), None)
            .unwrap();
        assert_eq!(g.pending(), 1);
        let r = g.resolve();
        assert_eq!(r.people, 2);
        assert_ne!(g.braid_id("crm/c/a"), g.braid_id("crm/c/b"));
        assert_eq!(
            g.identifiers(g.braid_id("crm/c/b").unwrap()),
            vec![("phone".to_owned(), "+4401".to_owned())]
        );
        // A tie (one record each): the old id stays with the part with
        // the smallest key.
        assert_eq!(g.braid_id("crm/c/a"), Some(old.as_str()));
        assert_eq!(g.lookup("email", "x@x.com"), Some(old.as_str()));
    }

    /// Rows `idx` of a string or timestamp column (no arrow-select here).
    fn arrow_select_take(c: &ArrayRef, idx: &arrow_array::UInt32Array) -> ArrayRef {
        let rows = || idx.values().iter().map(|&i| i as usize);
        if let Some(s) = c.as_string_opt::<i32>() {
            let v: StringArray = rows().map(|i| s.is_valid(i).then(|| s.value(i))).collect();
            Arc::new(v)
        } else if let Some(t) = c.as_primitive_opt::<TimestampMicrosecondType>() {
            let v: arrow_array::TimestampMicrosecondArray =
                rows().map(|i| t.is_valid(i).then(|| t.value(i))).collect();
            Arc::new(v.with_timezone("UTC"))
        } else {
            let u = c.as_primitive::<UInt64Type>();
            let v: arrow_array::UInt64Array =
                rows().map(|i| u.is_valid(i).then(|| u.value(i))).collect();
            Arc::new(v)
        }
    }
}
