//! Running one pipeline: every source read concurrently, each into its own
//! writer thread through a byte-bounded channel, committed at checkpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use braid_core::{
    ConfiguredStream, CursorValue, Message, ReadRequest, SourceState, StreamState, SyncMode,
};
use braid_pipeline::{Pipeline, SourceConfig};
use braid_warehouse::{RunInfo, StagedFile, StreamWriter, Warehouse, WriterOptions};
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::watch;
use tracing::Instrument;

use crate::budget::{self, BudgetReceiver};
use crate::report::{ErrorReport, RunReport, RunStatus, StreamReport};
use crate::tracker::StreamTracker;
use crate::{Registry, RunError};

/// Live counters of a running stream, for progress displays.
#[derive(Debug, Clone, Default)]
pub struct LiveStream {
    /// Rows landed so far in this run.
    pub rows: u64,
    /// Rows committed so far in this run.
    pub rows_committed: u64,
    /// Pages read so far.
    pub pages: u64,
    /// Whether the stream has finished.
    pub done: bool,
}

/// Live counters of a run, keyed by (source, stream); poll it for progress.
#[derive(Debug, Default)]
pub struct LiveStats {
    streams: Mutex<BTreeMap<(String, String), LiveStream>>,
}

impl LiveStats {
    /// A snapshot of every stream's counters.
    pub fn snapshot(&self) -> Vec<((String, String), LiveStream)> {
        let map = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn update(&self, source: &str, stream: &str, f: impl FnOnce(&mut LiveStream)) {
        let mut map = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        f(map
            .entry((source.to_owned(), stream.to_owned()))
            .or_default());
    }
}

/// How to run a pipeline.
#[derive(Clone)]
pub struct RunOptions {
    /// Flips to `true` to stop: streams commit at their next checkpoint, then the run ends.
    pub cancel: watch::Receiver<bool>,
    /// How long to wait for checkpoints after a stop before abandoning uncommitted data.
    pub grace: Duration,
    /// Live counters for progress displays.
    pub live: Arc<LiveStats>,
    /// Parquet writer settings.
    pub writer: WriterOptions,
    /// Re-pull a date range of the date/timestamp-cursor streams instead of
    /// reading on from the committed cursor; committed cursors are kept.
    pub backfill: Option<Backfill>,
}

/// A date range to re-pull (`braid run --backfill --from D --to D`), UTC days, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backfill {
    /// First day.
    pub from: chrono::NaiveDate,
    /// Last day.
    pub to: chrono::NaiveDate,
}

impl Backfill {
    /// The window's bounds as cursor values of `stream`'s cursor type
    /// (`[from, to + 1 day)`), or `None` if the stream has no date or
    /// timestamp cursor.
    pub fn bounds(
        &self,
        stream: &braid_core::StreamDescriptor,
    ) -> Option<(CursorValue, CursorValue)> {
        let field = stream.cursor_field.as_deref()?;
        let dt = stream
            .schema
            .field_with_name(field)
            .ok()?
            .data_type()
            .clone();
        let end = self.to.succ_opt()?;
        let micros = |d: chrono::NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_micros())
        };
        let days = |d: chrono::NaiveDate| {
            (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
        };
        match dt {
            arrow_schema::DataType::Timestamp(_, _) => Some((
                CursorValue::TimestampMicros(micros(self.from)?),
                CursorValue::TimestampMicros(micros(end)?),
            )),
            arrow_schema::DataType::Date32 | arrow_schema::DataType::Date64 => Some((
                CursorValue::Date(days(self.from)),
                CursorValue::Date(days(end)),
            )),
            _ => None,
        }
    }
}

