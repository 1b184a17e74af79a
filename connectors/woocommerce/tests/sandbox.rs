//! The WooCommerce connector against the sandbox's WooCommerce emulation.

use std::collections::{HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use braid_connector_woocommerce::WooCommerceConnector;
use braid_sandbox::commerce::Kind;
use braid_sandbox::{Sandbox, SandboxConfig};
use braid_sdk::{
    Catalog, Connector, CursorValue, Error, Message, ReadRequest, Source, SourceState, StreamState,
    SyncMode,
};
use futures::StreamExt;

const KEY: &str = "ck_connector_test_1234";
const SECRET: &str = "cs_connector_test_secret_5678";

fn config(n: u64) -> SandboxConfig {
    let mut c = SandboxConfig::default();
    c.woocommerce.consumer_key = KEY.into();
    c.woocommerce.consumer_secret = SECRET.into();
    c.woocommerce.customers = n;
    c.woocommerce.orders = n;
    c.woocommerce.products = n;
    c
}

async fn start(c: SandboxConfig) -> Sandbox {
    Sandbox::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn source_with(sb: &Sandbox, secret: &str, extra: serde_json::Value) -> Box<dyn Source> {
    let mut cfg = serde_json::json!({"url": sb.base_url(), "consumer_key": KEY, "consumer_secret": secret, "max_retries": 4});
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    WooCommerceConnector.build(cfg).unwrap()
}

#[derive(Default)]
struct Read {
    batches: Vec<RecordBatch>,
    checkpoints: Vec<Option<serde_json::Value>>,
    retries: u64,
    pages: u64,
}

fn col_i64(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

fn col_ts(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec()
}

impl Read {
    fn ids(&self) -> Vec<i64> {
        self.batches.iter().flat_map(|b| col_i64(b, "id")).collect()
    }
    fn max_cursor(&self) -> i64 {
        self.batches
            .iter()
            .flat_map(|b| col_ts(b, "date_modified_gmt"))
            .max()
            .unwrap()
    }
    /// Ids whose cursor is `at`.
    fn ids_at(&self, at: i64) -> HashSet<i64> {
        self.batches
            .iter()
            .flat_map(|b| {
                col_i64(b, "id")
                    .into_iter()
                    .zip(col_ts(b, "date_modified_gmt"))
                    .filter(|(_, t)| *t == at)
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn request(catalog: &Catalog, stream: &str, mode: SyncMode, state: StreamState) -> ReadRequest {
    let mut st = SourceState::default();
    st.streams.insert(stream.into(), state);
    ReadRequest {
        streams: vec![braid_sdk::ConfiguredStream {
            stream: catalog.stream(stream).unwrap().clone(),
            sync_mode: mode,
        }],
        state: st,
    }
}

async fn read(
    src: &dyn Source,
    catalog: &Catalog,
    stream: &str,
    mode: SyncMode,
    state: StreamState,
) -> Result<Read, Error> {
    let mut messages = src.read(request(catalog, stream, mode, state)).await?;
    let mut out = Read::default();
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

fn sorted_ids(v: &serde_json::Value) -> Vec<i64> {
    let mut out: Vec<i64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    out.sort();
    out
}

fn gmt_micros(s: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

#[tokio::test]
async fn full_refresh_lands_every_record_with_woocommerce_types() {
    let sb = start(config(250)).await;
    let src = source_with(&sb, SECRET, serde_json::json!({}));
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
        assert_eq!(ids.len(), 250, "{stream}");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 250, "{stream}");
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "{stream}: id order");
        assert_eq!(r.pages, 3, "{stream}: 100 per page, X-WP-TotalPages 3");
        assert_eq!(r.checkpoints, vec![None], "{stream}");
    }
    let cfg = config(250).woocommerce;
    // An order against the generator: money strings, GMT times as UTC, lines, buyer.
    let r = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    let b = &r.batches[0];
    let ids = col_i64(b, "id");
    let dec = |name: &str, row: usize| {
        b.column_by_name(name)
            .unwrap()
            .as_primitive::<Decimal128Type>()
            .value(row)
    };
    let micro =
        |s: &serde_json::Value| (s.as_str().unwrap().parse::<f64>().unwrap() * 1e6).round() as i128;
    for index in [0u64, 7, 249] {
        let want = braid_sandbox::woocommerce::record(&cfg, 42, Kind::Orders, index);
        let row = ids
            .iter()
            .position(|id| *id == want["id"].as_i64().unwrap())
            .unwrap();
        assert_eq!(dec("total", row), micro(&want["total"]), "order {index}");
        assert_eq!(dec("shipping_total", row), micro(&want["shipping_total"]));
        assert_eq!(
            col_ts(b, "date_modified_gmt")[row],
            gmt_micros(want["date_modified_gmt"].as_str().unwrap()),
            "the GMT time lands as that instant"
        );
        assert_eq!(
            col_ts(b, "date_created_gmt")[row],
            gmt_micros(want["date_created_gmt"].as_str().unwrap())
        );
        assert_eq!(
            col_i64(b, "customer_id")[row],
            want["customer_id"].as_i64().unwrap()
        );
        let lines = b.column_by_name("line_items").unwrap().as_list::<i32>();
        let line = lines.value(row);
        let line = line.as_struct();
        assert_eq!(line.len(), want["line_items"].as_array().unwrap().len());
        let sub = line
            .column_by_name("subtotal")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        assert_eq!(sub.value(0), micro(&want["line_items"][0]["subtotal"]));
        // `price` is a JSON number: to the millionth.
        let price = line
            .column_by_name("price")
            .unwrap()
            .as_primitive::<Decimal128Type>();
        let p = want["line_items"][0]["price"].as_f64().unwrap();
        assert!((price.value(0) as f64 / 1e6 - p).abs() < 1e-6, "{p}");
        let billing = b.column_by_name("billing").unwrap().as_struct();
        let email = billing.column_by_name("email").unwrap().as_string::<i32>();
        assert_eq!(email.value(row), want["billing"]["email"].as_str().unwrap());
    }
    // Products: an empty sale_price is null, not an error; variations are ids.
    let r = read(
        &*src,
        &catalog,
        "products",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    let b = &r.batches[0];
    let want = braid_sandbox::woocommerce::record(&cfg, 42, Kind::Products, 3);
    let row = col_i64(b, "id")
        .iter()
        .position(|id| *id == want["id"].as_i64().unwrap())
        .unwrap();
    let price = b
        .column_by_name("price")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!(price.value(row), micro(&want["price"]));
    assert!(b.column_by_name("sale_price").unwrap().is_null(row));
    let variations = b.column_by_name("variations").unwrap().as_list::<i32>();
    assert_eq!(
        variations.value(row).len(),
        want["variations"].as_array().unwrap().len()
    );
}

#[tokio::test]
async fn incremental_orders_read_only_changes_from_the_cursor() {
    let sb = start(config(300)).await;
    let src = source_with(&sb, SECRET, serde_json::json!({"page_size": 40}));
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
    let ids = first.ids();
    assert_eq!(ids.len(), 300);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        300,
        "no repeats within a walk"
    );
    assert!(first.checkpoints.iter().all(Option::is_none));
    let changed = admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "orders", "count": 12, "create": 3}),
    )
    .await;
    let want = sorted_ids(&changed);
    let last = first.max_cursor();
    let at_cursor = first.ids_at(last);
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(last)),
        ..Default::default()
    };
    let second = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::Incremental,
        state.clone(),
    )
    .await
    .unwrap();
    let mut got = second.ids();
    // The records at the committed cursor come again (exclusive filter, one
    // second earlier); the runtime drops those it landed.
    assert!(
        at_cursor.iter().all(|id| got.contains(id)),
        "inclusive of the cursor"
    );
    got.retain(|id| !at_cursor.contains(id) || want.contains(id));
    got.sort();
    assert_eq!(got, want);
    // Products too (the same walk).
    let changed = admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "products", "count": 5}),
    )
    .await;
    let since = StreamState {
        cursor: Some(CursorValue::TimestampMicros(gmt_micros(
            changed["date_modified_gmt"].as_str().unwrap(),
        ))),
        ..Default::default()
    };
    let p = read(&*src, &catalog, "products", SyncMode::Incremental, since)
        .await
        .unwrap();
    let mut got = p.ids();
    got.sort();
    assert_eq!(got, sorted_ids(&changed));
}

