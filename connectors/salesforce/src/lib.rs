//! Salesforce source: `Contact`, `Lead`, `Account`, `Opportunity`,
//! `Campaign` and `CampaignMember` over the REST API.
//!
//! - **Auth.** OAuth 2.0 refresh-token or client-credentials grant at
//!   `<login_url>/services/oauth2/token`; API calls go to the
//!   `instance_url` of the token response with `Authorization: Bearer`.
//!   Salesforce sends no `expires_in`, so the token is kept until an API
//!   call answers 401 `INVALID_SESSION_ID`: then a new token is fetched and
//!   that request sent once more. Nothing else refreshes the token; 403
//!   `REQUEST_LIMIT_EXCEEDED` (the org's 24-hour API request limit) is a
//!   rate-limit error quoting Salesforce.
//! - **Reads.** One SOQL query per stream through `queryAll` (recycle-bin
//!   records come with `IsDeleted = true`; `include_deleted: false` uses
//!   `query`), `ORDER BY SystemModstamp, Id`, pages of `batch_size`
//!   (`Sforce-Query-Options`) followed through `nextRecordsUrl` until
//!   `done`. Incremental adds `WHERE SystemModstamp >= <committed cursor>`
//!   (inclusive: the runtime drops the boundary records it already landed)
//!   and checkpoints after every batch. A full refresh checkpoints the
//!   `SystemModstamp` below which everything is landed, so a crashed run
//!   resumes there instead of starting over (query cursors do not survive
//!   that long). The rows of a query are counted against its `totalSize`.
//! - **Schema.** `discover` reads `sobjects/<X>/describe` (see [`describe`]).
//!   Pages are decoded by arrow-json straight into that schema; fields a
//!   page carries that the schema does not name are skipped.
//! - A page cut short (invalid JSON) is fetched again (Salesforce serves a
//!   query page again by its locator), twice at most.

mod api;
mod config;
pub mod describe;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{Array, RecordBatch};
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use braid_sdk::{
    Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, JsonPage, JsonPageDecoder,
    Message, MessageStream, PageTokenGuard, ReadRequest, Result, Source, StreamDescriptor,
    StreamState, SyncMode,
};
use futures::StreamExt;

pub use api::salesforce_message;
pub use config::{Flow, SalesforceConfig};

/// The objects the connector reads.
pub const OBJECTS: [&str; 6] = [
    "Contact",
    "Lead",
    "Account",
    "Opportunity",
    "Campaign",
    "CampaignMember",
];

/// The cursor field of every stream.
pub const CURSOR: &str = "SystemModstamp";

/// Rows gathered from consecutive pages into one batch.
const FLUSH_ROWS: usize = 4000;

/// Fetches of one page when its body is cut short.
const PAGE_ATTEMPTS: u32 = 3;

/// The Salesforce connector (`connector: salesforce`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SalesforceConnector;

impl Connector for SalesforceConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "salesforce".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(SalesforceSource::new(
            SalesforceConfig::from_value(config)?,
        )?))
    }
}

/// A configured Salesforce source.
#[derive(Debug, Clone)]
pub struct SalesforceSource {
    config: Arc<SalesforceConfig>,
    api: Arc<api::Api>,
}

impl SalesforceSource {
    /// A source for `config` (nothing is sent until it is used).
    pub fn new(config: SalesforceConfig) -> Result<Self> {
        Ok(Self {
            api: api::Api::new(&config)?,
            config: Arc::new(config),
        })
    }

    async fn describe(&self, object: &str) -> Result<describe::Describe> {
        let path = self.api.data_path(&format!("sobjects/{object}/describe"));
        let resp = self.api.get(&path, &[], None).await.map_err(|e| match e {
            Error::Config(m) if m.contains("HTTP 404") => {
                let said = m
                    .split_once("refused the request: ")
                    .map_or(m.as_str(), |(_, s)| s);
                Error::Auth {
                    endpoint: path.clone(),
                    message: format!(
                        "missing permission: the user cannot read {object} ({said}); \
                         give it read access to {object}, or leave {object} out of `objects`"
                    ),
                }
            }
            other => other,
        })?;
        serde_json::from_slice(&resp.body).map_err(|e| {
            Error::data(
                object,
                format!("GET {path}: invalid describe response: {e}"),
            )
        })
    }

