//! `braid serve`: every pipeline of a directory on its cron schedule.
//!
//! The directory is rescanned every `--reload-seconds`: added, changed and
//! removed files take effect without a restart; a file that does not
//! validate is reported (file:line:column) and skipped while the others keep
//! running. Scheduling rules (no overlaps, retries, global limit, catch-up,
//! graceful stop) live in `braid-scheduler`; this module feeds it pipelines
//! and runs them.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use braid_runtime::{exit_code, RunError, RunOptions};
use braid_scheduler::{CatchUp, Command, Event, Job, Policy, RunOutcome, Runner, Scheduler};
use braid_warehouse::Warehouse;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// What `braid serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeArgs {
    /// Directory of pipeline files.
    pub dir: PathBuf,
    /// Warehouse (directory or object-store URI) overriding each pipeline's `warehouse`.
    pub warehouse: Option<String>,
    /// Scheduling policy.
    pub policy: Policy,
    /// How often the directory is rescanned.
    pub reload_every: Duration,
    /// Where Prometheus metrics and `/healthz` are served.
    pub metrics_addr: Option<SocketAddr>,
}

/// Pipeline name → the file it was read from.
type Files = Arc<Mutex<BTreeMap<String, PathBuf>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens each warehouse root once and shares it between runs.
#[derive(Clone, Default)]
struct Warehouses {
    open: Arc<Mutex<HashMap<String, Warehouse>>>,
}

impl Warehouses {
    fn get(&self, location: &str) -> Result<Warehouse, braid_warehouse::WarehouseError> {
        let mut open = lock(&self.open);
        if let Some(w) = open.get(location) {
            return Ok(w.clone());
        }
        let w = Warehouse::open_location(location)?;
        open.insert(location.to_owned(), w.clone());
        Ok(w)
    }
}

fn warehouse_root(over: &Option<String>, pipeline: &braid_pipeline::Pipeline) -> String {
    over.clone()
        .or_else(|| pipeline.warehouse.clone())
        .unwrap_or_else(|| "warehouse".into())
}

struct PipelineRunner {
    files: Files,
    warehouse: Option<String>,
    warehouses: Warehouses,
}

#[async_trait]
impl Runner for PipelineRunner {
    async fn run(&self, job: &str, attempt: u32, cancel: watch::Receiver<bool>) -> RunOutcome {
        let Some(file) = lock(&self.files).get(job).cloned() else {
            return RunOutcome::Failed {
                retryable: false,
                message: format!("pipeline {job} is no longer in the directory"),
            };
        };
        // Read afresh: the file may have changed since it was scheduled.
        let Some(pipeline) = super::load(&file, &super::process_env) else {
            return RunOutcome::Failed {
                retryable: false,
                message: format!("{} does not validate", file.display()),
            };
        };
        let root = warehouse_root(&self.warehouse, &pipeline);
        let wh = match self.warehouses.get(&root) {
            Ok(w) => w,
            Err(e) => {
                return RunOutcome::Failed {
                    retryable: true,
                    message: format!("warehouse {root}: {e}"),
                }
            }
        };
        let mut options = RunOptions::new();
        options.cancel = cancel;
        let span = tracing::info_span!("run", pipeline = %pipeline.name, attempt);
        let registry = super::registry_for(&file);
        let result = braid_runtime::run_pipeline(&pipeline, &registry, &wh, options)
            .instrument(span)
            .await;
        match result {
            Ok(_) => RunOutcome::Succeeded,
            Err((_, RunError::Interrupted)) => RunOutcome::Interrupted,
            Err((_, e)) if e.kind() == "locked" => {
                tracing::warn!(pipeline = %pipeline.name, error = %e, "skipped: running elsewhere");
                RunOutcome::Succeeded
            }
            Err((_, e)) => RunOutcome::Failed {
                retryable: matches!(e.kind(), "rate_limit" | "transient" | "warehouse"),
                message: e.to_string(),
            },
        }
    }
}

/// What the watcher knows of one file.
struct Seen {
    hash: u64,
    /// The pipeline it defines, if it validated and is scheduled.
    pipeline: Option<String>,
}

struct Watcher {
    dir: PathBuf,
    warehouse: Option<String>,
    warehouses: Warehouses,
    files: Files,
    seen: BTreeMap<PathBuf, Seen>,
    commands: mpsc::Sender<Command>,
}