#[tokio::test]
async fn edits_during_an_incremental_read_lose_nothing_and_repeat_nothing() {
    let sb = start(config(300)).await;
    let src = source_with(&sb, SECRET, serde_json::json!({"page_size": 20}));
    let catalog = src.discover().await.unwrap();
    let mut messages = src
        .read(request(
            &catalog,
            "orders",
            SyncMode::Incremental,
            StreamState::default(),
        ))
        .await
        .unwrap();
    let mut batches = Vec::new();
    let mut pages = 0;
    let mut edited = Vec::new();
    while let Some(m) = messages.next().await {
        match m.unwrap() {
            Message::Batch { batch, .. } => batches.push(batch),
            Message::Progress { pages: p, .. } => {
                pages += p;
                if pages == 3 {
                    // The shop edits records already read (and creates two) between pages:
                    // with plain offsets every later record would shift one place back.
                    let r = admin(
                        &sb,
                        "/_sandbox/woocommerce/mutate",
                        serde_json::json!({"object": "orders", "count": 6, "create": 2}),
                    )
                    .await;
                    edited = sorted_ids(&r);
                }
            }
            Message::Checkpoint { .. } => {}
        }
    }
    assert_eq!(edited.len(), 8);
    let mut count: HashMap<i64, usize> = HashMap::new();
    for b in &batches {
        for id in col_i64(b, "id") {
            *count.entry(id).or_default() += 1;
        }
    }
    assert_eq!(count.len(), 302, "every order, the two new ones included");
    for (id, n) in &count {
        if edited.contains(id) {
            assert!(*n <= 2, "{id}: the old and the new version at most");
        } else {
            assert_eq!(*n, 1, "{id} came {n} times");
        }
    }
    // The edited ones came in their new version (after the old, if at all).
    let mut last_note: HashMap<i64, i64> = HashMap::new();
    for b in &batches {
        for (id, t) in col_i64(b, "id")
            .into_iter()
            .zip(col_ts(b, "date_modified_gmt"))
        {
            last_note.insert(id, t);
        }
    }
    let newest = *last_note.values().max().unwrap();
    for id in &edited {
        assert_eq!(last_note[id], newest, "{id}");
    }
}

