//! The deterministic stitcher: union-find over records joined by shared
//! identifier values.
//!
//! Order of work, all on dense `u32` ids:
//! 1. group the (record, value) edges by value (a counting sort, O(edges));
//! 2. count each value's distinct records and set aside values over their
//!    type's `max_records_per_value` (reported, never followed) and values of
//!    non-linking types — before any union, so a shared store phone cannot
//!    chain thousands of people together whatever the edge order;
//! 3. union the holders of each remaining value, types in priority order,
//!    refusing a union that would give one person more distinct values of a
//!    type than its `max_per_person` (reported as a conflict).
//!
//! Union by rank with path halving; no recursion, no per-edge allocation.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch, StringArray};

use crate::config::{Config, IdType};
use crate::error::IdentityError;
use crate::intern::Interner;

/// Union-find over `0..n` with union by rank and path halving.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    rank: Vec<u8>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n as u32).collect(),
            rank: vec![0; n],
        }
    }

    /// Adds a singleton; returns its id.
    pub fn push(&mut self) -> u32 {
        let id = self.parent.len() as u32;
        self.parent.push(id);
        self.rank.push(0);
        id
    }

    /// The root of `x`'s set.
    #[inline]
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    /// Joins the sets of roots `a` and `b` (both must be roots); returns the new root.
    #[inline]
    pub fn union_roots(&mut self, a: u32, b: u32) -> u32 {
        if a == b {
            return a;
        }
        let (ra, rb) = (self.rank[a as usize], self.rank[b as usize]);
        let (root, child) = if ra < rb { (b, a) } else { (a, b) };
        self.parent[child as usize] = root;
        if ra == rb {
            self.rank[root as usize] += 1;
        }
        root
    }
}

/// Why a value joined nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Held by more distinct records than its type allows.
    TooCommon,
    /// Following it would give a person too many values of a type.
    Conflict,
}

/// One stitching problem on local ids: records `0..n_records`, values `0..n_values`.
pub(crate) struct Problem<'a> {
    pub n_records: usize,
    /// The holders of value `v` are `holders[start[v]..start[v + 1]]`
    /// (duplicates allowed); see [`by_value`].
    pub start: Vec<u32>,
    pub holders: Vec<u32>,
    /// Per value: its type's index into `rules`.
    pub value_type: &'a [u16],
    /// Per type index: its rules and priority rank.
    pub rules: &'a [(IdType, usize)],
    /// Per value: distinct records holding it in the whole graph, if the
    /// problem is part of a larger graph (else counted from `edges`).
    pub global_count: Option<&'a [u32]>,
    /// Per value: a machine-independent hash, the order within a type.
    pub order_key: &'a dyn Fn(u32) -> u64,
}

/// The outcome of [`Problem::solve`].
pub(crate) struct Solution {
    pub uf: UnionFind,
    /// Values set aside, with the distinct records holding each.
    pub held: Vec<(u32, Held, u32)>,
}

