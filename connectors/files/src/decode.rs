//! Decoding one file into Arrow batches, and locating bad records.
//!
//! The fast path feeds a large `BufReader`'s chunks straight into arrow's
//! push decoders and tracks only the byte offset where the current batch
//! began. When a batch fails, [`locate`] re-reads the file from that offset
//! record by record to name the line (and, where it can, the field).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use braid_core::{Error, Result};

use crate::config::{CsvDialect, FileFormat, UnknownFields};

/// Size of the read buffer fed to the decoders.
const READ_BUFFER: usize = 1 << 20;

/// JSON Lines files are cut into chunks of about this size at line ends and
/// decoded by two threads, so decoding uses both cores.
const JSON_CHUNK: usize = 4 << 20;

/// Decoding threads for JSON Lines.
const JSON_WORKERS: usize = 2;

/// How to read the files of one stream.
#[derive(Debug, Clone)]
pub struct FileReadSpec {
    /// Stream name, for errors.
    pub stream: String,
    /// The stream's schema; every emitted batch has exactly this schema.
    pub schema: SchemaRef,
    /// The schema handed to arrow's decoders: `schema` with UTC timestamp
    /// zones spelled `+00:00`, which arrow parses without `chrono-tz`.
    decode_schema: SchemaRef,
    /// File format.
    pub format: FileFormat,
    /// CSV dialect.
    pub dialect: CsvDialect,
    /// Maximum rows per batch.
    pub batch_rows: usize,
    /// What to do with fields the schema does not have.
    pub unknown_fields: UnknownFields,
}

impl FileReadSpec {
    /// How to read files of `stream` into batches of `schema`.
    pub fn new(
        stream: String,
        schema: SchemaRef,
        format: FileFormat,
        dialect: CsvDialect,
        batch_rows: usize,
        unknown_fields: UnknownFields,
    ) -> Self {
        FileReadSpec {
            stream,
            decode_schema: decoding_schema(&schema),
            schema,
            format,
            dialect,
            batch_rows,
            unknown_fields,
        }
    }
}

fn is_utc(tz: &str) -> bool {
    tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("etc/utc") || tz == "Z"
}

/// `schema` with top-level UTC timestamps zoned `+00:00` (the same instant
/// semantics; only the spelling differs).
pub(crate) fn decoding_schema(schema: &SchemaRef) -> SchemaRef {
    let needs = schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, Some(tz)) if is_utc(tz)));
    if !needs {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(tz)) if is_utc(tz) => f
                .as_ref()
                .clone()
                .with_data_type(DataType::Timestamp(*unit, Some("+00:00".into()))),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Restates a decoded batch (columns in stream order) with the stream schema.
fn finish(spec: &FileReadSpec, batch: RecordBatch) -> Result<RecordBatch> {
    if Arc::ptr_eq(&spec.schema, &spec.decode_schema) && batch.schema() == spec.schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(spec.schema.fields())
        .map(|(col, field)| match field.data_type() {
            DataType::Timestamp(unit, tz) if col.data_type() != field.data_type() => {
                let tz = tz.clone();
                let a: ArrayRef = match unit {
                    TimeUnit::Second => Arc::new(
                        col.as_primitive::<TimestampSecondType>()
                            .clone()
                            .with_timezone_opt(tz),
                    ),
                    TimeUnit::Millisecond => Arc::new(
                        col.as_primitive::<TimestampMillisecondType>()
                            .clone()
                            .with_timezone_opt(tz),
                    ),
                    TimeUnit::Microsecond => Arc::new(
                        col.as_primitive::<TimestampMicrosecondType>()
                            .clone()
                            .with_timezone_opt(tz),
                    ),
                    TimeUnit::Nanosecond => Arc::new(
                        col.as_primitive::<TimestampNanosecondType>()
                            .clone()
                            .with_timezone_opt(tz),
                    ),
                };
                a
            }
            _ => col.clone(),
        })
        .collect();
    Ok(RecordBatch::try_new(spec.schema.clone(), columns)?)
}

/// A push decoder: arrow-json's and arrow-csv's share this shape.
trait PushDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError>;
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError>;
}

impl PushDecoder for arrow_json::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        arrow_json::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        arrow_json::reader::Decoder::flush(self)
    }
}

