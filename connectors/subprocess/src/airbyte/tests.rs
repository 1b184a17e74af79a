use super::*;
use braid_core::{CursorValue, StreamState};
use serde_json::json;

const CATALOG: &str = r#"{"streams":[
 {"name":"users","json_schema":{"type":"object","properties":{
    "id":{"type":"integer"},"updated_at":{"type":"string","format":"date-time"},"name":{"type":["null","string"]}}},
  "supported_sync_modes":["full_refresh","incremental"],"source_defined_cursor":true,
  "default_cursor_field":["updated_at"],"source_defined_primary_key":[["id"]]},
 {"name":"products","json_schema":{"type":"object","properties":{"id":{"type":"integer"},"meta":{"type":"object"}}},
  "supported_sync_modes":["full_refresh"]}
]}"#;

fn config() -> SubprocessConfig {
    SubprocessConfig::from_value("airbyte", json!({"batch_rows": 2})).unwrap()
}

fn catalog() -> BTreeMap<String, AirbyteStream> {
    parse_catalog(&RawValue::from_string(CATALOG.into()).unwrap(), &config()).unwrap()
}

fn selected(streams: &BTreeMap<String, AirbyteStream>) -> Vec<ConfiguredStream> {
    vec![
        ConfiguredStream {
            stream: streams["users"].descriptor.clone(),
            sync_mode: SyncMode::Incremental,
        },
        ConfiguredStream {
            stream: streams["products"].descriptor.clone(),
            sync_mode: SyncMode::FullRefresh,
        },
    ]
}

fn reader(
    streams: &BTreeMap<String, AirbyteStream>,
    committed: Option<CursorValue>,
) -> AirbyteRead {
    let mut slots = BTreeMap::new();
    for name in ["users", "products"] {
        let filter = (name == "users").then(|| {
            ResendFilter::new(
                "updated_at".into(),
                vec!["id".into()],
                committed.clone(),
                false,
            )
        });
        slots.insert(
            name.to_string(),
            Slot {
                decoder: StreamDecoder::new(&streams[name].schema, 2).unwrap(),
                filter,
                since_state: 0,
            },
        );
    }
    AirbyteRead {
        label: "airbyte: `t`".into(),
        slots,
        batch_rows: 2,
        seq: 0,
        failure: None,
        unknown: HashSet::new(),
        not_json: 0,
    }
}

fn feed(r: &mut AirbyteRead, lines: &[&str]) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        r.line(i as u64 + 1, l.as_bytes(), &mut out).unwrap();
    }
    out
}

fn summary(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m {
            Message::Batch { stream, batch } => format!("batch {stream} {}", batch.num_rows()),
            Message::Checkpoint { stream, resume } => format!(
                "checkpoint {stream} {}",
                resume.as_ref().map(|r| r.to_string()).unwrap_or_default()
            ),
            Message::Progress { stream, .. } => format!("progress {stream}"),
        })
        .collect()
}

fn user(id: i64, at: &str) -> String {
    format!(
        r#"{{"type":"RECORD","record":{{"stream":"users","data":{{"id":{id},"updated_at":"{at}","name":"u{id}"}},"emitted_at":1}}}}"#
    )
}

#[test]
fn the_catalog_gives_keys_cursors_modes_and_types() {
    let s = catalog();
    let users = &s["users"].descriptor;
    assert_eq!(users.primary_key, vec!["id".to_string()]);
    assert_eq!(users.cursor_field.as_deref(), Some("updated_at"));
    assert!(users.supports(SyncMode::Incremental));
    let products = &s["products"].descriptor;
    assert!(!products.supports(SyncMode::Incremental));
    assert_eq!(s["products"].schema.json_columns, vec![1]);
}

#[test]
fn the_configured_catalog_carries_the_stream_verbatim_with_modes() {
    let s = catalog();
    let bytes = configured_catalog(&selected(&s), &s).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let users = &v["streams"][0];
    assert_eq!(users["sync_mode"], "incremental");
    assert_eq!(users["destination_sync_mode"], "append");
    assert_eq!(users["cursor_field"], json!(["updated_at"]));
    assert_eq!(users["primary_key"], json!([["id"]]));
    assert_eq!(
        users["stream"]["json_schema"]["properties"]["id"]["type"],
        "integer"
    );
    assert_eq!(v["streams"][1]["sync_mode"], "full_refresh");
    assert!(v["streams"][1].get("cursor_field").is_none());
}

