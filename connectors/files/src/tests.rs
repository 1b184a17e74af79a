//! End-to-end tests of the source over fixture files.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, RecordBatch};
use braid_core::{ConfiguredStream, SourceState, StreamState};
use futures::StreamExt;
use serde_json::json;

use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn source(dir: &Path, streams: serde_json::Value) -> Box<dyn Source> {
    FilesConnector::with_base_dir(dir)
        .build(json!({ "streams": streams }))
        .unwrap()
}

struct Run {
    batches: Vec<RecordBatch>,
    messages: Vec<Message>,
}

impl Run {
    fn rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
    fn i64s(&self, col: &str) -> Vec<i64> {
        self.batches
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name(col).unwrap().as_primitive::<Int64Type>();
                c.iter().map(|v| v.unwrap()).collect::<Vec<_>>()
            })
            .collect()
    }
    fn strings(&self, col: &str) -> Vec<Option<String>> {
        self.batches
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name(col).unwrap().as_string::<i32>();
                c.iter().map(|v| v.map(str::to_owned)).collect::<Vec<_>>()
            })
            .collect()
    }
    fn checkpoints(&self) -> Vec<Option<serde_json::Value>> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                Message::Checkpoint { resume, .. } => Some(resume.clone()),
                _ => None,
            })
            .collect()
    }
    fn pages(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| match m {
                Message::Progress { pages, .. } => *pages,
                _ => 0,
            })
            .sum()
    }
}

async fn read(src: &dyn Source, mode: SyncMode, state: SourceState) -> Result<Run> {
    let catalog = src.discover().await?;
    let schemas: std::collections::HashMap<String, SchemaRef> = catalog
        .streams
        .iter()
        .map(|s| (s.name.clone(), s.schema.clone()))
        .collect();
    let request = ReadRequest {
        streams: catalog
            .streams
            .into_iter()
            .map(|stream| ConfiguredStream {
                stream,
                sync_mode: mode,
            })
            .collect(),
        state,
    };
    let mut messages = src.read(request).await?;
    let mut run = Run {
        batches: Vec::new(),
        messages: Vec::new(),
    };
    while let Some(m) = messages.next().await {
        let m = m?;
        if let Message::Batch { batch, stream } = &m {
            // What read yields matches what discover promised.
            assert_eq!(
                &batch.schema(),
                &schemas[stream],
                "schema of a batch of `{stream}`"
            );
            run.batches.push(batch.clone());
        }
        run.messages.push(m);
    }
    Ok(run)
}

fn data_error(r: Result<Run>) -> String {
    match r {
        Err(Error::Data { stream, message }) => format!("{stream}: {message}"),
        Err(e) => panic!("expected a data error, got {e}"),
        Ok(run) => panic!("expected a data error, read {} rows", run.rows()),
    }
}

fn state_with(stream: &str, s: StreamState) -> SourceState {
    let mut state = SourceState::default();
    state.streams.insert(stream.to_owned(), s);
    state
}

#[tokio::test]
async fn spec_names_the_connector_and_bad_config_is_a_config_error() {
    let c = FilesConnector::new();
    assert_eq!(c.spec().name, "files");
    assert_eq!(c.spec().config_schema["required"], json!(["streams"]));
    match c.build(json!({"streams": [{"name": "a", "path": "x.csv", "header": true}]})) {
        Err(Error::Config(m)) => assert!(m.contains("`header`"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted an unknown field"),
    }
}

#[tokio::test]
async fn jsonl_directory_full_refresh_with_counts_values_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "orders/b.jsonl",
        "{\"id\": 3, \"name\": \"c\"}\n{\"id\": 4, \"name\": null}\n{\"id\": 5, \"name\": \"e\"}\n",
    );
    write(
        dir.path(),
        "orders/a.jsonl",
        "{\"id\": 1, \"name\": \"a\"}\n\n{\"id\": 2, \"name\": \"b\", \"extra\": 1}\n",
    );
    let src = source(
        dir.path(),
        json!([{"name": "orders", "path": "orders", "batch_rows": 2, "unknown_fields": "ignore",
                "primary_key": ["id"]}]),
    );
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.rows(), 5);
    assert_eq!(run.i64s("id"), [1, 2, 3, 4, 5]);
    assert_eq!(
        run.strings("name"),
        [
            Some("a".into()),
            Some("b".into()),
            Some("c".into()),
            None,
            Some("e".into())
        ]
    );
    assert!(run.batches.iter().all(|b| b.num_rows() <= 2));
    assert_eq!(run.pages(), 2);
    let a = dir
        .path()
        .join("orders/a.jsonl")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        run.checkpoints(),
        [Some(json!({ "files_done": [a] })), None]
    );
}

