//! Parquet files of the derived layers.

use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::UnifyError;

/// Writes `batches` (all of `schema`) to `path` as zstd Parquet with
/// statistics, fsynced.
pub fn write_parquet(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<u64, UnifyError> {
    let file = fs::File::create(path).map_err(|e| UnifyError::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))
        .map_err(|e| UnifyError::parquet(path, e))?;
    let mut rows = 0;
    for b in batches {
        rows += b.num_rows() as u64;
        w.write(b).map_err(|e| UnifyError::parquet(path, e))?;
    }
    let file = w.into_inner().map_err(|e| UnifyError::parquet(path, e))?;
    file.sync_all().map_err(|e| UnifyError::io(path, e))?;
    Ok(rows)
}

/// Every batch of the Parquet file at `path`.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>, UnifyError> {
    let file = fs::File::open(path).map_err(|e| UnifyError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(|e| UnifyError::parquet(path, e))?;
    reader
        .map(|b| b.map_err(|e| UnifyError::parquet(path, e)))
        .collect()
}

/// `*.parquet` files under `dir`, recursively, sorted by path.
pub fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>, UnifyError> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)
            .map_err(|e| UnifyError::io(&d, e))?
            .flatten()
        {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to `root`, with `/`.
pub fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}
