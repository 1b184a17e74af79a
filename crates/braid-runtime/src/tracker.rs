//! Per-stream cursor tracking and boundary de-duplication.
//!
//! Incremental reads ask the source for records whose cursor is **at or
//! after** the committed cursor (an inclusive bound, so records sharing the
//! last cursor value are never lost). The records at exactly that value that
//! were already landed are listed in the committed state's boundary keys and
//! dropped here, so they are not landed twice. While landing, the tracker
//! keeps the new high-water cursor and the keys of the records at it.

use std::collections::HashSet;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use braid_core::{cursor_value_at, CursorValue, StreamDescriptor, StreamState, SyncMode};

use crate::RunError;

const KEY_SEP: char = '\u{1f}';

/// Tracks one stream of one run.
#[derive(Debug)]
pub struct StreamTracker {
    stream: String,
    incremental: bool,
    cursor_field: Option<String>,
    primary_key: Vec<String>,
    skip_cursor: Option<CursorValue>,
    skip_keys: HashSet<String>,
    high_water: Option<CursorValue>,
    boundary: HashSet<String>,
    committed: StreamState,
    /// Backfill: rows at or after this cursor are dropped, and the committed
    /// cursor is kept as it was.
    window_end: Option<CursorValue>,
    /// Rows received from the source.
    pub rows_pulled: u64,
    /// Rows dropped as already landed at the boundary.
    pub rows_deduplicated: u64,
}

impl StreamTracker {
    /// A tracker for `stream` read in `mode`, resuming from `prior`.
    pub fn new(stream: &StreamDescriptor, mode: SyncMode, prior: StreamState) -> Self {
        let incremental = mode == SyncMode::Incremental && stream.cursor_field.is_some();
        let (skip_cursor, skip_keys) = if incremental {
            (
                prior.cursor.clone(),
                prior.boundary_keys.iter().cloned().collect(),
            )
        } else {
            (None, HashSet::new())
        };
        let (high_water, boundary) = if incremental {
            (
                prior.cursor.clone(),
                prior.boundary_keys.iter().cloned().collect(),
            )
        } else {
            (None, HashSet::new())
        };
        Self {
            stream: stream.name.clone(),
            incremental,
            cursor_field: stream.cursor_field.clone(),
            primary_key: stream.primary_key.clone(),
            skip_cursor,
            skip_keys,
            high_water,
            boundary,
            committed: prior,
            window_end: None,
            rows_pulled: 0,
            rows_deduplicated: 0,
        }
    }

    /// A tracker for a backfill of `stream`: every record the source yields
    /// below `window_end` is landed (the window is re-pulled on purpose), the
    /// rest is dropped and counted as de-duplicated, and checkpoints keep
    /// the committed cursor, so the next regular run continues where the
    /// last one stopped.
    pub fn backfill(
        stream: &StreamDescriptor,
        prior: StreamState,
        window_end: CursorValue,
    ) -> Self {
        let mut t = Self::new(stream, SyncMode::FullRefresh, prior);
        t.cursor_field = stream.cursor_field.clone();
        t.window_end = Some(window_end);
        t
    }

    /// State committed before this run.
    pub fn committed(&self) -> &StreamState {
        &self.committed
    }

    /// The source re-reads records with cursor `>= from` to restate them
    /// (`Source::restates_from`): if that covers the committed cursor, the
    /// rows at it are landed again rather than dropped as boundary
    /// duplicates. Ignored outside incremental reads.
    pub fn restate_from(&mut self, from: &CursorValue) {
        if let (true, Some(skip)) = (self.incremental, &self.skip_cursor) {
            if from.partial_cmp(skip).is_some_and(|o| o.is_le()) {
                self.skip_keys.clear();
            }
        }
    }

