use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, Int64Array, RecordBatch, RecordBatchReader, StringArray, StructArray,
    TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use braid_core::{CursorValue, StreamState};
use chrono::TimeZone;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn run() -> RunInfo {
    RunInfo {
        run_id: "0190a0a0-0000-7000-8000-000000000001".into(),
        started_at: Utc.with_ymd_and_hms(2024, 5, 1, 23, 59, 58).unwrap(),
    }
}

fn contacts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Utf8, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            true,
        ),
    ]))
}

fn contacts(ids: std::ops::Range<i64>) -> RecordBatch {
    let n = ids.end - ids.start;
    let id = Int64Array::from_iter_values(ids.clone());
    let email = StringArray::from_iter(
        ids.clone()
            .map(|i| (i % 3 != 0).then(|| format!("p{i}@x.io"))),
    );
    let ts = TimestampNanosecondArray::from_iter(
        ids.map(|i| (i % 5 != 0).then_some(1_700_000_000_123_456_789 + i * 1_000)),
    )
    .with_timezone("+02:00");
    assert_eq!(id.len() as i64, n);
    RecordBatch::try_new(
        contacts_schema(),
        vec![Arc::new(id), Arc::new(email), Arc::new(ts)],
    )
    .unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_parquet(path: &Path) -> (SchemaRef, Vec<RecordBatch>, usize) {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let groups = b.metadata().num_row_groups();
    let reader = b.build().unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    (schema, batches, groups)
}

fn state_with_cursor(c: i64, records: u64) -> SourceState {
    let mut s = SourceState::default();
    s.streams.insert(
        "contacts".into(),
        StreamState {
            cursor: Some(CursorValue::TimestampMicros(c)),
            boundary_keys: vec!["7".into()],
            resume: None,
            records_committed: records,
        },
    );
    s
}

#[test]
fn landed_file_has_micros_timestamps_lineage_and_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let run = run();
    let mut w = wh
        .stream_writer(
            &run,
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..10)).unwrap();
    w.write(&contacts(10..25)).unwrap();
    assert_eq!(w.rows_written(), 25);
    let f = w.finish_file().unwrap().unwrap();
    assert_eq!(w.finish_file().unwrap(), None, "nothing written since");
    assert_eq!(f.rows, 25);
    assert_eq!(f.stream, "contacts");
    assert_eq!(f.bytes, std::fs::metadata(&f.staged).unwrap().len());
    assert!(f
        .staged
        .starts_with(wh.root().join("_braid/staging").join(&run.run_id)));
    assert_eq!(
        f.final_path,
        wh.root().join(format!(
            "raw/hubspot/contacts/ingest_date=2024-05-01/part-{}-00000.parquet",
            run.run_id
        ))
    );

    let (schema, batches, _) = read_parquet(&f.staged);
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "email",
            "updated_at",
            "_braid_source",
            "_braid_run_id",
            "_braid_ingested_at"
        ]
    );
    assert_eq!(
        schema.field(2).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into()))
    );
    assert_eq!(
        schema.field(5).data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    assert_eq!(all.num_rows(), 25);
    let expected = contacts(0..25);
    assert_eq!(all.column(0).as_ref(), expected.column(0).as_ref());
    assert_eq!(all.column(1).as_ref(), expected.column(1).as_ref());
    let ts = all.column(2).as_primitive::<TimestampMicrosecondType>();
    let ts_ns = expected
        .column(2)
        .as_primitive::<arrow_array::types::TimestampNanosecondType>();
    for i in 0..25 {
        assert_eq!(ts.is_null(i), ts_ns.is_null(i));
        if !ts.is_null(i) {
            assert_eq!(ts.value(i), ts_ns.value(i) / 1000);
        }
    }
    assert_eq!(ts.value(1), 1_700_000_000_123_457);
    let src = all.column(3).as_string::<i32>();
    let run_ids = all.column(4).as_string::<i32>();
    let ingested = all.column(5).as_primitive::<TimestampMicrosecondType>();
    for i in 0..25 {
        assert_eq!(src.value(i), "hubspot");
        assert_eq!(run_ids.value(i), run.run_id);
        assert_eq!(ingested.value(i), run.started_at.timestamp_micros());
    }

    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.staged).unwrap()).unwrap();
    let md = b.metadata().file_metadata();
    let kv = md.key_value_metadata().unwrap();
    assert!(kv
        .iter()
        .any(|k| k.key == STREAM_METADATA_KEY && k.value.as_deref() == Some("contacts")));
    let col = b.metadata().row_group(0).column(0);
    assert!(matches!(
        col.compression(),
        parquet::basic::Compression::ZSTD(_)
    ));
    assert!(col.statistics().is_some(), "statistics are written");
}