#[tokio::test]
async fn incremental_customers_are_filtered_client_side_and_checkpoint_at_the_end() {
    let sb = start(config(300)).await;
    let src = source_with(&sb, SECRET, serde_json::json!({"page_size": 50}));
    let catalog = src.discover().await.unwrap();
    let first = read(
        &*src,
        &catalog,
        "customers",
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.ids().len(), 300);
    assert_eq!(first.checkpoints, vec![None], "one checkpoint, at the end");
    let changed = admin(
        &sb,
        "/_sandbox/woocommerce/mutate",
        serde_json::json!({"object": "customers", "count": 7, "create": 2}),
    )
    .await;
    let want = sorted_ids(&changed);
    let last = first.max_cursor();
    let at_cursor = first.ids_at(last);
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(last)),
        ..Default::default()
    };
    let second = read(&*src, &catalog, "customers", SyncMode::Incremental, state)
        .await
        .unwrap();
    // Every customer was listed (the endpoint ignores modified_after) but only
    // the changed ones and those at the cursor were yielded.
    assert_eq!(second.pages, 7, "302 customers at 50 a page");
    let mut got = second.ids();
    got.retain(|id| !at_cursor.contains(id) || want.contains(id));
    got.sort();
    assert_eq!(got, want);
    assert_eq!(second.checkpoints, vec![None]);
}

