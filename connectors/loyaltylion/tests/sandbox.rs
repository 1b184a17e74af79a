//! The LoyaltyLion connector (compiled in) against the sandbox's emulation.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use braid_connector_loyaltylion::LoyaltyLionConnector;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Connector, CursorValue, ErrorKind, Message, ReadRequest, Source, SourceState, StreamState,
    SyncMode,
};
use futures::StreamExt;

const KEY: &str = "ll_connector_test_key";

async fn start(customers: u64, transactions: u64) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.loyaltylion.api_key = KEY.into();
    c.loyaltylion.customers = customers;
    c.loyaltylion.transactions = transactions;
    c.loyaltylion.requests_per_second = 1000;
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source(sb: &Sandbox, key: &str) -> Box<dyn Source> {
    LoyaltyLionConnector
        .build(serde_json::json!({
            "base_url": format!("{}/loyaltylion", sb.base_url()),
            "api_key": key,
            "page_size": 200,
            "max_retries": 2,
        }))
        .unwrap()
}

async fn read(
    src: &dyn Source,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> braid_sdk::Result<(Vec<RecordBatch>, usize)> {
    let catalog = src.discover().await?;
    let mut st = SourceState::default();
    st.streams.insert(stream.into(), state);
    let mut messages = src
        .read(ReadRequest {
            streams: vec![braid_sdk::ConfiguredStream {
                stream: catalog.stream(stream).unwrap().clone(),
                sync_mode: mode,
            }],
            state: st,
        })
        .await?;
    let (mut batches, mut checkpoints) = (Vec::new(), 0);
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { batch, .. } => batches.push(batch),
            Message::Checkpoint { .. } => checkpoints += 1,
            Message::Progress { .. } => {}
        }
    }
    Ok((batches, checkpoints))
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_refresh_and_incremental_read_every_record_once() {
    let sb = start(450, 1_000).await;
    let src = source(&sb, KEY);
    assert!(src.check().await.unwrap().message.contains("readable"));

    let (batches, checkpoints) = read(
        src.as_ref(),
        "customers",
        SyncMode::FullRefresh,
        Default::default(),
    )
    .await
    .unwrap();
    let got = ids(&batches);
    let want: Vec<i64> = (0..450)
        .map(|i| braid_sandbox::loyaltylion::CUSTOMER_ID_BASE + i)
        .collect();
    assert_eq!(got, want);
    assert_eq!(checkpoints, 1, "450 rows fit one batch");
    // Values against the generator: nested tier, timestamps, merchant id.
    let cfg = SandboxConfig::default().loyaltylion;
    let rec = braid_sandbox::loyaltylion::customer_record(&cfg, 42, 7);
    let b = &batches[0];
    let row = 7;
    assert_eq!(
        b.column_by_name("merchant_id")
            .unwrap()
            .as_string::<i32>()
            .value(row),
        rec["merchant_id"].as_str().unwrap()
    );
    assert_eq!(
        b.column_by_name("points_approved")
            .unwrap()
            .as_primitive::<Int64Type>()
            .value(row),
        rec["points_approved"].as_i64().unwrap()
    );
    let updated = b
        .column_by_name("updated_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .value(row);
    let want_updated = chrono::DateTime::parse_from_rfc3339(rec["updated_at"].as_str().unwrap())
        .unwrap()
        .timestamp_micros();
    assert_eq!(updated, want_updated);
    let tier = b
        .column_by_name("loyalty_tier_membership")
        .unwrap()
        .as_struct();
    assert_eq!(tier.is_null(row), rec["loyalty_tier_membership"].is_null());

    // Transactions: full, then incremental from a committed id (inclusive).
    let (batches, _) = read(
        src.as_ref(),
        "transactions",
        SyncMode::FullRefresh,
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids(&batches).len(), 1_000);
    let last = *ids(&batches).last().unwrap();
    braid_sandbox_admin(
        &sb,
        "/_sandbox/loyaltylion/mutate",
        serde_json::json!({"object": "transactions", "create": 30}),
    )
    .await;
    let st = StreamState {
        cursor: Some(CursorValue::Int(last)),
        ..Default::default()
    };
    let (batches, _) = read(src.as_ref(), "transactions", SyncMode::Incremental, st)
        .await
        .unwrap();
    let got = ids(&batches);
    assert_eq!(got.len(), 31, "the boundary record and the 30 new ones");
    assert_eq!(got[0], last);

    // Customers: incremental from the newest untouched updated_at sees the modified ones.
    let changed = braid_sandbox_admin(
        &sb,
        "/_sandbox/loyaltylion/mutate",
        serde_json::json!({"object": "customers", "count": 25, "create": 5}),
    )
    .await;
    let st = StreamState {
        cursor: Some(CursorValue::TimestampMicros(
            changed["updated_at_ms"].as_i64().unwrap() * 1000,
        )),
        ..Default::default()
    };
    let (batches, _) = read(src.as_ref(), "customers", SyncMode::Incremental, st)
        .await
        .unwrap();
    let mut got = ids(&batches);
    got.sort();
    let mut want: Vec<i64> = changed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_an_auth_error_that_does_not_leak_the_key() {
    let sb = start(10, 10).await;
    let e = source(&sb, "wrong-secret-key").check().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.to_string().contains("Unauthorized"), "{e}");
    assert!(!e.to_string().contains("wrong-secret-key"), "{e}");
}

async fn braid_sandbox_admin(
    sb: &Sandbox,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}{path}", sb.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}
