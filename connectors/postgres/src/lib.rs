//! PostgreSQL source: a store's own POS/ERP database.
//!
//! - Streams are the tables and views the config names, or every table and
//!   view of a schema, discovered from `pg_catalog` (types → Arrow as in
//!   [`types`], primary keys from constraints).
//! - Each stream is read in one `READ ONLY`, `REPEATABLE READ` transaction
//!   through a server-side portal fetched `batch_rows` rows at a time, so
//!   memory stays flat on tables of any size; rows arrive in the binary
//!   format and are decoded straight into Arrow builders ([`decode`]).
//! - Full refresh of a table with a primary key is ordered by that key and
//!   checkpoints after every batch with the last key as its resume point: a
//!   crashed run continues after the last committed row. Without a key it
//!   checkpoints once, at the end.
//! - Incremental reads order by `(cursor, primary key)` and checkpoint after
//!   every batch. The next run reads the rows after the committed cursor and
//!   the rows at it whose key is not among the committed boundary keys
//!   (`cursor >= $1 AND (cursor > $1 OR key <> ALL($2))`): the keyset
//!   `(cursor, pk) > ($1, $2)`, without skipping a row committed later at the same
//!   cursor value with a smaller key. Rows whose cursor is NULL are read by
//!   the first incremental run only (they sort last, and no checkpoint is
//!   taken among them).
//! - Errors carry what the server said (`FATAL 28P01: password authentication
//!   failed for user "braid"`, `ERROR 42501: permission denied for table
//!   transactions`), the endpoint without the password, and a kind:
//!   authentication and privileges are `Auth`, lost connections and server
//!   shutdowns `Transient`.

mod catalog;
mod config;
pub mod decode;
pub mod sql;
pub mod types;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use braid_core::{
    cursor_value_at, Catalog, CheckOutcome, Connector, ConnectorSpec, CursorValue, Error, Message,
    MessageStream, ReadRequest, Result, Source, StreamState, SyncMode,
};
use futures::{StreamExt, TryStreamExt};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, NoTls};

pub use catalog::Table;
pub use config::{NumericMode, PostgresConfig, TableConfig};

use decode::ColumnBuilder;
use sql::quote_ident;
use types::Decode;

/// The PostgreSQL connector (`connector: postgres`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresConnector;

impl Connector for PostgresConnector {
    fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: "postgres".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_schema: config::schema(),
        }
    }

    fn build(&self, config: serde_json::Value) -> Result<Box<dyn Source>> {
        Ok(Box::new(PostgresSource::new(PostgresConfig::from_value(
            config,
        )?)?))
    }
}