#[tokio::test]
async fn csv_glob_with_declared_decimal_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "in/2024-01.csv",
        "id,amount,paid_at,note\n1,12.34,2024-01-02T03:04:05Z,\"hello, world\"\n2,0.5,2024-01-02 10:00:00.123456,\n",
    );
    // Columns in another order: matched by name.
    write(
        dir.path(),
        "in/2024-02.csv",
        "amount,id,note,paid_at\n-7,3,x,2024-02-01T00:00:00+01:00\n",
    );
    write(dir.path(), "in/skip.jsonl", "{\"id\": 99}\n");
    let src = source(
        dir.path(),
        json!([{"name": "payments", "path": "in/*.csv", "schema": [
            {"name": "id", "type": "int64", "nullable": false},
            {"name": "amount", "type": "decimal(12,2)"},
            {"name": "paid_at", "type": "timestamp"},
            {"name": "note", "type": "string"}]}]),
    );
    src.check().await.unwrap();
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.rows(), 3);
    assert_eq!(run.i64s("id"), [1, 2, 3]);
    let amounts: Vec<i128> = run
        .batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("amount")
                .unwrap()
                .as_primitive::<Decimal128Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(amounts, [1234, 50, -700]);
    let ts: Vec<i64> = run
        .batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("paid_at")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(
        ts,
        [
            1_704_164_645_000_000,
            1_704_189_600_123_456,
            1_706_742_000_000_000
        ]
    );
    assert_eq!(
        run.strings("note"),
        [Some("hello, world".into()), None, Some("x".into())]
    );
    assert_eq!(
        run.batches[0].schema().field(1).data_type(),
        &DataType::Decimal128(12, 2)
    );
}

#[tokio::test]
async fn inferred_schemas_for_csv_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "c.csv",
        "id,price,active,day,at,label\n1,1.5,true,2024-01-01,2024-01-01T10:00:00Z,a\n2,2,false,2024-01-02,2024-01-02 11:00:00,b\n",
    );
    write(
        dir.path(),
        "j.ndjson",
        "{\"id\": 1, \"price\": 1.5, \"at\": \"2024-01-01T10:00:00Z\", \"day\": \"2024-01-01\", \"tags\": [\"x\"], \"s\": \"2024-01-01 note\"}\n{\"id\": 2, \"price\": 2, \"at\": \"2024-01-02T10:00:00.5+02:00\", \"day\": null, \"s\": null}\n",
    );
    let src = source(
        dir.path(),
        json!([{"name": "c", "path": "c.csv"}, {"name": "j", "path": "j.ndjson"}]),
    );
    let catalog = src.discover().await.unwrap();
    let c = &catalog.stream("c").unwrap().schema;
    let types: Vec<DataType> = c.fields().iter().map(|f| f.data_type().clone()).collect();
    assert_eq!(
        types,
        [
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Date32,
            timestamp_type(),
            DataType::Utf8
        ]
    );
    let j = &catalog.stream("j").unwrap().schema;
    assert_eq!(
        j.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        j.field_with_name("price").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        j.field_with_name("at").unwrap().data_type(),
        &timestamp_type()
    );
    assert_eq!(
        j.field_with_name("day").unwrap().data_type(),
        &DataType::Date32
    );
    assert_eq!(j.field_with_name("s").unwrap().data_type(), &DataType::Utf8);

    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    let jb: Vec<&RecordBatch> = run
        .batches
        .iter()
        .filter(|b| b.schema().field_with_name("tags").is_ok())
        .collect();
    assert_eq!(jb.len(), 1);
    let at = jb[0]
        .column_by_name("at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(
        at.values().to_vec(),
        [1_704_103_200_000_000, 1_704_182_400_500_000]
    );
    let day = jb[0]
        .column_by_name("day")
        .unwrap()
        .as_primitive::<Date32Type>();
    assert_eq!((day.value(0), day.is_null(1)), (19_723, true));
    let price = jb[0]
        .column_by_name("price")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(price.values().to_vec(), [1.5, 2.0]);
}

