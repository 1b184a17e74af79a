//! Discovery from `pg_catalog`: relations, columns (domains resolved to their
//! base types), primary-key constraints and SELECT privileges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow_schema::{Field, Schema, SchemaRef};
use braid_core::{Error, Result, StreamDescriptor, SyncMode};
use tokio_postgres::Client;

use crate::config::PostgresConfig;
use crate::sql::{parse_table_name, stream_name};
use crate::types::{plan, ColumnPlan, PgColumn};
use crate::Endpoint;

/// A table or view offered as a stream, with how to read it.
#[derive(Debug, Clone)]
pub struct Table {
    pub stream: String,
    pub schema: String,
    pub table: String,
    /// `r` table, `p` partitioned table, `v` view, `m` materialised view, `f` foreign table.
    pub relkind: char,
    pub columns: Vec<ColumnPlan>,
    pub primary_key: Vec<String>,
    pub cursor_field: Option<String>,
    /// Whether the connecting user may SELECT from it.
    pub selectable: bool,
}

impl Table {
    /// `"schema"."table"`.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            crate::sql::quote_ident(&self.schema),
            crate::sql::quote_ident(&self.table)
        )
    }

    pub fn column(&self, name: &str) -> Option<&ColumnPlan> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.decode.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }

    pub fn descriptor(&self) -> StreamDescriptor {
        let incremental = self.cursor_field.is_some() && !self.primary_key.is_empty();
        StreamDescriptor {
            name: self.stream.clone(),
            schema: self.arrow_schema(),
            primary_key: self.primary_key.clone(),
            cursor_field: self.cursor_field.clone(),
            sync_modes: if incremental {
                vec![SyncMode::FullRefresh, SyncMode::Incremental]
            } else {
                vec![SyncMode::FullRefresh]
            },
        }
    }
}

const RELATIONS: &str = "
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text,
       has_table_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
ORDER BY n.nspname, c.relname";

const COLUMNS: &str = "
SELECT a.attrelid, a.attname::text,
       b.oid, CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       CASE WHEN b.typcategory = 'A' THEN b.typelem ELSE 0::oid END,
       format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

const PRIMARY_KEYS: &str = "
SELECT con.conrelid, a.attname::text
FROM pg_catalog.pg_constraint con
CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
WHERE con.contype = 'p' AND con.conrelid = ANY($1)
ORDER BY con.conrelid, k.ord";

/// The tables the config names (or every one of its schema), described.
pub async fn discover(
    client: &Client,
    config: &PostgresConfig,
    endpoint: &Endpoint,
) -> Result<Vec<Table>> {
    // Which relations are wanted: (schema, table) -> its `tables:` entry.
    let wanted: Option<Vec<(String, String, &crate::config::TableConfig)>> = match &config.tables {
        None => None,
        Some(tables) => Some(
            tables
                .iter()
                .map(|t| {
                    let (s, n) = parse_table_name(&t.table).map_err(Error::Config)?;
                    Ok((s.unwrap_or_else(|| config.schema.clone()), n, t))
                })
                .collect::<Result<_>>()?,
        ),
    };
    let schemas: Vec<String> = match &wanted {
        None => vec![config.schema.clone()],
        Some(w) => w
            .iter()
            .map(|(s, _, _)| s.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    let rows = client
        .query(RELATIONS, &[&schemas])
        .await
        .map_err(|e| endpoint.error(e, "listing tables"))?;
    let mut found: BTreeMap<(String, String), (u32, char, bool)> = BTreeMap::new();
    for r in &rows {
        let kind: String = r.get(3);
        found.insert(
            (r.get(1), r.get(2)),
            (r.get(0), kind.chars().next().unwrap_or('r'), r.get(4)),
        );
    }
    // (oid, schema, table, relkind, selectable, entry)
    let mut picked = Vec::new();
    match &wanted {
        None => {
            for ((s, t), (oid, kind, sel)) in &found {
                picked.push((*oid, s.clone(), t.clone(), *kind, *sel, None));
            }
        }
        Some(w) => {
            for (s, t, entry) in w {
                let Some((oid, kind, sel)) = found.get(&(s.clone(), t.clone())) else {
                    return Err(Error::Config(format!(
                        "postgres: table {s}.{t} (tables: {:?}) does not exist at {endpoint}, or is not a table or view (names are case-sensitive when quoted)",
                        entry.table
                    )));
                };
                picked.push((*oid, s.clone(), t.clone(), *kind, *sel, Some(*entry)));
            }
        }
    }
    let oids: Vec<u32> = picked.iter().map(|p| p.0).collect();
    let mut columns: BTreeMap<u32, Vec<PgColumn>> = BTreeMap::new();
    for r in client
        .query(COLUMNS, &[&oids])
        .await
        .map_err(|e| endpoint.error(e, "reading columns"))?
    {
        columns.entry(r.get(0)).or_default().push(PgColumn {
            name: r.get(1),
            type_oid: r.get(2),
            typmod: r.get(3),
            elem_oid: r.get(4),
            sql_type: r.get(5),
        });
    }
    let mut pks: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for r in client
        .query(PRIMARY_KEYS, &[&oids])
        .await
        .map_err(|e| endpoint.error(e, "reading primary keys"))?
    {
        pks.entry(r.get(0)).or_default().push(r.get(1));
    }

    let mut tables = Vec::new();
    let mut names = BTreeSet::new();
    for (oid, schema, table, relkind, selectable, entry) in picked {
        let stream = entry
            .and_then(|e| e.name.clone())
            .unwrap_or_else(|| stream_name(&schema, &table, &config.schema));
        if !names.insert(stream.clone()) {
            return Err(Error::Config(format!(
                "postgres: two tables would be stream {stream:?}; give one a `name`"
            )));
        }
        let cols: Vec<ColumnPlan> = columns
            .remove(&oid)
            .unwrap_or_default()
            .iter()
            .map(|c| plan(c, config.unconstrained_numeric))
            .collect();
        let has = |c: &str| cols.iter().any(|p| p.name == c);
        let primary_key = match entry.and_then(|e| e.primary_key.clone()) {
            Some(k) => {
                if let Some(missing) = k.iter().find(|c| !has(c)) {
                    return Err(Error::Config(format!(
                        "postgres: stream {stream}: primary_key column {missing:?} is not a column of {schema}.{table}"
                    )));
                }
                k
            }
            None => pks.remove(&oid).unwrap_or_default(),
        };
        let cursor_field = match entry.and_then(|e| e.cursor_field.clone()) {
            Some(c) => {
                let Some(col) = cols.iter().find(|p| p.name == c) else {
                    return Err(Error::Config(format!(
                        "postgres: stream {stream}: cursor_field {c:?} is not a column of {schema}.{table}"
                    )));
                };
                if !col.decode.is_cursor_type() {
                    return Err(Error::Config(format!(
                        "postgres: stream {stream}: cursor_field {c:?} is {}; a cursor must be a timestamp, timestamptz, date, integer, bigint or text column",
                        col.sql_type
                    )));
                }
                Some(c)
            }
            None => config.cursor_field.clone().filter(|c| {
                cols.iter()
                    .any(|p| &p.name == c && p.decode.is_cursor_type())
            }),
        };
        tables.push(Table {
            stream,
            schema,
            table,
            relkind,
            columns: cols,
            primary_key,
            cursor_field,
            selectable,
        });
    }
    Ok(tables)
}
