//! Run history as a table: one row per run in `_braid/runs/<run_id>.parquet`,
//! written at the end of every run and read by `braid runs` and by the
//! scheduler (last start per pipeline, for catch-up).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use braid_warehouse::{Warehouse, WarehouseError};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::report::{RunReport, RunStatus};

/// The Arrow schema of the run history.
pub fn history_schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let stream = Fields::from(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("stream", DataType::Utf8, false),
        Field::new("sync_mode", DataType::Utf8, false),
        Field::new("rows_pulled", DataType::Int64, false),
        Field::new("rows_committed", DataType::Int64, false),
        Field::new("bytes_committed", DataType::Int64, false),
        Field::new("retries", DataType::Int64, false),
        Field::new("duration_ms", DataType::Int64, false),
    ]);
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("pipeline", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("started_at", ts.clone(), false),
        Field::new("finished_at", ts, false),
        Field::new("duration_ms", DataType::Int64, false),
        Field::new("rows_committed", DataType::Int64, false),
        Field::new("bytes_committed", DataType::Int64, false),
        Field::new("error_kind", DataType::Utf8, true),
        Field::new("error_message", DataType::Utf8, true),
        Field::new(
            "streams",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(stream),
                false,
            ))),
            false,
        ),
    ]))
}

#[derive(Serialize)]
struct Row<'a> {
    run_id: &'a str,
    pipeline: &'a str,
    status: &'static str,
    started_at: i64,
    finished_at: i64,
    duration_ms: i64,
    rows_committed: i64,
    bytes_committed: i64,
    error_kind: Option<&'a str>,
    error_message: Option<&'a str>,
    streams: Vec<StreamRow<'a>>,
}

#[derive(Serialize)]
struct StreamRow<'a> {
    source: &'a str,
    stream: &'a str,
    sync_mode: String,
    rows_pulled: i64,
    rows_committed: i64,
    bytes_committed: i64,
    retries: i64,
    duration_ms: i64,
}

fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    }
}

/// The history row of `report`.
pub fn history_batch(report: &RunReport) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let streams: Vec<StreamRow<'_>> = report
        .streams
        .iter()
        .map(|s| StreamRow {
            source: &s.source,
            stream: &s.stream,
            sync_mode: s.sync_mode.to_string(),
            rows_pulled: s.rows_pulled as i64,
            rows_committed: s.rows_committed as i64,
            bytes_committed: s.bytes_committed as i64,
            retries: s.retries as i64,
            duration_ms: s.duration_ms as i64,
        })
        .collect();
    let row = Row {
        run_id: &report.run_id,
        pipeline: &report.pipeline,
        status: status_name(report.status),
        started_at: report.started_at.timestamp_micros(),
        finished_at: report.finished_at.timestamp_micros(),
        duration_ms: report.duration_ms as i64,
        rows_committed: streams.iter().map(|s| s.rows_committed).sum(),
        bytes_committed: streams.iter().map(|s| s.bytes_committed).sum(),
        error_kind: report.error.as_ref().map(|e| e.kind.as_str()),
        error_message: report.error.as_ref().map(|e| e.message.as_str()),
        streams,
    };
    let mut decoder = arrow_json::ReaderBuilder::new(history_schema()).build_decoder()?;
    decoder.serialize(&[row])?;
    decoder
        .flush()?
        .ok_or_else(|| arrow_schema::ArrowError::JsonError("empty history row".into()))
}

/// Writes the history row of `report` into `warehouse`.
pub fn write_history(warehouse: &Warehouse, report: &RunReport) -> Result<(), WarehouseError> {
    let batch = history_batch(report)?;
    warehouse.write_run_history(&report.run_id, &batch)?;
    Ok(())
}

/// One run, as `braid runs` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Run id.
    pub run_id: String,
    /// Pipeline name.
    pub pipeline: String,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Rows committed over all streams.
    pub rows_committed: i64,
    /// Error kind and message, if it failed.
    pub error: Option<String>,
}