#[tokio::test]
async fn declared_schema_overrides_inference() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.jsonl", "{\"id\": \"007\", \"n\": 1}\n");
    let src = source(
        dir.path(),
        json!([{"name": "a", "path": "a.jsonl", "schema": [{"name": "id", "type": "string"}, {"name": "n", "type": "float64"}]}]),
    );
    let catalog = src.discover().await.unwrap();
    let schema = &catalog.streams[0].schema;
    assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
    assert_eq!(schema.field(1).data_type(), &DataType::Float64);
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.strings("id"), [Some("007".into())]);
}

#[tokio::test]
async fn incremental_keeps_rows_at_or_after_the_cursor_and_checkpoints_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "d/1.jsonl",
        "{\"id\": 1, \"updated_at\": \"2024-01-01T00:00:00Z\"}\n{\"id\": 2, \"updated_at\": \"2024-01-03T00:00:00Z\"}\n",
    );
    write(
        dir.path(),
        "d/2.jsonl",
        "{\"id\": 3, \"updated_at\": \"2024-01-02T00:00:00Z\"}\n{\"id\": 4, \"updated_at\": \"2024-01-05T00:00:00Z\"}\n{\"id\": 5, \"updated_at\": null}\n",
    );
    let src = source(
        dir.path(),
        json!([{"name": "d", "path": "d/*.jsonl", "primary_key": ["id"], "cursor_field": "updated_at"}]),
    );
    let catalog = src.discover().await.unwrap();
    assert!(catalog.streams[0].supports(SyncMode::Incremental));

    // First run: everything, one checkpoint at the end.
    let run = read(src.as_ref(), SyncMode::Incremental, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.i64s("id"), [1, 2, 3, 4, 5]);
    assert_eq!(run.checkpoints(), [None]);
    assert!(matches!(
        run.messages.last(),
        Some(Message::Checkpoint { .. })
    ));
    let max = run
        .batches
        .iter()
        .filter_map(|b| braid_core::cursor_column_max(b.column_by_name("updated_at").unwrap()))
        .fold(None::<CursorValue>, |a, v| match a {
            Some(a) if a >= v => Some(a),
            _ => Some(v),
        });
    assert_eq!(
        max,
        Some(CursorValue::TimestampMicros(1_704_412_800_000_000))
    );

    // Later run from 2024-01-03: inclusive bound keeps id 2 (== cursor) and id 4.
    let state = state_with(
        "d",
        StreamState {
            cursor: Some(CursorValue::TimestampMicros(1_704_240_000_000_000)),
            ..Default::default()
        },
    );
    let run = read(src.as_ref(), SyncMode::Incremental, state)
        .await
        .unwrap();
    assert_eq!(run.i64s("id"), [2, 4]);
    assert_eq!(run.checkpoints(), [None]);
    assert_eq!(run.pages(), 2);

    // A cursor of another kind is a config error, not a silent full read.
    let state = state_with(
        "d",
        StreamState {
            cursor: Some(CursorValue::Int(5)),
            ..Default::default()
        },
    );
    match read(src.as_ref(), SyncMode::Incremental, state).await {
        Err(Error::Config(m)) => assert!(m.contains("updated_at"), "{m}"),
        other => panic!("expected a config error, got {:?}", other.map(|r| r.rows())),
    }
}

