//! The per-stream Parquet writer: lineage columns, timestamp normalisation,
//! size-bounded row groups, one staged file at a time.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, RecordBatch, RecordBatchOptions, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::error::IoContext;
use crate::{storage, Warehouse, WarehouseError};

/// Lineage column: the source name (Utf8).
pub const SOURCE_COLUMN: &str = "_braid_source";
/// Lineage column: the run id (Utf8).
pub const RUN_ID_COLUMN: &str = "_braid_run_id";
/// Lineage column: the run start, `Timestamp(Microsecond, "UTC")`.
pub const INGESTED_AT_COLUMN: &str = "_braid_ingested_at";

/// Parquet key-value metadata key holding the stream name.
pub const STREAM_METADATA_KEY: &str = "braid.stream";

/// Tuning of a [`StreamWriter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterOptions {
    /// Flush a row group once its estimated encoded size passes this many bytes.
    pub row_group_bytes: usize,
    /// Flush a row group once it holds this many rows.
    pub row_group_rows: usize,
    /// zstd compression level (1..=22).
    pub zstd_level: i32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            row_group_bytes: 64 * 1024 * 1024,
            row_group_rows: 1_048_576,
            zstd_level: 3,
        }
    }
}

impl WriterOptions {
    fn properties(
        &self,
        source: &str,
        stream: &str,
        run_id: &str,
    ) -> Result<WriterProperties, WarehouseError> {
        if self.row_group_bytes == 0 || self.row_group_rows == 0 {
            return Err(WarehouseError::InvalidOptions(
                "row_group_bytes and row_group_rows must be positive".into(),
            ));
        }
        let level = ZstdLevel::try_new(self.zstd_level).map_err(|_| {
            WarehouseError::InvalidOptions(format!(
                "zstd level {} is not in 1..=22",
                self.zstd_level
            ))
        })?;
        Ok(WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_dictionary_enabled(true)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(Some(self.row_group_bytes))
            .set_created_by(format!("braid-warehouse {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("braid.source".to_owned(), source.to_owned()),
                KeyValue::new(STREAM_METADATA_KEY.to_owned(), stream.to_owned()),
                KeyValue::new("braid.run_id".to_owned(), run_id.to_owned()),
            ]))
            .build())
    }
}

/// A closed Parquet file in staging, waiting for [`Warehouse::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Where the file is now, under `<root>/_braid/staging/<run_id>/`.
    pub staged: PathBuf,
    /// Where the commit will publish it, under `<root>/raw/`.
    pub final_path: PathBuf,
    /// Data rows in the file.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// The stream the file belongs to.
    pub stream: String,
}

struct OpenFile {
    writer: ArrowWriter<File>,
    staged: PathBuf,
    final_path: PathBuf,
    rows: u64,
}

/// Writes the record batches of one stream of one run to staged Parquet files.
///
/// Files are opened lazily by [`StreamWriter::write`] and closed by
/// [`StreamWriter::finish_file`]; the next write opens the next file. A file
/// is only visible under `raw/` once committed. If a write fails, the current
/// file is unusable: fail the run and call [`Warehouse::discard_staging`].
pub struct StreamWriter {
    warehouse: Warehouse,
    run_id: String,
    source: String,
    stream: String,
    ingest_date: String,
    ingested_at_us: i64,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// Per input column, the landed type when it differs (ns timestamps).
    casts: Vec<Option<DataType>>,
    props: WriterProperties,
    options: WriterOptions,
    current: Option<OpenFile>,
    rows_written: u64,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("run_id", &self.run_id)
            .field("source", &self.source)
            .field("stream", &self.stream)
            .field("open_file", &self.current.as_ref().map(|c| &c.staged))
            .field("rows_written", &self.rows_written)
            .finish()
    }
}