    async fn descriptor(&self, object: &str) -> Result<StreamDescriptor> {
        let d = self.describe(object).await?;
        let wanted = self.config.fields.get(object).map(Vec::as_slice);
        let schema = describe::stream_schema(&d, wanted).map_err(|m| match m {
            m if m.starts_with("fields:") => Error::Config(format!("salesforce: {m}")),
            m => Error::data(object, m),
        })?;
        Ok(StreamDescriptor {
            name: object.to_owned(),
            schema,
            primary_key: vec!["Id".into()],
            cursor_field: Some(CURSOR.into()),
            sync_modes: vec![SyncMode::FullRefresh, SyncMode::Incremental],
        })
    }
}

#[async_trait]
impl Source for SalesforceSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let instance = self.api.instance_url().await?;
        let objects = self.config.objects();
        let catalog = self.discover().await?;
        let first = &objects[0];
        let q = format!("SELECT Id FROM {first} LIMIT 1");
        let path = self.api.data_path("query");
        self.api.get(&path, &[("q", &q)], None).await?;
        let flow = match self.config.flow() {
            Flow::RefreshToken => "refresh token",
            Flow::ClientCredentials => "client credentials",
        };
        let mut message = format!(
            "authenticated to {instance} ({flow}), API {}; readable: {}",
            self.api.version,
            catalog
                .streams
                .iter()
                .map(|s| format!("{} ({} fields)", s.name, s.schema.fields().len()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some((used, max)) = self.api.usage() {
            message.push_str(&format!(
                "; API requests used in the last 24 h: {used} of {max}"
            ));
        }
        Ok(CheckOutcome { message })
    }

    async fn discover(&self) -> Result<Catalog> {
        let objects = self.config.objects();
        let streams =
            futures::future::try_join_all(objects.iter().map(|o| self.descriptor(o))).await?;
        Ok(Catalog { streams })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let mut readers = Vec::new();
        for configured in request.streams {
            let name = configured.stream.name.clone();
            if !OBJECTS.contains(&name.as_str()) {
                return Err(Error::Config(format!(
                    "unknown Salesforce stream {name:?}; expected one of {}",
                    OBJECTS.join(", ")
                )));
            }
            let state = request.state.stream(&name).cloned().unwrap_or_default();
            let reader = Reader {
                api: self.api.clone(),
                config: self.config.clone(),
                object: name,
                schema: configured.stream.schema.clone(),
                incremental: configured.sync_mode == SyncMode::Incremental,
                state,
            };
            readers.push(reader.stream());
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }
}

/// A SOQL datetime literal (UTC, milliseconds).
fn soql_datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The replication query of `object`: every schema column, from `since_ms` on.
pub fn soql(object: &str, schema: &SchemaRef, since_ms: Option<i64>) -> String {
    let fields: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut q = format!("SELECT {} FROM {object}", fields.join(", "));
    if let Some(ms) = since_ms {
        q.push_str(&format!(" WHERE {CURSOR} >= {}", soql_datetime(ms)));
    }
    q.push_str(&format!(" ORDER BY {CURSOR}, Id"));
    q
}

/// Reads one stream.
struct Reader {
    api: Arc<api::Api>,
    config: Arc<SalesforceConfig>,
    object: String,
    schema: SchemaRef,
    incremental: bool,
    state: StreamState,
}

/// Where a page comes from.
enum PageRequest<'a> {
    /// The query's first page.
    Query { path: &'a str, soql: &'a str },
    /// A `nextRecordsUrl`.
    More(&'a str),
}

impl Reader {
    /// Where this read starts: the committed cursor (incremental), the
    /// resume point of a crashed full refresh, or `start_date`.
    fn since_ms(&self) -> Option<i64> {
        if self.incremental {
            match &self.state.cursor {
                Some(CursorValue::TimestampMicros(us)) => Some(us.div_euclid(1000)),
                Some(other) => other.as_epoch_millis(),
                None => self
                    .config
                    .start_date
                    .as_deref()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.timestamp_millis()),
            }
        } else {
            self.state
                .resume
                .as_ref()
                .and_then(|r| r.get("since_ms"))
                .and_then(|v| v.as_i64())
        }
    }

    /// Fetches and decodes one page; a body that does not decode is fetched again.
    async fn page(
        &self,
        decoder: &mut JsonPageDecoder,
        req: &PageRequest<'_>,
    ) -> Result<(JsonPage, u64)> {
        let batch = Some(self.config.batch_size);
        let mut retries = 0u64;
        for attempt in 1..=PAGE_ATTEMPTS {
            let (endpoint, resp) = match req {
                PageRequest::Query { path, soql } => {
                    (*path, self.api.get(path, &[("q", soql)], batch).await?)
                }
                PageRequest::More(url) => (*url, self.api.get(url, &[], batch).await?),
            };
            retries += u64::from(resp.attempts.saturating_sub(1));
            match decoder.decode(&resp.body) {
                Ok(page) => return Ok((page, retries)),
                Err(e) if attempt < PAGE_ATTEMPTS => {
                    tracing::warn!(stream = %self.object, endpoint, error = %e, "page did not decode; fetching it again");
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
                }
                Err(e) => {
                    let endpoint = endpoint.split('?').next().unwrap_or(endpoint);
                    return Err(Error::data(
                        &self.object,
                        format!("GET {endpoint}: {e} (after {PAGE_ATTEMPTS} fetches)"),
                    ));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    fn stream(self) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = self.object.clone();
            let since = self.since_ms();
            if let (false, Some(ms)) = (self.incremental, since) {
                tracing::info!(stream = %name, since = %soql_datetime(ms), "resuming full refresh");
            }
            let soql = soql(&name, &self.schema, since);
            let endpoint = if self.config.include_deleted { "queryAll" } else { "query" };
            let path = self.api.data_path(endpoint);
            tracing::debug!(stream = %name, %soql, "query");
            let cursor_col = self.schema.index_of(CURSOR)?;
            let mut decoder = JsonPageDecoder::new(
                self.schema.clone(),
                &["records".to_owned()],
                &[vec!["nextRecordsUrl".to_owned()], vec!["totalSize".to_owned()]],
            )
            .map_err(|e| Error::Internal(format!("arrow-json decoder: {e}")))?;
            let mut guard = PageTokenGuard::new(&name);
            let mut next: Option<String> = None;
            let mut total: Option<u64> = None;
            let mut received: u64 = 0;
            let mut last_ms: Option<i64> = None;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut buffered = 0usize;
            loop {
                let req = match &next {
                    None => PageRequest::Query { path: &path, soql: &soql },
                    Some(url) => PageRequest::More(url),
                };
                let (page, retries) = self.page(&mut decoder, &req).await?;
                yield Message::Progress { stream: name.clone(), pages: 1, retries };
                let mut values = page.values.into_iter();
                let next_url = values.next().flatten().filter(|u| !u.is_empty());
                let page_total = values.next().flatten().and_then(|t| t.parse::<u64>().ok());
                if total.is_none() {
                    total = page_total;
                }
                let batch = page.records;
                received += batch.num_rows() as u64;
                // The query is ordered by SystemModstamp: check it, so a checkpoint's promise holds.
                let ts = batch.column(cursor_col).as_primitive::<TimestampMicrosecondType>();
                for i in 0..ts.len() {
                    if ts.is_null(i) {
                        Err(Error::data(&name, format!("a record without {CURSOR} (Id {})", batch.column(0).as_string_opt::<i32>().map_or("?", |a| a.value(i)))))?;
                    }
                    let ms = ts.value(i).div_euclid(1000);
                    if last_ms.is_some_and(|l| ms < l) {
                        Err(Error::data(&name, format!("query results are not ordered by {CURSOR}")))?;
                    }
                    last_ms = Some(ms);
                }
                if batch.num_rows() > 0 {
                    buffered += batch.num_rows();
                    pending.push(batch);
                }
                if let Some(u) = &next_url {
                    guard.check(u)?;
                }
                let last = next_url.is_none();
                if last {
                    if let Some(t) = total.filter(|t| *t != received) {
                        Err(Error::data(&name, format!(
                            "Salesforce said the query has {t} records (totalSize) but its pages held {received}"
                        )))?;
                    }
                }
                if buffered >= FLUSH_ROWS || last {
                    let all = match pending.len() {
                        0 => None,
                        1 => pending.pop(),
                        _ => Some(arrow_select::concat::concat_batches(&self.schema, &pending)?),
                    };
                    pending.clear();
                    buffered = 0;
                    if self.incremental || last {
                        if let Some(b) = all {
                            yield Message::Batch { stream: name.clone(), batch: b };
                        }
                        yield Message::Checkpoint { stream: name.clone(), resume: None };
                    } else if let Some(b) = all {
                        // Full refresh: land what lies below the newest SystemModstamp
                        // and keep the rows at it, so "everything before `since_ms` is
                        // landed" holds at the checkpoint.
                        let (head, tail, at) = split_at_last_cursor(&b, cursor_col);
                        if head.num_rows() > 0 {
                            yield Message::Batch { stream: name.clone(), batch: head };
                            yield Message::Checkpoint { stream: name.clone(), resume: Some(serde_json::json!({ "since_ms": at })) };
                        }
                        if tail.num_rows() > 0 {
                            buffered = tail.num_rows();
                            pending.push(tail);
                        }
                    }
                }
                match next_url {
                    Some(u) => next = Some(u),
                    None => break,
                }
            }
            if let Some((used, max)) = self.api.usage() {
                tracing::debug!(stream = %name, used, max, "Salesforce API requests in the last 24 hours");
                if used * 10 >= max * 9 {
                    tracing::warn!(stream = %name, used, max, "the org has used 90% of its daily API requests");
                }
            }
        })
    }
}

/// Splits a batch ordered by the cursor column into the rows below its last
/// cursor value and the rows at it; also returns that value (epoch ms).
fn split_at_last_cursor(b: &RecordBatch, col: usize) -> (RecordBatch, RecordBatch, i64) {
    let ts = b.column(col).as_primitive::<TimestampMicrosecondType>();
    let n = b.num_rows();
    let last = ts.value(n - 1);
    let mut k = n;
    while k > 0 && ts.value(k - 1) == last {
        k -= 1;
    }
    (b.slice(0, k), b.slice(k, n - k), last.div_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    #[test]
    fn replication_queries_are_ordered_and_inclusive() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Id", DataType::Utf8, false),
            Field::new(
                "SystemModstamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        assert_eq!(
            soql("Contact", &schema, None),
            "SELECT Id, SystemModstamp FROM Contact ORDER BY SystemModstamp, Id"
        );
        assert_eq!(
            soql("Lead", &schema, Some(1_704_067_205_250)),
            "SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp >= 2024-01-01T00:00:05.250Z ORDER BY SystemModstamp, Id"
        );
    }

    #[test]
    fn a_full_refresh_batch_keeps_the_rows_at_its_last_modstamp() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("Id", DataType::Utf8, false),
            Field::new(
                "SystemModstamp",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d"]));
        let ts: ArrayRef = Arc::new(
            TimestampMicrosecondArray::from(vec![1_000_000, 2_000_000, 3_000_000, 3_000_000])
                .with_timezone("UTC"),
        );
        let b = RecordBatch::try_new(schema, vec![ids, ts]).unwrap();
        let (head, tail, at) = split_at_last_cursor(&b, 1);
        assert_eq!((head.num_rows(), tail.num_rows(), at), (2, 2, 3000));
        let (head, tail, _) = split_at_last_cursor(&tail, 1);
        assert_eq!((head.num_rows(), tail.num_rows()), (0, 2));
    }
}