/// (record, value) edges grouped by value (a counting sort, O(edges)):
/// the `start` and `holders` of a [`Problem`] over `n_values` values.
pub(crate) fn by_value(n_values: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<u32>) {
    let mut start = vec![0u32; n_values + 1];
    for &(_, v) in edges {
        start[v as usize + 1] += 1;
    }
    for i in 0..n_values {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut recs = vec![0u32; edges.len()];
    for &(r, v) in edges {
        let f = &mut fill[v as usize];
        recs[*f as usize] = r;
        *f += 1;
    }
    (start, recs)
}

impl Problem<'_> {
    pub fn solve(self) -> Solution {
        let n_values = self.value_type.len();
        // 1. The holders by value, as given.
        let (start, mut recs) = (self.start, self.holders);
        // 2. Distinct holders; decide what is not followed before any union.
        let mut held = Vec::new();
        let mut distinct = vec![0u32; n_values];
        let mut by_rank: Vec<Vec<u32>> = vec![Vec::new(); self.rules.len()];
        for v in 0..n_values {
            let g = &mut recs[start[v] as usize..start[v + 1] as usize];
            if g.is_empty() {
                continue;
            }
            g.sort_unstable();
            let mut n = 1;
            for i in 1..g.len() {
                if g[i] != g[n - 1] {
                    g[n] = g[i];
                    n += 1;
                }
            }
            distinct[v] = n as u32;
            let (rule, rank) = &self.rules[self.value_type[v] as usize];
            if !rule.links {
                continue;
            }
            let count = self.global_count.map_or(n as u32, |c| c[v].max(n as u32));
            if count > rule.max_records_per_value {
                held.push((v as u32, Held::TooCommon, count));
                continue;
            }
            by_rank[*rank].push(v as u32);
        }
        // 3. Union in priority order, with per-person limits.
        let limited: Vec<(usize, u32)> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, (r, _))| r.max_per_person.map(|m| (i, m)))
            .collect();
        let mut uf = UnionFind::new(self.n_records);
        let k = limited.len();
        let mut per_root = vec![0u32; if k == 0 { 0 } else { self.n_records * k }];
        let mut roots: Vec<u32> = Vec::new();
        let mut sums = vec![0u32; k];
        for mut group in by_rank {
            if k > 0 {
                group.sort_unstable_by_key(|v| ((self.order_key)(*v), *v));
            }
            for v in group {
                let vi = v as usize;
                let g = &recs[start[vi] as usize..start[vi] as usize + distinct[vi] as usize];
                if k == 0 {
                    let mut root = uf.find(g[0]);
                    for &r in &g[1..] {
                        let o = uf.find(r);
                        root = uf.union_roots(root, o);
                    }
                    continue;
                }
                roots.clear();
                roots.extend(g.iter().map(|&r| uf.find(r)));
                roots.sort_unstable();
                roots.dedup();
                let ty = self.value_type[vi] as usize;
                let mut ok = true;
                for (j, &(t, max)) in limited.iter().enumerate() {
                    let s: u32 = roots
                        .iter()
                        .map(|&r| per_root[r as usize * k + j])
                        .sum::<u32>()
                        + u32::from(t == ty);
                    sums[j] = s;
                    ok &= s <= max;
                }
                if !ok {
                    held.push((v, Held::Conflict, distinct[vi]));
                    continue;
                }
                let mut root = roots[0];
                for &o in &roots[1..] {
                    root = uf.union_roots(root, o);
                }
                per_root[root as usize * k..root as usize * k + k].copy_from_slice(&sums);
            }
        }
        Solution { uf, held }
    }
}

/// Type names in tag order: the configured types, then the others met.
#[derive(Debug, Clone)]
pub(crate) struct TypeTable {
    pub names: Vec<String>,
    pub rules: Vec<(IdType, usize)>,
}

impl TypeTable {
    pub fn new(cfg: &Config) -> TypeTable {
        let mut t = TypeTable {
            names: Vec::new(),
            rules: Vec::new(),
        };
        for ty in &cfg.types {
            t.tag(cfg, &ty.name);
        }
        t
    }

    /// The tag of type `name`, adding it if new.
    pub fn tag(&mut self, cfg: &Config, name: &str) -> u16 {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i as u16;
        }
        self.names.push(name.to_owned());
        let mut rule = cfg.rules(name).clone();
        rule.name = name.to_owned();
        self.rules.push((rule, cfg.rank(name)));
        (self.names.len() - 1) as u16
    }

    pub fn get(&self, name: &str) -> Option<u16> {
        self.names.iter().position(|n| n == name).map(|i| i as u16)
    }
}

/// A value that joined nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFollowed {
    /// Its type.
    pub id_type: String,
    /// The value.
    pub id_value: String,
    /// Distinct records holding it.
    pub records: u32,
    /// Why.
    pub reason: Held,
}

