//! Every paging style, auth scheme and incremental parameter against a small local axum server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use braid_connector_rest::RestConnector;
use braid_sdk::{
    Connector, CursorValue, Error, Message, ReadRequest, Source, SourceState, StreamState, SyncMode,
};
use futures::StreamExt;
use serde_json::{json, Value};

const N: usize = 23;

fn record(i: usize) -> Value {
    json!({
        "id": format!("r{i:03}"),
        "n": i,
        "updated_at": format!("2024-01-01T00:00:{:02}.000Z", i / 2),
        "nested": if i.is_multiple_of(5) { Value::Null } else { json!({"v": i * 10, "deeper": {"w": format!("w{i}")}}) },
        "added_later": {"unexpected": true}
    })
}

/// Records with `updated_at >= since` (when given).
fn records(since: Option<&str>) -> Vec<Value> {
    (0..N)
        .map(record)
        .filter(|r| since.is_none_or(|s| r["updated_at"].as_str().unwrap() >= s))
        .collect()
}

#[derive(Default)]
struct Hits {
    requests: AtomicU32,
    tokens: AtomicU32,
    failures_left: AtomicU32,
}

type Q = Query<HashMap<String, String>>;

async fn cursor_get(State(h): State<Arc<Hits>>, Query(q): Q) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    let start: usize = q
        .get("cursor")
        .map(|c| c.trim_start_matches('c').parse().unwrap())
        .unwrap_or(0);
    let all = records(q.get("since").map(String::as_str));
    let page: Vec<Value> = all.iter().skip(start).take(5).cloned().collect();
    let mut body = json!({"results": page});
    if start + 5 < all.len() {
        body["cursor"] = format!("c{}", start + 5).into();
    }
    Json(body).into_response()
}

async fn cursor_post(
    State(h): State<Arc<Hits>>,
    headers: HeaderMap,
    Json(b): Json<Value>,
) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("k-123") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": [{"code": "UNAUTHORIZED", "detail": "bad key"}]})),
        )
            .into_response();
    }
    let start: usize = b["paging"]["after"]
        .as_str()
        .map(|c| c.parse().unwrap())
        .unwrap_or(0);
    let since = b["filter"][0]["value"].as_str();
    let limit = b["limit"].as_u64().unwrap() as usize;
    let all = records(since);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let next = if start + limit < all.len() {
        json!((start + limit).to_string())
    } else {
        Value::Null
    };
    Json(json!({"data": {"items": page, "next": next}})).into_response()
}

async fn link(State(h): State<Arc<Hits>>, Query(q): Q, headers: HeaderMap) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    let host = headers.get("host").unwrap().to_str().unwrap().to_owned();
    // As Shopify's, the page_info token carries the filter, and no filter may come with it.
    if q.contains_key("page_info") && q.contains_key("updated_at_min") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": "page_info cannot be combined with other filters"})),
        )
            .into_response();
    }
    let (start, since) = match q.get("page_info") {
        Some(p) => {
            let (a, b) = p.split_once('_').unwrap();
            (
                a.parse::<usize>().unwrap(),
                (!b.is_empty()).then(|| b.to_owned()),
            )
        }
        None => (0, q.get("updated_at_min").cloned()),
    };
    let all = records(since.as_deref());
    let page: Vec<Value> = all.iter().skip(start).take(4).cloned().collect();
    let mut r = Json(json!({"orders": page})).into_response();
    if start + 4 < all.len() {
        let token = format!("{}_{}", start + 4, since.as_deref().unwrap_or(""));
        let v = format!("<http://{host}/link?page_info=0_>; rel=\"previous\", <http://{host}/link?page_info={token}&limit=4>; rel=\"next\"");
        r.headers_mut().insert("link", v.parse().unwrap());
    }
    r
}

async fn pages(State(h): State<Arc<Hits>>, Query(q): Q, headers: HeaderMap) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    // Basic auth: ck:cs
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic Y2s6Y3M=") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."}))).into_response();
    }
    let page: usize = q["page"].parse().unwrap();
    let per: usize = q["per_page"].parse().unwrap();
    let all = records(None);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .cloned()
        .collect();
    let mut r = Json(items).into_response();
    if q.contains_key("with_total") {
        r.headers_mut().insert(
            "x-wp-totalpages",
            all.len().div_ceil(per).to_string().parse().unwrap(),
        );
    }
    r
}