#[tokio::test]
async fn incremental_on_csv_integer_cursor() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "v.csv", "id,version\na,1\nb,7\nc,3\nd,8\n");
    let src = source(
        dir.path(),
        json!([{"name": "v", "path": "v.csv", "cursor_field": "version"}]),
    );
    let state = state_with(
        "v",
        StreamState {
            cursor: Some(CursorValue::Int(7)),
            ..Default::default()
        },
    );
    let run = read(src.as_ref(), SyncMode::Incremental, state)
        .await
        .unwrap();
    assert_eq!(run.i64s("version"), [7, 8]);
    assert_eq!(run.strings("id"), [Some("b".into()), Some("d".into())]);
}

#[tokio::test]
async fn truncated_json_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 1..=6 {
        text.push_str(&format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n"));
    }
    // Line 7 is cut off mid-string, line 8 is fine again.
    text.push_str("{\"id\": 7, \"name\": \"tru\n{\"id\": 8, \"name\": \"n8\"}\n");
    let p = write(dir.path(), "t.jsonl", &text);
    let src = source(
        dir.path(),
        json!([{"name": "t", "path": "t.jsonl", "batch_rows": 2,
                "schema": [{"name": "id", "type": "int64"}, {"name": "name", "type": "string"}]}]),
    );
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.starts_with("t: "), "{m}");
    assert!(m.contains(&format!("file `{}` line 7", p.display())), "{m}");

    // Truncated at the end of the file (no closing brace, no newline).
    write(
        dir.path(),
        "t.jsonl",
        "{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3, \"na",
    );
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.contains("line 3") && m.contains("truncated"), "{m}");
}

#[tokio::test]
async fn json_value_of_the_wrong_type_names_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "w.jsonl",
        "{\"id\": 1, \"amount\": 1.25}\n{\"id\": 2, \"amount\": 2}\n{\"id\": 3, \"amount\": 3}\n\n{\"id\": 4, \"amount\": \"lots\"}\n",
    );
    let src = source(
        dir.path(),
        json!([{"name": "w", "path": "w.jsonl", "batch_rows": 2,
                "schema": [{"name": "id", "type": "int64", "nullable": false}, {"name": "amount", "type": "decimal(12,2)"}]}]),
    );
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.contains(&format!("file `{}` line 5", p.display())), "{m}");
    assert!(m.contains("field `amount`"), "{m}");

    write(dir.path(), "w.jsonl", "{\"id\": 1}\n{\"amount\": 2}\n");
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("line 2") && m.contains("field `id`") && m.contains("nullable: false"),
        "{m}"
    );
}