impl PushDecoder for arrow_csv::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        arrow_csv::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        arrow_csv::reader::Decoder::flush(self)
    }
}

/// How a CSV file's columns map onto the stream schema.
#[derive(Debug, Clone)]
struct CsvLayout {
    /// The file's columns, typed (unknown columns as nullable strings).
    file_schema: SchemaRef,
    /// For each stream field, its column index in the file.
    projection: Vec<usize>,
}

pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| io_error(path, &e))
}

pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            Error::Config(format!("cannot read `{}`: {e}", path.display()))
        }
        _ => Error::Transient {
            endpoint: path.display().to_string(),
            message: format!("read failed: {e}"),
        },
    }
}

fn data_error(spec: &FileReadSpec, path: &Path, message: impl std::fmt::Display) -> Error {
    Error::data(
        spec.stream.clone(),
        format!("file `{}`: {message}", path.display()),
    )
}

fn line_error(
    spec: &FileReadSpec,
    path: &Path,
    line: usize,
    message: impl std::fmt::Display,
) -> Error {
    Error::data(
        spec.stream.clone(),
        format!("file `{}` line {line}: {message}", path.display()),
    )
}

fn json_decoder(
    schema: SchemaRef,
    batch_rows: usize,
    strict: bool,
) -> Result<arrow_json::reader::Decoder> {
    Ok(arrow_json::ReaderBuilder::new(schema)
        .with_batch_size(batch_rows)
        .with_strict_mode(strict)
        .build_decoder()?)
}

fn csv_decoder(
    spec: &FileReadSpec,
    path: &Path,
    schema: SchemaRef,
    header: bool,
    projection: Option<Vec<usize>>,
    batch_rows: usize,
) -> arrow_csv::reader::Decoder {
    let mut b = arrow_csv::ReaderBuilder::new(schema)
        .with_header(header)
        .with_delimiter(spec.dialect.delimiter_for(path))
        .with_quote(spec.dialect.quote)
        .with_batch_size(batch_rows);
    if let Some(e) = spec.dialect.escape {
        b = b.with_escape(e);
    }
    if let Some(p) = projection {
        b = b.with_projection(p);
    }
    b.build_decoder()
}

/// The CSV format (dialect) for `path`, for schema inference and headers.
pub(crate) fn csv_format(dialect: &CsvDialect, path: &Path) -> arrow_csv::reader::Format {
    let mut f = arrow_csv::reader::Format::default()
        .with_header(dialect.header)
        .with_delimiter(dialect.delimiter_for(path))
        .with_quote(dialect.quote);
    if let Some(e) = dialect.escape {
        f = f.with_escape(e);
    }
    f
}

/// Matches a CSV file's header to the stream schema, by name.
fn csv_layout(spec: &FileReadSpec, path: &Path) -> Result<Option<CsvLayout>> {
    if !spec.dialect.header {
        let n = spec.schema.fields().len();
        return Ok(Some(CsvLayout {
            file_schema: spec.decode_schema.clone(),
            projection: (0..n).collect(),
        }));
    }
    let file = open(path)?;
    let (header, _) = csv_format(&spec.dialect, path)
        .infer_schema(file, Some(0))
        .map_err(|e| data_error(spec, path, format!("cannot read the CSV header: {e}")))?;
    if header.fields().is_empty() {
        return Ok(None); // empty file
    }
    let mut file_fields = Vec::with_capacity(header.fields().len());
    let mut projection = vec![usize::MAX; spec.schema.fields().len()];
    for (i, col) in header.fields().iter().enumerate() {
        let name = col.name();
        match spec.schema.index_of(name) {
            Ok(j) if projection[j] == usize::MAX => {
                projection[j] = i;
                file_fields.push(spec.decode_schema.field(j).clone());
            }
            Ok(_) => {
                return Err(line_error(spec, path, 1, format!("column `{name}` appears twice in the header")))
            }
            Err(_) => match spec.unknown_fields {
                UnknownFields::Ignore => file_fields.push(Field::new(name, DataType::Utf8, true)),
                UnknownFields::Error => {
                    return Err(line_error(
                        spec,
                        path,
                        1,
                        format!(
                            "column `{name}` is not in the schema of stream `{}` (the file's schema changed; declare it, or set `unknown_fields: ignore`)",
                            spec.stream
                        ),
                    ))
                }
            },
        }
    }
    if let Some(j) = projection.iter().position(|&p| p == usize::MAX) {
        return Err(line_error(
            spec,
            path,
            1,
            format!(
                "field `{}` of the stream schema is missing from the header (the file's schema changed)",
                spec.schema.field(j).name()
            ),
        ));
    }
    Ok(Some(CsvLayout {
        file_schema: Arc::new(Schema::new(file_fields)),
        projection,
    }))
}