impl RunOptions {
    /// Options with a cancel signal that never fires.
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        // Keep the sender alive for the life of the process so `changed()` never errors.
        std::mem::forget(tx);
        Self {
            cancel: rx,
            grace: Duration::from_secs(30),
            live: Arc::default(),
            writer: WriterOptions::default(),
            backfill: None,
        }
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `pipeline` into `warehouse`. Always returns a report; `Err` carries
/// the report of the failed run and its error. The report is also written to
/// `<warehouse>/_braid/runs/<run_id>.json`.
pub async fn run_pipeline(
    pipeline: &Pipeline,
    registry: &Registry,
    warehouse: &Warehouse,
    options: RunOptions,
) -> Result<RunReport, (RunReport, RunError)> {
    let run = RunInfo::new();
    let started = Instant::now();
    // One run of a pipeline per warehouse at a time, across processes and machines.
    let _lock = match warehouse.lock_pipeline(&pipeline.name) {
        Ok(l) => l,
        Err(e) => {
            let e = RunError::Warehouse(e);
            tracing::warn!(pipeline = %pipeline.name, error = %e, "not started");
            let report = RunReport {
                run_id: run.run_id.clone(),
                pipeline: pipeline.name.clone(),
                status: RunStatus::Failed,
                started_at: run.started_at,
                finished_at: Utc::now(),
                duration_ms: 0,
                streams: Vec::new(),
                error: Some(ErrorReport {
                    kind: e.kind().to_owned(),
                    message: e.to_string(),
                    exit_code: e.exit_code(),
                }),
            };
            return Err((report, e));
        }
    };
    tracing::info!(pipeline = %pipeline.name, run_id = %run.run_id, "run started");

    let run_span = tracing::info_span!("run", pipeline = %pipeline.name, run_id = %run.run_id);
    let mut tasks = Vec::new();
    for source in &pipeline.sources {
        let span = tracing::info_span!(parent: &run_span, "source", source = %source.name.value);
        tasks.push(
            run_source(pipeline, source, registry, warehouse, &run, options.clone())
                .instrument(span),
        );
    }
    let results = futures::future::join_all(tasks).instrument(run_span).await;

    let mut streams = Vec::new();
    let mut first_error: Option<RunError> = None;
    for (reports, error) in results {
        streams.extend(reports);
        if let Some(e) = error {
            // A real failure outranks an interruption it may have caused.
            let replace = match (&first_error, &e) {
                (None, _) => true,
                (Some(RunError::Interrupted), e) => !matches!(e, RunError::Interrupted),
                _ => false,
            };
            if replace {
                first_error = Some(e);
            }
        }
    }
    if let Err(e) = warehouse.discard_staging(&run.run_id) {
        tracing::warn!(error = %e, "could not remove the run's staging directory");
    }
    let status = match &first_error {
        None => RunStatus::Succeeded,
        Some(RunError::Interrupted) => RunStatus::Interrupted,
        Some(_) => RunStatus::Failed,
    };
    let report = RunReport {
        run_id: run.run_id.clone(),
        pipeline: pipeline.name.clone(),
        status,
        started_at: run.started_at,
        finished_at: Utc::now(),
        duration_ms: started.elapsed().as_millis() as u64,
        streams,
        error: first_error.as_ref().map(|e| ErrorReport {
            kind: e.kind().to_owned(),
            message: e.to_string(),
            exit_code: e.exit_code(),
        }),
    };
    match serde_json::to_vec_pretty(&report) {
        Ok(json) => {
            if let Err(e) = warehouse.write_run_report(&run.run_id, &json) {
                tracing::warn!(error = %e, "could not write the run report");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not serialise the run report"),
    }
    if let Err(e) = crate::history::write_history(warehouse, &report) {
        tracing::warn!(error = %e, "could not write the run history");
    }
    record_metrics(&report);
    match first_error {
        None => {
            tracing::info!(pipeline = %pipeline.name, run_id = %run.run_id, ms = report.duration_ms, "run succeeded");
            Ok(report)
        }
        Some(e) => {
            tracing::error!(pipeline = %pipeline.name, run_id = %run.run_id, error = %e, "run ended with an error");
            Err((report, e))
        }
    }
}

/// Counters and gauges of a finished run (exported by `braid serve --metrics-addr`).
fn record_metrics(report: &RunReport) {
    let status = match report.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    };
    let pipeline = report.pipeline.clone();
    for s in &report.streams {
        let labels = [
            ("pipeline", pipeline.clone()),
            ("source", s.source.clone()),
            ("stream", s.stream.clone()),
        ];
        metrics::counter!("braid_records_total", &labels).increment(s.rows_committed);
        metrics::counter!("braid_bytes_total", &labels).increment(s.bytes_committed);
    }
    metrics::counter!("braid_runs_total", "pipeline" => pipeline.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("braid_run_duration_seconds", "pipeline" => pipeline.clone(), "status" => status)
        .record(report.duration_ms as f64 / 1000.0);
    if report.status == RunStatus::Succeeded {
        metrics::gauge!("braid_last_success_timestamp_seconds", "pipeline" => pipeline)
            .set(report.finished_at.timestamp() as f64);
    }
}

/// Builds a pipeline source from its connector and config. Errors point at
/// the pipeline file's line and column.
pub fn build_source(
    pipeline: &Pipeline,
    source: &SourceConfig,
    registry: &Registry,
) -> Result<Box<dyn braid_core::Source>, RunError> {
    let connector = registry.get(&source.connector.value).map_err(|msg| {
        RunError::Config(
            pipeline
                .diagnostic(
                    source.connector.location,
                    format!("{}.connector", source.path),
                    msg,
                )
                .to_string(),
        )
    })?;
    connector.build(source.config.clone()).map_err(|e| match e {
        braid_core::Error::Config(msg) => RunError::Config(
            pipeline
                .diagnostic(
                    source.config_location,
                    format!("{}.config", source.path),
                    &msg,
                )
                .to_string(),
        ),
        other => RunError::Source {
            source_name: source.name.value.clone(),
            error: other,
        },
    })
}

/// Builds a source, selects its streams and returns them with their modes.
pub async fn prepare_source(
    pipeline: &Pipeline,
    source: &SourceConfig,
    registry: &Registry,
) -> Result<(Box<dyn braid_core::Source>, Vec<ConfiguredStream>), RunError> {
    let name = source.name.value.as_str();
    let built = build_source(pipeline, source, registry)?;
    let catalog = built.discover().await.map_err(|error| RunError::Source {
        source_name: name.to_owned(),
        error,
    })?;
    let mut selected = Vec::new();
    if source.streams.is_empty() {
        for s in &catalog.streams {
            selected.push(ConfiguredStream {
                stream: s.clone(),
                sync_mode: default_mode(s),
            });
        }
    } else {
        for sel in &source.streams {
            let Some(s) = catalog.stream(&sel.name.value) else {
                let known: Vec<&str> = catalog.streams.iter().map(|s| s.name.as_str()).collect();
                return Err(RunError::Config(
                    pipeline
                        .diagnostic(
                            sel.name.location,
                            sel.path.clone(),
                            format!(
                                "unknown stream `{}`; expected one of: {}",
                                sel.name.value,
                                known.join(", ")
                            ),
                        )
                        .to_string(),
                ));
            };
            let mode = sel.sync_mode.unwrap_or_else(|| default_mode(s));
            if !s.supports(mode) || (mode == SyncMode::Incremental && s.cursor_field.is_none()) {
                return Err(RunError::Config(
                    pipeline
                        .diagnostic(
                            sel.name.location,
                            sel.path.clone(),
                            format!("stream `{}` does not support {mode}", s.name),
                        )
                        .to_string(),
                ));
            }
            selected.push(ConfiguredStream {
                stream: s.clone(),
                sync_mode: mode,
            });
        }
    }
    Ok((built, selected))
}

fn default_mode(s: &braid_core::StreamDescriptor) -> SyncMode {
    if s.cursor_field.is_some() && s.supports(SyncMode::Incremental) {
        SyncMode::Incremental
    } else {
        SyncMode::FullRefresh
    }
}

enum Item {
    Msg(Message),
    /// Commit each stream at its next checkpoint.
    Interrupt,
    /// No more messages; `complete` when the source finished without error.
    End {
        complete: bool,
    },
}

async fn run_source(
    pipeline: &Pipeline,
    source_cfg: &SourceConfig,
    registry: &Registry,
    warehouse: &Warehouse,
    run: &RunInfo,
    options: RunOptions,
) -> (Vec<StreamReport>, Option<RunError>) {
    let source_name = source_cfg.name.value.clone();
    let (source, mut streams) = match prepare_source(pipeline, source_cfg, registry).await {
        Ok(v) => v,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let prior = match warehouse.load_state(&pipeline.name, &source_name) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e.into())),
    };
    // A backfill reads only the date-cursor streams, from the window's start.
    let mut read_state = prior.clone();
    if let Some(b) = &options.backfill {
        streams.retain(|c| {
            let eligible = c.sync_mode == SyncMode::Incremental && b.bounds(&c.stream).is_some();
            if !eligible {
                tracing::info!(source = %source_name, stream = %c.stream.name, "not a date-cursor stream; not backfilled");
            }
            eligible
        });
        if streams.is_empty() {
            return (
                Vec::new(),
                Some(RunError::Config(format!(
                    "--backfill: no incremental stream of source `{source_name}` has a date or timestamp cursor"
                ))),
            );
        }
        for c in &streams {
            if let Some((from, _)) = b.bounds(&c.stream) {
                let committed = prior.stream(&c.stream.name).cloned().unwrap_or_default();
                read_state.streams.insert(
                    c.stream.name.clone(),
                    StreamState {
                        cursor: Some(from),
                        boundary_keys: Vec::new(),
                        resume: None,
                        records_committed: committed.records_committed,
                    },
                );
            }
        }
    }
    let source_err = |error| RunError::Source {
        source_name: source_name.clone(),
        error,
    };
    let mut messages = match source
        .read(ReadRequest {
            streams: streams.clone(),
            state: read_state,
        })
        .await
    {
        Ok(m) => m,
        Err(e) => return (Vec::new(), Some(source_err(e))),
    };

    let (tx, rx) = budget::channel::<Item>(pipeline.options.buffer_bytes);
    let writer = {
        let ctx = WriterContext {
            pipeline: pipeline.name.clone(),
            source: source_name.clone(),
            warehouse: warehouse.clone(),
            run: run.clone(),
            options: options.clone(),
            commit_every_bytes: pipeline.options.commit_every_bytes,
            commit_every: Duration::from_secs(pipeline.options.commit_every_seconds),
            durable_resume: source.durable_resume(),
        };
        // Streams whose source re-reads (restates) a range below its cursor.
        let restated: BTreeMap<String, braid_core::CursorValue> = streams
            .iter()
            .filter(|c| c.sync_mode == SyncMode::Incremental)
            .filter_map(|c| {
                let before = prior.stream(&c.stream.name).cloned().unwrap_or_default();
                let from = source.restates_from(&c.stream.name, &before)?;
                Some((c.stream.name.clone(), from))
            })
            .collect();
        let streams = streams.clone();
        let prior = prior.clone();
        tokio::task::spawn_blocking(move || write_loop(ctx, streams, prior, restated, rx))
    };

    // Producer: forward messages, stop on error, cancel or end.
    let mut cancel = options.cancel.clone();
    let mut read_error = None;
    let mut interrupted = *cancel.borrow();
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut awaiting_checkpoint: BTreeMap<String, bool> = streams
        .iter()
        .map(|s| (s.stream.name.clone(), false))
        .collect();
    if interrupted {
        let _ = tx.send(Item::Interrupt, 0).await;
        deadline = Some(tokio::time::Instant::now() + options.grace);
    }
    let mut progress: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let complete = loop {
        if interrupted && awaiting_checkpoint.values().all(|waiting| !waiting) {
            break false;
        }
        let next = tokio::select! {
            m = messages.next() => m,
            _ = cancel.changed(), if !interrupted => {
                interrupted = true;
                tracing::warn!(source = %source_name, "stop requested: committing each stream at its next checkpoint");
                // Streams that never yielded need no checkpoint.
                let _ = tx.send(Item::Interrupt, 0).await;
                deadline = Some(tokio::time::Instant::now() + options.grace);
                continue;
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600))), if deadline.is_some() => {
                tracing::warn!(source = %source_name, "grace period over: abandoning data after the last checkpoint");
                break false;
            }
        };
        match next {
            None => break !interrupted,
            Some(Err(e)) => {
                read_error = Some(source_err(e));
                break false;
            }
            Some(Ok(Message::Progress {
                stream,
                pages,
                retries,
            })) => {
                // Counters ride along with the stream's next batch or checkpoint:
                // one wake-up of the writer per page would cost more than the page.
                let p = progress.entry(stream).or_default();
                p.0 += pages;
                p.1 += retries;
                continue;
            }
            Some(Ok(msg)) => {
                let (stream, bytes) = match &msg {
                    Message::Batch { stream, batch } => {
                        if let Some(w) = awaiting_checkpoint.get_mut(stream) {
                            *w = true;
                        }
                        (stream.clone(), batch.get_array_memory_size() as u64)
                    }
                    Message::Checkpoint { stream, .. } => {
                        if let Some(w) = awaiting_checkpoint.get_mut(stream) {
                            *w = false;
                        }
                        (stream.clone(), 0)
                    }
                    Message::Progress { stream, .. } => (stream.clone(), 0),
                };
                if let Some((pages, retries)) = progress.remove(&stream) {
                    let counters = Message::Progress {
                        stream,
                        pages,
                        retries,
                    };
                    if tx.send(Item::Msg(counters), 0).await.is_err() {
                        break false;
                    }
                }
                if tx.send(Item::Msg(msg), bytes).await.is_err() {
                    break false; // the writer failed; its error is reported below
                }
            }
        }
    };
    drop(messages);
    for (stream, (pages, retries)) in std::mem::take(&mut progress) {
        let _ = tx
            .send(
                Item::Msg(Message::Progress {
                    stream,
                    pages,
                    retries,
                }),
                0,
            )
            .await;
    }
    let _ = tx.send(Item::End { complete }, 0).await;
    drop(tx);
    let (reports, write_error) = match writer.await {
        Ok(v) => v,
        Err(e) => (
            Vec::new(),
            Some(RunError::Internal(format!("writer thread: {e}"))),
        ),
    };
    let error = write_error.or(read_error).or(if interrupted && !complete {
        Some(RunError::Interrupted)
    } else {
        None
    });
    (reports, error)
}

