//! The connector's configuration. Everything about an API is declared here,
//! in the pipeline YAML: where it is, how to authenticate, and per stream
//! which request to send, where the records are, their schema, how pages
//! follow each other and how an incremental read asks for changes only.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use braid_sdk::config_value::{number, opt_number};
use braid_sdk::{Error, Result};
use serde::Deserialize;

/// The connector config.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestConfig {
    /// Base URL every stream `path` is joined to, e.g. `https://api.example.com`.
    pub base_url: String,
    /// Headers sent with every request (e.g. `Square-Version: "2025-10-16"`).
    /// They are never logged; put a secret header's value in `${VAR}` so
    /// that shown configs redact it too.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How requests authenticate (default: not at all).
    #[serde(default)]
    pub auth: Auth,
    /// Client-side limit on requests per second.
    #[serde(default, deserialize_with = "opt_number")]
    pub requests_per_second: Option<u64>,
    /// Retries of a request after transient failures (5xx, timeouts) and 429s,
    /// with exponential backoff and jitter, honouring `Retry-After`.
    #[serde(default = "default_retries", deserialize_with = "number")]
    pub max_retries: u64,
    /// Timeout of one request attempt, in milliseconds.
    #[serde(default = "default_timeout", deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Streams read at the same time.
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
    /// The streams.
    pub streams: Vec<StreamConfig>,
}

impl std::fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConfig")
            .field("base_url", &self.base_url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("auth", &self.auth)
            .field(
                "streams",
                &self.streams.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Authentication. `type` picks the scheme.
#[derive(Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// No credentials.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token. Secret.
        token: String,
    },
    /// HTTP basic auth (`Authorization: Basic base64(username:password)`).
    Basic {
        /// User name (WooCommerce: the consumer key).
        username: String,
        /// Password (WooCommerce: the consumer secret). Secret.
        password: String,
    },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// Header or parameter name, e.g. `X-Shopify-Access-Token` or `api_key`.
        name: String,
        /// The key. Secret (a field named `key` is redacted wherever the config is shown).
        key: String,
        /// `header` (default) or `query`.
        #[serde(default, rename = "in")]
        location: KeyLocation,
    },
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): a token is fetched from
    /// `token_url`, sent as a bearer token, refreshed before it expires and
    /// once more when the API refuses it.
    Oauth2ClientCredentials {
        /// Absolute URL of the token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret. Secret.
        client_secret: String,
        /// Space-separated scopes, if the API wants them.
        #[serde(default)]
        scope: Option<String>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Bearer { .. } => f.write_str("Bearer(***)"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::ApiKey { name, location, .. } => write!(f, "ApiKey({name} in {location:?}, ***)"),
            Auth::Oauth2ClientCredentials {
                token_url,
                client_id,
                ..
            } => {
                write!(f, "OAuth2ClientCredentials({token_url}, {client_id}, ***)")
            }
        }
    }
}

/// Where an API key (or a parameter) goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyLocation {
    /// A request header.
    #[default]
    Header,
    /// A query-string parameter.
    Query,
}

/// Where a request parameter goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamLocation {
    /// The query string.
    #[default]
    Query,
    /// A field of the JSON body (a dotted path; numbers index arrays).
    Body,
}

/// HTTP method of a stream's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// `GET` with query parameters.
    #[default]
    Get,
    /// `POST` with a JSON body.
    Post,
}

/// One stream: one endpoint and how to page through it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name, unique within the source.
    pub name: String,
    /// Path joined to `base_url`, e.g. `/v2/customers`.
    pub path: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Method,
    /// Query parameters sent with every request of the stream.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body template of a `POST` (paging and cursor fields are set into it).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Dotted path of the records' array in the response (`results`,
    /// `data.items`); leave it out when the body itself is the array.
    #[serde(default)]
    pub records_path: Option<String>,
    /// Declared columns; inferred from the first page when left out.
    #[serde(default)]
    pub schema: Option<Vec<FieldConfig>>,
    /// Records the schema inference looks at (from the first page).
    #[serde(default = "default_infer", deserialize_with = "number")]
    pub infer_records: u64,
    /// Columns that identify a record.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// How pages follow each other (default: one request, no paging).
    #[serde(default)]
    pub pagination: Pagination,
    /// How an incremental read asks for records changed since the last run.
    #[serde(default)]
    pub incremental: Option<Incremental>,
}