#[test]
fn nested_nanosecond_timestamps_land_as_micros() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let inner = Fields::from(vec![Field::new(
        "at",
        DataType::Timestamp(TimeUnit::Nanosecond, None),
        true,
    )]);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "ev",
        DataType::Struct(inner.clone()),
        true,
    )]));
    let at: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
        Some(5_000),
        None,
        Some(12_345_678),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StructArray::new(inner, vec![at], None))],
    )
    .unwrap();
    let mut w = wh
        .stream_writer(&run(), "shop", "events", schema, WriterOptions::default())
        .unwrap();
    w.write(&batch).unwrap();
    let f = w.finish_file().unwrap().unwrap();
    let (_, batches, _) = read_parquet(&f.staged);
    let s = batches[0].column(0).as_struct();
    let at = s.column(0).as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        at.data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(at.value(0), 5);
    assert!(at.is_null(1));
    assert_eq!(at.value(2), 12_345);
}

fn wide_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("blob", DataType::Utf8, false),
    ]))
}

/// Rows of ~200 bytes of poorly compressible text.
fn wide_batch(n: i64) -> RecordBatch {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let blob = StringArray::from_iter_values((0..n).map(|_| {
        (0..25)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:08x}", x as u32)
            })
            .collect::<String>()
    }));
    RecordBatch::try_new(
        wide_schema(),
        vec![Arc::new(Int64Array::from_iter_values(0..n)), Arc::new(blob)],
    )
    .unwrap()
}

#[test]
fn row_groups_are_flushed_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let threshold = 256 * 1024;
    let opts = WriterOptions {
        row_group_bytes: threshold,
        ..WriterOptions::default()
    };
    let mut w = wh
        .stream_writer(&run(), "s", "wide", wide_schema(), opts)
        .unwrap();
    let batch = wide_batch(20_000); // ~4 MB in one batch
    w.write(&batch).unwrap();
    assert!(
        w.buffered_bytes() < 4 * threshold,
        "buffered {} bytes with a {threshold} byte threshold",
        w.buffered_bytes()
    );
    let f = w.finish_file().unwrap().unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.staged).unwrap()).unwrap();
    let md = b.metadata();
    assert!(
        md.num_row_groups() >= 8,
        "{} row groups",
        md.num_row_groups()
    );
    let rows: i64 = md.row_groups().iter().map(|g| g.num_rows()).sum();
    assert_eq!(rows, 20_000);
    for g in md.row_groups() {
        assert!(
            g.compressed_size() < 3 * threshold as i64,
            "row group of {} bytes",
            g.compressed_size()
        );
    }
    let ids: Vec<i64> = b
        .build()
        .unwrap()
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(ids, (0..20_000).collect::<Vec<_>>());
}

#[test]
fn row_groups_are_flushed_by_rows() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let opts = WriterOptions {
        row_group_rows: 1000,
        ..WriterOptions::default()
    };
    let mut w = wh
        .stream_writer(&run(), "s", "c", contacts_schema(), opts)
        .unwrap();
    w.write(&contacts(0..1500)).unwrap();
    w.write(&contacts(1500..2500)).unwrap();
    let f = w.finish_file().unwrap().unwrap();
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.staged).unwrap()).unwrap();
    let sizes: Vec<i64> = b
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(sizes.iter().sum::<i64>(), 2500);
    assert!(sizes.iter().all(|&n| n <= 1000), "{sizes:?}");
}