    /// Drops boundary rows already landed and records the new high water.
    pub fn accept(&mut self, batch: RecordBatch) -> Result<RecordBatch, RunError> {
        self.rows_pulled += batch.num_rows() as u64;
        if let Some(end) = &self.window_end {
            return self.clip(batch, end.clone());
        }
        if !self.incremental || batch.num_rows() == 0 {
            return Ok(batch);
        }
        let cursor_name = self.cursor_field.as_deref().unwrap_or_default();
        let cursor = batch.column_by_name(cursor_name).cloned().ok_or_else(|| {
            RunError::data(
                &self.stream,
                format!("batch has no cursor column `{cursor_name}`"),
            )
        })?;
        let mask = match &self.skip_cursor {
            Some(skip) if !self.skip_keys.is_empty() => {
                let keys = KeyColumns::new(&batch, &self.primary_key, &self.stream)?;
                let mut keep = Vec::with_capacity(batch.num_rows());
                let mut dropped = 0u64;
                for i in 0..batch.num_rows() {
                    let at_boundary = cursor_value_at(cursor.as_ref(), i).as_ref() == Some(skip);
                    let drop_row = at_boundary && self.skip_keys.contains(&keys.key(i)?);
                    dropped += drop_row as u64;
                    keep.push(!drop_row);
                }
                (dropped > 0).then(|| (BooleanArray::from(keep), dropped))
            }
            _ => None,
        };
        let batch = match mask {
            Some((keep, dropped)) => {
                self.rows_deduplicated += dropped;
                arrow_select::filter::filter_record_batch(&batch, &keep)?
            }
            None => batch,
        };
        if batch.num_rows() == 0 {
            return Ok(batch);
        }
        {
            let cursor = batch
                .column_by_name(cursor_name)
                .cloned()
                .expect("column checked above");
            let keys = KeyColumns::new(&batch, &self.primary_key, &self.stream)?;
            self.observe(&cursor, &keys)?;
        }
        Ok(batch)
    }

    /// Drops the rows whose cursor is at or after `end` (or null).
    fn clip(&mut self, batch: RecordBatch, end: CursorValue) -> Result<RecordBatch, RunError> {
        let cursor_name = self.cursor_field.as_deref().unwrap_or_default();
        let cursor = batch.column_by_name(cursor_name).cloned().ok_or_else(|| {
            RunError::data(
                &self.stream,
                format!("batch has no cursor column `{cursor_name}`"),
            )
        })?;
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|i| Some(cursor_value_at(cursor.as_ref(), i).is_some_and(|v| v < end)))
            .collect();
        let kept = keep.true_count();
        self.rows_deduplicated += (batch.num_rows() - kept) as u64;
        if kept == batch.num_rows() {
            return Ok(batch);
        }
        Ok(arrow_select::filter::filter_record_batch(&batch, &keep)?)
    }

    fn observe(&mut self, cursor: &ArrayRef, keys: &KeyColumns) -> Result<(), RunError> {
        let batch_max = braid_core::cursor_column_max(cursor.as_ref());
        let Some(batch_max) = batch_max else {
            return Ok(());
        };
        match &self.high_water {
            Some(hw) if batch_max.partial_cmp(hw).is_none() => {
                return Err(RunError::data(
                    &self.stream,
                    format!("cursor type changed: committed {hw:?}, now {batch_max:?}"),
                ));
            }
            Some(hw) if batch_max < *hw => return Ok(()),
            Some(hw) if batch_max == *hw => {}
            _ => {
                self.high_water = Some(batch_max.clone());
                self.boundary.clear();
            }
        }
        for i in 0..cursor.len() {
            if cursor_value_at(cursor.as_ref(), i).as_ref() == Some(&batch_max) {
                self.boundary.insert(keys.key(i)?);
            }
        }
        Ok(())
    }

    /// The state to commit at a checkpoint with `resume`, after `rows` more were committed.
    pub fn checkpoint_state(
        &self,
        resume: Option<serde_json::Value>,
        rows_committed_total: u64,
    ) -> StreamState {
        if self.window_end.is_some() {
            return StreamState {
                resume: None,
                records_committed: rows_committed_total,
                ..self.committed.clone()
            };
        }
        let mut boundary_keys: Vec<String> = if self.incremental {
            self.boundary.iter().cloned().collect()
        } else {
            Vec::new()
        };
        boundary_keys.sort();
        StreamState {
            cursor: if self.incremental {
                self.high_water.clone()
            } else {
                self.committed.cursor.clone()
            },
            boundary_keys,
            resume,
            records_committed: rows_committed_total,
        }
    }
}

/// Primary-key columns of a batch, formatted to strings on demand.
struct KeyColumns<'a> {
    formatters: Vec<ArrayFormatter<'a>>,
}

impl<'a> KeyColumns<'a> {
    fn new(batch: &'a RecordBatch, primary_key: &[String], stream: &str) -> Result<Self, RunError> {
        static OPTS: std::sync::LazyLock<FormatOptions<'static>> =
            std::sync::LazyLock::new(FormatOptions::default);
        let mut formatters = Vec::with_capacity(primary_key.len());
        for name in primary_key {
            let col = batch.column_by_name(name).ok_or_else(|| {
                RunError::data(stream, format!("batch has no primary-key column `{name}`"))
            })?;
            formatters.push(ArrayFormatter::try_new(col.as_ref(), &OPTS)?);
        }
        if formatters.is_empty() {
            return Err(RunError::data(
                stream,
                "incremental stream has no primary key to de-duplicate the cursor boundary",
            ));
        }
        Ok(Self { formatters })
    }

