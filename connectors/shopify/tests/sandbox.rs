//! The Shopify connector against the sandbox's Shopify emulation.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use braid_connector_shopify::ShopifyConnector;
use braid_sandbox::commerce::Kind;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Catalog, Connector, CursorValue, Error, Message, ReadRequest, Source, SourceState, StreamState,
    SyncMode,
};
use futures::StreamExt;

const TOKEN: &str = "shpat_connector_test_42";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.shopify.access_token = TOKEN.into();
    c.shopify.customers = n;
    c.shopify.orders = n;
    c.shopify.products = n;
    c.shopify.leak_per_second = 0.0;
    c
}

async fn start(c: SandboxConfig) -> Sandbox {
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
    ShopifyConnector.build(cfg).unwrap()
}

struct Read {
    batches: Vec<RecordBatch>,
    checkpoints: Vec<Option<serde_json::Value>>,
    retries: u64,
    pages: u64,
}

impl Read {
    fn ids(&self) -> Vec<i64> {
        self.batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec()
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
        checkpoints: Vec::new(),
        retries: 0,
        pages: 0,
    };
    while let Some(m) = messages.next().await {
        match m? {
            Message::Batch { batch, .. } => out.batches.push(batch),
            Message::Checkpoint { resume, .. } => out.checkpoints.push(resume),
            Message::Progress { retries, pages, .. } => {
                out.retries += retries;
                out.pages += pages
            }
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

#[tokio::test]
async fn full_refresh_lands_every_record_with_shopify_types() {
    let sb = start(config(600)).await;
    let src = source_with(&sb, TOKEN, serde_json::json!({}));
    let catalog = src.discover().await.unwrap();
    for stream in ["customers", "orders", "products"] {
        let r = read(
            &*src,
            &catalog,
            stream,
            SyncMode::FullRefresh,
            StreamState::default(),
        )
        .await
        .unwrap();
        let ids = r.ids();
        assert_eq!(ids.len(), 600, "{stream}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 600, "{stream}");
        assert_eq!(r.pages, 3, "{stream}: 250 per page");
    }
    // An order's values against the generator: money, time in UTC, lines, buyer.
    let r = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    let want =
        braid_sandbox::shopify::record(&SandboxConfig::default().shopify, 42, Kind::Orders, 7);
    let b = &r.batches[0];
    let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
    let row = (0..b.num_rows())
        .find(|&k| ids.value(k) == want["id"].as_i64().unwrap())
        .unwrap();
    let total = b
        .column_by_name("total_price")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    let cents = (want["total_price"]
        .as_str()
        .unwrap()
        .parse::<f64>()
        .unwrap()
        * 1000.0)
        .round();
    assert_eq!(total.value(row) as f64, cents);
    let updated = b
        .column_by_name("updated_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    let expect = chrono::DateTime::parse_from_rfc3339(want["updated_at"].as_str().unwrap())
        .unwrap()
        .timestamp_micros();
    assert_eq!(updated.value(row), expect, "offset times land as UTC");
    let lines = b.column_by_name("line_items").unwrap().as_list::<i32>();
    assert_eq!(
        lines.value(row).len(),
        want["line_items"].as_array().unwrap().len()
    );
    let customer = b.column_by_name("customer").unwrap().as_struct();
    assert_eq!(customer.is_null(row), want["customer"].is_null());
}

#[tokio::test]
async fn incremental_reads_only_changes_and_checkpoints_in_order() {
    let sb = start(config(300)).await;
    let src = source_with(&sb, TOKEN, serde_json::json!({"page_size": 40}));
    let catalog = src.discover().await.unwrap();
    let first = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.ids().len(), 300);
    assert!(first.checkpoints.iter().all(Option::is_none));
    let changed = admin(
        &sb,
        "/_sandbox/shopify/mutate",
        serde_json::json!({"object": "orders", "count": 12, "create": 3}),
    )
    .await;
    let mut want: Vec<i64> = changed["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    want.sort();
    // The committed cursor: the last updated_at of the first run.
    let last = first
        .batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("updated_at")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>()
                .values()
                .to_vec()
        })
        .max()
        .unwrap();
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(last)),
        ..Default::default()
    };
    let second = read(&*src, &catalog, "orders", SyncMode::Incremental, state)
        .await
        .unwrap();
    let mut got = second.ids();
    // At the committed cursor itself the last records come again (the runtime drops them).
    let at_cursor: HashSet<i64> = first
        .batches
        .iter()
        .flat_map(|b| {
            let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            let t = b
                .column_by_name("updated_at")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            (0..b.num_rows())
                .filter(|&k| t.value(k) == last)
                .map(|k| ids.value(k))
                .collect::<Vec<_>>()
        })
        .collect();
    got.retain(|id| !at_cursor.contains(id) || want.contains(id));
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_full_refresh_resumes_from_its_checkpointed_page_info() {
    let sb = start(config(200)).await;
    let src = source_with(&sb, TOKEN, serde_json::json!({"page_size": 30}));
    let catalog = src.discover().await.unwrap();
    let all = read(
        &*src,
        &catalog,
        "customers",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(all.ids().len(), 200);
    // FLUSH_ROWS is 4096: one batch and one checkpoint at the end, without resume.
    assert_eq!(all.checkpoints, vec![None]);
    // A state written by a run that stopped after the first page.
    let first_page = reqwest::Client::new()
        .get(format!(
            "{}/admin/api/2024-10/customers.json?limit=30",
            sb.base_url()
        ))
        .header("X-Shopify-Access-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let link = first_page.headers()["link"].to_str().unwrap().to_owned();
    let pi = link
        .split("page_info=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let state = StreamState {
        resume: Some(serde_json::json!({ "page_info": pi })),
        ..Default::default()
    };
    let rest = read(&*src, &catalog, "customers", SyncMode::FullRefresh, state)
        .await
        .unwrap();
    assert_eq!(rest.ids(), all.ids()[30..].to_vec());
}

#[tokio::test]
async fn the_leaky_bucket_paces_the_reader_and_429s_are_retried() {
    let mut c = config(120);
    c.shopify.bucket_size = 6;
    c.shopify.leak_per_second = 40.0;
    let sb = start(c).await;
    let src = source_with(
        &sb,
        TOKEN,
        serde_json::json!({"page_size": 5, "calls_per_second": 40, "bucket_headroom": 2, "stream_concurrency": 3}),
    );
    let catalog = src.discover().await.unwrap();
    let mut st = SourceState::default();
    let streams = ["customers", "orders", "products"]
        .iter()
        .map(|s| {
            st.streams.insert(s.to_string(), StreamState::default());
            braid_sdk::ConfiguredStream {
                stream: catalog.stream(s).unwrap().clone(),
                sync_mode: SyncMode::FullRefresh,
            }
        })
        .collect();
    let mut m = src.read(ReadRequest { streams, state: st }).await.unwrap();
    let mut rows = 0;
    while let Some(msg) = m.next().await {
        if let Message::Batch { batch, .. } = msg.unwrap() {
            rows += batch.num_rows();
        }
    }
    assert_eq!(rows, 360, "72 pages through a 6-call bucket");
    // An injected storm of 429s is waited out.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/admin/api/2024-10/orders.json", "kind": "status", "status": 429, "count": 3}),
    )
    .await;
    let r = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len(), 120);
    assert!(r.retries >= 3, "{}", r.retries);
}

#[tokio::test]
async fn errors_quote_shopify_and_never_the_token() {
    let sb = start(config(50)).await;
    let wrong = "shpat_wrong_secret_777";
    let src = source_with(&sb, wrong, serde_json::json!({}));
    let e = src.check().await.unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("[API] Invalid API key or access token"),
        "{msg}"
    );
    assert!(!msg.contains(wrong));
    let ok = source_with(&sb, TOKEN, serde_json::json!({}));
    assert!(ok
        .check()
        .await
        .unwrap()
        .message
        .contains("Braid Demo Store"));

    // A truncated page is a data error naming the endpoint.
    let catalog = ok.discover().await.unwrap();
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/admin/api/2024-10/products.json", "kind": "truncate", "count": 1}),
    )
    .await;
    let e = read(
        &*ok,
        &catalog,
        "products",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(e.to_string().contains("products.json"), "{e}");
    // A repeated page_info stops the read instead of looping.
    let src = source_with(&sb, TOKEN, serde_json::json!({"page_size": 10}));
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/admin/api/2024-10/customers.json", "kind": "repeat_paging", "count": 3}),
    )
    .await;
    let e = read(
        &*src,
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