#[test]
fn commit_publishes_files_and_state_together() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(
        wh.load_state("daily", "hubspot").unwrap(),
        SourceState::default()
    );
    let run = run();
    let mut w = wh
        .stream_writer(
            &run,
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..10)).unwrap();
    let f1 = w.finish_file().unwrap().unwrap();
    w.write(&contacts(10..14)).unwrap();
    let f2 = w.finish_file().unwrap().unwrap();
    assert_ne!(f1.final_path, f2.final_path);
    assert!(
        files_under(&wh.root().join("raw")).is_empty(),
        "nothing visible before commit"
    );

    let state = state_with_cursor(1_700_000_000_000_000, 14);
    let out = wh
        .commit("daily", "hubspot", &state, vec![f1.clone(), f2.clone()])
        .unwrap();
    assert_eq!(out.rows, 14);
    assert_eq!(out.bytes, f1.bytes + f2.bytes);
    assert_eq!(
        out.files,
        vec![f1.final_path.clone(), f2.final_path.clone()]
    );
    assert_eq!(
        files_under(&wh.root().join("raw")),
        vec![f1.final_path.clone(), f2.final_path.clone()]
    );
    assert!(!f1.staged.exists() && !f2.staged.exists());
    let (_, batches, _) = read_parquet(&f2.final_path);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 4);

    assert_eq!(wh.load_state("daily", "hubspot").unwrap(), state);
    assert_eq!(
        wh.load_state("other", "hubspot").unwrap(),
        SourceState::default()
    );
    let raw: serde_json::Value = serde_json::from_slice(
        &std::fs::read(wh.root().join("_braid/state/daily/hubspot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(raw["pending"], serde_json::json!([]));
    assert_eq!(raw["state"]["streams"]["contacts"]["records_committed"], 14);

    // A state-only commit, then a fresh warehouse sees the newest state.
    let state2 = state_with_cursor(1_800_000_000_000_000, 14);
    let out = wh.commit("daily", "hubspot", &state2, vec![]).unwrap();
    assert_eq!(out, CommitOutcome::default());
    drop(w);
    drop(wh);
    let wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(wh.load_state("daily", "hubspot").unwrap(), state2);
    assert_eq!(files_under(&wh.root().join("raw")).len(), 2);
}

#[test]
fn commit_refuses_foreign_or_reused_files() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let mut w = wh
        .stream_writer(
            &run(),
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..3)).unwrap();
    let f = w.finish_file().unwrap().unwrap();
    let st = SourceState::default();

    let err = wh.commit("p", "shopify", &st, vec![f.clone()]).unwrap_err();
    assert!(
        matches!(err, WarehouseError::InvalidStagedFile { .. }),
        "{err}"
    );
    let mut outside = f.clone();
    outside.staged = dir.path().join("elsewhere.parquet");
    assert!(matches!(
        wh.commit("p", "hubspot", &st, vec![outside]).unwrap_err(),
        WarehouseError::InvalidStagedFile { .. }
    ));
    let mut escape = f.clone();
    escape.final_path = wh.root().join("raw/hubspot/../../x.parquet");
    assert!(matches!(
        wh.commit("p", "hubspot", &st, vec![escape]).unwrap_err(),
        WarehouseError::InvalidStagedFile { .. }
    ));
    assert!(matches!(
        wh.commit("p", "hubspot", &st, vec![f.clone(), f.clone()])
            .unwrap_err(),
        WarehouseError::InvalidStagedFile { .. }
    ));
    // Refused commits changed nothing.
    assert!(!wh.root().join("_braid/state/p/hubspot.json").exists());
    assert!(f.staged.exists());

    wh.commit("p", "hubspot", &st, vec![f.clone()]).unwrap();
    let err = wh.commit("p", "hubspot", &st, vec![f.clone()]).unwrap_err();
    assert!(
        matches!(err, WarehouseError::InvalidStagedFile { .. }),
        "{err}"
    );
    assert_eq!(files_under(&wh.root().join("raw")), vec![f.final_path]);
}

