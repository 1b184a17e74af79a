//! HubSpot CRM v3 source: `contacts`, `companies` and `deals`.
//!
//! - Full refresh pages through `GET /crm/v3/objects/{object}` with
//!   `limit`/`after`, checkpointing the `after` token so a crashed run resumes.
//! - Incremental uses `POST /crm/v3/objects/{object}/search`, filtered
//!   `>=` the committed modified time and sorted ascending by it. HubSpot
//!   caps one search at 10,000 results; before the cap the search restarts
//!   from the last modified time seen, skipping the ids already read at it.
//! - `discover` reads `/crm/v3/properties/{object}` and maps HubSpot types to
//!   Arrow: numbers → Decimal128(38, 9), datetimes → Timestamp(µs, UTC),
//!   dates → Date32, booleans → Boolean, the rest → Utf8.

mod config;
mod page;

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, ConfiguredStream, Connector, ConnectorSpec, Error, HttpClient,
    HttpConfig, Message, MessageStream, PageTokenGuard, ReadRequest, Result, Source,
    StreamDescriptor, StreamState, SyncMode,
};
use futures::StreamExt;
use serde::Deserialize;

pub use config::HubSpotConfig;
use page::PageDecoder;

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4096;

/// The largest offset one HubSpot search can page to.
const SEARCH_CAP: u64 = 10_000;

struct ObjectDef {
    name: &'static str,
    modified: &'static str,
}

const OBJECTS: [ObjectDef; 3] = [
    ObjectDef {
        name: "contacts",
        modified: "lastmodifieddate",
    },
    ObjectDef {
        name: "companies",
        modified: "hs_lastmodifieddate",
    },
    ObjectDef {
        name: "deals",
        modified: "hs_lastmodifieddate",
    },
];

fn object(name: &str) -> Result<&'static ObjectDef> {
    OBJECTS
        .iter()
        .find(|o| o.name == name)
        .ok_or_else(|| Error::Config(format!("unknown HubSpot stream {name:?}")))
}

/// The HubSpot connector (`connector: hubspot`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HubSpotConnector;

impl Connector for HubSpotConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "hubspot".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(HubSpotSource::new(HubSpotConfig::from_value(
            config,
        )?)?))
    }
}

/// A configured HubSpot source.
#[derive(Debug, Clone)]
pub struct HubSpotSource {
    config: Arc<HubSpotConfig>,
    client: HttpClient,
}

/// HubSpot error bodies carry `message`.
fn hubspot_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct E {
        message: String,
        #[serde(default)]
        category: Option<String>,
    }
    let e: E = serde_json::from_slice(body).ok()?;
    Some(match e.category {
        Some(c) => format!("{} ({c})", e.message),
        None => e.message,
    })
}

impl HubSpotSource {
    /// A source for `config`.
    pub fn new(config: HubSpotConfig) -> Result<Self> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_retries = config.max_retries as u32;
        http.requests_per_second = config
            .requests_per_second
            .and_then(|n| NonZeroU32::new(n as u32));
        http.max_concurrency = (config.stream_concurrency as usize).max(1);
        http.error_message = hubspot_message;
        Ok(Self {
            client: HttpClient::new(http)?,
            config: Arc::new(config),
        })
    }

    async fn stream_schema(&self, obj: &ObjectDef) -> Result<StreamDescriptor> {
        #[derive(Deserialize)]
        struct Props {
            results: Vec<Prop>,
        }
        #[derive(Deserialize)]
        struct Prop {
            name: String,
            #[serde(rename = "type")]
            kind: String,
        }
        let url = self.client.url(&format!("/crm/v3/properties/{}", obj.name));
        let token = self.config.access_token.clone();
        let resp = self
            .client
            .send(|c| c.get(&url).bearer_auth(&token))
            .await?;
        let props: Props = serde_json::from_slice(&resp.body).map_err(|e| {
            Error::data(
                obj.name,
                format!(
                    "invalid properties response from /crm/v3/properties/{}: {e}",
                    obj.name
                ),
            )
        })?;
        let wanted = self.config.properties.get(obj.name);
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let mut fields = vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("created_at", ts.clone(), true),
            Field::new("updated_at", ts.clone(), true),
            Field::new("archived", DataType::Boolean, true),
        ];
        let fixed: HashSet<&str> = ["id", "created_at", "updated_at", "archived"].into();
        for p in &props.results {
            if fixed.contains(p.name.as_str()) {
                continue;
            }
            let keep = p.name == obj.modified
                || p.name == "hs_object_id"
                || wanted.is_none_or(|w| w.iter().any(|n| n == &p.name));
            if !keep {
                continue;
            }
            let dt = match (p.name.as_str(), p.kind.as_str()) {
                ("hs_object_id", _) => DataType::Int64,
                (_, "number") => DataType::Decimal128(38, 9),
                (_, "datetime") => ts.clone(),
                (_, "date") => DataType::Date32,
                (_, "bool") => DataType::Boolean,
                _ => DataType::Utf8,
            };
            fields.push(Field::new(&p.name, dt, true));
        }
        if !fields.iter().any(|f| f.name() == obj.modified) {
            return Err(Error::data(
                obj.name,
                format!("HubSpot did not list the {} property", obj.modified),
            ));
        }
        Ok(StreamDescriptor {
            name: obj.name.into(),
            schema: Arc::new(Schema::new(fields)),
            primary_key: vec!["id".into()],
            cursor_field: Some(obj.modified.into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        })
    }
}