fn default_infer() -> u64 {
    100
}

/// A declared column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Column name.
    pub name: String,
    /// Type, as in the files connector: `string`, `int64`, `float64`,
    /// `boolean`, `date`, `timestamp` (µs, UTC; RFC 3339 strings or epoch
    /// numbers), `decimal(p,s)`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Dotted path of the value inside a record when it is nested
    /// (`properties.email`, `total_money.amount`); default: the column name.
    #[serde(default)]
    pub path: Option<String>,
    /// Whether nulls are allowed (default true).
    #[serde(default = "default_true")]
    pub nullable: bool,
}

fn default_true() -> bool {
    true
}

/// Paging styles. `type` picks one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// One request.
    #[default]
    None,
    /// The response body carries the next page's cursor (Square `cursor`,
    /// HubSpot `paging.next.after`); the read stops when it is absent or empty.
    Cursor {
        /// Dotted path of the next cursor in the response.
        cursor_path: String,
        /// Name of the request parameter (or dotted body path) it is sent as.
        param: String,
        /// `query` (default) or `body`.
        #[serde(default, rename = "in")]
        location: ParamLocation,
    },
    /// RFC 8288 `Link: <…>; rel="next"` headers (Shopify, GitHub): the next
    /// URL is requested as given, until a response has no `next` link.
    LinkHeader,
    /// `page=1, 2, …`; stops at the total from `total_pages_header` when
    /// the API sends one, else at the first page with fewer records than `page_size`
    /// (or none).
    PageNumber {
        /// Page parameter.
        #[serde(default = "default_page_param")]
        param: String,
        /// First page number.
        #[serde(default = "one", deserialize_with = "number")]
        start: u64,
        /// Page-size parameter, if the API takes one (e.g. `per_page`).
        #[serde(default)]
        size_param: Option<String>,
        /// Records per page asked for.
        #[serde(default, deserialize_with = "opt_number")]
        page_size: Option<u64>,
        /// Response header with the number of pages (e.g. `X-WP-TotalPages`).
        #[serde(default)]
        total_pages_header: Option<String>,
    },
    /// `offset`/`limit`; stops at the first page with fewer than `limit` records.
    Offset {
        /// Offset parameter.
        #[serde(default = "default_offset_param")]
        offset_param: String,
        /// Limit parameter.
        #[serde(default = "default_limit_param")]
        limit_param: String,
        /// Records per page.
        #[serde(deserialize_with = "number")]
        limit: u64,
        /// `query` (default) or `body`.
        #[serde(default, rename = "in")]
        location: ParamLocation,
    },
}

fn default_page_param() -> String {
    "page".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn one() -> u64 {
    1
}

/// Incremental reads: the committed cursor (the highest `cursor_field`
/// landed) is sent as a parameter; the API must return records at or after
/// it. The runtime drops records at the boundary it already landed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incremental {
    /// The column whose highest value is committed (e.g. `updated_at`).
    pub cursor_field: String,
    /// Parameter name (or dotted body path, e.g.
    /// `query.filter.updated_at.start_at`) the cursor is sent as.
    pub param: String,
    /// `query` (default) or `body`.
    #[serde(default, rename = "in")]
    pub location: ParamLocation,
    /// How the value is written: `rfc3339` (default), `epoch_millis`,
    /// `epoch_seconds`, `date`, or `raw` (the value as landed).
    #[serde(default)]
    pub format: CursorFormat,
    /// Value sent on the first run, when nothing is committed (default: the parameter is left out).
    #[serde(default)]
    pub start: Option<String>,
    /// Whether the API returns records in ascending cursor order; then the
    /// stream checkpoints after each batch, else once at its end.
    #[serde(default)]
    pub sorted: bool,
}

/// How a cursor value is written into a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CursorFormat {
    /// `2024-01-01T00:00:01.250000Z`.
    #[default]
    Rfc3339,
    /// Milliseconds since the epoch.
    EpochMillis,
    /// Seconds since the epoch.
    EpochSeconds,
    /// `2024-01-01`.
    Date,
    /// The value as landed (numbers and strings).
    Raw,
}

fn default_retries() -> u64 {
    6
}
fn default_timeout() -> u64 {
    60_000
}
fn default_concurrency() -> u64 {
    4
}

