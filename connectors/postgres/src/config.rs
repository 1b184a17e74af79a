use braid_core::Error;
use serde::{Deserialize, Deserializer};

/// Configuration of the PostgreSQL source.
///
/// ```yaml
/// config:
///   url: ${POS_DATABASE_URL}       # postgres://braid_reader@db.example:5432/pos
///   password: ${POS_DB_PASSWORD}   # optional; overrides the URL's
///   schema: public                 # without `tables`: every table and view of it
///   cursor_field: updated_at       # default cursor of every table that has this column
///   tables:                        # optional: only these
///     - table: transactions
///     - table: loyalty.members     # another schema; the stream is `loyalty_members`
///       cursor_field: modified_at
///     - table: daily_sales_v       # a view: name its key for incremental reads
///       primary_key: [store_id, day]
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connection string: a URL (`postgres://user:password@host:port/dbname?sslmode=disable`)
    /// or libpq key=value pairs (`host=… user=… dbname=…`). Secret (it may hold the password).
    pub url: String,
    /// Password, when it is not in `url` (it wins over the URL's). Secret.
    #[serde(default)]
    pub password: Option<String>,
    /// The schema whose tables and views are the streams when `tables` is not given,
    /// and where an unqualified `table` is looked up.
    #[serde(default = "default_schema")]
    pub schema: String,
    /// The tables (or views) to offer as streams; without it, every table, partitioned
    /// table, view, materialised view and foreign table of `schema` the user can see.
    #[serde(default)]
    pub tables: Option<Vec<TableConfig>>,
    /// Cursor column used by every stream that has a column of this name and names
    /// no `cursor_field` of its own (e.g. `updated_at`).
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// Rows fetched per round trip from the server-side portal, and per Arrow batch.
    #[serde(default = "default_batch_rows", deserialize_with = "number")]
    pub batch_rows: u64,
    /// Streams read at the same time (one connection each).
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub stream_concurrency: u64,
    /// Timeout for establishing a connection, in milliseconds.
    #[serde(default = "default_connect_timeout", deserialize_with = "number")]
    pub connect_timeout_ms: u64,
    /// How a `numeric` column without precision and scale lands: `decimal`
    /// (default: `Decimal128(38, 9)`, values rounded to 9 decimals by the server
    /// as `::numeric(38,9)` does, an error past 29 integer digits) or `text`
    /// (the exact value as a string).
    #[serde(default)]
    pub unconstrained_numeric: NumericMode,
    /// `application_name` the connection reports (seen in `pg_stat_activity`).
    #[serde(default = "default_application_name")]
    pub application_name: String,
}

/// One `tables:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// `table` (in the configured `schema`) or `schema.table`; quote parts with
    /// `"` when they hold dots or capitals (`"Sales"."Order Items"`).
    pub table: String,
    /// Stream name (default: the table name, prefixed by its schema and `_` when it is
    /// not in `schema`; characters other than letters, digits, `_` and `-` become `_`).
    #[serde(default)]
    pub name: Option<String>,
    /// Cursor column for incremental reads (a timestamp, date, integer or text column).
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// Primary key, for views and tables without a primary-key constraint
    /// (default: the table's primary-key constraint).
    #[serde(default)]
    pub primary_key: Option<Vec<String>>,
}

/// Landing of unconstrained `numeric` columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumericMode {
    /// `Decimal128(38, 9)`.
    #[default]
    Decimal,
    /// `Utf8`, exact.
    Text,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &"***")
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("schema", &self.schema)
            .field("tables", &self.tables)
            .field("cursor_field", &self.cursor_field)
            .field("batch_rows", &self.batch_rows)
            .field("stream_concurrency", &self.stream_concurrency)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("unconstrained_numeric", &self.unconstrained_numeric)
            .field("application_name", &self.application_name)
            .finish()
    }
}

fn default_schema() -> String {
    "public".into()
}
fn default_batch_rows() -> u64 {
    16_384
}
fn default_concurrency() -> u64 {
    2
}
fn default_connect_timeout() -> u64 {
    10_000
}
fn default_application_name() -> String {
    "braid".into()
}

/// A number, also when written as a string (values interpolated from the environment are strings).
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        N(u64),
        S(String),
    }
    match N::deserialize(d)? {
        N::N(n) => Ok(n),
        N::S(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("expected a number, got {s:?}"))),
    }
}

impl PostgresConfig {
    /// Parses and checks a config.
    pub fn from_value(value: serde_json::Value) -> Result<Self, Error> {
        let c: PostgresConfig =
            serde_json::from_value(value).map_err(|e| Error::Config(format!("postgres: {e}")))?;
        let bad = |m: String| Err(Error::Config(format!("postgres: {m}")));
        if c.url.trim().is_empty() {
            return bad("url is empty".into());
        }
        if c.schema.trim().is_empty() {
            return bad("schema is empty".into());
        }
        if !(1..=1_000_000).contains(&c.batch_rows) {
            return bad(format!(
                "batch_rows must be 1..=1000000, got {}",
                c.batch_rows
            ));
        }
        if c.stream_concurrency == 0 {
            return bad("stream_concurrency must be at least 1".into());
        }
        if c.connect_timeout_ms == 0 {
            return bad("connect_timeout_ms must be at least 1".into());
        }
        if let Some(tables) = &c.tables {
            if tables.is_empty() {
                return bad(
                    "tables is empty; leave it out to read every table of the schema".into(),
                );
            }
            for (i, t) in tables.iter().enumerate() {
                if let Err(e) = crate::sql::parse_table_name(&t.table) {
                    return bad(format!("tables[{i}].table: {e}"));
                }
                if t.primary_key.as_ref().is_some_and(|k| k.is_empty()) {
                    return bad(format!("tables[{i}] ({}): primary_key is empty", t.table));
                }
            }
        }
        Ok(c)
    }
}

/// JSON Schema of the config.
pub fn schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "PostgreSQL",
        "type": "object",
        "additionalProperties": false,
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "secret": true, "description": "postgres://user:password@host:port/dbname, or libpq key=value pairs"},
            "password": {"type": "string", "secret": true},
            "schema": {"type": "string", "default": "public"},
            "tables": {"type": "array", "items": {
                "type": "object",
                "additionalProperties": false,
                "required": ["table"],
                "properties": {
                    "table": {"type": "string", "description": "table or schema.table"},
                    "name": {"type": "string"},
                    "cursor_field": {"type": "string"},
                    "primary_key": {"type": "array", "items": {"type": "string"}}
                }
            }},
            "cursor_field": {"type": "string", "description": "default cursor column of every table that has it"},
            "batch_rows": {"type": ["integer", "string"], "default": 16384},
            "stream_concurrency": {"type": ["integer", "string"], "default": 2},
            "connect_timeout_ms": {"type": ["integer", "string"], "default": 10000},
            "unconstrained_numeric": {"enum": ["decimal", "text"], "default": "decimal"},
            "application_name": {"type": "string", "default": "braid"}
        }
    })
}