/// Clusters of a one-shot [`stitch`].
#[derive(Debug)]
pub struct Stitched {
    /// Record keys, id = first-seen order.
    pub records: Interner,
    /// Per record id: its cluster, the smallest record id in it.
    pub cluster: Vec<u32>,
    /// Values set aside.
    pub not_followed: Vec<NotFollowed>,
    /// Distinct identifier values.
    pub values: usize,
}

impl Stitched {
    /// Number of clusters.
    pub fn clusters(&self) -> usize {
        self.cluster
            .iter()
            .enumerate()
            .filter(|(i, c)| **c as usize == *i)
            .count()
    }

    /// The cluster (smallest member's key) of `record_key`.
    pub fn cluster_of(&self, record_key: &str) -> Option<&str> {
        self.records
            .get(0, record_key)
            .map(|r| self.records.str(self.cluster[r as usize]))
    }
}

/// A required Utf8 column.
pub(crate) fn utf8<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a StringArray, IdentityError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| IdentityError::Input(format!("no column {name:?}")))?;
    let s = col.as_string_opt::<i32>().ok_or_else(|| {
        IdentityError::Input(format!("column {name:?} is {}, not Utf8", col.data_type()))
    })?;
    if s.null_count() > 0 {
        return Err(IdentityError::Input(format!("column {name:?} has nulls")));
    }
    Ok(s)
}

/// Stitches the edges in `batch` (Utf8 columns `record_key`, `id_type`,
/// `id_value`; other columns ignored) into clusters, from scratch.
pub fn stitch(batch: &RecordBatch, cfg: &Config) -> Result<Stitched, IdentityError> {
    stitch_arrays(
        utf8(batch, "record_key")?,
        utf8(batch, "id_type")?,
        utf8(batch, "id_value")?,
        cfg,
    )
}

/// [`stitch`] over the three arrays.
pub fn stitch_arrays(
    record: &StringArray,
    id_type: &StringArray,
    id_value: &StringArray,
    cfg: &Config,
) -> Result<Stitched, IdentityError> {
    let n = record.len();
    if id_type.len() != n || id_value.len() != n {
        return Err(IdentityError::Input("edge arrays differ in length".into()));
    }
    let mut types = TypeTable::new(cfg);
    let mut records = Interner::with_capacity(n / 2, record.value_data().len() / 2);
    let mut values = Interner::with_capacity(n, id_value.value_data().len());
    let mut edges = Vec::with_capacity(n);
    let mut last_type: (&str, u16) = ("\0", 0);
    for i in 0..n {
        let t = id_type.value(i);
        if t != last_type.0 {
            last_type = (t, types.tag(cfg, t));
        }
        let r = records.intern(0, record.value(i));
        let v = values.intern(last_type.1, id_value.value(i));
        edges.push((r, v));
    }
    let value_type: Vec<u16> = (0..values.len() as u32).map(|v| values.tag(v)).collect();
    let order = |v: u32| values.stable_hash(v);
    let (start, holders) = by_value(values.len(), &edges);
    drop(edges);
    let sol = Problem {
        n_records: records.len(),
        start,
        holders,
        value_type: &value_type,
        rules: &types.rules,
        global_count: None,
        order_key: &order,
    }
    .solve();
    let mut uf = sol.uf;
    // Label each cluster by its smallest record id.
    let mut smallest = vec![u32::MAX; records.len()];
    let mut cluster = vec![0u32; records.len()];
    for r in 0..records.len() as u32 {
        let root = uf.find(r) as usize;
        if smallest[root] == u32::MAX {
            smallest[root] = r;
        }
        cluster[r as usize] = smallest[root];
    }
    let not_followed = sol
        .held
        .iter()
        .map(|&(v, reason, count)| NotFollowed {
            id_type: types.names[values.tag(v) as usize].clone(),
            id_value: values.str(v).to_owned(),
            records: count,
            reason,
        })
        .collect();
    Ok(Stitched {
        cluster,
        not_followed,
        values: values.len(),
        records,
    })
}
