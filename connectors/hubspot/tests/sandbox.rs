//! The HubSpot connector against the sandbox's HubSpot emulation.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::Array;
use braid_connector_hubspot::HubSpotConnector;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Catalog, Connector, CursorValue, Error, Message, ReadRequest, Source, SourceState, StreamState,
    SyncMode,
};
use futures::StreamExt;

const TOKEN: &str = "pat-test-token-1234";

async fn sandbox(contacts: u64, limited: bool) -> Sandbox {
    let mut c = SandboxConfig::default();
    c.hubspot.access_token = TOKEN.into();
    c.hubspot.contacts = contacts;
    c.hubspot.companies = 50;
    c.hubspot.deals = 70;
    if !limited {
        c.hubspot.requests_per_second = None;
        c.hubspot.search_requests_per_second = None;
    }
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source(sb: &Sandbox, token: &str) -> Box<dyn Source> {
    HubSpotConnector
        .build(serde_json::json!({"base_url": sb.hubspot_base_url(), "access_token": token, "max_retries": 3}))
        .unwrap()
}

/// Reads one stream; returns ids in order, and the messages' checkpoints count.
async fn read(
    src: &dyn Source,
    catalog: &Catalog,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> Result<(Vec<String>, usize), Error> {
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
    let (mut ids, mut checkpoints) = (Vec::new(), 0);
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { batch, .. } => {
                let col = batch
                    .column_by_name("id")
                    .unwrap()
                    .as_string::<i32>()
                    .clone();
                ids.extend(col.iter().map(|v| v.unwrap().to_owned()));
            }
            Message::Checkpoint { .. } => checkpoints += 1,
            Message::Progress { .. } => {}
        }
    }
    Ok((ids, checkpoints))
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

#[tokio::test]
async fn discover_maps_hubspot_types_to_arrow() {
    let sb = sandbox(10, true).await;
    let catalog = source(&sb, TOKEN).discover().await.unwrap();
    let deals = catalog.stream("deals").unwrap();
    let ty = |s: &str| {
        deals
            .schema
            .field_with_name(s)
            .unwrap()
            .data_type()
            .to_string()
    };
    assert_eq!(ty("amount"), "Decimal128(38, 9)");
    assert_eq!(ty("closedate"), "Timestamp(µs, \"UTC\")");
    assert_eq!(ty("hs_object_id"), "Int64");
    assert_eq!(ty("dealname"), "Utf8");
    let contacts = catalog.stream("contacts").unwrap();
    assert_eq!(contacts.cursor_field.as_deref(), Some("lastmodifieddate"));
    assert_eq!(contacts.primary_key, vec!["id"]);
    assert_eq!(
        contacts
            .schema
            .field_with_name("hs_email_optout")
            .unwrap()
            .data_type()
            .to_string(),
        "Boolean"
    );
    assert_eq!(
        contacts
            .schema
            .field_with_name("date_of_birth")
            .unwrap()
            .data_type()
            .to_string(),
        "Date32"
    );
}

#[tokio::test]
async fn full_refresh_reads_every_record_once_with_the_seeded_values() {
    let sb = sandbox(1234, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    let (ids, checkpoints) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 1234);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 1234);
    assert_eq!(
        checkpoints, 1,
        "13 pages gathered into one batch, one checkpoint"
    );

    // Values equal the generator's.
    let mut st = SourceState::default();
    st.streams.insert("contacts".into(), StreamState::default());
    let mut m = src
        .read(ReadRequest {
            streams: vec![braid_sdk::ConfiguredStream {
                stream: catalog.stream("contacts").unwrap().clone(),
                sync_mode: SyncMode::FullRefresh,
            }],
            state: st,
        })
        .await
        .unwrap();
    while let Some(Ok(msg)) = m.next().await {
        if let Message::Batch { batch, .. } = msg {
            let ids = batch
                .column_by_name("id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let emails = batch
                .column_by_name("email")
                .unwrap()
                .as_string::<i32>()
                .clone();
            for i in 0..batch.num_rows() {
                let index: u64 = ids.value(i).parse::<u64>().unwrap() - 1;
                let expected = braid_sandbox::hubspot::contact(42, index);
                let got = (!emails.is_null(i)).then(|| emails.value(i));
                assert_eq!(got, expected.property("email"), "email of {}", ids.value(i));
            }
        }
    }
}

#[tokio::test]
async fn full_refresh_resumes_from_a_committed_after_token() {
    let sb = sandbox(500, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    let state = StreamState {
        resume: Some(serde_json::json!({"after": "300"})),
        ..Default::default()
    };
    let (ids, _) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::FullRefresh,
        state,
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 200);
    assert_eq!(ids[0], "301");
}

#[tokio::test]
async fn incremental_crosses_the_10k_search_cap_without_loss_or_duplicates() {
    let sb = sandbox(25_000, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    let (ids, _) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 25_000);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25_000);
}

#[tokio::test]
async fn incremental_from_a_cursor_reads_records_at_or_after_it() {
    let sb = sandbox(3000, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    // Record index 1500 (id 1501) shares its timestamp with indexes 1500..1503.
    let ms = braid_sandbox::hubspot::base_modified_ms(1500);
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(ms * 1000)),
        ..Default::default()
    };
    let (ids, _) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::Incremental,
        state.clone(),
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 1500, "inclusive bound");
    assert_eq!(ids[0], "1501");

    let changed = admin(
        &sb,
        "/_sandbox/hubspot/mutate",
        serde_json::json!({"object": "contacts", "count": 7}),
    )
    .await;
    let (ids2, _) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::Incremental,
        state,
    )
    .await
    .unwrap();
    assert_eq!(
        ids2.len(),
        1500 + changed["ids"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i.as_str().unwrap().parse::<u64>().unwrap() <= 1500)
            .count()
    );
}

#[tokio::test]
async fn wrong_token_is_an_auth_error_quoting_hubspot_without_the_token() {
    let sb = sandbox(10, true).await;
    let wrong = "pat-WRONG-987";
    let e = source(&sb, wrong).check().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(
        text.contains("Authentication credentials not found"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
}

#[tokio::test]
async fn server_errors_and_429s_are_retried() {
    let sb = sandbox(300, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "status", "status": 500, "count": 2})).await;
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "status", "status": 429, "count": 1})).await;
    let (ids, _) = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 300);
}

#[tokio::test]
async fn a_repeated_page_token_stops_the_read() {
    let sb = sandbox(300, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    admin(&sb, "/_sandbox/faults", serde_json::json!({"path_prefix": "/crm/v3/objects/contacts", "kind": "repeat_paging", "count": 5})).await;
    let e = read(
        src.as_ref(),
        &catalog,
        "contacts",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("same page token twice"), "{e}");
}

#[tokio::test]
async fn truncated_json_is_a_data_error_naming_the_endpoint() {
    let sb = sandbox(300, false).await;
    let src = source(&sb, TOKEN);
    let catalog = src.discover().await.unwrap();
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/crm/v3/objects/deals", "kind": "truncate", "count": 1}),
    )
    .await;
    let e = read(
        src.as_ref(),
        &catalog,
        "deals",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    assert!(e.to_string().contains("/crm/v3/objects/deals"), "{e}");
}
