//! Run history: one small Parquet file per run under `_braid/runs/`, so the
//! history is read like any other table (`read_parquet('<root>/_braid/runs/*.parquet')`).

use std::path::PathBuf;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{names, storage, Warehouse, WarehouseError};

impl Warehouse {
    /// Writes `<root>/_braid/runs/<run_id>.parquet` (one batch, usually one
    /// row) atomically; returns its path.
    pub fn write_run_history(
        &self,
        run_id: &str,
        batch: &RecordBatch,
    ) -> Result<PathBuf, WarehouseError> {
        names::validate("run id", run_id)?;
        let path = self.runs_dir().join(format!("{run_id}.parquet"));
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut bytes = Vec::new();
        let encode = (|| {
            let mut w = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props))?;
            w.write(batch)?;
            w.close().map(|_| ())
        })();
        encode?;
        storage::write_atomic(&path, &bytes)?;
        #[cfg(feature = "object-store")]
        if let Some(r) = self.remote() {
            let rel = format!("{}/{run_id}.parquet", crate::RUNS_DIR);
            r.upload(&path, &rel)?;
            return Ok(PathBuf::from(format!("{}/{rel}", r.uri())));
        }
        Ok(path)
    }

    /// Every run-history batch, in run-id order (UUIDv7: start order).
    pub fn read_run_history(&self) -> Result<Vec<RecordBatch>, WarehouseError> {
        let mut out = Vec::new();
        #[cfg(feature = "object-store")]
        if let Some(r) = self.remote() {
            for (key, _) in r.list(crate::RUNS_DIR)? {
                if !key.ends_with(".parquet") {
                    continue;
                }
                if let Some((bytes, _)) = r.get(&key)? {
                    let path = PathBuf::from(format!("{}/{key}", r.uri()));
                    out.extend(decode(&path, bytes)?);
                }
            }
            return Ok(out);
        }
        for path in storage::list_dir(&self.runs_dir())? {
            let is_parquet = path.extension().is_some_and(|e| e == "parquet");
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if !is_parquet || name.is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            let bytes = match storage::read_optional(&path)? {
                Some(b) => bytes::Bytes::from(b),
                None => continue,
            };
            out.extend(decode(&path, bytes)?);
        }
        Ok(out)
    }
}

fn decode(path: &std::path::Path, bytes: bytes::Bytes) -> Result<Vec<RecordBatch>, WarehouseError> {
    let corrupt = |e: &dyn std::fmt::Display| WarehouseError::Corrupt {
        path: path.to_path_buf(),
        message: format!("not a readable run-history file: {e}"),
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| corrupt(&e))?;
    let mut out = Vec::new();
    for batch in reader {
        out.push(batch.map_err(|e| corrupt(&e))?);
    }
    Ok(out)
}
