//! The Square connector against the sandbox's Square emulation.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use braid_connector_square::SquareConnector;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Catalog, Connector, CursorValue, Error, Message, ReadRequest, Source, SourceState, StreamState,
    SyncMode,
};
use futures::StreamExt;

const TOKEN: &str = "EAAAl-square-test-token-5150";

async fn sandbox(n: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.square.access_token = TOKEN.into();
    c.square.customers = n;
    c.square.orders = n;
    c.square.payments = n;
    c.square.requests_per_second = None;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source_with(sb: &Sandbox, token: &str, extra: serde_json::Value) -> Box<dyn Source> {
    let mut cfg =
        serde_json::json!({"base_url": sb.base_url(), "access_token": token, "max_retries": 4});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    SquareConnector.build(cfg).unwrap()
}

fn source(sb: &Sandbox) -> Box<dyn Source> {
    source_with(sb, TOKEN, serde_json::json!({}))
}

struct Read {
    batches: Vec<RecordBatch>,
    checkpoints: usize,
    retries: u64,
}

impl Read {
    fn ids(&self) -> Vec<String> {
        self.batches
            .iter()
            .flat_map(|b| {
                let c = b.column_by_name("id").unwrap().as_string::<i32>().clone();
                c.iter().map(|v| v.unwrap().to_owned()).collect::<Vec<_>>()
            })
            .collect()
    }
}

async fn read(
    src: &dyn Source,
    catalog: &Catalog,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> Result<Read, Error> {
    let mut st = SourceState::default();
    st.streams.insert(stream.into(), state);
    let req = ReadRequest {
        streams: vec![braid_sdk::ConfiguredStream {
            stream: catalog.stream(stream).unwrap().clone(),
            sync_mode: mode,
        }],
        state: st,
    };
    let mut messages = src.read(req).await?;
    let mut out = Read {
        batches: Vec::new(),
        checkpoints: 0,
        retries: 0,
    };
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { batch, .. } => out.batches.push(batch),
            Message::Checkpoint { .. } => out.checkpoints += 1,
            Message::Progress { retries, .. } => out.retries += retries,
        }
    }
    Ok(out)
}

async fn admin(sb: &Sandbox, path: &str, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn fault(sb: &Sandbox, body: serde_json::Value) {
    admin(sb, "/_sandbox/faults", body).await;
}

#[tokio::test]
async fn discover_keeps_squares_types() {
    let sb = sandbox(5).await;
    let catalog = source(&sb).discover().await.unwrap();
    let orders = catalog.stream("orders").unwrap();
    assert_eq!(orders.cursor_field.as_deref(), Some("updated_at"));
    assert_eq!(orders.primary_key, vec!["id"]);
    let s = &orders.schema;
    assert_eq!(
        s.field_with_name("updated_at")
            .unwrap()
            .data_type()
            .to_string(),
        "Timestamp(µs, \"UTC\")"
    );
    let money = s
        .field_with_name("total_money")
        .unwrap()
        .data_type()
        .to_string();
    assert!(
        money.contains("Decimal128(38, 3)") && money.contains("currency"),
        "{money}"
    );
    let items = s
        .field_with_name("line_items")
        .unwrap()
        .data_type()
        .to_string();
    assert!(
        items.starts_with("List(") && items.contains("base_price_money"),
        "{items}"
    );
    assert_eq!(
        catalog.stream("locations").unwrap().sync_modes,
        vec![SyncMode::FullRefresh]
    );
}

#[tokio::test]
async fn full_refresh_reads_every_record_once_with_money_in_major_units() {
    let sb = sandbox(250).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    for stream in ["customers", "orders", "payments"] {
        let r = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::FullRefresh,
            StreamState::default(),
        )
        .await
        .unwrap();
        let ids = r.ids();
        assert_eq!(ids.len(), 250, "{stream}");
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            250,
            "{stream}: no duplicates"
        );
    }
    let r = read(
        src.as_ref(),
        &catalog,
        "locations",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len(), 3);

    // Orders: values equal the generator's, money converted by each currency's exponent.
    let r = read(
        src.as_ref(),
        &catalog,
        "orders",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    let mut seen_jpy = false;
    for b in &r.batches {
        let ids = b.column_by_name("id").unwrap().as_string::<i32>();
        let total = b.column_by_name("total_money").unwrap().as_struct();
        let amount = total.column(0).as_primitive::<Decimal128Type>();
        let currency = total.column(1).as_string::<i32>();
        let items = b.column_by_name("line_items").unwrap().as_list::<i32>();
        for i in 0..b.num_rows() {
            let index = (0..250)
                .find(|k| braid_sandbox::square::square_id(42, 0x0D, *k) == ids.value(i))
                .expect("known id");
            let o = braid_sandbox::square::order(
                42,
                index,
                0,
                braid_sandbox::square::base_updated_ms(index),
                3,
                250,
            );
            assert_eq!(currency.value(i), o.total_money.currency);
            let factor = if o.total_money.currency == "JPY" {
                seen_jpy = true;
                1000
            } else {
                10
            };
            assert_eq!(
                amount.value(i),
                o.total_money.amount as i128 * factor,
                "order {index}"
            );
            assert_eq!(items.value(i).len(), o.line_items.len());
            let first = items.value(i);
            let first = first.as_struct();
            let qty = first
                .column_by_name("quantity")
                .unwrap()
                .as_primitive::<Decimal128Type>();
            assert_eq!(
                qty.value(0),
                o.line_items[0].quantity.parse::<i128>().unwrap() * 100_000
            );
        }
    }
    assert!(seen_jpy, "the Tokyo location's yen orders were read");
}