/// A dotted path as its segments (`""` and `"."` are the root).
pub fn split_path(p: &str) -> Vec<String> {
    p.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl RestConfig {
    /// Parses and validates a config; errors name the field (`rest: streams[1] (orders): …`).
    pub fn from_value(value: serde_json::Value) -> Result<RestConfig> {
        let serde_json::Value::Object(mut top) = value else {
            return Err(Error::Config("rest: config must be a mapping".into()));
        };
        // Streams are parsed one by one, so an error names the stream.
        let streams = top
            .remove("streams")
            .ok_or_else(|| Error::Config("rest: missing field `streams`".into()))?;
        top.insert("streams".into(), serde_json::Value::Array(Vec::new()));
        let mut c: RestConfig = serde_json::from_value(serde_json::Value::Object(top))
            .map_err(|e| Error::Config(format!("rest: {e}")))?;
        let serde_json::Value::Array(items) = streams else {
            return Err(Error::Config("rest: `streams` must be a list".into()));
        };
        if items.is_empty() {
            return Err(Error::Config("rest: `streams` is empty".into()));
        }
        if !(c.base_url.starts_with("http://") || c.base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "rest: `base_url` must start with http:// or https://, got {:?}",
                c.base_url
            )));
        }
        if let Auth::Oauth2ClientCredentials { token_url, .. } = &c.auth {
            if !(token_url.starts_with("http://") || token_url.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "rest: `auth.token_url` must be an absolute http(s) URL, got {token_url:?}"
                )));
            }
        }
        for name in c.headers.keys() {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::Config(format!(
                    "rest: `headers`: {name:?} is not a valid header name"
                )));
            }
        }
        if c.stream_concurrency == 0 {
            return Err(Error::Config(
                "rest: `stream_concurrency` must be at least 1".into(),
            ));
        }
        if c.request_timeout_ms == 0 {
            return Err(Error::Config(
                "rest: `request_timeout_ms` must be at least 1".into(),
            ));
        }
        let mut names = HashSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let label = match item.get("name").and_then(|n| n.as_str()) {
                Some(n) => format!("rest: streams[{i}] (`{n}`)"),
                None => format!("rest: streams[{i}]"),
            };
            let s: StreamConfig =
                serde_json::from_value(item).map_err(|e| Error::Config(format!("{label}: {e}")))?;
            s.validate(&label)?;
            if !names.insert(s.name.clone()) {
                return Err(Error::Config(format!(
                    "{label}: `name` `{}` is used by another stream",
                    s.name
                )));
            }
            c.streams.push(s);
        }
        Ok(c)
    }
}

impl StreamConfig {
    fn validate(&self, label: &str) -> Result<()> {
        let err = |m: String| Err(Error::Config(format!("{label}: {m}")));
        if self.name.trim().is_empty() {
            return err("`name` is empty".into());
        }
        if !self.path.starts_with('/') {
            return err(format!("`path` must start with `/`, got {:?}", self.path));
        }
        if self.method == Method::Get && self.body.is_some() {
            return err("`body` needs `method: POST`".into());
        }
        if let Some(b) = &self.body {
            if !b.is_object() {
                return err("`body` must be a mapping (a JSON object)".into());
            }
        }
        let body_param = |what: &str| -> Result<()> {
            if self.method != Method::Post {
                return Err(Error::Config(format!(
                    "{label}: {what} `in: body` needs `method: POST`"
                )));
            }
            Ok(())
        };
        match &self.pagination {
            Pagination::Cursor {
                cursor_path,
                param,
                location,
            } => {
                if split_path(cursor_path).is_empty() || param.is_empty() {
                    return err(
                        "`pagination.cursor_path` and `pagination.param` must not be empty".into(),
                    );
                }
                if *location == ParamLocation::Body {
                    body_param("`pagination`")?;
                }
            }
            Pagination::PageNumber {
                page_size,
                size_param,
                ..
            } => {
                if size_param.is_some() && page_size.is_none() {
                    return err("`pagination.size_param` needs `pagination.page_size`".into());
                }
                if page_size == &Some(0) {
                    return err("`pagination.page_size` must be at least 1".into());
                }
            }
            Pagination::Offset {
                limit, location, ..
            } => {
                if *limit == 0 {
                    return err("`pagination.limit` must be at least 1".into());
                }
                if *location == ParamLocation::Body {
                    body_param("`pagination`")?;
                }
            }
            Pagination::None | Pagination::LinkHeader => {}
        }
        if matches!(self.pagination, Pagination::Cursor { .. })
            && self
                .records_path
                .as_deref()
                .is_none_or(|p| split_path(p).is_empty())
        {
            return err(
                "`pagination: cursor` needs a `records_path` (the cursor sits beside the records)"
                    .into(),
            );
        }
        if let Some(inc) = &self.incremental {
            if inc.location == ParamLocation::Body {
                body_param("`incremental`")?;
            }
            if inc.param.is_empty() {
                return err("`incremental.param` is empty".into());
            }
        }
        if let Some(schema) = self.declared_schema(label)? {
            for key in &self.primary_key {
                if schema.field_with_name(key).is_err() {
                    return err(format!("`primary_key` column `{key}` is not in `schema`"));
                }
            }
            if let Some(inc) = &self.incremental {
                if schema.field_with_name(&inc.cursor_field).is_err() {
                    return err(format!(
                        "`incremental.cursor_field` `{}` is not in `schema`",
                        inc.cursor_field
                    ));
                }
            }
        }
        Ok(())
    }