#[async_trait]
impl Source for HubSpotSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let url = self.client.url("/crm/v3/objects/contacts");
        let token = self.config.access_token.clone();
        self.client
            .send(|c| c.get(&url).query(&[("limit", "1")]).bearer_auth(&token))
            .await?;
        Ok(CheckOutcome {
            message: format!(
                "authenticated to {}; contacts are readable",
                self.config.base_url
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        let mut streams = Vec::new();
        for obj in &OBJECTS {
            streams.push(self.stream_schema(obj).await?);
        }
        Ok(Catalog { streams })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut readers = Vec::new();
        for configured in request.streams {
            let obj = object(&configured.stream.name)?;
            let state = request.state.stream(obj.name).cloned().unwrap_or_default();
            let ctx = StreamCtx {
                client: self.client.clone(),
                config: self.config.clone(),
                obj,
                stream: configured,
                state,
            };
            readers.push(match ctx.stream.sync_mode {
                SyncMode::FullRefresh => ctx.full_refresh(),
                SyncMode::Incremental => ctx.incremental(),
            });
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }
}

/// A request running ahead of the reader; aborted if the read is dropped.
struct Prefetch(tokio::task::JoinHandle<Result<braid_sdk::HttpResponse>>);

impl Prefetch {
    async fn wait(&mut self) -> Result<braid_sdk::HttpResponse> {
        (&mut self.0)
            .await
            .map_err(|e| Error::Internal(format!("prefetch task: {e}")))?
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct StreamCtx {
    client: HttpClient,
    config: Arc<HubSpotConfig>,
    obj: &'static ObjectDef,
    stream: ConfiguredStream,
    state: StreamState,
}

impl StreamCtx {
    fn schema(&self) -> SchemaRef {
        self.stream.stream.schema.clone()
    }

    /// Property names to request: every schema column but the fixed four.
    fn properties(&self) -> Vec<String> {
        self.schema()
            .fields()
            .iter()
            .skip(4)
            .map(|f| f.name().clone())
            .collect()
    }

    fn decoder(&self) -> Result<PageDecoder> {
        let track = (self.stream.sync_mode == SyncMode::Incremental).then_some(self.obj.modified);
        PageDecoder::new(self.schema(), track)
            .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))
    }

    fn full_refresh(self) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = self.obj.name;
            let url = self.client.url(&format!("/crm/v3/objects/{name}"));
            let props = self.properties().join(",");
            let limit = self.config.page_size.to_string();
            let token = self.config.access_token.clone();
            let mut decoder = self.decoder()?;
            let mut guard = PageTokenGuard::new(name);
            let after: Option<String> = self
                .state
                .resume
                .as_ref()
                .and_then(|r| r.get("after"))
                .and_then(|a| a.as_str())
                .map(str::to_owned);
            if let Some(a) = &after {
                tracing::info!(stream = name, after = %a, "resuming full refresh");
                guard.check(a)?;
            }
            // The next page is requested as soon as its token is known, so the
            // vendor prepares it while this one is decoded.
            let fetch = |after: Option<String>| {
                let (client, url, token, limit, props) = (self.client.clone(), url.clone(), token.clone(), limit.clone(), props.clone());
                Prefetch(tokio::spawn(async move {
                    client
                        .send(|c| {
                            let mut q: Vec<(&str, &str)> = vec![("limit", &limit), ("properties", &props), ("archived", "false")];
                            if let Some(a) = &after {
                                q.push(("after", a));
                            }
                            c.get(&url).query(&q).bearer_auth(&token)
                        })
                        .await
                }))
            };
            let mut pending = fetch(after);
            loop {
                let resp = pending.wait().await?;
                let next = page::peek_next_after(&resp.body)
                    .map_err(|e| Error::data(name, format!("GET /crm/v3/objects/{name}: {e}")))?;
                if let Some(n) = &next {
                    guard.check(n)?;
                    pending = fetch(Some(n.clone()));
                }
                decoder
                    .append(&resp.body, |_, _| false)
                    .map_err(|e| Error::data(name, format!("GET /crm/v3/objects/{name}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: (resp.attempts - 1) as u64 };
                // Pages are gathered into bigger batches; the checkpoint follows the batch.
                if next.is_some() && decoder.buffered_rows() + self.config.page_size as usize <= FLUSH_ROWS {
                    continue;
                }
                let batch = decoder
                    .flush()
                    .map_err(|e| Error::data(name, format!("GET /crm/v3/objects/{name}: {e}")))?;
                if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
                    yield Message::Batch { stream: name.into(), batch };
                }
                let resume = next.as_ref().map(|n| serde_json::json!({ "after": n }));
                yield Message::Checkpoint { stream: name.into(), resume };
                if next.is_none() {
                    break;
                }
            }
        })
    }

    fn incremental(self) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = self.obj.name;
            let endpoint = format!("/crm/v3/objects/{name}/search");
            let url = self.client.url(&endpoint);
            let props = self.properties();
            let limit = self.config.search_page_size;
            let token = self.config.access_token.clone();
            let mut decoder = self.decoder()?;
            // Inclusive lower bound: the runtime drops boundary rows it already landed.
            let mut lower: i64 = self.state.cursor.as_ref().and_then(|c| c.as_epoch_millis()).unwrap_or(0);
            let mut after: u64 = 0;
            // Ids read at exactly `lower` in this run, skipped after a restart at `lower`.
            let mut skip: HashSet<String> = HashSet::new();
            let mut last_max: Option<i64> = None;
            let mut at_last_max: HashSet<String> = HashSet::new();
            let mut guard = PageTokenGuard::new(name);
            loop {
                let body = serde_json::json!({
                    "filterGroups": [{"filters": [{"propertyName": self.obj.modified, "operator": "GTE", "value": lower.to_string()}]}],
                    "sorts": [{"propertyName": self.obj.modified, "direction": "ASCENDING"}],
                    "properties": props,
                    "limit": limit,
                    "after": after.to_string(),
                });
                let resp = self.client.send(|c| c.post(&url).json(&body).bearer_auth(&token)).await?;
                let restart_lower = lower;
                let page = decoder
                    .append(&resp.body, |id, modified| modified == Some(restart_lower) && skip.contains(id))
                    .map_err(|e| Error::data(name, format!("POST {endpoint}: {e}")))?;
                yield Message::Progress { stream: name.into(), pages: 1, retries: (resp.attempts - 1) as u64 };
                if let Some(m) = page.max_modified_ms {
                    if last_max != Some(m) {
                        if last_max.is_some_and(|l| m < l) {
                            Err(Error::data(name, format!("search results are not sorted by {}", self.obj.modified)))?;
                        }
                        last_max = Some(m);
                        at_last_max.clear();
                    }
                    at_last_max.extend(page.ids_at_max);
                }
                let kept = page.kept;
                // Pages are gathered into bigger batches; the checkpoint follows the batch.
                let more = page.next_after.is_some();
                if !more || decoder.buffered_rows() + limit as usize > FLUSH_ROWS || after + 2 * limit > SEARCH_CAP {
                    let batch = decoder.flush().map_err(|e| Error::data(name, format!("POST {endpoint}: {e}")))?;
                    if let Some(batch) = batch.filter(|b| b.num_rows() > 0) {
                        yield Message::Batch { stream: name.into(), batch };
                    }
                    yield Message::Checkpoint { stream: name.into(), resume: None };
                }
                let Some(next) = page.next_after else { break };
                guard.check(&next)?;
                let next: u64 = next
                    .parse()
                    .map_err(|_| Error::data(name, format!("POST {endpoint}: paging.next.after {next:?} is not an offset")))?;
                if next + limit > SEARCH_CAP {
                    // Restart the search at the last modified time seen.
                    let new_lower = last_max.unwrap_or(lower);
                    if new_lower == lower && kept == 0 && page.received > 0 {
                        Err(Error::data(name, format!(
                            "more than {SEARCH_CAP} records share {} = {lower} ms; HubSpot's search cannot page past them",
                            self.obj.modified
                        )))?;
                    }
                    if new_lower != lower {
                        skip.clear();
                    }
                    skip.extend(at_last_max.iter().cloned());
                    tracing::debug!(stream = name, from_ms = new_lower, "search cap reached; restarting the search");
                    lower = new_lower;
                    after = 0;
                    guard.reset();
                } else {
                    after = next;
                }
            }
        })
    }
}