    fn key(&self, row: usize) -> Result<String, RunError> {
        let mut key = String::new();
        for (i, f) in self.formatters.iter().enumerate() {
            if i > 0 {
                key.push(KEY_SEP);
            }
            use std::fmt::Write;
            write!(key, "{}", f.value(row)).map_err(|e| RunError::Internal(e.to_string()))?;
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use std::sync::Arc;

    fn stream() -> StreamDescriptor {
        StreamDescriptor {
            name: "contacts".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("v", DataType::Int64, true),
            ])),
            primary_key: vec!["id".into()],
            cursor_field: Some("v".into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        }
    }

    fn batch(rows: &[(&str, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            stream().schema,
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn boundary_rows_already_landed_are_dropped_and_others_at_the_boundary_kept() {
        let prior = StreamState {
            cursor: Some(CursorValue::Int(5)),
            boundary_keys: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let mut t = StreamTracker::new(&stream(), SyncMode::Incremental, prior);
        // a, b landed last run at v=5; c shares v=5 but is new; d is later.
        let out = t
            .accept(batch(&[("a", 5), ("b", 5), ("c", 5), ("d", 7)]))
            .unwrap();
        let ids = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(ids.iter().flatten().collect::<Vec<_>>(), vec!["c", "d"]);
        assert_eq!(t.rows_pulled, 4);
        assert_eq!(t.rows_deduplicated, 2);
        let s = t.checkpoint_state(None, 2);
        assert_eq!(s.cursor, Some(CursorValue::Int(7)));
        assert_eq!(s.boundary_keys, vec!["d".to_string()]);
    }

    #[test]
    fn ties_at_the_high_water_accumulate_across_batches() {
        let mut t = StreamTracker::new(&stream(), SyncMode::Incremental, StreamState::default());
        t.accept(batch(&[("a", 1), ("b", 3)])).unwrap();
        t.accept(batch(&[("c", 3), ("d", 2)])).unwrap();
        let s = t.checkpoint_state(Some(serde_json::json!({"k": 1})), 4);
        assert_eq!(s.cursor, Some(CursorValue::Int(3)));
        assert_eq!(s.boundary_keys, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(s.records_committed, 4);
    }

    #[test]
    fn same_cursor_as_committed_extends_the_boundary() {
        let prior = StreamState {
            cursor: Some(CursorValue::Int(5)),
            boundary_keys: vec!["a".into()],
            ..Default::default()
        };
        let mut t = StreamTracker::new(&stream(), SyncMode::Incremental, prior);
        t.accept(batch(&[("a", 5), ("e", 5)])).unwrap();
        let s = t.checkpoint_state(None, 1);
        assert_eq!(s.boundary_keys, vec!["a".to_string(), "e".to_string()]);
    }

    #[test]
    fn restated_rows_at_the_committed_cursor_are_landed_again() {
        let prior = StreamState {
            cursor: Some(CursorValue::Int(5)),
            boundary_keys: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        // A restatement that starts above the committed cursor changes nothing.
        let mut t = StreamTracker::new(&stream(), SyncMode::Incremental, prior.clone());
        t.restate_from(&CursorValue::Int(6));
        assert_eq!(
            t.accept(batch(&[("a", 5), ("c", 6)])).unwrap().num_rows(),
            1
        );
        // One that covers it lands the re-read boundary rows; the state moves on as usual.
        let mut t = StreamTracker::new(&stream(), SyncMode::Incremental, prior);
        t.restate_from(&CursorValue::Int(3));
        let out = t
            .accept(batch(&[("x", 3), ("a", 5), ("b", 5), ("c", 6)]))
            .unwrap();
        assert_eq!(out.num_rows(), 4);
        assert_eq!(t.rows_deduplicated, 0);
        let s = t.checkpoint_state(None, 4);
        assert_eq!(s.cursor, Some(CursorValue::Int(6)));
        assert_eq!(s.boundary_keys, vec!["c".to_string()]);
    }

    #[test]
    fn full_refresh_keeps_everything_and_tracks_no_cursor() {
        let prior = StreamState {
            cursor: Some(CursorValue::Int(5)),
            boundary_keys: vec!["a".into()],
            ..Default::default()
        };
        let mut t = StreamTracker::new(&stream(), SyncMode::FullRefresh, prior);
        let out = t.accept(batch(&[("a", 5), ("b", 9)])).unwrap();
        assert_eq!(out.num_rows(), 2);
        assert_eq!(
            t.checkpoint_state(None, 2).boundary_keys,
            Vec::<String>::new()
        );
    }
}