    /// The declared schema as Arrow, if declared.
    pub fn declared_schema(&self, label: &str) -> Result<Option<SchemaRef>> {
        let Some(fields) = &self.schema else {
            return Ok(None);
        };
        if fields.is_empty() {
            return Err(Error::Config(format!("{label}: `schema` is empty")));
        }
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            if f.name.is_empty() {
                return Err(Error::Config(format!(
                    "{label}: `schema[{i}].name` is empty"
                )));
            }
            if !seen.insert(f.name.as_str()) {
                return Err(Error::Config(format!(
                    "{label}: `schema[{i}].name` `{}` is declared twice",
                    f.name
                )));
            }
            let dt: DataType = braid_connector_files::parse_type(&f.data_type).map_err(|why| {
                Error::Config(format!(
                    "{label}: `schema[{i}].type` of `{}`: {why}",
                    f.name
                ))
            })?;
            if f.path.as_deref().is_some_and(|p| split_path(p).is_empty()) {
                return Err(Error::Config(format!(
                    "{label}: `schema[{i}].path` is empty"
                )));
            }
            out.push(Field::new(&f.name, dt, f.nullable));
        }
        Ok(Some(Arc::new(Schema::new(out))))
    }

    /// Each declared column's path inside a record.
    pub fn field_paths(&self) -> Vec<Vec<String>> {
        self.schema
            .iter()
            .flatten()
            .map(|f| split_path(f.path.as_deref().unwrap_or(&f.name)))
            .collect()
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rest (declarative)",
        "type": "object",
        "required": ["base_url", "streams"],
        "properties": {
            "base_url": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}, "secret": true},
            "auth": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["none", "bearer", "basic", "api_key", "oauth2_client_credentials"]},
                    "token": {"type": "string", "secret": true},
                    "username": {"type": "string"},
                    "password": {"type": "string", "secret": true},
                    "name": {"type": "string"},
                    "key": {"type": "string", "secret": true},
                    "in": {"enum": ["header", "query"]},
                    "token_url": {"type": "string"},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string", "secret": true},
                    "scope": {"type": "string"}
                }
            },
            "requests_per_second": {"type": ["integer", "string"]},
            "max_retries": {"type": ["integer", "string"], "default": 6},
            "request_timeout_ms": {"type": ["integer", "string"], "default": 60000},
            "stream_concurrency": {"type": ["integer", "string"], "default": 4},
            "streams": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "path"],
                    "properties": {
                        "name": {"type": "string"},
                        "path": {"type": "string"},
                        "method": {"enum": ["GET", "POST"]},
                        "query": {"type": "object"},
                        "body": {"type": "object"},
                        "records_path": {"type": "string"},
                        "schema": {"type": "array"},
                        "infer_records": {"type": ["integer", "string"]},
                        "primary_key": {"type": "array", "items": {"type": "string"}},
                        "pagination": {"type": "object"},
                        "incremental": {"type": "object"}
                    }
                }
            }
        }
    })
}