#[tokio::test]
async fn a_file_whose_schema_changed_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s/1.jsonl", "{\"id\": 1, \"email\": \"a@x\"}\n");
    write(
        dir.path(),
        "s/2.jsonl",
        "{\"id\": 2, \"email\": \"b@x\"}\n{\"id\": 3, \"mail\": \"c@x\"}\n",
    );
    write(dir.path(), "s/3.jsonl", "{\"id\": \"four\"}\n");
    let src = source(dir.path(), json!([{"name": "s", "path": "s"}]));
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("2.jsonl` line 2") && m.contains("field `mail`"),
        "{m}"
    );

    std::fs::remove_file(dir.path().join("s/2.jsonl")).unwrap();
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("3.jsonl` line 1") && m.contains("field `id`"),
        "{m}"
    );

    write(dir.path(), "c/1.csv", "id,email\n1,a@x\n");
    write(dir.path(), "c/2.csv", "id,mail\n2,b@x\n");
    let src = source(dir.path(), json!([{"name": "c", "path": "c"}]));
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.contains("2.csv` line 1") && m.contains("`mail`"), "{m}");

    // A column missing from a later file is named too.
    write(dir.path(), "c/2.csv", "id\n2\n");
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("2.csv` line 1") && m.contains("field `email`"),
        "{m}"
    );

    // With `unknown_fields: ignore` an extra column is dropped, not an error.
    write(dir.path(), "c/2.csv", "email,extra,id\nb@x,zzz,2\n");
    let src = source(
        dir.path(),
        json!([{"name": "c", "path": "c", "unknown_fields": "ignore"}]),
    );
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.i64s("id"), [1, 2]);
    assert_eq!(
        run.strings("email"),
        [Some("a@x".into()), Some("b@x".into())]
    );
    assert!(run.batches.iter().all(|b| b.num_columns() == 2));

    // A line that is not an object says so.
    write(dir.path(), "n.jsonl", "{\"id\": 1}\n[1, 2]\n");
    let src = source(dir.path(), json!([{"name": "n", "path": "n.jsonl"}]));
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.contains("line 2") && m.contains("cannot infer"), "{m}");
    let src = source(
        dir.path(),
        json!([{"name": "n", "path": "n.jsonl", "schema": [{"name": "id", "type": "int64"}]}]),
    );
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("line 2") && m.contains("expected a JSON object"),
        "{m}"
    );
}

#[tokio::test]
async fn csv_bad_value_names_the_physical_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "b.csv",
        "id,note,n\n1,\"two\nlines\",1\n2,x,2\n3,y,3\n4,z,four\n",
    );
    let src = source(
        dir.path(),
        json!([{"name": "b", "path": "b.csv", "batch_rows": 2,
                "schema": [{"name": "id", "type": "int64"}, {"name": "note", "type": "string"}, {"name": "n", "type": "int64"}]}]),
    );
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(m.contains(&format!("file `{}` line 6", p.display())), "{m}");
    assert!(m.contains("field `n`") && m.contains("\"four\""), "{m}");

    write(dir.path(), "b.csv", "id,note,n\n1,a,1\n2,b\n");
    let m = data_error(read(src.as_ref(), SyncMode::FullRefresh, SourceState::default()).await);
    assert!(
        m.contains("line 3") && m.contains("number of fields"),
        "{m}"
    );
}

#[tokio::test]
async fn full_refresh_resumes_after_files_done() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "r/a.csv", "id\n1\n2\n");
    let b = write(dir.path(), "r/b.csv", "id\n3\n");
    write(dir.path(), "r/c.csv", "id\n4\n5\n");
    let src = source(dir.path(), json!([{"name": "r", "path": "r"}]));
    let a = a.to_string_lossy().into_owned();
    let b = b.to_string_lossy().into_owned();
    let state = state_with(
        "r",
        StreamState {
            resume: Some(json!({"files_done": [a.clone()]})),
            ..Default::default()
        },
    );
    let run = read(src.as_ref(), SyncMode::FullRefresh, state)
        .await
        .unwrap();
    assert_eq!(run.i64s("id"), [3, 4, 5]);
    assert_eq!(run.pages(), 2);
    assert_eq!(
        run.checkpoints(),
        [Some(json!({"files_done": [a, b]})), None]
    );
}