async fn offset(State(h): State<Arc<Hits>>, Query(q): Q) -> Response {
    h.requests.fetch_add(1, Ordering::SeqCst);
    if q.get("api_key").map(String::as_str) != Some("qk") {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"message": "missing api_key"})),
        )
            .into_response();
    }
    if h.failures_left.load(Ordering::SeqCst) > 0 {
        let left = h.failures_left.fetch_sub(1, Ordering::SeqCst);
        let mut r = if left.is_multiple_of(2) {
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"message": "slow down"})),
            )
                .into_response()
        } else {
            (StatusCode::BAD_GATEWAY, "bad gateway").into_response()
        };
        r.headers_mut().insert("retry-after", "0".parse().unwrap());
        return r;
    }
    let off: usize = q["offset"].parse().unwrap();
    let lim: usize = q["limit"].parse().unwrap();
    let items: Vec<Value> = records(None).into_iter().skip(off).take(lim).collect();
    Json(json!({"items": items})).into_response()
}

async fn token(State(h): State<Arc<Hits>>, Form(f): Form<HashMap<String, String>>) -> Response {
    if f.get("client_secret").map(String::as_str) != Some("cs-secret")
        || f.get("grant_type").map(String::as_str) != Some("client_credentials")
    {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "client authentication failed"}))).into_response();
    }
    let n = h.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"access_token": format!("tok{n}"), "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

async fn oauth_items(State(h): State<Arc<Hits>>, headers: HeaderMap) -> Response {
    let n = h.requests.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first token is "revoked" after the first request.
    if !auth.starts_with("Bearer tok") || (auth == "Bearer tok1" && n > 0) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "token expired"}})),
        )
            .into_response();
    }
    Json(json!({"results": records(None)})).into_response()
}