#[test]
fn a_stream_state_checkpoints_after_the_records_before_it() {
    let s = catalog();
    let mut r = reader(&s, None);
    let state = r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"users"},"stream_state":{"updated_at":"2024-01-01T00:00:03+00:00"}},"sourceStats":{"recordCount":3.0}}}"#;
    let out = feed(
        &mut r,
        &[
            r#"{"type":"LOG","log":{"level":"INFO","message":"starting"}}"#,
            &user(1, "2024-01-01T00:00:01+00:00"),
            &user(2, "2024-01-01T00:00:02+00:00"),
            &user(3, "2024-01-01T00:00:03+00:00"),
            r#"{"type":"RECORD","record":{"stream":"products","data":{"id":9,"meta":{"a":1}},"emitted_at":1}}"#,
            state,
            r#"{"type":"TRACE","trace":{"type":"STREAM_STATUS","emitted_at":1,"stream_status":{"stream_descriptor":{"name":"users"},"status":"COMPLETE"}}}"#,
            "not json at all",
        ],
    );
    assert_eq!(
        summary(&out),
        vec![
            "batch users 2".to_string(),
            "batch users 1".to_string(),
            r#"checkpoint users {"airbyte":{"stream":{"stream_descriptor":{"name":"users"},"stream_state":{"updated_at":"2024-01-01T00:00:03+00:00"}},"type":"STREAM"}}"#.to_string(),
        ]
    );
    let mut rest = Vec::new();
    r.finish(&mut rest).unwrap();
    assert_eq!(summary(&rest), vec!["batch products 1".to_string()]);
    assert_eq!(r.not_json, 1);
}

#[test]
fn a_global_state_checkpoints_every_stream_with_a_sequence() {
    let s = catalog();
    let mut r = reader(&s, None);
    r.seq = 4;
    let out = feed(
        &mut r,
        &[
            &user(1, "2024-01-01T00:00:01+00:00"),
            r#"{"type":"STATE","state":{"type":"GLOBAL","global":{"shared_state":{"lsn":7},"stream_states":[]}}}"#,
            r#"{"type":"STATE","state":{"data":{"users":{"cursor":"x"}}}}"#,
        ],
    );
    let s = summary(&out);
    assert_eq!(s[0], "batch users 1");
    assert!(
        s[1].starts_with("checkpoint products ") && s[1].contains(r#""seq":5"#),
        "{s:?}"
    );
    assert!(
        s[2].starts_with("checkpoint users ") && s[2].contains(r#""shared_state":{"lsn":7}"#),
        "{s:?}"
    );
    assert!(
        s[4].contains(r#""type":"LEGACY""#) && s[4].contains(r#""seq":6"#),
        "{s:?}"
    );
}

#[test]
fn records_below_the_committed_cursor_are_not_passed_on() {
    let s = catalog();
    let committed = CursorValue::TimestampMicros(1_704_067_202_000_000); // 2024-01-01T00:00:02Z
    let mut r = reader(&s, Some(committed));
    let mut out = feed(
        &mut r,
        &[
            &user(1, "2024-01-01T00:00:01+00:00"),
            &user(2, "2024-01-01T00:00:02+00:00"),
            &user(3, "2024-01-01T00:00:03+00:00"),
        ],
    );
    r.finish(&mut out).unwrap();
    let rows: usize = out
        .iter()
        .map(|m| match m {
            Message::Batch { batch, .. } => batch.num_rows(),
            _ => 0,
        })
        .sum();
    assert_eq!(rows, 2, "{:?}", summary(&out));
}

#[test]
fn a_bad_record_names_the_stream_and_line() {
    let s = catalog();
    let mut r = reader(&s, None);
    let mut out = Vec::new();
    r.line(1, user(1, "2024-01-01T00:00:01Z").as_bytes(), &mut out)
        .unwrap();
    let e = r
        .line(
            2,
            br#"{"type":"RECORD","record":{"stream":"users","data":[1],"emitted_at":1}}"#,
            &mut out,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("stream users") && e.to_string().contains("line 2"),
        "{e}"
    );
}

#[test]
fn the_next_state_is_per_stream_messages_or_the_oldest_shared_copy() {
    let s = catalog();
    let sel = selected(&s);
    let mut state = SourceState::default();
    assert_eq!(input_state(&sel, &state), (None, 0));
    let users_state = json!({"type":"STREAM","stream":{"stream_descriptor":{"name":"users"},"stream_state":{"c":1}}});
    state.streams.insert(
        "users".into(),
        StreamState {
            resume: Some(json!({"airbyte": users_state.clone()})),
            ..Default::default()
        },
    );
    assert_eq!(input_state(&sel, &state), (Some(json!([users_state])), 0));

    let g = |lsn: u64, seq: u64| json!({"airbyte": {"type":"GLOBAL","global":{"shared_state":{"lsn":lsn}}}, "seq": seq});
    state.streams.insert(
        "users".into(),
        StreamState {
            resume: Some(g(9, 3)),
            ..Default::default()
        },
    );
    state.streams.insert(
        "products".into(),
        StreamState {
            resume: Some(g(5, 2)),
            ..Default::default()
        },
    );
    let (v, max) = input_state(&sel, &state);
    assert_eq!(v.unwrap()[0]["global"]["shared_state"]["lsn"], 5);
    assert_eq!(max, 3);

    let legacy = json!({"airbyte": {"type":"LEGACY","data":{"users":{"c":2}}}, "seq": 1});
    state.streams.clear();
    state.streams.insert(
        "users".into(),
        StreamState {
            resume: Some(legacy),
            ..Default::default()
        },
    );
    assert_eq!(input_state(&sel, &state).0, Some(json!({"users":{"c":2}})));
}
