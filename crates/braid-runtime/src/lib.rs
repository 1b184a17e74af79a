//! Runs braid pipelines: builds each source from the [`Registry`], reads its
//! streams, de-duplicates the cursor boundary, lands batches through a
//! byte-bounded channel into the warehouse's writers, and commits data and
//! state together at checkpoints.

pub mod budget;
mod error;
mod history;
mod registry;
mod report;
mod run;
mod tracker;

pub use error::{exit_code, RunError};
pub use history::{history_batch, history_schema, read_history, write_history, RunSummary};
pub use registry::Registry;
pub use report::{ErrorReport, RunReport, RunStatus, StreamReport};
pub use run::{
    build_source, prepare_source, run_pipeline, Backfill, LiveStats, LiveStream, RunOptions,
};
pub use tracker::StreamTracker;