#[tokio::test]
async fn empty_files_yield_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "e/0.jsonl", "");
    write(dir.path(), "e/1.jsonl", "{\"id\": 1}\n");
    write(dir.path(), "e/2.jsonl", "\n\n");
    write(dir.path(), "h/0.csv", "");
    write(dir.path(), "h/1.csv", "id,name\n");
    let src = source(
        dir.path(),
        json!([{"name": "e", "path": "e"}, {"name": "h", "path": "h"},
               {"name": "only_empty", "path": "e/0.jsonl", "schema": [{"name": "id", "type": "int64"}]}]),
    );
    let catalog = src.discover().await.unwrap();
    assert_eq!(catalog.stream("h").unwrap().schema.fields().len(), 2);
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.i64s("id"), [1]);
    assert_eq!(run.pages(), 3 + 2 + 1);
    let only_empty: Vec<_> = run
        .messages
        .iter()
        .filter(
            |m| matches!(m, Message::Checkpoint { stream, resume: None } if stream == "only_empty"),
        )
        .collect();
    assert_eq!(only_empty.len(), 1);

    // Nothing to infer from: say so.
    let src = source(dir.path(), json!([{"name": "x", "path": "e/0.jsonl"}]));
    match src.discover().await {
        Err(Error::Config(m)) => assert!(m.contains("declare `schema`"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[tokio::test]
async fn check_names_stream_and_pattern_when_nothing_matches() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "ok.jsonl", "{\"id\": 1}\n");
    let src = source(dir.path(), json!([{"name": "ok", "path": "ok.jsonl"}]));
    let out = src.check().await.unwrap();
    assert!(out.message.contains("1 readable file"), "{}", out.message);

    let src = source(
        dir.path(),
        json!([{"name": "ok", "path": "ok.jsonl"}, {"name": "orders", "path": "data/*.jsonl"}]),
    );
    match src.check().await {
        Err(Error::Config(m)) => {
            assert!(m.contains("`orders`") && m.contains("data/*.jsonl"), "{m}")
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    let src = source(
        dir.path(),
        json!([{"name": "orders", "path": "data/*.jsonl"}]),
    );
    assert!(matches!(src.discover().await, Err(Error::Config(_))));
}

#[tokio::test]
async fn large_file_in_many_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "{{\"id\":{i},\"email\":\"u{i}@example.com\",\"amount\":{}.{:02},\"ok\":{}}}\n",
            i % 500,
            i % 100,
            i % 2 == 0
        ));
    }
    write(dir.path(), "big.jsonl", &text);
    let src = source(
        dir.path(),
        json!([{"name": "big", "path": "big.jsonl", "batch_rows": 3000}]),
    );
    let run = read(src.as_ref(), SyncMode::FullRefresh, SourceState::default())
        .await
        .unwrap();
    assert_eq!(run.rows(), 10_000);
    assert_eq!(
        run.batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [3000, 3000, 3000, 1000]
    );
    assert_eq!(run.i64s("id").iter().sum::<i64>(), (0..10_000).sum::<i64>());
}

#[test]
fn jsonl_in_many_chunks_keeps_order_and_finds_a_bad_line_in_a_later_chunk() {
    use arrow_schema::{DataType, Field, Schema};
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"));
    }
    let good = write(dir.path(), "good.jsonl", &text);
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let spec = decode::FileReadSpec::new(
        "events".into(),
        schema,
        config::FileFormat::Jsonl,
        config::CsvDialect {
            delimiter: None,
            header: true,
            quote: b'"',
            escape: None,
        },
        700,
        config::UnknownFields::Error,
    );
    let mut ids = Vec::new();
    let mut emit = |b: RecordBatch| {
        let c = b.column(0).as_primitive::<Int64Type>();
        ids.extend(c.iter().map(|v| v.unwrap()));
        true
    };
    // ~4 KiB chunks: about 25 chunks over two decoding threads.
    let rows = decode::read_json_parallel(&spec, &good, 4096, &mut emit).unwrap();
    assert_eq!(rows, 5000);
    assert_eq!(ids, (0..5000).collect::<Vec<i64>>(), "rows in file order");

    // A broken record on line 4321, far past the first chunk.
    let bad_text = text.replacen("{\"id\":4320,", "{\"id\":\"oops\",", 1);
    let bad = write(dir.path(), "bad.jsonl", &bad_text);
    let e = decode::read_json_parallel(&spec, &bad, 4096, &mut |_| true).unwrap_err();
    assert!(e.to_string().contains("line 4321"), "{e}");
    assert!(e.to_string().contains("bad.jsonl"), "{e}");
}
