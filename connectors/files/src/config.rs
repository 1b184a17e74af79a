//! The connector's configuration: streams, formats, declared schemas.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use braid_core::{Error, Result};
use serde::Deserialize;

/// Default number of records schema inference looks at.
pub const DEFAULT_INFER_ROWS: usize = 1000;
/// Default number of rows per emitted batch.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// The connector config: the streams to read.
#[derive(Debug, Clone, PartialEq)]
pub struct FilesConfig {
    /// One entry per stream, in the order they are discovered.
    pub streams: Vec<StreamConfig>,
}

/// One stream: where its files are and how to read them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Stream name, unique within the source.
    pub name: String,
    /// A file, a directory (its files with a matching extension) or a glob.
    pub path: String,
    /// File format; default from the extension.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// Declared schema; inferred from the first file when absent.
    #[serde(default)]
    pub schema: Option<Vec<FieldConfig>>,
    /// Records schema inference looks at.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
    /// Columns that identify a record.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Column incremental reads resume from; enables incremental mode.
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// CSV dialect.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Maximum rows per emitted batch.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// What to do with a field a file has but the schema does not.
    #[serde(default)]
    pub unknown_fields: UnknownFields,
}

fn default_infer_rows() -> usize {
    DEFAULT_INFER_ROWS
}

fn default_batch_rows() -> usize {
    DEFAULT_BATCH_ROWS
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Newline-delimited JSON (JSON Lines), one object per line.
    #[serde(alias = "ndjson", alias = "json")]
    Jsonl,
    /// Comma (or otherwise) separated values.
    #[serde(alias = "tsv")]
    Csv,
}

impl FileFormat {
    /// The format a file extension implies, if any (case-insensitive).
    pub fn from_extension(ext: &str) -> Option<FileFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(FileFormat::Jsonl),
            "csv" | "tsv" => Some(FileFormat::Csv),
            _ => None,
        }
    }

    /// The format's name as configs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Jsonl => "jsonl",
            FileFormat::Csv => "csv",
        }
    }
}

/// What to do with a field a file has but the stream schema does not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownFields {
    /// Fail with a data error naming the field (the file's schema changed).
    #[default]
    Error,
    /// Drop the field.
    Ignore,
}

/// CSV dialect options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter, one ASCII character; default `,` (`\t` for `.tsv` files).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Whether the first line names the columns.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Quote character, one ASCII character.
    #[serde(default = "default_quote")]
    pub quote: String,
    /// Escape character inside quoted fields, if any (default: doubled quotes).
    #[serde(default)]
    pub escape: Option<String>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: None,
            header: true,
            quote: default_quote(),
            escape: None,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_quote() -> String {
    "\"".to_owned()
}

/// The CSV dialect with characters resolved to bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvDialect {
    /// Delimiter byte, if set explicitly.
    pub delimiter: Option<u8>,
    /// Whether there is a header line.
    pub header: bool,
    /// Quote byte.
    pub quote: u8,
    /// Escape byte, if any.
    pub escape: Option<u8>,
}

impl CsvDialect {
    /// The delimiter for a file: explicit, else tab for `.tsv`, else comma.
    pub fn delimiter_for(&self, path: &std::path::Path) -> u8 {
        self.delimiter.unwrap_or_else(|| {
            let tsv = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
            if tsv {
                b'\t'
            } else {
                b','
            }
        })
    }
}

/// A declared field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldConfig {
    /// Column name.
    pub name: String,
    /// Type: `string`, `int64`, `float64`, `boolean`, `date`, `timestamp`, `decimal(p,s)`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether nulls are allowed (default true).
    #[serde(default = "default_true")]
    pub nullable: bool,
}

impl FilesConfig {
    /// Parses and validates a config; errors are [`Error::Config`] naming the field.
    pub fn from_value(value: serde_json::Value) -> Result<FilesConfig> {
        let serde_json::Value::Object(mut top) = value else {
            return Err(Error::Config(
                "files: config must be a mapping with a `streams` list".into(),
            ));
        };
        let streams = top
            .remove("streams")
            .ok_or_else(|| Error::Config("files: missing field `streams`".into()))?;
        if let Some(extra) = top.keys().next() {
            return Err(Error::Config(format!(
                "files: unknown field `{extra}`, expected `streams`"
            )));
        }
        let serde_json::Value::Array(items) = streams else {
            return Err(Error::Config("files: `streams` must be a list".into()));
        };
        if items.is_empty() {
            return Err(Error::Config("files: `streams` is empty".into()));
        }
        let mut out = Vec::with_capacity(items.len());
        let mut names = HashSet::new();
        for (i, item) in items.into_iter().enumerate() {
            let label = match item.get("name").and_then(|n| n.as_str()) {
                Some(n) => format!("files: streams[{i}] (`{n}`)"),
                None => format!("files: streams[{i}]"),
            };
            let stream: StreamConfig =
                serde_json::from_value(item).map_err(|e| Error::Config(format!("{label}: {e}")))?;
            stream.validate(&label)?;
            if !names.insert(stream.name.clone()) {
                return Err(Error::Config(format!(
                    "{label}: `name` `{}` is used by another stream",
                    stream.name
                )));
            }
            out.push(stream);
        }
        Ok(FilesConfig { streams: out })
    }