/// Reads `path`, handing each non-empty batch to `emit`; `emit` returns
/// `false` to stop early. Returns the number of rows read.
pub fn read_file(
    spec: &FileReadSpec,
    path: &Path,
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<u64> {
    match spec.format {
        FileFormat::Jsonl => read_json_parallel(spec, path, JSON_CHUNK, emit),
        FileFormat::Csv => {
            let Some(layout) = csv_layout(spec, path)? else {
                return Ok(0);
            };
            let mut decoder = csv_decoder(
                spec,
                path,
                layout.file_schema.clone(),
                spec.dialect.header,
                Some(layout.projection.clone()),
                spec.batch_rows,
            );
            run(spec, path, &mut decoder, Some(&layout), emit)
        }
    }
}

/// Reads a JSON Lines file with [`JSON_WORKERS`] decoders working on
/// alternate chunks cut at line ends; batches are handed to `emit` in file
/// order, and a bad record is reported at its line as on the serial path.
pub(crate) fn read_json_parallel(
    spec: &FileReadSpec,
    path: &Path,
    chunk_bytes: usize,
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<u64> {
    use std::io::Read;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

    type Chunk = (u64, Vec<u8>);
    type Decoded = Result<Vec<RecordBatch>>;
    let strict = spec.unknown_fields == UnknownFields::Error;
    let decode_chunk =
        |decoder: &mut arrow_json::reader::Decoder, start: u64, chunk: &[u8]| -> Decoded {
            let mut out = Vec::new();
            let mut rest = chunk;
            loop {
                let n = decoder
                    .decode(rest)
                    .map_err(|e| locate(spec, path, None, start, e))?;
                rest = &rest[n..];
                let full = !rest.is_empty();
                if !full && decoder.has_partial_record() {
                    // The chunk ends mid-record: only the file's last chunk can.
                    let _ = decoder.flush();
                    return Err(locate(
                        spec,
                        path,
                        None,
                        start,
                        ArrowError::JsonError("the file ends in the middle of a record".into()),
                    ));
                }
                if let Some(batch) = decoder
                    .flush()
                    .map_err(|e| locate(spec, path, None, start, e))?
                {
                    out.push(finish(spec, batch)?);
                }
                if !full {
                    return Ok(out);
                }
            }
        };

    let mut file = open(path)?;
    let mut rows = 0u64;
    std::thread::scope(|scope| -> Result<u64> {
        let mut to_workers: Vec<SyncSender<Chunk>> = Vec::new();
        let mut from_workers: Vec<Receiver<Decoded>> = Vec::new();
        for _ in 0..JSON_WORKERS {
            let (tx, rx) = sync_channel::<Chunk>(1);
            let (rtx, rrx) = sync_channel::<Decoded>(1);
            let mut decoder = json_decoder(spec.decode_schema.clone(), spec.batch_rows, strict)?;
            let decode_chunk = &decode_chunk;
            scope.spawn(move || {
                for (start, chunk) in rx {
                    if rtx.send(decode_chunk(&mut decoder, start, &chunk)).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(tx);
            from_workers.push(rrx);
        }
        let mut carry: Vec<u8> = Vec::new();
        let mut offset = 0u64;
        let (mut sent, mut received) = (0usize, 0usize);
        let mut eof = false;
        let mut stopped = false;
        while !eof || received < sent {
            // Keep every worker busy, then take the oldest result.
            while !eof && sent - received < JSON_WORKERS {
                let mut chunk = std::mem::take(&mut carry);
                let have = chunk.len();
                chunk.resize(have.max(chunk_bytes) + chunk_bytes / 4 + 1, 0);
                let mut filled = have;
                while filled < chunk.len() {
                    let n = file
                        .read(&mut chunk[filled..])
                        .map_err(|e| io_error(path, &e))?;
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    filled += n;
                    if filled >= chunk_bytes && chunk[have..filled].contains(&b'\n') {
                        break;
                    }
                }
                chunk.truncate(filled);
                if !eof {
                    // Cut after the last full line; the rest starts the next chunk.
                    match chunk.iter().rposition(|b| *b == b'\n') {
                        Some(cut) => carry = chunk.split_off(cut + 1),
                        None => {
                            carry = chunk;
                            continue;
                        }
                    }
                }
                if chunk.is_empty() {
                    continue;
                }
                let start = offset;
                offset += chunk.len() as u64;
                if to_workers[sent % JSON_WORKERS]
                    .send((start, chunk))
                    .is_err()
                {
                    return Err(Error::Internal("a JSON decoding thread stopped".into()));
                }
                sent += 1;
            }
            if received == sent {
                continue;
            }
            let decoded = from_workers[received % JSON_WORKERS]
                .recv()
                .map_err(|_| Error::Internal("a JSON decoding thread stopped".into()))?;
            received += 1;
            for batch in decoded? {
                rows += batch.num_rows() as u64;
                if batch.num_rows() > 0 && !emit(batch) {
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break;
            }
        }
        // Closing the chunk channels ends the workers; drain what they hold.
        drop(to_workers);
        for rx in &from_workers {
            while rx.recv().is_ok() {}
        }
        Ok(rows)
    })
}

fn run(
    spec: &FileReadSpec,
    path: &Path,
    decoder: &mut dyn PushDecoder,
    csv: Option<&CsvLayout>,
    emit: &mut dyn FnMut(RecordBatch) -> bool,
) -> Result<u64> {
    let mut reader = BufReader::with_capacity(READ_BUFFER, open(path)?);
    let mut consumed: u64 = 0;
    let mut batch_start: u64 = 0;
    let mut rows: u64 = 0;
    let mut eof = false;
    loop {
        loop {
            let buf = reader.fill_buf().map_err(|e| io_error(path, &e))?;
            let len = buf.len();
            let n = match decoder.decode(buf) {
                Ok(n) => n,
                Err(e) => return Err(locate(spec, path, csv, batch_start, e)),
            };
            reader.consume(n);
            consumed += n as u64;
            if len == 0 {
                eof = true;
                break;
            }
            if n < len {
                break; // the batch is full
            }
        }
        match decoder.flush() {
            Ok(Some(batch)) => {
                batch_start = consumed;
                // Columns come out in stream order; restate the stream schema exactly.
                let batch = finish(spec, batch)?;
                rows += batch.num_rows() as u64;
                if batch.num_rows() > 0 && !emit(batch) {
                    return Ok(rows);
                }
            }
            Ok(None) if eof => return Ok(rows),
            Ok(None) => {}
            Err(e) => return Err(locate(spec, path, csv, batch_start, e)),
        }
    }
}

/// Lines of `path` from byte `start`, numbered from 1 for the whole file.
struct Lines {
    reader: BufReader<File>,
    line: usize,
    buf: Vec<u8>,
}

impl Lines {
    fn open(path: &Path, start: u64) -> Result<Lines> {
        let mut reader = BufReader::with_capacity(READ_BUFFER, open(path)?);
        let mut line = 1;
        let mut left = start;
        while left > 0 {
            let buf = reader.fill_buf().map_err(|e| io_error(path, &e))?;
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            line += buf[..take].iter().filter(|&&b| b == b'\n').count();
            reader.consume(take);
            left -= take as u64;
        }
        Ok(Lines {
            reader,
            line,
            buf: Vec::new(),
        })
    }

    /// The next line (with its terminator) and its number.
    fn next_line(&mut self, path: &Path) -> Result<Option<(usize, &[u8])>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| io_error(path, &e))?;
        if n == 0 {
            return Ok(None);
        }
        let no = self.line;
        self.line += 1;
        Ok(Some((no, &self.buf)))
    }
}

fn arrow_message(e: &ArrowError) -> String {
    match e {
        ArrowError::JsonError(m) | ArrowError::CsvError(m) | ArrowError::ParseError(m) => m.clone(),
        e => e.to_string(),
    }
}

/// Turns a batch failure into a [`Error::Data`] naming the file and line.
fn locate(
    spec: &FileReadSpec,
    path: &Path,
    csv: Option<&CsvLayout>,
    start: u64,
    original: ArrowError,
) -> Error {
    let found = match csv {
        None => locate_json(spec, path, start),
        Some(layout) => locate_csv(spec, path, layout, start),
    };
    match found {
        Ok(Some(e)) | Err(e) => e,
        Ok(None) => {
            let line = Lines::open(path, start).map(|l| l.line).unwrap_or(0);
            line_error(
                spec,
                path,
                line,
                format!(
                    "in the records from this line on: {}",
                    arrow_message(&original)
                ),
            )
        }
    }
}

fn locate_json(spec: &FileReadSpec, path: &Path, start: u64) -> Result<Option<Error>> {
    let strict = spec.unknown_fields == UnknownFields::Error;
    let mut decoder = json_decoder(spec.decode_schema.clone(), 1024, strict)?;
    let mut lines = Lines::open(path, start)?;
    let mut pending: Option<usize> = None;
    let mut record: Vec<u8> = Vec::new();
    while let Some((no, line)) = lines.next_line(path)? {
        if pending.is_none() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            pending = Some(no);
            record.clear();
        }
        record.extend_from_slice(line);
        let at = pending.unwrap_or(no);
        let mut rest = line;
        while !rest.is_empty() {
            match decoder.decode(rest) {
                Ok(0) => break,
                Ok(n) => rest = &rest[n..],
                Err(e) => {
                    return Ok(Some(line_error(
                        spec,
                        path,
                        at,
                        format!("malformed JSON: {}", arrow_message(&e)),
                    )))
                }
            }
        }
        if !decoder.has_partial_record() {
            if let Err(e) = decoder.flush() {
                return Ok(Some(line_error(
                    spec,
                    path,
                    at,
                    describe_json(spec, &record, &e),
                )));
            }
            pending = None;
        }
    }
    if let Some(at) = pending {
        return Ok(Some(line_error(
            spec,
            path,
            at,
            "truncated JSON: the file ends inside this record",
        )));
    }
    Ok(None)
}

fn describe_json(spec: &FileReadSpec, record: &[u8], e: &ArrowError) -> String {
    let msg = arrow_message(e);
    if let Some(name) = msg
        .split("column '")
        .nth(1)
        .and_then(|r| r.split("' missing from schema").next())
        .filter(|_| msg.contains("missing from schema"))
    {
        return format!(
            "field `{name}` is not in the schema of stream `{}` (the file's schema changed; declare it, or set `unknown_fields: ignore`)",
            spec.stream
        );
    }
    if msg.contains("non-nullable") {
        if let Ok(obj) =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(record)
        {
            for f in spec.schema.fields().iter().filter(|f| !f.is_nullable()) {
                if obj.get(f.name()).is_none_or(|v| v.is_null()) {
                    return format!(
                        "field `{}` is missing or null but declared `nullable: false`",
                        f.name()
                    );
                }
            }
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(record) {
        if !value.is_object() {
            return format!("expected a JSON object, found {}", json_kind(&value));
        }
    }
    // Decode the record one field at a time to name the field that fails.
    for field in spec.decode_schema.fields() {
        let one = Arc::new(Schema::new(vec![field
            .as_ref()
            .clone()
            .with_nullable(true)]));
        let failed = json_decoder(one, 1, false)
            .map_err(|e| e.to_string())
            .and_then(|mut d| {
                d.decode(record).map_err(|e| arrow_message(&e))?;
                d.flush().map_err(|e| arrow_message(&e))
            })
            .err();
        if let Some(why) = failed {
            let why = match why.strip_prefix("whilst decoding field '") {
                Some(rest) => rest
                    .split_once("': ")
                    .map_or(why.clone(), |(_, w)| w.to_owned()),
                None => why,
            };
            return format!(
                "field `{}`: {why} (the value does not match the schema type {})",
                field.name(),
                spec.schema
                    .field_with_name(field.name())
                    .map_or(field.data_type(), |f| f.data_type())
            );
        }
    }
    msg
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn locate_csv(
    spec: &FileReadSpec,
    path: &Path,
    layout: &CsvLayout,
    start: u64,
) -> Result<Option<Error>> {
    let mut lines = Lines::open(path, start)?;
    if start == 0 && spec.dialect.header {
        lines.next_line(path)?; // the header, already matched
    }
    let mut decoder = csv_decoder(
        spec,
        path,
        layout.file_schema.clone(),
        false,
        Some(layout.projection.clone()),
        1,
    );
    let mut pending: Option<usize> = None;
    let mut record: Vec<u8> = Vec::new();
    let check =
        |decoder: &mut arrow_csv::reader::Decoder, at: usize, record: &[u8]| -> Option<Error> {
            decoder
                .flush()
                .err()
                .map(|e| line_error(spec, path, at, describe_csv(spec, path, layout, record, &e)))
        };
    while let Some((no, line)) = lines.next_line(path)? {
        if pending.is_none() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            pending = Some(no);
            record.clear();
        }
        record.extend_from_slice(line);
        let at = pending.unwrap_or(no);
        let mut rest = line;
        loop {
            let n = match decoder.decode(rest) {
                Ok(n) => n,
                Err(e) => return Ok(Some(line_error(spec, path, at, describe_csv_shape(&e)))),
            };
            rest = &rest[n..];
            if decoder.capacity() == 0 {
                if let Some(e) = check(&mut decoder, at, &record) {
                    return Ok(Some(e));
                }
                pending = None;
                record.clear();
            }
            if rest.is_empty() || n == 0 {
                break;
            }
        }
    }
    if let Some(at) = pending {
        if let Err(e) = decoder.decode(&[]) {
            return Ok(Some(line_error(spec, path, at, describe_csv_shape(&e))));
        }
        if let Some(e) = check(&mut decoder, at, &record) {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

fn describe_csv_shape(e: &ArrowError) -> String {
    let msg = arrow_message(e);
    match msg.split_once("incorrect number of fields for line ") {
        Some((_, rest)) => match rest.split_once(", ") {
            Some((_, counts)) => format!("wrong number of fields: {counts}"),
            None => msg,
        },
        None => msg,
    }
}

/// Names the field of a CSV record that does not parse.
fn describe_csv(
    spec: &FileReadSpec,
    path: &Path,
    layout: &CsvLayout,
    record: &[u8],
    e: &ArrowError,
) -> String {
    let fallback = arrow_message(e);
    let all_strings: Vec<Field> = layout
        .file_schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    let decode_one = |schema: Vec<Field>| -> Result<Option<RecordBatch>, ArrowError> {
        let mut d = csv_decoder(spec, path, Arc::new(Schema::new(schema)), false, None, 1);
        d.decode(record)?;
        d.decode(&[])?;
        d.flush()
    };
    let Ok(Some(text)) = decode_one(all_strings.clone()) else {
        return fallback;
    };
    for &col in &layout.projection {
        let field = layout.file_schema.field(col);
        let mut schema = all_strings.clone();
        schema[col] = field.clone();
        if decode_one(schema).is_ok() {
            continue;
        }
        let values = text.column(col).as_string::<i32>();
        let value = if values.is_null(0) {
            ""
        } else {
            values.value(0)
        };
        return if value.is_empty() && !field.is_nullable() {
            format!(
                "field `{}` is empty but declared `nullable: false`",
                field.name()
            )
        } else {
            format!(
                "field `{}`: value {value:?} is not a valid {} (the value does not match the schema)",
                field.name(),
                field.data_type()
            )
        };
    }
    fallback
}

/// Reads up to `limit` leading records of a JSON file as one batch (for inference).
pub(crate) fn sample_json(
    path: &Path,
    schema: SchemaRef,
    limit: usize,
) -> Result<Option<RecordBatch>> {
    let mut decoder = json_decoder(schema, limit.max(1), false)?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, open(path)?);
    loop {
        let buf = reader.fill_buf().map_err(|e| io_error(path, &e))?;
        let len = buf.len();
        let n = decoder.decode(buf)?;
        reader.consume(n);
        if len == 0 || n < len {
            break;
        }
    }
    if decoder.has_partial_record() {
        return Ok(None);
    }
    Ok(decoder.flush()?)
}