#[tokio::test]
async fn a_crashed_full_refresh_resumes_at_its_committed_cursor() {
    // More than one batch (4,096 rows) of payments.
    let sb = sandbox(4500).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    // What a first run commits after its first checkpoint.
    let st = SourceState::default();
    let req = ReadRequest {
        streams: vec![braid_sdk::ConfiguredStream {
            stream: catalog.stream("payments").unwrap().clone(),
            sync_mode: SyncMode::FullRefresh,
        }],
        state: st,
    };
    let mut messages = src.read(req).await.unwrap();
    let mut before = 0;
    let resume = loop {
        match messages.next().await.unwrap().unwrap() {
            Message::Batch { batch, .. } => before += batch.num_rows(),
            Message::Checkpoint { resume, .. } => break resume,
            _ => {}
        }
    };
    drop(messages);
    assert!(
        resume.is_some() && before > 0 && before < 4500,
        "{resume:?} {before}"
    );
    let state = StreamState {
        resume,
        ..Default::default()
    };
    let r = read(
        src.as_ref(),
        &catalog,
        "payments",
        SyncMode::FullRefresh,
        state,
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len() + before, 4500);
}

fn cursor_of(r: &Read) -> CursorValue {
    let mut max = i64::MIN;
    for b in &r.batches {
        let c = b
            .column_by_name("updated_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        max = max.max(c.iter().flatten().max().unwrap());
    }
    CursorValue::TimestampMicros(max)
}

#[tokio::test]
async fn incremental_reads_from_the_cursor_inclusively_and_then_only_changes() {
    let sb = sandbox(300).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    for (stream, key) in [("customers", 0xC5u64), ("orders", 0x0D), ("payments", 0x9A)] {
        let first = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::Incremental,
            StreamState::default(),
        )
        .await
        .unwrap();
        assert_eq!(first.ids().len(), 300, "{stream}");
        let cursor = cursor_of(&first);
        // The last tie group (three records share the last updated_at) comes back: the bound is inclusive.
        let again = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::Incremental,
            StreamState {
                cursor: Some(cursor.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(again.ids().len(), 3, "{stream}: the records at the cursor");
        let changed = admin(
            &sb,
            "/_sandbox/square/mutate",
            serde_json::json!({"object": stream, "count": 20, "create": 2}),
        )
        .await;
        let mut expected: Vec<String> = changed["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(expected.len(), 22);
        let r = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::Incremental,
            StreamState {
                cursor: Some(cursor),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut got: Vec<String> = r
            .ids()
            .into_iter()
            .filter(|id| !again.ids().contains(id))
            .collect();
        got.sort();
        expected.sort();
        let new_ids: Vec<String> = (300..302)
            .map(|i| braid_sandbox::square::square_id(42, key, i))
            .collect();
        assert!(new_ids.iter().all(|n| expected.contains(n)), "{stream}");
        assert_eq!(
            got,
            expected
                .iter()
                .filter(|e| !again.ids().contains(e))
                .cloned()
                .collect::<Vec<_>>(),
            "{stream}: exactly the changes"
        );
        if stream == "customers" {
            assert_eq!(
                r.checkpoints, 1,
                "customers are not sorted by updated_at: one checkpoint at the end"
            );
        }
    }
}

#[tokio::test]
async fn wrong_token_is_an_auth_error_quoting_square_without_the_token() {
    let sb = sandbox(5).await;
    let wrong = "EAAAl-WRONG-secret-0000";
    let e = source_with(&sb, wrong, serde_json::json!({}))
        .check()
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(text.contains("AUTHENTICATION_ERROR UNAUTHORIZED"), "{text}");
    assert!(text.contains("/v2/locations"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert!(source(&sb)
        .check()
        .await
        .unwrap()
        .message
        .contains("3 location(s)"));
}

#[tokio::test]
async fn a_429_storm_and_a_5xx_burst_are_retried_without_loss() {
    let sb = sandbox(400).await;
    let src = source_with(&sb, TOKEN, serde_json::json!({"max_retries": 8}));
    let catalog = src.discover().await.unwrap();
    fault(&sb, serde_json::json!({"path_prefix": "/v2/orders/search", "kind": "status", "status": 429, "count": 4})).await;
    fault(&sb, serde_json::json!({"path_prefix": "/v2/payments", "kind": "status", "status": 503, "count": 2})).await;
    fault(&sb, serde_json::json!({"path_prefix": "/v2/customers", "kind": "status", "status": 500, "count": 2})).await;
    for stream in ["orders", "payments", "customers"] {
        let r = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::Incremental,
            StreamState::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            r.ids().iter().collect::<HashSet<_>>().len(),
            400,
            "{stream}"
        );
        assert_eq!(r.ids().len(), 400, "{stream}");
        assert!(r.retries >= 2, "{stream}: {}", r.retries);
    }
}

#[tokio::test]
async fn a_timed_out_request_is_retried() {
    let sb = sandbox(120).await;
    let src = source_with(&sb, TOKEN, serde_json::json!({"request_timeout_ms": 300}));
    let catalog = src.discover().await.unwrap();
    fault(&sb, serde_json::json!({"path_prefix": "/v2/payments", "kind": "delay_ms", "ms": 1500, "count": 1})).await;
    let r = read(
        src.as_ref(),
        &catalog,
        "payments",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len(), 120);
    assert!(r.retries >= 1);
}

#[tokio::test]
async fn a_truncated_body_is_a_data_error_naming_the_endpoint() {
    let sb = sandbox(120).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    fault(
        &sb,
        serde_json::json!({"path_prefix": "/v2/orders/search", "kind": "truncate", "count": 1}),
    )
    .await;
    let e = read(
        src.as_ref(),
        &catalog,
        "orders",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    assert!(e.to_string().contains("POST /v2/orders/search"), "{e}");
}

#[tokio::test]
async fn a_repeated_cursor_stops_the_read() {
    let sb = sandbox(250).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    fault(
        &sb,
        serde_json::json!({"path_prefix": "/v2/customers", "kind": "repeat_paging", "count": 2}),
    )
    .await;
    let e = read(
        src.as_ref(),
        &catalog,
        "customers",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("same page token twice"), "{e}");
}

#[tokio::test]
async fn fields_square_adds_are_ignored_and_an_empty_account_reads_nothing() {
    // The sandbox sends fields the schema does not name (tax_ids, mcc,
    // net_amount_due_money, fingerprint); they are skipped.
    let sb = sandbox(0).await;
    let src = source(&sb);
    let catalog = src.discover().await.unwrap();
    for stream in ["customers", "orders", "payments"] {
        // Square answers `{}` when nothing matches.
        let r = read(
            src.as_ref(),
            &catalog,
            stream,
            SyncMode::Incremental,
            StreamState::default(),
        )
        .await
        .unwrap();
        assert_eq!(r.ids().len(), 0, "{stream}");
        assert_eq!(r.checkpoints, 1, "{stream}");
    }
}