/// Simulate a crash right after the commit point (step 2): the state file
/// lists pending files, none (or some) renamed yet.
#[test]
fn recovery_publishes_pending_files_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_with_cursor(42, 7);
    let (f1, f2) = {
        let wh = Warehouse::open(dir.path()).unwrap();
        let mut w = wh
            .stream_writer(
                &run(),
                "hubspot",
                "contacts",
                contacts_schema(),
                WriterOptions::default(),
            )
            .unwrap();
        w.write(&contacts(0..4)).unwrap();
        let f1 = w.finish_file().unwrap().unwrap();
        w.write(&contacts(4..7)).unwrap();
        let f2 = w.finish_file().unwrap().unwrap();
        let pending = wh
            .check_staged("hubspot", &[f1.clone(), f2.clone()])
            .unwrap();
        commit::write_state_file(&wh.state_path("daily", "hubspot"), &state, &pending).unwrap();
        // Crash mid step 3: the first file was renamed, the second was not.
        storage::rename_durable(&f1.staged, &f1.final_path).unwrap();
        (f1, f2)
        // Dropped without finishing: the process "dies" here.
    };
    assert_eq!(
        files_under(&dir.path().join("raw")),
        vec![f1.final_path.clone()]
    );

    let wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(wh.recovery().published, vec![f2.final_path.clone()]);
    assert_eq!(
        files_under(&wh.root().join("raw")),
        vec![f1.final_path.clone(), f2.final_path.clone()]
    );
    assert_eq!(wh.load_state("daily", "hubspot").unwrap(), state);
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wh.state_path("daily", "hubspot")).unwrap()).unwrap();
    assert_eq!(raw["pending"], serde_json::json!([]));
    let rows: usize = files_under(&wh.root().join("raw"))
        .iter()
        .map(|p| {
            read_parquet(p)
                .1
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(rows, 7);
    assert!(files_under(&wh.root().join("_braid/staging")).is_empty());
    drop(wh);

    // Opening again changes nothing.
    let wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(wh.recovery(), &RecoveryReport::default());
    assert_eq!(files_under(&wh.root().join("raw")).len(), 2);
}

#[test]
fn load_state_finishes_an_interrupted_commit() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let mut w = wh
        .stream_writer(
            &run(),
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..4)).unwrap();
    let f = w.finish_file().unwrap().unwrap();
    let pending = wh
        .check_staged("hubspot", std::slice::from_ref(&f))
        .unwrap();
    let state = state_with_cursor(1, 4);
    commit::write_state_file(&wh.state_path("d", "hubspot"), &state, &pending).unwrap();
    assert!(!f.final_path.exists());
    assert_eq!(wh.load_state("d", "hubspot").unwrap(), state);
    assert!(f.final_path.exists() && !f.staged.exists());
}

#[test]
fn open_removes_uncommitted_staging_but_not_live_runs() {
    let dir = tempfile::tempdir().unwrap();
    let crashed = RunInfo::new();
    {
        let wh = Warehouse::open(dir.path()).unwrap();
        let mut w = wh
            .stream_writer(
                &crashed,
                "hubspot",
                "contacts",
                contacts_schema(),
                WriterOptions::default(),
            )
            .unwrap();
        w.write(&contacts(0..4)).unwrap();
        w.finish_file().unwrap().unwrap();
        w.write(&contacts(4..8)).unwrap(); // an open, partial file
                                           // Never closed: the process "dies" with a partial file in staging.
        drop(w);
        assert_eq!(
            files_under(&dir.path().join("_braid/staging").join(&crashed.run_id)).len(),
            3
        );
    }
    let live_wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(
        live_wh.recovery().discarded_runs,
        vec![crashed.run_id.clone()]
    );
    assert!(!dir
        .path()
        .join("_braid/staging")
        .join(&crashed.run_id)
        .exists());
    assert!(files_under(&dir.path().join("raw")).is_empty());

    // A run being written by a live warehouse survives another open.
    let live = RunInfo::new();
    let mut w = live_wh
        .stream_writer(
            &live,
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..4)).unwrap();
    let f = w.finish_file().unwrap().unwrap();
    let other = Warehouse::open(dir.path()).unwrap();
    assert!(other.recovery().discarded_runs.is_empty());
    assert!(f.staged.exists());
    assert!(matches!(
        other.stream_writer(&live, "hubspot", "contacts", contacts_schema(), WriterOptions::default()),
        Err(WarehouseError::RunInUse(id)) if id == live.run_id
    ));
    assert!(matches!(
        other.discard_staging(&live.run_id),
        Err(WarehouseError::RunInUse(_))
    ));
    live_wh
        .commit("p", "hubspot", &SourceState::default(), vec![f.clone()])
        .unwrap();
    assert!(f.final_path.exists());
}