/// Where a source connects, without the password; turns driver errors into
/// braid errors that say what the server said.
#[derive(Debug, Clone)]
pub struct Endpoint(String);

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Endpoint {
    fn new(c: &tokio_postgres::Config) -> Self {
        let host = match c.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        let user = c.get_user().unwrap_or("");
        let db = c.get_dbname().unwrap_or(user);
        Endpoint(format!("postgres://{user}@{host}:{port}/{db}"))
    }

    /// A braid error for a driver error that happened while doing `what`.
    pub fn error(&self, e: tokio_postgres::Error, what: &str) -> Error {
        self.error_in(e, what, None)
    }

    fn error_in(&self, e: tokio_postgres::Error, what: &str, stream: Option<&str>) -> Error {
        let endpoint = self.0.clone();
        if let Some(db) = e.as_db_error() {
            let code = db.code().code();
            let mut message = format!("{what}: {} {code}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                message.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                message.push_str(&format!(" hint: {h}"));
            }
            return match code {
                // invalid_password, invalid_authorization_specification
                "28P01" | "28000" => Error::Auth { endpoint, message },
                // insufficient_privilege
                "42501" => Error::Auth {
                    endpoint,
                    message: format!("{message} (GRANT SELECT on it to the user braid connects as)"),
                },
                // invalid_catalog_name (no such database), undefined table/column
                "3D000" | "42P01" | "42703" | "3F000" => Error::Config(format!("postgres: {endpoint}: {message}")),
                "22003" => Error::Data {
                    stream: stream.unwrap_or("").into(),
                    message: format!("{message} (an unconstrained numeric is read as numeric(38,9); set unconstrained_numeric: text to land it exactly as text)"),
                },
                c if c.starts_with("08")
                    || c.starts_with("57P")
                    || c.starts_with("53")
                    || c == "40001"
                    || c == "40P01"
                    || c == "57014"
                    || c == "55P03" =>
                {
                    Error::Transient { endpoint, message }
                }
                _ => match stream {
                    Some(s) => Error::Data {
                        stream: s.into(),
                        message: format!("{endpoint}: {message}"),
                    },
                    None => Error::Config(format!("postgres: {endpoint}: {message}")),
                },
            };
        }
        let mut message = format!("{what}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        Error::Transient { endpoint, message }
    }
}

/// A configured PostgreSQL source.
#[derive(Debug, Clone)]
pub struct PostgresSource {
    config: Arc<PostgresConfig>,
    pg: Arc<tokio_postgres::Config>,
    endpoint: Endpoint,
}

/// A value of any type as the bytes the server sent.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A connection whose background task's failure, if any, is kept to explain
/// a later "connection closed".
struct Conn {
    client: Client,
    closed_because: Arc<Mutex<Option<String>>>,
}

impl PostgresSource {
    /// A source for `config` (nothing is connected yet).
    pub fn new(config: PostgresConfig) -> Result<Self> {
        let mut pg: tokio_postgres::Config = config.url.parse().map_err(|e| {
            // The driver's message names the bad part, never the value.
            Error::Config(format!(
                "postgres: url is not a valid connection string: {e}"
            ))
        })?;
        if let Some(p) = &config.password {
            pg.password(p.as_bytes());
        }
        if pg.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(Error::Config(
                "postgres: sslmode=require is not supported yet (this build connects without TLS); connect over a trusted network or an SSH/stunnel tunnel".into(),
            ));
        }
        pg.application_name(&config.application_name);
        pg.connect_timeout(Duration::from_millis(config.connect_timeout_ms));
        if pg.get_user().is_none() {
            return Err(Error::Config("postgres: url names no user".into()));
        }
        Ok(Self {
            endpoint: Endpoint::new(&pg),
            pg: Arc::new(pg),
            config: Arc::new(config),
        })
    }

    /// The endpoint, without the password.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn connect(&self) -> Result<Conn> {
        let (client, connection) = self
            .pg
            .connect(NoTls)
            .await
            .map_err(|e| self.endpoint.error(e, "connecting"))?;
        let closed_because = Arc::new(Mutex::new(None));
        let slot = closed_because.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                let mut why = e.to_string();
                if let Some(db) = e.as_db_error() {
                    why = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
                }
                if let Ok(mut g) = slot.lock() {
                    *g = Some(why);
                }
            }
        });
        Ok(Conn {
            client,
            closed_because,
        })
    }

    /// The streams as discovered now.
    pub async fn tables(&self) -> Result<Vec<Table>> {
        let conn = self.connect().await?;
        catalog::discover(&conn.client, &self.config, &self.endpoint).await
    }
}

#[async_trait]
impl Source for PostgresSource {
    async fn check(&self) -> Result<CheckOutcome> {
        let conn = self.connect().await?;
        let row = conn
            .client
            .query_one("SELECT current_user::text, version()", &[])
            .await
            .map_err(|e| self.endpoint.error(e, "checking the connection"))?;
        let user: String = row.get(0);
        let version: String = row.get(1);
        let tables = catalog::discover(&conn.client, &self.config, &self.endpoint).await?;
        let denied: Vec<String> = tables
            .iter()
            .filter(|t| !t.selectable)
            .map(|t| format!("{}.{}", t.schema, t.table))
            .collect();
        if !denied.is_empty() {
            return Err(Error::Auth {
                endpoint: self.endpoint.to_string(),
                message: format!(
                    "permission denied: user {user:?} may not SELECT from {} (GRANT SELECT ON {} TO {})",
                    denied.join(", "),
                    denied.join(", "),
                    quote_ident(&user)
                ),
            });
        }
        if tables.is_empty() {
            return Err(Error::Config(format!(
                "postgres: schema {:?} at {} has no table or view",
                self.config.schema, self.endpoint
            )));
        }
        let server = version.split(" on ").next().unwrap_or(&version).to_owned();
        Ok(CheckOutcome {
            message: format!(
                "connected to {} as {user} ({server}); {} table(s)/view(s) readable",
                self.endpoint,
                tables.len()
            ),
        })
    }

