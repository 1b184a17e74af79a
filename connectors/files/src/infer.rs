//! Schema inference from the leading records of a stream's files.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Date32Type;
use arrow_cast::parse::{string_to_datetime, Parser};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use braid_core::{Error, Result};

use crate::config::{timestamp_type, CsvDialect, FileFormat};
use crate::decode::{csv_format, io_error, open, sample_json};

/// Infers a stream's schema from the first `infer_rows` records of the first
/// file that has records (empty files are skipped).
pub fn infer_schema(
    stream: &str,
    format: FileFormat,
    dialect: &CsvDialect,
    files: &[PathBuf],
    infer_rows: usize,
) -> Result<SchemaRef> {
    let mut header_only: Option<Schema> = None;
    for path in files {
        let (schema, records) = match format {
            FileFormat::Jsonl => infer_json(stream, path, infer_rows)?,
            FileFormat::Csv => infer_csv(stream, dialect, path, infer_rows)?,
        };
        if records > 0 {
            return Ok(Arc::new(schema));
        }
        if header_only.is_none() && !schema.fields().is_empty() {
            header_only = Some(schema);
        }
    }
    match header_only {
        // A CSV with a header and no rows still names the columns.
        Some(s) => Ok(Arc::new(s)),
        None => Err(Error::Config(format!(
            "files: stream `{stream}`: every matched file is empty, so no schema can be inferred; declare `schema`"
        ))),
    }
}

fn infer_json(stream: &str, path: &Path, infer_rows: usize) -> Result<(Schema, usize)> {
    let reader = BufReader::new(open(path)?);
    let (schema, records) =
        match arrow_json::reader::infer_json_schema_from_seekable(reader, Some(infer_rows)) {
            Ok(r) => r,
            Err(e) => {
                return Err(json_inference_error(
                    stream,
                    path,
                    infer_rows,
                    &e.to_string(),
                ))
            }
        };
    if records == 0 {
        return Ok((schema, 0));
    }
    let schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Null => Field::new(f.name(), DataType::Utf8, true),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    );
    let schema = refine_json_strings(path, schema, infer_rows);
    Ok((schema, records))
}

/// Names the line that stopped JSON inference.
fn json_inference_error(stream: &str, path: &Path, infer_rows: usize, why: &str) -> Error {
    let located = (|| -> Result<Option<usize>> {
        let mut reader = BufReader::new(open(path)?);
        let mut line = Vec::new();
        let mut no = 0;
        let mut records = 0;
        loop {
            line.clear();
            no += 1;
            if reader
                .read_until(b'\n', &mut line)
                .map_err(|e| io_error(path, &e))?
                == 0
            {
                return Ok(None);
            }
            if line.trim_ascii().is_empty() {
                continue;
            }
            if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&line).is_err()
            {
                return Ok(Some(no));
            }
            records += 1;
            if records > infer_rows {
                return Ok(None);
            }
        }
    })();
    let at = match located {
        Ok(Some(no)) => format!(" line {no}"),
        _ => String::new(),
    };
    Error::data(
        stream,
        format!(
            "file `{}`{at}: cannot infer a schema (not one JSON object per line): {why}",
            path.display()
        ),
    )
}

/// Turns string columns whose sampled values are all dates or timestamps
/// into `Date32` / `Timestamp(µs, UTC)`.
fn refine_json_strings(path: &Path, schema: Schema, infer_rows: usize) -> Schema {
    if !schema
        .fields()
        .iter()
        .any(|f| f.data_type() == &DataType::Utf8)
    {
        return schema;
    }
    let schema = Arc::new(schema);
    let Ok(Some(sample)) = sample_json(path, schema.clone(), infer_rows) else {
        return schema.as_ref().clone();
    };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if f.data_type() != &DataType::Utf8 {
                return f.as_ref().clone();
            }
            let col = sample.column(i).as_string::<i32>();
            match temporal_type(col.iter().flatten()) {
                Some(t) => Field::new(f.name(), t, true),
                None => f.as_ref().clone(),
            }
        })
        .collect();
    Schema::new(fields)
}

/// `Date32` if every value is a `YYYY-MM-DD` date, `Timestamp(µs, UTC)` if
/// every value is a date or an ISO-8601 timestamp, else `None`.
fn temporal_type<'a>(values: impl Iterator<Item = &'a str>) -> Option<DataType> {
    let mut any = false;
    let mut all_dates = true;
    for v in values {
        let b = v.as_bytes();
        if b.len() < 10 || b[4] != b'-' || b[7] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
            return None;
        }
        if b.len() == 10 {
            Date32Type::parse(v)?;
        } else {
            all_dates = false;
            string_to_datetime(&chrono::Utc, v).ok()?;
        }
        any = true;
    }
    match (any, all_dates) {
        (false, _) => None,
        (true, true) => Some(DataType::Date32),
        (true, false) => Some(timestamp_type()),
    }
}

fn infer_csv(
    stream: &str,
    dialect: &CsvDialect,
    path: &Path,
    infer_rows: usize,
) -> Result<(Schema, usize)> {
    let file = open(path)?;
    let (schema, records) = csv_format(dialect, path)
        .infer_schema(file, Some(infer_rows))
        .map_err(|e| {
            Error::data(
                stream,
                format!("file `{}`: cannot infer a CSV schema: {e}", path.display()),
            )
        })?;
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                DataType::Null => DataType::Utf8,
                DataType::Timestamp(_, None) => timestamp_type(),
                t => t.clone(),
            };
            Field::new(f.name(), t, true)
        })
        .collect();
    Ok((Schema::new(fields), records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_strings() {
        assert_eq!(
            temporal_type(["2024-01-01", "2024-02-29"].into_iter()),
            Some(DataType::Date32)
        );
        assert_eq!(
            temporal_type(["2024-01-01T10:00:00Z", "2024-01-02 03:04:05.123"].into_iter()),
            Some(timestamp_type())
        );
        assert_eq!(
            temporal_type(["2024-01-01", "hello world"].into_iter()),
            None
        );
        assert_eq!(temporal_type(["2024-13-01"].into_iter()), None);
        assert_eq!(temporal_type(std::iter::empty()), None);
    }
}