/// Every run in the history (optionally of one pipeline), oldest first.
pub fn read_history(
    warehouse: &Warehouse,
    pipeline: Option<&str>,
) -> Result<Vec<RunSummary>, WarehouseError> {
    let mut out = Vec::new();
    for batch in warehouse.read_run_history()? {
        let col = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| {
                WarehouseError::Arrow(arrow_schema::ArrowError::SchemaError(format!(
                    "run history lacks column {name}"
                )))
            })
        };
        let run_id = col("run_id")?.as_string::<i32>().clone();
        let pipe = col("pipeline")?.as_string::<i32>().clone();
        let status = col("status")?.as_string::<i32>().clone();
        let started = col("started_at")?
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let finished = col("finished_at")?
            .as_primitive::<TimestampMicrosecondType>()
            .clone();
        let rows = col("rows_committed")?.as_primitive::<Int64Type>().clone();
        let kind = col("error_kind")?.as_string::<i32>().clone();
        let message = col("error_message")?.as_string::<i32>().clone();
        for i in 0..batch.num_rows() {
            if pipeline.is_some_and(|p| p != pipe.value(i)) {
                continue;
            }
            let ts = |v: i64| DateTime::from_timestamp_micros(v).unwrap_or_default();
            out.push(RunSummary {
                run_id: run_id.value(i).to_owned(),
                pipeline: pipe.value(i).to_owned(),
                status: status.value(i).to_owned(),
                started_at: ts(started.value(i)),
                finished_at: ts(finished.value(i)),
                rows_committed: rows.value(i),
                error: (!kind.is_null(i))
                    .then(|| format!("{}: {}", kind.value(i), message.value(i))),
            });
        }
    }
    out.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ErrorReport, StreamReport};
    use braid_core::{StreamState, SyncMode};

    fn report(run_id: &str, pipeline: &str, rows: u64, failed: bool) -> RunReport {
        let start = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        RunReport {
            run_id: run_id.into(),
            pipeline: pipeline.into(),
            status: if failed {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            },
            started_at: start,
            finished_at: start + chrono::Duration::seconds(5),
            duration_ms: 5000,
            streams: vec![StreamReport {
                source: "hubspot".into(),
                stream: "contacts".into(),
                sync_mode: SyncMode::Incremental,
                rows_pulled: rows,
                rows_deduplicated: 0,
                rows_landed: rows,
                rows_committed: rows,
                bytes_committed: 10 * rows,
                files_committed: 1,
                commits: 1,
                pages: 1,
                retries: 2,
                duration_ms: 4000,
                state_before: StreamState::default(),
                state_after: StreamState::default(),
            }],
            error: failed.then(|| ErrorReport {
                kind: "auth".into(),
                message: "authentication failed at /crm/v3/objects/contacts: HTTP 401".into(),
                exit_code: 3,
            }),
        }
    }

    #[test]
    fn history_rows_round_trip_through_the_warehouse() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::open(dir.path()).unwrap();
        write_history(&wh, &report("run-a", "crm", 120, false)).unwrap();
        write_history(&wh, &report("run-b", "ads", 0, true)).unwrap();
        let all = read_history(&wh, None).unwrap();
        assert_eq!(all.len(), 2);
        let crm = read_history(&wh, Some("crm")).unwrap();
        assert_eq!(crm.len(), 1);
        assert_eq!(crm[0].rows_committed, 120);
        assert_eq!(crm[0].status, "succeeded");
        assert_eq!(crm[0].error, None);
        let ads = read_history(&wh, Some("ads")).unwrap();
        assert_eq!(ads[0].status, "failed");
        assert!(ads[0].error.as_deref().unwrap().starts_with("auth: "));
        assert_eq!(
            (ads[0].finished_at - ads[0].started_at).num_seconds(),
            5,
            "timestamps survive"
        );
        // The per-stream list is kept for readers of the table.
        let batches = wh.read_run_history().unwrap();
        let streams = batches[0].column_by_name("streams").unwrap();
        assert_eq!(streams.as_list::<i32>().value(0).len(), 1);
    }
}