    async fn discover(&self) -> Result<Catalog> {
        Ok(Catalog {
            streams: self.tables().await?.iter().map(Table::descriptor).collect(),
        })
    }

    async fn read(&self, request: ReadRequest) -> Result<MessageStream> {
        let tables = self.tables().await?;
        let mut readers = Vec::new();
        for configured in request.streams {
            let name = &configured.stream.name;
            let table = tables
                .iter()
                .find(|t| &t.stream == name)
                .cloned()
                .ok_or_else(|| Error::Config(format!("postgres: unknown stream {name:?}")))?;
            if table.arrow_schema() != configured.stream.schema {
                return Err(Error::data(
                    name,
                    "the table's columns changed between discovery and read; run again",
                ));
            }
            let incremental = configured.sync_mode == SyncMode::Incremental;
            if incremental && (table.cursor_field.is_none() || table.primary_key.is_empty()) {
                return Err(Error::Config(format!(
                    "postgres: stream {name} cannot be read incrementally: {}",
                    if table.cursor_field.is_none() {
                        "it has no cursor_field (set one under tables:, or a default cursor_field)"
                    } else {
                        "it has no primary key to break cursor ties (set primary_key under tables:)"
                    }
                )));
            }
            let state = request.state.stream(name).cloned().unwrap_or_default();
            readers.push(self.clone().stream(table, incremental, state));
        }
        let concurrency = self.config.stream_concurrency as usize;
        Ok(futures::stream::iter(readers)
            .flatten_unordered(concurrency)
            .boxed())
    }
}

/// How a read starts.
#[derive(Debug, Clone, PartialEq)]
enum Start {
    /// From the first row.
    All,
    /// Incremental: rows whose cursor is after this (text, cast to the
    /// column's type), and rows at it whose key (`pk::text` joined by U+001F)
    /// is not among these already landed boundary keys.
    Cursor(String, Vec<String>),
    /// Full refresh: rows after this primary key.
    KeyAfter(Vec<String>),
}

/// A bound parameter (every one is sent as text and cast in the statement).
#[derive(Debug)]
enum Param {
    Text(String),
    TextArray(Vec<String>),
}

/// The committed cursor as text the column's type parses.
fn cursor_text(c: &CursorValue, decode: &Decode) -> Option<String> {
    Some(match (c, decode) {
        (CursorValue::TimestampMicros(us), Decode::TimestampTz) => {
            chrono::DateTime::from_timestamp_micros(*us)?
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        }
        (CursorValue::TimestampMicros(us), Decode::Timestamp) => {
            chrono::DateTime::from_timestamp_micros(*us)?
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        }
        (CursorValue::Date(_), Decode::Date) => c.to_string(),
        (CursorValue::Int(i), Decode::I32 | Decode::I64) => i.to_string(),
        (CursorValue::Str(s), Decode::Text) => s.clone(),
        _ => return None,
    })
}

fn cast(param: usize, sql_type: &str) -> String {
    format!("CAST(${param}::text AS {sql_type})")
}

impl PostgresSource {
    /// Where an incremental read of `table` starts, given its committed state.
    fn incremental_start(&self, table: &Table, state: &StreamState) -> Result<Start> {
        let cursor_col = table.cursor_field.as_deref().unwrap_or_default();
        let col = table
            .column(cursor_col)
            .ok_or_else(|| Error::Internal("cursor column vanished".into()))?;
        let Some(committed) = &state.cursor else {
            return Ok(Start::All);
        };
        let c = cursor_text(committed, &col.decode).ok_or_else(|| {
            Error::Config(format!(
                "postgres: stream {}: the committed cursor {committed} does not fit column {cursor_col} ({}); the column's type changed, reset the stream's state to read it again",
                table.stream, col.sql_type
            ))
        })?;
        Ok(Start::Cursor(c, state.boundary_keys.clone()))
    }