    /// The stream named `name`.
    pub fn stream(&self, name: &str) -> Option<&StreamConfig> {
        self.streams.iter().find(|s| s.name == name)
    }
}

impl StreamConfig {
    fn validate(&self, label: &str) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::Config(format!("{label}: `name` is empty")));
        }
        if self.path.trim().is_empty() {
            return Err(Error::Config(format!("{label}: `path` is empty")));
        }
        if self.batch_rows == 0 {
            return Err(Error::Config(format!(
                "{label}: `batch_rows` must be at least 1"
            )));
        }
        if self.infer_rows == 0 {
            return Err(Error::Config(format!(
                "{label}: `infer_rows` must be at least 1"
            )));
        }
        self.dialect(label)?;
        if let Some(schema) = self.declared_schema(label)? {
            for key in &self.primary_key {
                if schema.field_with_name(key).is_err() {
                    return Err(Error::Config(format!(
                        "{label}: `primary_key` column `{key}` is not in `schema`"
                    )));
                }
            }
            if let Some(cursor) = &self.cursor_field {
                if schema.field_with_name(cursor).is_err() {
                    return Err(Error::Config(format!(
                        "{label}: `cursor_field` `{cursor}` is not in `schema`"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The CSV dialect, validated.
    pub fn dialect(&self, label: &str) -> Result<CsvDialect> {
        let one_byte = |field: &str, s: &str| -> Result<u8> {
            let s = if s == "\\t" { "\t" } else { s };
            match s.as_bytes() {
                [b] if b.is_ascii() => Ok(*b),
                _ => Err(Error::Config(format!(
                    "{label}: `csv.{field}` must be one ASCII character, got {s:?}"
                ))),
            }
        };
        Ok(CsvDialect {
            delimiter: self
                .csv
                .delimiter
                .as_deref()
                .map(|d| one_byte("delimiter", d))
                .transpose()?,
            header: self.csv.header,
            quote: one_byte("quote", &self.csv.quote)?,
            escape: self
                .csv
                .escape
                .as_deref()
                .map(|e| one_byte("escape", e))
                .transpose()?,
        })
    }

    /// The declared schema as Arrow, if one is declared.
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
            let data_type = parse_type(&f.data_type).map_err(|why| {
                Error::Config(format!(
                    "{label}: `schema[{i}].type` of `{}`: {why}",
                    f.name
                ))
            })?;
            out.push(Field::new(&f.name, data_type, f.nullable));
        }
        Ok(Some(Arc::new(Schema::new(out))))
    }
}

/// The Arrow type for a declared type name.
pub fn parse_type(s: &str) -> std::result::Result<DataType, String> {
    let t = s.trim().to_ascii_lowercase();
    Ok(match t.as_str() {
        "string" | "str" | "text" | "utf8" => DataType::Utf8,
        "int64" | "int" | "integer" | "bigint" | "long" => DataType::Int64,
        "float64" | "float" | "double" => DataType::Float64,
        "boolean" | "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => timestamp_type(),
        _ => {
            let Some(args) = t
                .strip_prefix("decimal")
                .map(str::trim)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
            else {
                return Err(format!(
                    "unknown type {s:?}; expected string, int64, float64, boolean, date, timestamp or decimal(p,s)"
                ));
            };
            let mut parts = args.split(',').map(str::trim);
            let (Some(p), Some(sc), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{s:?}: expected decimal(precision,scale)"));
            };
            let p: u8 = p
                .parse()
                .map_err(|_| format!("{s:?}: precision {p:?} is not a number"))?;
            let sc: i8 = sc
                .parse()
                .map_err(|_| format!("{s:?}: scale {sc:?} is not a number"))?;
            if p == 0 || p > 38 {
                return Err(format!("{s:?}: precision must be between 1 and 38"));
            }
            if sc < 0 || sc as u8 > p {
                return Err(format!("{s:?}: scale must be between 0 and the precision"));
            }
            DataType::Decimal128(p, sc)
        }
    })
}

/// The timestamp type every timestamp column has: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The JSON Schema of the config, for the connector spec.
pub fn config_json_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "files",
        "type": "object",
        "additionalProperties": false,
        "required": ["streams"],
        "properties": {
            "streams": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "path"],
                    "properties": {
                        "name": {"type": "string", "description": "Stream name."},
                        "path": {"type": "string", "description": "A file, a directory or a glob; relative paths resolve against the pipeline's directory."},
                        "format": {"type": "string", "enum": ["jsonl", "ndjson", "json", "csv", "tsv"], "description": "Default from the extension."},
                        "schema": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": false,
                                "required": ["name", "type"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "type": {"type": "string", "description": "string, int64, float64, boolean, date, timestamp (µs, UTC) or decimal(p,s)"},
                                    "nullable": {"type": "boolean", "default": true}
                                }
                            }
                        },
                        "infer_rows": {"type": "integer", "minimum": 1, "default": DEFAULT_INFER_ROWS},
                        "primary_key": {"type": "array", "items": {"type": "string"}},
                        "cursor_field": {"type": "string"},
                        "csv": {
                            "type": "object",
                            "additionalProperties": false,
                            "properties": {
                                "delimiter": {"type": "string", "default": ","},
                                "header": {"type": "boolean", "default": true},
                                "quote": {"type": "string", "default": "\""},
                                "escape": {"type": "string"}
                            }
                        },
                        "batch_rows": {"type": "integer", "minimum": 1, "default": DEFAULT_BATCH_ROWS},
                        "unknown_fields": {"type": "string", "enum": ["error", "ignore"], "default": "error"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: serde_json::Value) -> String {
        match FilesConfig::from_value(v) {
            Err(Error::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_example() {
        let c = FilesConfig::from_value(json!({"streams": [{
            "name": "orders", "path": "./data/orders/*.jsonl", "format": "jsonl",
            "schema": [{"name": "id", "type": "int64", "nullable": false},
                       {"name": "amount", "type": "decimal(12,2)"},
                       {"name": "updated_at", "type": "timestamp"}],
            "infer_rows": 10, "primary_key": ["id"], "cursor_field": "updated_at",
            "csv": {"delimiter": ";", "header": false, "quote": "'"}, "batch_rows": 5
        }]}))
        .unwrap();
        let s = &c.streams[0];
        let schema = s.declared_schema("t").unwrap().unwrap();
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert!(!schema.field(0).is_nullable());
        assert_eq!(schema.field(1).data_type(), &DataType::Decimal128(12, 2));
        assert_eq!(schema.field(2).data_type(), &timestamp_type());
        let d = s.dialect("t").unwrap();
        assert_eq!((d.delimiter, d.header, d.quote), (Some(b';'), false, b'\''));
        assert_eq!(s.batch_rows, 5);
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let m = err(json!({"streams": [{"name": "a", "path": "x.csv", "pth": 1}]}));
        assert!(m.contains("streams[0] (`a`)") && m.contains("`pth`"), "{m}");
        let m = err(json!({"streams": [{"name": "a"}]}));
        assert!(m.contains("missing field `path`"), "{m}");
        let m = err(json!({"streams": [{"name": "a", "path": "x", "csv": {"delim": ","}}]}));
        assert!(m.contains("`delim`"), "{m}");
        let m = err(json!({"stream": []}));
        assert!(m.contains("`streams`"), "{m}");
    }

    #[test]
    fn bad_values_are_named() {
        let m = err(
            json!({"streams": [{"name": "a", "path": "x", "schema": [{"name": "v", "type": "decimal(40,2)"}]}]}),
        );
        assert!(
            m.contains("schema[0].type") && m.contains("precision"),
            "{m}"
        );
        let m = err(
            json!({"streams": [{"name": "a", "path": "x", "schema": [{"name": "v", "type": "money"}]}]}),
        );
        assert!(m.contains("unknown type"), "{m}");
        let m = err(json!({"streams": [{"name": "a", "path": "x", "csv": {"delimiter": ",,"}}]}));
        assert!(m.contains("csv.delimiter"), "{m}");
        let m = err(json!({"streams": [{"name": "a", "path": "x", "batch_rows": 0}]}));
        assert!(m.contains("batch_rows"), "{m}");
        let m = err(json!({"streams": [{"name": "a", "path": "x", "format": "xml"}]}));
        assert!(m.contains("xml"), "{m}");
        let m = err(json!({"streams": [
            {"name": "a", "path": "x", "schema": [{"name": "id", "type": "int64"}], "cursor_field": "ts"}]}));
        assert!(m.contains("cursor_field"), "{m}");
        let m = err(json!({"streams": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}));
        assert!(m.contains("another stream"), "{m}");
    }

    #[test]
    fn tab_delimiter_for_tsv() {
        let d = CsvDialect {
            delimiter: None,
            header: true,
            quote: b'"',
            escape: None,
        };
        assert_eq!(d.delimiter_for(std::path::Path::new("a/b.TSV")), b'\t');
        assert_eq!(d.delimiter_for(std::path::Path::new("a/b.csv")), b',');
        assert_eq!(
            parse_type(" Decimal( 10 , 3 ) ").unwrap(),
            DataType::Decimal128(10, 3)
        );
    }
}