impl StreamWriter {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        warehouse: Warehouse,
        run_id: &str,
        started_at: chrono::DateTime<chrono::Utc>,
        source: &str,
        stream: &str,
        schema: SchemaRef,
        options: WriterOptions,
    ) -> Result<Self, WarehouseError> {
        for f in schema.fields() {
            if [SOURCE_COLUMN, RUN_ID_COLUMN, INGESTED_AT_COLUMN].contains(&f.name().as_str()) {
                return Err(WarehouseError::ReservedField {
                    stream: stream.to_owned(),
                    field: f.name().clone(),
                });
            }
        }
        let props = options.properties(source, stream, run_id)?;
        let mut casts = Vec::with_capacity(schema.fields().len());
        let mut fields: Vec<FieldRef> = Vec::with_capacity(schema.fields().len() + 3);
        for f in schema.fields() {
            let landed = landed_type(f.data_type());
            if landed != *f.data_type() {
                fields.push(Arc::new(f.as_ref().clone().with_data_type(landed.clone())));
                casts.push(Some(landed));
            } else {
                fields.push(f.clone());
                casts.push(None);
            }
        }
        fields.push(Arc::new(Field::new(SOURCE_COLUMN, DataType::Utf8, false)));
        fields.push(Arc::new(Field::new(RUN_ID_COLUMN, DataType::Utf8, false)));
        fields.push(Arc::new(Field::new(
            INGESTED_AT_COLUMN,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )));
        let output_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        Ok(StreamWriter {
            warehouse,
            run_id: run_id.to_owned(),
            source: source.to_owned(),
            stream: stream.to_owned(),
            ingest_date: started_at.format("%Y-%m-%d").to_string(),
            ingested_at_us: started_at.timestamp_micros(),
            input_schema: schema,
            output_schema,
            casts,
            props,
            options,
            current: None,
            rows_written: 0,
        })
    }

    /// Append `batch` to the current staged file (opening one if needed), with
    /// the lineage columns added. A batch whose schema differs from the
    /// writer's is refused with [`WarehouseError::SchemaMismatch`]; a field the
    /// batch declares non-nullable may land in a nullable column.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), WarehouseError> {
        self.check_schema(batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Taken out while writing: if a write fails, the damaged file is
        // dropped (left in staging, never committed) and the next write
        // starts a new one.
        let mut open = match self.current.take() {
            Some(open) => open,
            None => self.open_file()?,
        };
        let chunk_rows = self.chunk_rows(batch);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let len = chunk_rows.min(batch.num_rows() - offset);
            let chunk = self.landed_batch(&batch.slice(offset, len))?;
            open.writer.write(&chunk)?;
            if open.writer.in_progress_size() >= self.options.row_group_bytes
                || open.writer.in_progress_rows() >= self.options.row_group_rows
            {
                open.writer.flush()?;
            }
            offset += len;
        }
        let n = batch.num_rows() as u64;
        open.rows += n;
        self.rows_written += n;
        self.current = Some(open);
        Ok(())
    }

    /// Close the current staged file and return it for a commit; `None` if
    /// nothing was written since the last call. The file is complete and
    /// fsynced when this returns.
    pub fn finish_file(&mut self) -> Result<Option<StagedFile>, WarehouseError> {
        let Some(open) = self.current.take() else {
            return Ok(None);
        };
        let file = open.writer.into_inner()?;
        file.sync_all().at(&open.staged)?;
        let bytes = file.metadata().at(&open.staged)?.len();
        drop(file);
        if let Some(dir) = open.staged.parent() {
            storage::sync_dir(dir)?;
        }
        tracing::debug!(stream = %self.stream, path = %open.staged.display(), rows = open.rows, bytes, "staged file closed");
        Ok(Some(StagedFile {
            staged: open.staged,
            final_path: open.final_path,
            rows: open.rows,
            bytes,
            stream: self.stream.clone(),
        }))
    }

    /// Bytes held in memory by the open file's in-progress row group.
    pub fn buffered_bytes(&self) -> usize {
        self.current.as_ref().map_or(0, |c| c.writer.memory_size())
    }

    /// Rows written by this writer, over all its files.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// Rows in the currently open staged file (0 if none is open).
    pub fn open_file_rows(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.rows)
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The schema batches must have.
    pub fn schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The schema of the landed files: the stream's columns (ns timestamps as
    /// µs) followed by the lineage columns.
    pub fn landed_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    fn check_schema(&self, batch: &RecordBatch) -> Result<(), WarehouseError> {
        let expected = self.input_schema.fields();
        let got = batch.schema_ref().fields();
        let mismatch = |field: &str, message: String| WarehouseError::SchemaMismatch {
            stream: self.stream.clone(),
            field: field.to_owned(),
            message,
        };
        for (i, e) in expected.iter().enumerate() {
            let Some(g) = got.get(i) else {
                return Err(mismatch(e.name(), "missing from the batch".into()));
            };
            if g.name() != e.name() {
                return Err(mismatch(
                    e.name(),
                    format!(
                        "expected at position {i}, the batch has {:?} there",
                        g.name()
                    ),
                ));
            }
            if g.data_type() != e.data_type() {
                return Err(mismatch(
                    e.name(),
                    format!(
                        "expected type {}, the batch has {}",
                        e.data_type(),
                        g.data_type()
                    ),
                ));
            }
            if g.is_nullable() && !e.is_nullable() {
                return Err(mismatch(
                    e.name(),
                    "declared non-nullable, the batch's field is nullable".into(),
                ));
            }
        }
        if let Some(extra) = got.get(expected.len()) {
            return Err(mismatch(extra.name(), "not in the stream's schema".into()));
        }
        Ok(())
    }

    /// Rows per chunk handed to the Parquet writer, so that one huge batch
    /// still yields row groups near the byte threshold.
    fn chunk_rows(&self, batch: &RecordBatch) -> usize {
        let per_row = (batch.get_array_memory_size() / batch.num_rows().max(1)).max(1);
        (self.options.row_group_bytes / 8 / per_row).clamp(1, self.options.row_group_rows)
    }

    fn landed_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, WarehouseError> {
        let n = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output_schema.fields().len());
        for (col, cast) in batch.columns().iter().zip(&self.casts) {
            columns.push(match cast {
                Some(to) => arrow_cast::cast(col, to)?,
                None => col.clone(),
            });
        }
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.source, n),
        )));
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(&self.run_id, n),
        )));
        columns.push(Arc::new(
            TimestampMicrosecondArray::from_value(self.ingested_at_us, n).with_timezone("UTC"),
        ));
        Ok(RecordBatch::try_new_with_options(
            self.output_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?)
    }

    fn open_file(&mut self) -> Result<OpenFile, WarehouseError> {
        let (staged, final_path) = self.warehouse.allocate_file(
            &self.run_id,
            &self.source,
            &self.stream,
            &self.ingest_date,
        )?;
        let file = storage::create_new(&staged)?;
        let writer =
            ArrowWriter::try_new(file, self.output_schema.clone(), Some(self.props.clone()))?;
        tracing::debug!(stream = %self.stream, path = %staged.display(), "staged file opened");
        Ok(OpenFile {
            writer,
            staged,
            final_path,
            rows: 0,
        })
    }
}

/// The type a column lands as: nanosecond timestamps become microseconds
/// (time zone kept), also inside lists, structs, maps and dictionaries.
pub(crate) fn landed_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
        }
        DataType::List(f) => DataType::List(landed_field(f)),
        DataType::LargeList(f) => DataType::LargeList(landed_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(landed_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(landed_fields(fields)),
        DataType::Map(f, sorted) => DataType::Map(landed_field(f), *sorted),
        DataType::Dictionary(k, v) => DataType::Dictionary(k.clone(), Box::new(landed_type(v))),
        other => other.clone(),
    }
}

fn landed_field(f: &FieldRef) -> FieldRef {
    let t = landed_type(f.data_type());
    if t == *f.data_type() {
        f.clone()
    } else {
        Arc::new(f.as_ref().clone().with_data_type(t))
    }
}

fn landed_fields(fields: &Fields) -> Fields {
    fields.iter().map(landed_field).collect()
}