#[test]
fn discard_staging_drops_uncommitted_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let run = run();
    let mut w = wh
        .stream_writer(
            &run,
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..4)).unwrap();
    let committed = w.finish_file().unwrap().unwrap();
    wh.commit(
        "p",
        "hubspot",
        &state_with_cursor(1, 4),
        vec![committed.clone()],
    )
    .unwrap();
    w.write(&contacts(4..8)).unwrap();
    let uncommitted = w.finish_file().unwrap().unwrap();
    wh.discard_staging(&run.run_id).unwrap();
    assert!(!uncommitted.staged.exists() && !uncommitted.final_path.exists());
    assert!(committed.final_path.exists());
    assert!(!wh.root().join("_braid/staging").join(&run.run_id).exists());
    assert_eq!(
        wh.load_state("p", "hubspot").unwrap(),
        state_with_cursor(1, 4)
    );
    wh.discard_staging(&run.run_id).unwrap(); // idempotent
}

#[test]
fn corrupt_state_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    wh.commit("p", "hubspot", &state_with_cursor(1, 1), vec![])
        .unwrap();
    let path = wh.state_path("p", "hubspot");
    std::fs::write(&path, b"{\"format\": 1, \"state\": {\"streams\": ").unwrap();

    let err = wh.load_state("p", "hubspot").unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Corrupt { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
    let err = wh
        .commit("p", "hubspot", &SourceState::default(), vec![])
        .unwrap_err();
    assert!(matches!(err, WarehouseError::Corrupt { .. }), "{err}");
    drop(wh);
    let err = Warehouse::open(dir.path()).unwrap_err();
    assert!(
        matches!(&err, WarehouseError::Corrupt { path: p, .. } if *p == path),
        "{err}"
    );
    // Still there, untouched.
    assert!(std::fs::read(&path).unwrap().ends_with(b"\"streams\": "));
}

#[test]
fn lost_committed_file_and_escaping_paths_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let path = wh.state_path("p", "s");
    let pending = vec![commit::PendingFile {
        staged: "_braid/staging/r/s/t/part-r-00000.parquet".into(),
        final_path: "raw/s/t/ingest_date=2024-01-01/part-r-00000.parquet".into(),
    }];
    commit::write_state_file(&path, &SourceState::default(), &pending).unwrap();
    let err = wh.load_state("p", "s").unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");

    let pending = vec![commit::PendingFile {
        staged: "_braid/staging/../../../etc/passwd".into(),
        final_path: "raw/s/x.parquet".into(),
    }];
    commit::write_state_file(&path, &SourceState::default(), &pending).unwrap();
    let err = wh.load_state("p", "s").unwrap_err();
    assert!(matches!(err, WarehouseError::Corrupt { .. }), "{err}");
}

#[test]
fn bad_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let opts = WriterOptions::default;
    assert!(matches!(
        wh.stream_writer(&run(), "hub/spot", "c", contacts_schema(), opts()),
        Err(WarehouseError::InvalidName { kind: "source", .. })
    ));
    assert!(matches!(
        wh.stream_writer(&run(), "hubspot", "..", contacts_schema(), opts()),
        Err(WarehouseError::InvalidName { kind: "stream", .. })
    ));
    let bad_run = RunInfo {
        run_id: "../x".into(),
        ..run()
    };
    assert!(matches!(
        wh.stream_writer(&bad_run, "hubspot", "c", contacts_schema(), opts()),
        Err(WarehouseError::InvalidName { kind: "run id", .. })
    ));
    assert!(matches!(
        wh.load_state("a b", "s"),
        Err(WarehouseError::InvalidName {
            kind: "pipeline",
            ..
        })
    ));
    assert!(matches!(
        wh.commit("p", "", &SourceState::default(), vec![]),
        Err(WarehouseError::InvalidName { kind: "source", .. })
    ));
    assert!(matches!(
        wh.write_run_report("../evil", b"{}"),
        Err(WarehouseError::InvalidName { .. })
    ));
    assert!(matches!(
        wh.discard_staging("a/b"),
        Err(WarehouseError::InvalidName { .. })
    ));
    assert!(files_under(dir.path()).is_empty(), "nothing was created");
}