    /// The statement and its parameters.
    fn statement(&self, table: &Table, incremental: bool, start: &Start) -> (String, Vec<Param>) {
        let select: Vec<&str> = table.columns.iter().map(|c| c.select.as_str()).collect();
        let mut q = format!("SELECT {} FROM {}", select.join(", "), table.qualified());
        let mut params = Vec::new();
        let sql_type = |k: &str| {
            table
                .column(k)
                .map(|c| c.sql_type.clone())
                .unwrap_or_else(|| "text".into())
        };
        let pk_idents: Vec<String> = table.primary_key.iter().map(|k| quote_ident(k)).collect();
        if incremental {
            let cur = quote_ident(table.cursor_field.as_deref().unwrap_or_default());
            if let Start::Cursor(c, boundary) = start {
                let from = cast(
                    1,
                    &sql_type(table.cursor_field.as_deref().unwrap_or_default()),
                );
                let key_text: Vec<String> =
                    pk_idents.iter().map(|k| format!("{k}::text")).collect();
                // Everything after the committed cursor, and the rows at it not landed yet:
                // a row committed later at the same cursor value is not lost, whatever its key.
                q.push_str(&format!(
                    " WHERE {cur} >= {from} AND ({cur} > {from} OR concat_ws(chr(31), {}) <> ALL($2::text[]))",
                    key_text.join(", ")
                ));
                params.push(Param::Text(c.clone()));
                params.push(Param::TextArray(boundary.clone()));
            }
            // A stable order: ties on the cursor broken by the primary key.
            q.push_str(&format!(
                " ORDER BY {cur} ASC NULLS LAST, {}",
                pk_idents.join(", ")
            ));
        } else if !table.primary_key.is_empty() {
            if let Start::KeyAfter(key) = start {
                let rhs: Vec<String> = table
                    .primary_key
                    .iter()
                    .zip(key)
                    .enumerate()
                    .map(|(i, (k, v))| {
                        params.push(Param::Text(v.clone()));
                        cast(i + 1, &sql_type(k))
                    })
                    .collect();
                q.push_str(&format!(
                    " WHERE ({}) > ({})",
                    pk_idents.join(", "),
                    rhs.join(", ")
                ));
            }
            q.push_str(&format!(" ORDER BY {}", pk_idents.join(", ")));
        }
        (q, params)
    }