struct WriterContext {
    pipeline: String,
    source: String,
    warehouse: Warehouse,
    run: RunInfo,
    options: RunOptions,
    commit_every_bytes: u64,
    commit_every: Duration,
    /// The source's `resume` is its durable state (`Source::durable_resume`).
    durable_resume: bool,
}

struct Slot {
    configured: ConfiguredStream,
    tracker: StreamTracker,
    writer: Option<StreamWriter>,
    staged: Vec<StagedFile>,
    rows_landed: u64,
    rows_committed: u64,
    bytes_committed: u64,
    files_committed: u64,
    commits: u64,
    pages: u64,
    retries: u64,
    bytes_since_commit: u64,
    last_commit: Instant,
    /// When reading started (the stream's clock for the report).
    first_seen: Option<Instant>,
    last_seen: Option<Instant>,
    last_resume: Option<serde_json::Value>,
    /// No batch arrived since the last checkpoint: committing now is exact.
    at_checkpoint: bool,
}

fn write_loop(
    ctx: WriterContext,
    streams: Vec<ConfiguredStream>,
    prior: SourceState,
    restated: BTreeMap<String, braid_core::CursorValue>,
    mut rx: BudgetReceiver<Item>,
) -> (Vec<StreamReport>, Option<RunError>) {
    let mut committed = prior.clone();
    let mut slots: BTreeMap<String, Slot> = streams
        .into_iter()
        .map(|c| {
            let before = prior.stream(&c.stream.name).cloned().unwrap_or_default();
            let window = ctx
                .options
                .backfill
                .as_ref()
                .and_then(|b| b.bounds(&c.stream));
            let mut tracker = match window {
                Some((_, end)) => StreamTracker::backfill(&c.stream, before, end),
                None => StreamTracker::new(&c.stream, c.sync_mode, before),
            };
            if let Some(from) = restated.get(&c.stream.name) {
                tracker.restate_from(from);
            }
            (
                c.stream.name.clone(),
                Slot {
                    configured: c,
                    tracker,
                    writer: None,
                    staged: Vec::new(),
                    rows_landed: 0,
                    rows_committed: 0,
                    bytes_committed: 0,
                    files_committed: 0,
                    commits: 0,
                    pages: 0,
                    retries: 0,
                    bytes_since_commit: 0,
                    last_commit: Instant::now(),
                    first_seen: Some(Instant::now()),
                    last_seen: None,
                    last_resume: None,
                    at_checkpoint: false,
                },
            )
        })
        .collect();
    let mut interrupted = false;
    let mut error = None;

    while let Some(item) = rx.blocking_recv() {
        let step = match item.item {
            Item::Interrupt => {
                interrupted = true;
                // Streams resting at a checkpoint (finished ones included) commit now.
                let ready: Vec<String> = slots
                    .iter()
                    .filter(|(_, s)| s.at_checkpoint)
                    .map(|(n, _)| n.clone())
                    .collect();
                if ready.is_empty() {
                    Ok(())
                } else {
                    commit(&ctx, &mut committed, &mut slots, &ready, false)
                }
            }
            Item::End { complete } => {
                if complete {
                    let names: Vec<String> = slots.keys().cloned().collect();
                    if let Err(e) = commit(&ctx, &mut committed, &mut slots, &names, true) {
                        error = Some(e);
                    } else {
                        error = reconcile(&slots);
                    }
                }
                break;
            }
            Item::Msg(msg) => handle(&ctx, &mut committed, &mut slots, msg, interrupted),
        };
        if let Err(e) = step {
            error = Some(e);
            break;
        }
    }
    // Anything staged but not committed is abandoned; the run's staging dir is removed by the caller.
    let reports = slots
        .values()
        .map(|s| StreamReport {
            source: ctx.source.clone(),
            stream: s.configured.stream.name.clone(),
            sync_mode: s.configured.sync_mode,
            rows_pulled: s.tracker.rows_pulled,
            rows_deduplicated: s.tracker.rows_deduplicated,
            rows_landed: s.rows_landed,
            rows_committed: s.rows_committed,
            bytes_committed: s.bytes_committed,
            files_committed: s.files_committed,
            commits: s.commits,
            pages: s.pages,
            retries: s.retries,
            duration_ms: match (s.first_seen, s.last_seen) {
                (Some(a), Some(b)) => b.duration_since(a).as_millis() as u64,
                _ => 0,
            },
            state_before: s.tracker.committed().clone(),
            state_after: committed
                .stream(&s.configured.stream.name)
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    (reports, error)
}

fn handle(
    ctx: &WriterContext,
    committed: &mut SourceState,
    slots: &mut BTreeMap<String, Slot>,
    msg: Message,
    interrupted: bool,
) -> Result<(), RunError> {
    match msg {
        Message::Batch { stream, batch } => {
            let slot = slots.get_mut(&stream).ok_or_else(|| {
                RunError::data(
                    &stream,
                    "the connector yielded a stream that was not requested",
                )
            })?;
            slot.last_seen = Some(Instant::now());
            slot.at_checkpoint = false;
            let batch = slot.tracker.accept(batch)?;
            if batch.num_rows() == 0 {
                return Ok(());
            }
            if slot.writer.is_none() {
                slot.writer = Some(ctx.warehouse.stream_writer(
                    &ctx.run,
                    &ctx.source,
                    &stream,
                    slot.configured.stream.schema.clone(),
                    ctx.options.writer.clone(),
                )?);
            }
            let writer = slot.writer.as_mut().expect("writer created above");
            writer.write(&batch)?;
            slot.rows_landed += batch.num_rows() as u64;
            slot.bytes_since_commit += batch.get_array_memory_size() as u64;
            let (rows, committed_rows) = (slot.rows_landed, slot.rows_committed);
            ctx.options.live.update(&ctx.source, &stream, |l| {
                l.rows = rows;
                l.rows_committed = committed_rows;
            });
            Ok(())
        }
        Message::Checkpoint { stream, resume } => {
            let slot = slots.get_mut(&stream).ok_or_else(|| {
                RunError::data(&stream, "checkpoint for a stream that was not requested")
            })?;
            slot.last_seen = Some(Instant::now());
            slot.last_resume = resume;
            slot.at_checkpoint = true;
            let due = interrupted
                || slot.bytes_since_commit >= ctx.commit_every_bytes
                || slot.last_commit.elapsed() >= ctx.commit_every;
            if due {
                commit(ctx, committed, slots, &[stream], false)?;
            }
            Ok(())
        }
        Message::Progress {
            stream,
            pages,
            retries,
        } => {
            if let Some(slot) = slots.get_mut(&stream) {
                slot.last_seen = Some(Instant::now());
                slot.pages += pages;
                slot.retries += retries;
                let p = slot.pages;
                ctx.options
                    .live
                    .update(&ctx.source, &stream, |l| l.pages = p);
            }
            Ok(())
        }
    }
}

/// Commits the named streams: their staged files and their new state, in one atomic step.
fn commit(
    ctx: &WriterContext,
    committed: &mut SourceState,
    slots: &mut BTreeMap<String, Slot>,
    names: &[String],
    at_end: bool,
) -> Result<(), RunError> {
    let mut next = committed.clone();
    let mut files = Vec::new();
    let mut per_stream: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for name in names {
        let slot = slots.get_mut(name).expect("slot exists");
        if let Some(w) = slot.writer.as_mut() {
            if let Some(f) = w.finish_file()? {
                slot.staged.push(f);
            }
        }
        let staged_rows: u64 = slot.staged.iter().map(|f| f.rows).sum();
        let before = slot.tracker.committed().records_committed;
        let total = before + slot.rows_committed + staged_rows;
        // At the end of a complete read the stream is done: no resume point,
        // unless the resume is the connector's own state of an incremental stream.
        let keep = ctx.durable_resume && slot.configured.sync_mode == SyncMode::Incremental;
        let resume = if at_end && !keep {
            None
        } else {
            slot.last_resume.clone()
        };
        next.streams
            .insert(name.clone(), slot.tracker.checkpoint_state(resume, total));
        per_stream.insert(
            name.clone(),
            (
                slot.staged.len() as u64,
                slot.staged.iter().map(|f| f.bytes).sum(),
            ),
        );
        files.append(&mut slot.staged);
    }
    let outcome = ctx
        .warehouse
        .commit(&ctx.pipeline, &ctx.source, &next, files)?;
    *committed = next;
    for name in names {
        let slot = slots.get_mut(name).expect("slot exists");
        let (n_files, bytes) = per_stream.get(name).copied().unwrap_or_default();
        slot.commits += 1;
        slot.files_committed += n_files;
        slot.bytes_committed += bytes;
        slot.bytes_since_commit = 0;
        slot.last_commit = Instant::now();
        let before = slot.tracker.committed().records_committed;
        let total = committed
            .stream(name)
            .map(|s| s.records_committed)
            .unwrap_or(0);
        slot.rows_committed = total - before;
        let (done, rows_committed) = (at_end, slot.rows_committed);
        ctx.options.live.update(&ctx.source, name, |l| {
            l.done |= done;
            l.rows_committed = rows_committed;
        });
    }
    tracing::debug!(source = %ctx.source, streams = ?names, rows = outcome.rows, "committed");
    Ok(())
}

/// Checks that what was pulled, landed and committed add up for every stream.
fn reconcile(slots: &BTreeMap<String, Slot>) -> Option<RunError> {
    for (name, s) in slots {
        let expected = s.tracker.rows_pulled - s.tracker.rows_deduplicated;
        if expected != s.rows_landed || s.rows_landed != s.rows_committed {
            return Some(RunError::Internal(format!(
                "stream `{name}` does not reconcile: pulled {} - deduplicated {} != landed {} or committed {}",
                s.tracker.rows_pulled, s.tracker.rows_deduplicated, s.rows_landed, s.rows_committed
            )));
        }
    }
    None
}