#[test]
fn schema_mismatch_names_stream_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let mut w = wh
        .stream_writer(
            &run(),
            "hubspot",
            "contacts",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    let other = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("email", DataType::Int64, true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            true,
        ),
    ]));
    let b = RecordBatch::try_new(
        other,
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(Int64Array::from(vec![2])),
            Arc::new(TimestampNanosecondArray::from(vec![3]).with_timezone("+02:00")),
        ],
    )
    .unwrap();
    let err = w.write(&b).unwrap_err();
    match &err {
        WarehouseError::SchemaMismatch { stream, field, .. } => {
            assert_eq!(stream, "contacts");
            assert_eq!(field, "email");
        }
        e => panic!("unexpected {e}"),
    }
    let short = contacts(0..2).project(&[0, 1]).unwrap();
    assert!(matches!(
        w.write(&short).unwrap_err(),
        WarehouseError::SchemaMismatch { field, .. } if field == "updated_at"
    ));
    assert_eq!(w.rows_written(), 0);
    assert_eq!(
        w.finish_file().unwrap(),
        None,
        "no file opened for refused batches"
    );

    // A non-nullable batch field may land in a nullable column.
    let strict = Arc::new(Schema::new(vec![Field::new(
        "email",
        DataType::Utf8,
        false,
    )]));
    let loose = Arc::new(Schema::new(vec![Field::new("email", DataType::Utf8, true)]));
    let mut w = wh
        .stream_writer(&run(), "hubspot", "emails", loose, WriterOptions::default())
        .unwrap();
    w.write(&RecordBatch::try_new(strict, vec![Arc::new(StringArray::from(vec!["a"]))]).unwrap())
        .unwrap();
    assert_eq!(w.rows_written(), 1);
}

#[test]
fn reserved_lineage_names_and_bad_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new(
        "_braid_run_id",
        DataType::Utf8,
        true,
    )]));
    assert!(matches!(
        wh.stream_writer(&run(), "s", "t", schema, WriterOptions::default()),
        Err(WarehouseError::ReservedField { field, .. }) if field == "_braid_run_id"
    ));
    let bad = WriterOptions {
        zstd_level: 40,
        ..WriterOptions::default()
    };
    assert!(matches!(
        wh.stream_writer(&run(), "s", "t", contacts_schema(), bad),
        Err(WarehouseError::InvalidOptions(_))
    ));
    let bad = WriterOptions {
        row_group_bytes: 0,
        ..WriterOptions::default()
    };
    assert!(matches!(
        wh.stream_writer(&run(), "s", "t", contacts_schema(), bad),
        Err(WarehouseError::InvalidOptions(_))
    ));
}