    fn stream(self, table: Table, incremental: bool, state: StreamState) -> MessageStream {
        Box::pin(async_stream::try_stream! {
            let name = table.stream.clone();
            let schema = table.arrow_schema();
            let mut conn = self.connect().await?;
            let start = if incremental {
                self.incremental_start(&table, &state)?
            } else {
                match state.resume.as_ref().and_then(|r| r.get("after")).and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok()) {
                    Some(key) if !table.primary_key.is_empty() && key.len() == table.primary_key.len() => Start::KeyAfter(key),
                    _ => Start::All,
                }
            };
            let (sql, params) = self.statement(&table, incremental, &start);
            tracing::debug!(stream = %name, %sql, "postgres read");
            let endpoint = self.endpoint.clone();
            let closed = conn.closed_because.clone();
            let tx = conn
                .client
                .build_transaction()
                .read_only(true)
                .isolation_level(IsolationLevel::RepeatableRead)
                .start()
                .await
                .map_err(|e| endpoint.error_in(e, "starting a read-only transaction", Some(&name)))?;
            let types: Vec<Type> = params.iter().map(|p| match p { Param::Text(_) => Type::TEXT, Param::TextArray(_) => Type::TEXT_ARRAY }).collect();
            let stmt = tx.prepare_typed(&sql, &types).await.map_err(|e| with_closed(endpoint.error_in(e, &format!("preparing the read of {}", table.qualified()), Some(&name)), &closed))?;
            let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| match p { Param::Text(t) => t as &(dyn ToSql + Sync), Param::TextArray(a) => a as &(dyn ToSql + Sync) }).collect();
            let portal = tx.bind(&stmt, &refs).await.map_err(|e| with_closed(endpoint.error_in(e, &format!("reading {}", table.qualified()), Some(&name)), &closed))?;
            let batch_rows = self.config.batch_rows as usize;
            let mut builders: Vec<ColumnBuilder> = table.columns.iter().map(|c| ColumnBuilder::new(&c.decode, batch_rows)).collect();
            let cursor_idx = table.cursor_field.as_ref().and_then(|c| table.columns.iter().position(|p| &p.name == c));
            let key_idx: Vec<usize> = table.primary_key.iter().filter_map(|k| table.columns.iter().position(|p| &p.name == k)).collect();
            let mut rows_read: u64 = 0;
            loop {
                let rows = tx.query_portal_raw(&portal, batch_rows as i32).await.map_err(|e| with_closed(endpoint.error_in(e, &format!("reading {}", table.qualified()), Some(&name)), &closed))?;
                futures::pin_mut!(rows);
                let mut n = 0usize;
                while let Some(row) = rows.try_next().await.map_err(|e| with_closed(endpoint.error_in(e, &format!("reading {} after {rows_read} rows", table.qualified()), Some(&name)), &closed))? {
                    for (i, b) in builders.iter_mut().enumerate() {
                        let v: Option<Raw> = row.try_get(i).map_err(|e| Error::Internal(format!("postgres row: {e}")))?;
                        b.append(v.map(|r| r.0)).map_err(|m| Error::data(&name, format!("{}, column {:?}, row {}: {m}", table.qualified(), table.columns[i].name, rows_read + n as u64 + 1)))?;
                    }
                    n += 1;
                }
                rows_read += n as u64;
                let done = n < batch_rows;
                yield Message::Progress { stream: name.clone(), pages: 1, retries: 0 };
                if n > 0 {
                    let columns = builders.iter_mut().map(ColumnBuilder::finish).collect();
                    let batch = RecordBatch::try_new(schema.clone(), columns)?;
                    let checkpoint = checkpoint_after(&batch, incremental, cursor_idx, &key_idx)?;
                    yield Message::Batch { stream: name.clone(), batch };
                    if let Some(resume) = checkpoint {
                        yield Message::Checkpoint { stream: name.clone(), resume };
                    }
                }
                if done {
                    break;
                }
            }
            tx.commit().await.map_err(|e| with_closed(endpoint.error_in(e, "ending the read transaction", Some(&name)), &closed))?;
            yield Message::Checkpoint { stream: name.clone(), resume: None };
        })
    }
}

fn with_closed(mut e: Error, closed: &Arc<Mutex<Option<String>>>) -> Error {
    if let Error::Transient { message, .. } = &mut e {
        if let Some(why) = closed.lock().ok().and_then(|g| g.clone()) {
            message.push_str(&format!(" ({why})"));
        }
    }
    e
}

/// Whether to checkpoint after `batch`, and with which resume point: a full
/// refresh resumes after the last row's key (as text, formatted like the
/// runtime's boundary keys); an incremental read needs none (the committed
/// cursor and boundary keys say where to go on) but takes no checkpoint while
/// its last row has a NULL cursor. A full refresh of a table without a key
/// checkpoints only at its end.
fn checkpoint_after(
    batch: &RecordBatch,
    incremental: bool,
    cursor_idx: Option<usize>,
    key_idx: &[usize],
) -> Result<Option<Option<serde_json::Value>>> {
    let last = batch.num_rows() - 1;
    if incremental {
        let Some(ci) = cursor_idx else {
            return Ok(None);
        };
        return Ok(cursor_value_at(batch.column(ci).as_ref(), last).map(|_| None));
    }
    if key_idx.is_empty() {
        return Ok(None);
    }
    let opts = FormatOptions::default();
    let mut key = Vec::with_capacity(key_idx.len());
    for &i in key_idx {
        let f = ArrayFormatter::try_new(batch.column(i).as_ref(), &opts)?;
        key.push(f.value(last).to_string());
    }
    Ok(Some(Some(serde_json::json!({ "after": key }))))
}