#[tokio::test]
async fn a_full_refresh_resumes_at_its_checkpointed_page() {
    let sb = start(config(9000)).await;
    let src = source_with(&sb, SECRET, serde_json::json!({}));
    let catalog = src.discover().await.unwrap();
    let all = read(
        &*src,
        &catalog,
        "orders",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(all.ids().len(), 9000);
    // 4,096-row batches: a checkpoint after pages 41 and 82, each naming the next page.
    assert_eq!(
        all.checkpoints,
        vec![
            Some(serde_json::json!({"page": 42, "per_page": 100})),
            Some(serde_json::json!({"page": 83, "per_page": 100})),
            None
        ]
    );
    let state = StreamState {
        resume: all.checkpoints[1].clone(),
        ..Default::default()
    };
    let rest = read(&*src, &catalog, "orders", SyncMode::FullRefresh, state)
        .await
        .unwrap();
    assert_eq!(rest.ids(), all.ids()[8200..].to_vec());
    // A resume point of another page size starts over rather than skip or repeat.
    let state = StreamState {
        resume: Some(serde_json::json!({"page": 83, "per_page": 50})),
        ..Default::default()
    };
    let again = read(&*src, &catalog, "orders", SyncMode::FullRefresh, state)
        .await
        .unwrap();
    assert_eq!(again.ids().len(), 9000);
}

#[tokio::test]
async fn errors_quote_woocommerce_and_never_the_secret() {
    let sb = start(config(50)).await;
    let wrong = "cs_wrong_secret_777";
    for auth in ["basic", "query_string"] {
        let src = source_with(&sb, wrong, serde_json::json!({"auth": auth}));
        let e = src.check().await.unwrap_err();
        assert!(matches!(e, Error::Auth { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("Consumer secret is invalid. (woocommerce_rest_authentication_error)"),
            "{msg}"
        );
        assert!(msg.contains("/wp-json/wc/v3/customers"), "{msg}");
        assert!(!msg.contains(wrong), "{msg}");
    }
    let mut cfg = serde_json::json!({"url": sb.base_url(), "consumer_key": "ck_nope", "consumer_secret": SECRET});
    let e = WooCommerceConnector
        .build(cfg.clone())
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Consumer key is invalid."), "{e}");
    cfg["consumer_key"] = KEY.into();
    cfg["auth"] = "query_string".into();
    let qs = WooCommerceConnector.build(cfg).unwrap();
    let ok = qs.check().await.unwrap().message;
    assert!(ok.contains("orders 50"), "{ok}");
    let catalog = qs.discover().await.unwrap();
    let r = read(
        &*qs,
        &catalog,
        "customers",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len(), 50, "query-string auth reads");

    // A body cut short once is fetched again; every time, a data error naming the endpoint.
    let src = source_with(&sb, SECRET, serde_json::json!({}));
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/wp-json/wc/v3/products", "kind": "truncate", "count": 1}),
    )
    .await;
    let r = read(
        &*src,
        &catalog,
        "products",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.ids().len(), 50);
    assert_eq!(r.retries, 1);
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/wp-json/wc/v3/products", "kind": "truncate", "count": 3}),
    )
    .await;
    let e = read(
        &*src,
        &catalog,
        "products",
        SyncMode::FullRefresh,
        StreamState::default(),
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    assert!(e.to_string().contains("/wp-json/wc/v3/products"), "{e}");
    // A 429 storm and a 5xx burst are waited out.
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/wp-json/wc/v3/orders", "kind": "status", "status": 429, "count": 3}),
    )
    .await;
    admin(
        &sb,
        "/_sandbox/faults",
        serde_json::json!({"path_prefix": "/wp-json/wc/v3/orders", "kind": "status", "status": 503, "count": 1}),
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
    assert_eq!(r.ids().len(), 50);
    assert!(r.retries >= 4, "{}", r.retries);
}