impl Watcher {
    async fn scan(&mut self) {
        let mut present: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect(),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the pipeline directory");
                return;
            }
        };
        present.sort();
        let gone: Vec<PathBuf> = self
            .seen
            .keys()
            .filter(|p| !present.contains(p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(Seen {
                pipeline: Some(name),
                ..
            }) = self.seen.remove(&path)
            {
                tracing::info!(file = %path.display(), pipeline = %name, "pipeline file removed");
                self.unschedule(&name).await;
            }
        }
        for path in present {
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            let hash = h.finish();
            if self.seen.get(&path).is_some_and(|s| s.hash == hash) {
                continue;
            }
            let previous = self.seen.remove(&path).and_then(|s| s.pipeline);
            let scheduled = self.consider(&path, hash).await;
            if let Some(old) = previous {
                if scheduled.as_deref() != Some(old.as_str()) {
                    self.unschedule(&old).await;
                }
            }
            self.seen.insert(
                path,
                Seen {
                    hash,
                    pipeline: scheduled,
                },
            );
        }
    }

    async fn unschedule(&self, name: &str) {
        lock(&self.files).remove(name);
        let _ = self.commands.send(Command::Remove(name.to_owned())).await;
    }

    /// Validates a new or changed file and schedules it; the pipeline name
    /// if it was scheduled.
    async fn consider(&mut self, path: &Path, hash: u64) -> Option<String> {
        let Some(pipeline) = super::load(path, &super::process_env) else {
            tracing::error!(file = %path.display(), "pipeline file does not validate; skipped (the others keep running)");
            return None;
        };
        let registry = super::registry_for(path);
        let mut ok = true;
        for source in &pipeline.sources {
            if let Err(e) = braid_runtime::build_source(&pipeline, source, &registry) {
                eprintln!("{e}");
                ok = false;
            }
        }
        if !ok {
            tracing::error!(file = %path.display(), "pipeline file does not validate; skipped (the others keep running)");
            return None;
        }
        let Some(schedule) = pipeline.schedule.clone() else {
            tracing::info!(file = %path.display(), pipeline = %pipeline.name, "no schedule: not run by serve");
            return None;
        };
        if let Some(other) = lock(&self.files).get(&pipeline.name) {
            if other != path {
                tracing::error!(
                    file = %path.display(), other = %other.display(), pipeline = %pipeline.name,
                    "two files define the same pipeline name; this one is skipped"
                );
                return None;
            }
        }
        let root = warehouse_root(&self.warehouse, &pipeline);
        let last_started = self
            .warehouses
            .get(&root)
            .ok()
            .and_then(|w| braid_runtime::read_history(&w, Some(&pipeline.name)).ok())
            .and_then(|runs| runs.last().map(|r| r.started_at));
        lock(&self.files).insert(pipeline.name.clone(), path.to_path_buf());
        let job = Job {
            name: pipeline.name.clone(),
            schedule,
            revision: hash,
            last_started,
        };
        let _ = self.commands.send(Command::Upsert(Box::new(job))).await;
        Some(pipeline.name)
    }
}

/// Serves `/metrics` (Prometheus text) and `/healthz`.
async fn serve_metrics(
    addr: SocketAddr,
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<()> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    tracing::info!(%addr, "metrics on /metrics, health on /healthz");
    let app = axum::Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(())
}

/// Counts scheduler events as metrics.
async fn count_events(mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(e) = events.recv().await {
        match e {
            Event::SkippedOverlap { job, .. } => {
                metrics::counter!("braid_scheduler_skipped_runs_total", "pipeline" => job)
                    .increment(1)
            }
            Event::RetryScheduled { job, .. } => {
                metrics::counter!("braid_scheduler_retries_total", "pipeline" => job).increment(1)
            }
            Event::Started { job, .. } => {
                metrics::gauge!("braid_runs_in_progress", "pipeline" => job).increment(1.0)
            }
            Event::Finished { job, .. } => {
                metrics::gauge!("braid_runs_in_progress", "pipeline" => job).decrement(1.0)
            }
        }
    }
}

/// Runs `braid serve` until SIGTERM/SIGINT, then stops gracefully.
pub async fn serve(args: ServeArgs) -> anyhow::Result<i32> {
    if !args.dir.is_dir() {
        eprintln!(
            "error: {} is not a directory of pipeline files",
            args.dir.display()
        );
        return Ok(exit_code::CONFIG);
    }
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    if let Some(addr) = args.metrics_addr {
        if let Err(e) = serve_metrics(addr, handle).await {
            eprintln!("error: {e:#}");
            return Ok(exit_code::CONFIG);
        }
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        super::wait_for_signal().await;
        eprintln!("stop requested: no new runs; running ones commit at their next checkpoint (again to abort)");
        let _ = shutdown_tx.send(true);
        super::wait_for_signal().await;
        eprintln!("aborted; uncommitted data is discarded on the next start");
        std::process::exit(exit_code::INTERRUPTED);
    });

    let files: Files = Arc::default();
    let warehouses = Warehouses::default();
    let (commands, command_rx) = mpsc::channel(256);
    let mut watcher = Watcher {
        dir: args.dir.clone(),
        warehouse: args.warehouse.clone(),
        warehouses: warehouses.clone(),
        files: files.clone(),
        seen: BTreeMap::new(),
        commands,
    };
    let mut stop_watching = shutdown_rx.clone();
    let reload_every = args.reload_every;
    let watch_task = tokio::spawn(async move {
        loop {
            watcher.scan().await;
            tokio::select! {
                _ = tokio::time::sleep(reload_every) => {}
                _ = stop_watching.wait_for(|s| *s) => break,
            }
        }
    });
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    tokio::spawn(count_events(event_rx));
    tracing::info!(
        dir = %args.dir.display(),
        max_concurrent_runs = args.policy.max_concurrent_runs,
        catch_up = ?args.policy.catch_up,
        "serving pipelines"
    );
    let runner = PipelineRunner {
        files,
        warehouse: args.warehouse,
        warehouses,
    };
    Scheduler::new(runner, args.policy)
        .events(event_tx)
        .run(command_rx, shutdown_rx)
        .await;
    watch_task.abort();
    eprintln!("braid serve stopped");
    Ok(exit_code::OK)
}

/// `--catch-up` values.
pub fn parse_catch_up(s: &str) -> Result<CatchUp, String> {
    match s {
        "skip" => Ok(CatchUp::Skip),
        "once" | "run_once" | "run-once" => Ok(CatchUp::RunOnce),
        other => Err(format!(
            "unknown catch-up policy {other:?}: use skip or once"
        )),
    }
}