async fn server() -> (String, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .route("/cursor", get(cursor_get))
        .route("/search", post(cursor_post))
        .route("/link", get(link))
        .route("/pages", get(pages))
        .route("/offset", get(offset))
        .route("/oauth/token", post(token))
        .route("/secure", get(oauth_items))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

fn source(config: Value) -> Box<dyn Source> {
    RestConnector.build(config).unwrap()
}

async fn read_with(
    src: &dyn Source,
    mode: SyncMode,
    state: StreamState,
) -> Result<(Vec<RecordBatch>, usize), Error> {
    let catalog = src.discover().await?;
    let stream = catalog.streams[0].clone();
    let mut st = SourceState::default();
    st.streams.insert(stream.name.clone(), state);
    let mut m = src
        .read(ReadRequest {
            streams: vec![braid_sdk::ConfiguredStream {
                stream,
                sync_mode: mode,
            }],
            state: st,
        })
        .await?;
    let (mut out, mut checkpoints) = (Vec::new(), 0);
    while let Some(msg) = m.next().await {
        match msg? {
            Message::Batch { batch, .. } => out.push(batch),
            Message::Checkpoint { .. } => checkpoints += 1,
            _ => {}
        }
    }
    Ok((out, checkpoints))
}

async fn read(src: &dyn Source) -> Vec<RecordBatch> {
    read_with(src, SyncMode::FullRefresh, StreamState::default())
        .await
        .unwrap()
        .0
}

fn ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn all_ids() -> Vec<String> {
    (0..N).map(|i| format!("r{i:03}")).collect()
}

fn declared() -> Value {
    json!([
        {"name": "id", "type": "string", "nullable": false},
        {"name": "n", "type": "int64"},
        {"name": "updated_at", "type": "timestamp"},
        {"name": "v", "type": "int64", "path": "nested.v"},
        {"name": "w", "type": "string", "path": "nested.deeper.w"}
    ])
}

#[tokio::test]
async fn cursor_in_the_body_with_a_cursor_query_parameter() {
    let (url, hits) = server().await;
    let src = source(json!({"base_url": url, "streams": [{
        "name": "items", "path": "/cursor", "records_path": "results", "schema": declared(), "primary_key": ["id"],
        "pagination": {"type": "cursor", "cursor_path": "cursor", "param": "cursor"}
    }]}));
    let b = read(src.as_ref()).await;
    assert_eq!(ids(&b), all_ids());
    assert_eq!(
        hits.requests.load(Ordering::SeqCst),
        5,
        "23 records in pages of 5"
    );
    // Nested paths flatten; a value under a null object is null.
    let v = b[0]
        .column_by_name("v")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(v.is_null(0) && v.is_null(5));
    assert_eq!(v.value(1), 10);
    assert_eq!(
        b[0].column_by_name("w")
            .unwrap()
            .as_string::<i32>()
            .value(3),
        "w3"
    );
    let ts = b[0]
        .column_by_name("updated_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(ts.value(3), 1_704_067_201_000_000);
}

#[tokio::test]
async fn cursor_and_incremental_value_in_a_post_body_with_an_api_key_header() {
    let (url, hits) = server().await;
    let config = json!({"base_url": url, "auth": {"type": "api_key", "name": "X-API-Key", "key": "k-123"}, "streams": [{
        "name": "items", "path": "/search", "method": "POST",
        "body": {"limit": 6, "filter": [{"field": "updated_at", "value": null}]},
        "records_path": "data.items", "schema": declared(), "primary_key": ["id"],
        "pagination": {"type": "cursor", "cursor_path": "data.next", "param": "paging.after", "in": "body"},
        "incremental": {"cursor_field": "updated_at", "param": "filter.0.value", "in": "body", "format": "rfc3339", "sorted": true}
    }]});
    let src = source(config.clone());
    let (b, checkpoints) = read_with(src.as_ref(), SyncMode::Incremental, StreamState::default())
        .await
        .unwrap();
    assert_eq!(ids(&b), all_ids());
    // 23 records in pages of 6; a declared schema needs no request to discover.
    assert_eq!(hits.requests.load(Ordering::SeqCst), 4);
    assert_eq!(checkpoints, 1);
    // From the committed cursor 00:00:10 (records 20, 21, 22), inclusively.
    let state = StreamState {
        cursor: Some(CursorValue::TimestampMicros(1_704_067_210_000_000)),
        ..Default::default()
    };
    let (b, _) = read_with(src.as_ref(), SyncMode::Incremental, state)
        .await
        .unwrap();
    assert_eq!(ids(&b), vec!["r020", "r021", "r022"]);
    // A wrong key: an auth error quoting the API, without the key.
    let mut bad = config.clone();
    bad["auth"]["key"] = "WRONG-KEY-secret".into();
    let e = read_with(
        source(bad).as_ref(),
        SyncMode::Incremental,
        StreamState::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("UNAUTHORIZED: bad key") && e.to_string().contains("/search"),
        "{e}"
    );
    assert!(!e.to_string().contains("WRONG-KEY"), "{e}");
}

#[tokio::test]
async fn link_headers_are_followed_and_the_incremental_parameter_is_sent_once() {
    let (url, hits) = server().await;
    let src = source(json!({"base_url": url, "streams": [{
        "name": "orders", "path": "/link", "query": {"limit": "4"}, "records_path": "orders", "schema": declared(), "primary_key": ["id"],
        "pagination": {"type": "link_header"},
        "incremental": {"cursor_field": "updated_at", "param": "updated_at_min", "start": "2024-01-01T00:00:03.000Z"}
    }]}));
    let (b, _) = read_with(src.as_ref(), SyncMode::Incremental, StreamState::default())
        .await
        .unwrap();
    assert_eq!(ids(&b), all_ids()[6..].to_vec());
    assert_eq!(hits.requests.load(Ordering::SeqCst), 5);
    let b = read(src.as_ref()).await;
    assert_eq!(ids(&b), all_ids());
}

#[tokio::test]
async fn page_numbers_with_and_without_a_total_pages_header_under_basic_auth() {
    let (url, hits) = server().await;
    for (total, expected_requests) in [(true, 5u32), (false, 5)] {
        hits.requests.store(0, Ordering::SeqCst);
        let mut query = json!({});
        if total {
            query["with_total"] = "1".into();
        }
        let mut pagination = json!({"type": "page_number", "param": "page", "size_param": "per_page", "page_size": 5});
        if total {
            pagination["total_pages_header"] = "X-WP-TotalPages".into();
        }
        // Inferred schema: the bare array's records as they come.
        let src = source(
            json!({"base_url": url, "auth": {"type": "basic", "username": "ck", "password": "cs"}, "streams": [{
                "name": "customers", "path": "/pages", "query": query, "primary_key": ["id"], "pagination": pagination
            }]}),
        );
        let catalog = src.discover().await.unwrap();
        let schema = &catalog.streams[0].schema;
        assert_eq!(
            schema.field_with_name("n").unwrap().data_type(),
            &arrow_schema::DataType::Int64
        );
        assert!(matches!(
            schema.field_with_name("nested").unwrap().data_type(),
            arrow_schema::DataType::Struct(_)
        ));
        let b = read(src.as_ref()).await;
        assert_eq!(ids(&b), all_ids(), "total header: {total}");
        // One request for discover's inference, then the pages.
        assert_eq!(
            hits.requests.load(Ordering::SeqCst),
            expected_requests + 2,
            "total header: {total}"
        );
    }
    let e = source(json!({"base_url": url, "auth": {"type": "basic", "username": "ck", "password": "nope"}, "streams": [{
        "name": "customers", "path": "/pages", "schema": declared(), "pagination": {"type": "page_number", "size_param": "per_page", "page_size": 5}
    }]})).check().await.unwrap_err();
    assert!(
        e.to_string().contains("Sorry, you cannot list resources."),
        "{e}"
    );
}

#[tokio::test]
async fn offset_paging_with_an_api_key_in_the_query_retries_429s_and_5xx() {
    let (url, hits) = server().await;
    hits.failures_left.store(4, Ordering::SeqCst);
    let src = source(
        json!({"base_url": url, "auth": {"type": "api_key", "name": "api_key", "key": "qk", "in": "query"}, "max_retries": 5, "streams": [{
            "name": "items", "path": "/offset", "records_path": "items", "schema": declared(), "primary_key": ["id"],
            "pagination": {"type": "offset", "limit": 10}
        }]}),
    );
    let b = read(src.as_ref()).await;
    assert_eq!(ids(&b), all_ids());
    // 4 failures + 3 pages (10, 10, 3).
    assert_eq!(hits.requests.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn oauth2_client_credentials_fetches_a_token_and_refreshes_it_once_when_refused() {
    let (url, hits) = server().await;
    let config = json!({"base_url": url, "auth": {"type": "oauth2_client_credentials", "token_url": format!("{url}/oauth/token"), "client_id": "cid", "client_secret": "cs-secret"}, "streams": [{
        "name": "items", "path": "/secure", "records_path": "results", "schema": declared()
    }]});
    let src = source(config.clone());
    assert_eq!(ids(&read(src.as_ref()).await), all_ids());
    assert_eq!(
        ids(&read(src.as_ref()).await),
        all_ids(),
        "the refused token was replaced"
    );
    assert_eq!(hits.tokens.load(Ordering::SeqCst), 2);
    let mut bad = config;
    bad["auth"]["client_secret"] = "WRONG-secret".into();
    let e = source(bad).check().await.unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e:?}");
    assert!(
        e.to_string().contains("invalid_client") && !e.to_string().contains("WRONG-secret"),
        "{e}"
    );
}

#[test]
fn config_errors_name_the_stream_and_field() {
    let base = |stream: Value| json!({"base_url": "http://x", "streams": [stream]});
    let err = |v: Value| RestConnector.build(v).err().unwrap().to_string();
    let e = err(base(
        json!({"name": "a", "path": "/a", "pagination": {"type": "cursr"}}),
    ));
    assert!(
        e.contains("streams[0] (`a`)") && e.contains("cursr") && e.contains("link_header"),
        "{e}"
    );
    let e = err(base(
        json!({"name": "a", "path": "/a", "records_path": "r", "pagination": {"type": "cursor", "param": "c"}}),
    ));
    assert!(e.contains("cursor_path"), "{e}");
    let e = err(base(json!({"name": "a", "path": "/a", "body": {"x": 1}})));
    assert!(e.contains("`body` needs `method: POST`"), "{e}");
    let e = err(base(
        json!({"name": "a", "path": "/a", "schema": [{"name": "id", "type": "strin"}]}),
    ));
    assert!(e.contains("schema[0].type") && e.contains("strin"), "{e}");
    let e = err(base(
        json!({"name": "a", "path": "/a", "schema": [{"name": "id", "type": "string"}], "incremental": {"cursor_field": "updated_at", "param": "since"}}),
    ));
    assert!(
        e.contains("`incremental.cursor_field` `updated_at` is not in `schema`"),
        "{e}"
    );
    let e = err(
        json!({"base_url": "http://x", "auth": {"type": "bearer"}, "streams": [{"name": "a", "path": "/a"}]}),
    );
    assert!(e.contains("token"), "{e}");
    let e = err(base(json!({"name": "a", "path": "a"})));
    assert!(e.contains("`path` must start with `/`"), "{e}");
    let e = err(base(json!({"name": "a", "path": "/a", "pagniation": {}})));
    assert!(e.contains("pagniation"), "{e}");
    // Debug never shows secrets.
    let c = braid_connector_rest::RestConfig::from_value(json!({"base_url": "http://x", "headers": {"X-Token": "hdr-SECRET"}, "auth": {"type": "bearer", "token": "tok-SECRET"}, "streams": [{"name": "a", "path": "/a"}]})).unwrap();
    assert!(!format!("{c:?}").contains("SECRET"));
}

#[test]
fn cursor_values_are_written_in_the_declared_format() {
    use braid_connector_rest::{format_cursor, CursorFormat};
    let t = CursorValue::TimestampMicros(1_704_067_201_250_000);
    assert_eq!(
        format_cursor(&t, CursorFormat::Rfc3339),
        "2024-01-01T00:00:01.250000Z"
    );
    assert_eq!(
        format_cursor(&t, CursorFormat::EpochMillis),
        "1704067201250"
    );
    assert_eq!(format_cursor(&t, CursorFormat::EpochSeconds), "1704067201");
    assert_eq!(format_cursor(&t, CursorFormat::Date), "2024-01-01");
    assert_eq!(
        format_cursor(&CursorValue::Date(19723), CursorFormat::Date),
        "2024-01-01"
    );
    assert_eq!(
        format_cursor(&CursorValue::Int(42), CursorFormat::Raw),
        "42"
    );
}

#[tokio::test]
async fn a_timed_out_request_is_retried_and_a_full_refresh_resumes_from_its_cursor() {
    let (url, hits) = server().await;
    let slow = Router::new().route(
        "/slow",
        get(|State(h): State<Arc<Hits>>| async move {
            if h.tokens.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
            }
            Json(json!({"results": records(None)}))
        }),
    );
    let hits2 = Arc::new(Hits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}", listener.local_addr().unwrap());
    let app = slow.with_state(hits2.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let src = source(
        json!({"base_url": slow_url, "request_timeout_ms": 300, "streams": [{
            "name": "items", "path": "/slow", "records_path": "results", "schema": declared()
        }]}),
    );
    assert_eq!(ids(&read(src.as_ref()).await), all_ids());
    assert_eq!(
        hits2.tokens.load(Ordering::SeqCst),
        2,
        "the timed-out attempt was retried"
    );

    // The resume a crashed full refresh committed: the next page's cursor.
    let src = source(json!({"base_url": url, "streams": [{
        "name": "items", "path": "/cursor", "records_path": "results", "schema": declared(),
        "pagination": {"type": "cursor", "cursor_path": "cursor", "param": "cursor"}
    }]}));
    let state = StreamState {
        resume: Some(json!({"cursor": "c10"})),
        ..Default::default()
    };
    let (b, _) = read_with(src.as_ref(), SyncMode::FullRefresh, state)
        .await
        .unwrap();
    assert_eq!(ids(&b), all_ids()[10..].to_vec());
    assert_eq!(hits.requests.load(Ordering::SeqCst), 3);
}
