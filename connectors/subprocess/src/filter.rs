//! Records a connector sends again, dropped before they reach the runtime.
//!
//! braid asks for an incremental stream from its committed cursor on
//! (inclusive) and drops, at exactly that cursor, the records it already
//! landed. A subprocess connector may re-send more than that: a Singer tap
//! whose bookmark is per file re-sends every record of a file it reads
//! again, and singer-sdk taps with partitioned state re-read the stream once
//! per partition. For an incremental stream this filter drops
//!
//! - records whose cursor is **below** the committed cursor: everything
//!   below it was landed and committed (a checkpoint promises that every
//!   record below the highest cursor yielded so far has been yielded), and
//! - with `dedupe_records`, a record whose (primary key, cursor) the same
//!   run already passed on (a 128-bit hash of both is kept per record, so
//!   memory grows with the records of one run: 16 bytes each plus the set's
//!   overhead).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use braid_core::{cursor_value_at, CursorValue};

/// Drops re-sent records of one incremental stream.
#[derive(Debug)]
pub struct ResendFilter {
    cursor_field: String,
    primary_key: Vec<String>,
    committed: Option<CursorValue>,
    seen: Option<HashSet<u128>>,
    hashers: (std::hash::RandomState, std::hash::RandomState),
    /// Records dropped as below the committed cursor.
    pub below_cursor: u64,
    /// Records dropped as sent twice in this run.
    pub repeated: u64,
}

impl ResendFilter {
    /// A filter for a stream with `cursor_field` and `primary_key`, committed at `committed`.
    pub fn new(
        cursor_field: String,
        primary_key: Vec<String>,
        committed: Option<CursorValue>,
        dedupe_records: bool,
    ) -> Self {
        let dedupe = dedupe_records && !primary_key.is_empty();
        Self {
            cursor_field,
            primary_key,
            committed,
            seen: dedupe.then(HashSet::new),
            hashers: Default::default(),
            below_cursor: 0,
            repeated: 0,
        }
    }

    /// Whether the filter can drop anything at all.
    pub fn is_active(&self) -> bool {
        self.committed.is_some() || self.seen.is_some()
    }

    /// The batch without the re-sent records.
    pub fn apply(&mut self, batch: RecordBatch) -> Result<RecordBatch, String> {
        if !self.is_active() || batch.num_rows() == 0 {
            return Ok(batch);
        }
        let Some(cursor) = batch.column_by_name(&self.cursor_field).cloned() else {
            return Err(format!("no cursor column `{}`", self.cursor_field));
        };
        let keep = self.mask(&batch, &cursor)?;
        let kept = keep.iter().filter(|k| **k).count();
        if kept == batch.num_rows() {
            return Ok(batch);
        }
        arrow_select::filter::filter_record_batch(&batch, &BooleanArray::from(keep))
            .map_err(|e| e.to_string())
    }

    fn mask(
        &mut self,
        batch: &RecordBatch,
        cursor: &arrow_array::ArrayRef,
    ) -> Result<Vec<bool>, String> {
        static OPTS: std::sync::LazyLock<FormatOptions<'static>> =
            std::sync::LazyLock::new(FormatOptions::default);
        let mut keys = Vec::new();
        if self.seen.is_some() {
            for name in &self.primary_key {
                let col = batch
                    .column_by_name(name)
                    .ok_or_else(|| format!("no primary-key column `{name}`"))?;
                keys.push(ArrayFormatter::try_new(col.as_ref(), &OPTS).map_err(|e| e.to_string())?);
            }
        }
        let cursor_text =
            ArrayFormatter::try_new(cursor.as_ref(), &OPTS).map_err(|e| e.to_string())?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let below = match (&self.committed, cursor_value_at(cursor.as_ref(), i)) {
                (Some(c), Some(v)) => v.partial_cmp(c).is_some_and(|o| o.is_lt()),
                _ => false,
            };
            if below {
                self.below_cursor += 1;
                keep.push(false);
                continue;
            }
            if let Some(seen) = self.seen.as_mut() {
                if cursor.is_null(i) {
                    keep.push(true);
                    continue;
                }
                let mut a = self.hashers.0.build_hasher();
                let mut b = self.hashers.1.build_hasher();
                for f in keys.iter().chain(std::iter::once(&cursor_text)) {
                    let text = f.value(i).to_string();
                    for h in [&mut a, &mut b] {
                        h.write(text.as_bytes());
                        h.write_u8(0x1f);
                    }
                }
                let h = ((a.finish() as u128) << 64) | b.finish() as u128;
                if !seen.insert(h) {
                    self.repeated += 1;
                    keep.push(false);
                    continue;
                }
            }
            keep.push(true);
        }
        Ok(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(rows: &[(i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("v", DataType::Int64, true),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    }

    fn ids(b: &RecordBatch) -> Vec<i64> {
        b.column(0).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn below_the_committed_cursor_is_dropped_at_it_kept() {
        let mut f = ResendFilter::new(
            "v".into(),
            vec!["id".into()],
            Some(CursorValue::Int(5)),
            false,
        );
        let out = f.apply(batch(&[(1, 3), (2, 5), (3, 7)])).unwrap();
        assert_eq!(ids(&out), vec![2, 3]);
        assert_eq!(f.below_cursor, 1);
    }

    #[test]
    fn repeats_within_a_run_are_dropped_new_versions_kept() {
        let mut f = ResendFilter::new("v".into(), vec!["id".into()], None, true);
        assert_eq!(ids(&f.apply(batch(&[(1, 1), (2, 1)])).unwrap()), vec![1, 2]);
        // id 1 again at the same cursor: a repeat; id 2 at a later cursor: a new version.
        assert_eq!(
            ids(&f.apply(batch(&[(1, 1), (2, 2), (3, 1)])).unwrap()),
            vec![2, 3]
        );
        assert_eq!(f.repeated, 1);
    }

    #[test]
    fn nothing_to_do_without_state_or_dedupe() {
        let f = ResendFilter::new("v".into(), vec!["id".into()], None, false);
        assert!(!f.is_active());
    }
}