#[test]
fn run_reports_are_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let id = RunInfo::new().run_id;
    let p = wh
        .write_run_report(&id, br#"{"status":"running"}"#)
        .unwrap();
    let p2 = wh
        .write_run_report(&id, br#"{"status":"succeeded"}"#)
        .unwrap();
    assert_eq!(p, p2);
    assert_eq!(p, wh.root().join("_braid/runs").join(format!("{id}.json")));
    assert_eq!(std::fs::read(&p).unwrap(), br#"{"status":"succeeded"}"#);
    assert_eq!(files_under(&wh.root().join("_braid/runs")), vec![p]);
}

#[test]
fn run_info_new_is_a_uuid_v7_and_dates_in_utc() {
    let r = RunInfo::new();
    let u = uuid::Uuid::parse_str(&r.run_id).unwrap();
    assert_eq!(u.get_version_num(), 7);
    assert_eq!(run().ingest_date(), "2024-05-01");
    let late = RunInfo {
        started_at: chrono::DateTime::parse_from_rfc3339("2024-05-01T23:30:00-05:00")
            .unwrap()
            .with_timezone(&Utc),
        ..run()
    };
    assert_eq!(late.ingest_date(), "2024-05-02");
}

#[test]
fn empty_batches_open_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    let mut w = wh
        .stream_writer(
            &run(),
            "s",
            "t",
            contacts_schema(),
            WriterOptions::default(),
        )
        .unwrap();
    w.write(&contacts(0..0)).unwrap();
    assert_eq!(w.buffered_bytes(), 0);
    assert_eq!(w.finish_file().unwrap(), None);
    let f = {
        w.write(&contacts(0..1)).unwrap();
        w.finish_file().unwrap().unwrap()
    };
    assert!(f
        .final_path
        .ends_with(format!("part-{}-00000.parquet", run().run_id)));
}

/// Stop the real `commit` at each step of the protocol, drop everything (the
/// process dies) and reopen: either the commit happened completely (files
/// published exactly once + new state) or not at all (old state, nothing
/// published, staging cleaned).
#[test]
fn a_crash_at_any_commit_step_is_all_or_nothing() {
    for point in 0u8..=3 {
        let dir = tempfile::tempdir().unwrap();
        let old = state_with_cursor(1, 0);
        let new = state_with_cursor(2, 7);
        let files = {
            let wh = Warehouse::open(dir.path()).unwrap();
            wh.commit("p", "hubspot", &old, vec![]).unwrap();
            let mut w = wh
                .stream_writer(
                    &RunInfo::new(),
                    "hubspot",
                    "contacts",
                    contacts_schema(),
                    WriterOptions::default(),
                )
                .unwrap();
            w.write(&contacts(0..3)).unwrap();
            let f1 = w.finish_file().unwrap().unwrap();
            w.write(&contacts(3..7)).unwrap();
            let f2 = w.finish_file().unwrap().unwrap();
            commit::CRASH_AT.set(Some(point));
            let err = wh.commit("p", "hubspot", &new, vec![f1.clone(), f2.clone()]);
            commit::CRASH_AT.set(None);
            assert!(err.unwrap_err().to_string().contains("simulated crash"));
            vec![f1.final_path, f2.final_path]
        };
        let wh = Warehouse::open(dir.path()).unwrap();
        let published = files_under(&wh.root().join("raw"));
        if point == 0 {
            assert!(published.is_empty(), "point {point}");
            assert_eq!(wh.load_state("p", "hubspot").unwrap(), old, "point {point}");
        } else {
            assert_eq!(published, files, "point {point}");
            assert_eq!(wh.load_state("p", "hubspot").unwrap(), new, "point {point}");
        }
        assert_eq!(
            wh.recovery().discarded_runs.len(),
            usize::from(point == 0),
            "uncommitted files are discarded only if the commit did not happen (point {point})"
        );
        assert!(
            files_under(&wh.root().join("_braid/staging")).is_empty(),
            "point {point}"
        );
    }
}

#[test]
fn leftover_temp_files_do_not_break_open_and_old_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::open(dir.path()).unwrap();
    wh.commit("p", "hubspot", &state_with_cursor(5, 1), vec![])
        .unwrap();
    let state_dir = wh.root().join("_braid/state/p");
    // A write interrupted mid-way: a partial temp file beside the state file.
    let fresh = state_dir.join(".tmp-0123-hubspot.json.tmp");
    let old = state_dir.join(".tmp-4567-hubspot.json.tmp");
    std::fs::write(&fresh, b"{\"format\": 1, \"sta").unwrap();
    std::fs::write(&old, b"{").unwrap();
    let f = File::options().write(true).open(&old).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 3600))
        .unwrap();
    drop(f);
    // Also a legacy-looking temp name ending in .json must not be read as state.
    std::fs::write(state_dir.join(".tmp-89-hubspot.json"), b"{").unwrap();
    // An empty staging dir of a run that ended without discard_staging.
    std::fs::create_dir_all(wh.root().join("_braid/staging/finished-run/hubspot")).unwrap();
    drop(wh);

    let wh = Warehouse::open(dir.path()).unwrap();
    assert_eq!(
        wh.load_state("p", "hubspot").unwrap(),
        state_with_cursor(5, 1)
    );
    assert!(
        fresh.exists(),
        "a recent temp file may belong to a live writer"
    );
    assert!(!old.exists());
    assert!(
        wh.recovery().discarded_runs.is_empty(),
        "no data was discarded"
    );
    assert!(!wh.root().join("_braid/staging/finished-run").exists());
}
