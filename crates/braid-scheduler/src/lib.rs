//! Cron scheduling of pipeline runs, for `braid serve`.
//!
//! A [`Scheduler`] holds [`Job`]s (a name and a [`Schedule`]: cron in an
//! IANA time zone) and starts each through a [`Runner`] when it is due:
//!
//! - **No overlaps**: a job still running when its next occurrence comes is
//!   not started again; the occurrence is skipped and logged.
//! - **A global limit** on concurrent runs: due jobs beyond it wait in order.
//! - **Retries** of a failed run with exponential backoff and jitter
//!   (`backon`), when the failure may pass (rate limits, vendor outages).
//! - **Catch-up** after downtime: with [`CatchUp::RunOnce`], a job whose
//!   last run is older than an occurrence that was missed runs once at
//!   start; [`CatchUp::Skip`] waits for the next occurrence.
//! - **Changes without restart**: [`Command::Upsert`] adds or replaces a
//!   job, [`Command::Remove`] drops it (a run in flight finishes).
//! - **Graceful stop**: when `shutdown` flips, no run starts any more; the
//!   running ones get their cancel signal (they commit at their next
//!   checkpoint) and [`Scheduler::run`] returns when they have ended.
//!
//! Wall-clock time comes from a [`Clock`], so tests drive it with tokio's
//! paused time.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use braid_pipeline::Schedule;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

#[cfg(test)]
mod tests;

/// What to do about occurrences missed while the scheduler was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    /// Wait for the next occurrence.
    #[default]
    Skip,
    /// Run once at start if any occurrence since the last run was missed.
    RunOnce,
}

/// Scheduler-wide settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Runs at once across all jobs (at least 1).
    pub max_concurrent_runs: usize,
    /// Retries of a failed run whose failure may pass.
    pub max_retries: u32,
    /// First retry delay.
    pub min_backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
    /// Missed occurrences after downtime.
    pub catch_up: CatchUp,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_concurrent_runs: 2,
            max_retries: 3,
            min_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(15 * 60),
            catch_up: CatchUp::Skip,
        }
    }
}

/// A scheduled job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Unique name (the pipeline name).
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// Changes when the job's definition changes (e.g. a hash of the file),
    /// so an unchanged [`Command::Upsert`] keeps the job's timing.
    pub revision: u64,
    /// When the job last started, from the run history (for catch-up).
    pub last_started: Option<DateTime<Utc>>,
}

/// A change to the set of jobs.
#[derive(Debug, Clone)]
pub enum Command {
    /// Add a job, or replace the job of that name.
    Upsert(Box<Job>),
    /// Drop the job of that name.
    Remove(String),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// It succeeded.
    Succeeded,
    /// It failed; `retryable` if trying again later may succeed.
    Failed {
        /// Whether a retry may succeed.
        retryable: bool,
        /// What went wrong (no secrets).
        message: String,
    },
    /// It stopped because it was cancelled.
    Interrupted,
}

/// Runs a job once.
#[async_trait]
pub trait Runner: Send + Sync + 'static {
    /// Runs `job`; `attempt` is 0 for a scheduled run, n for its n-th retry.
    /// `cancel` flips to `true` when the scheduler stops.
    async fn run(&self, job: &str, attempt: u32, cancel: watch::Receiver<bool>) -> RunOutcome;
}

/// Wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Wall-clock time that follows tokio's clock from `base` (for tests with
/// paused time).
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `base` now.
    pub fn starting_at(base: DateTime<Utc>) -> Self {
        TokioClock {
            base,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start;
        self.base + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// Something the scheduler did, for logs, metrics and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A run started.
    Started {
        /// Job name.
        job: String,
        /// 0 for a scheduled run, n for the n-th retry.
        attempt: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// A run ended.
    Finished {
        /// Job name.
        job: String,
        /// How.
        outcome: RunOutcome,
        /// When.
        at: DateTime<Utc>,
    },
    /// An occurrence was skipped because the previous run was still going.
    SkippedOverlap {
        /// Job name.
        job: String,
        /// The occurrence.
        at: DateTime<Utc>,
    },
    /// A failed run will be retried.
    RetryScheduled {
        /// Job name.
        job: String,
        /// The retry's attempt number.
        attempt: u32,
        /// When it will start.
        at: DateTime<Utc>,
    },
}

struct JobState {
    job: Job,
    /// Next scheduled occurrence.
    next_due: Option<DateTime<Utc>>,
    /// A retry waiting: (when, attempt).
    retry: Option<(DateTime<Utc>, u32)>,
    running: bool,
    /// Attempt number of the run in flight (0 = scheduled, n = n-th retry).
    attempt: u32,
    /// Waiting for a free slot (in `ready`).
    queued: bool,
    /// Retry delays of the current failure streak.
    backoff: Option<backon::ExponentialBackoff>,
}

/// The scheduler. Build it, then [`Scheduler::run`] it.
pub struct Scheduler<R: Runner, C: Clock = SystemClock> {
    runner: Arc<R>,
    clock: C,
    policy: Policy,
    jobs: BTreeMap<String, JobState>,
    /// Due jobs waiting for a slot: (name, attempt).
    ready: VecDeque<(String, u32)>,
    events: Option<mpsc::UnboundedSender<Event>>,
}

impl<R: Runner> Scheduler<R, SystemClock> {
    /// A scheduler on the system clock.
    pub fn new(runner: R, policy: Policy) -> Self {
        Scheduler::with_clock(runner, policy, SystemClock)
    }
}

impl<R: Runner, C: Clock> Scheduler<R, C> {
    /// A scheduler on `clock`.
    pub fn with_clock(runner: R, policy: Policy, clock: C) -> Self {
        Scheduler {
            runner: Arc::new(runner),
            clock,
            policy,
            jobs: BTreeMap::new(),
            ready: VecDeque::new(),
            events: None,
        }
    }

    /// Sends every [`Event`] to `tx` as well as to the logs.
    pub fn events(mut self, tx: mpsc::UnboundedSender<Event>) -> Self {
        self.events = Some(tx);
        self
    }

    fn emit(&self, event: Event) {
        match &event {
            Event::Started { job, attempt, at } => {
                tracing::info!(pipeline = %job, attempt, %at, "run starting")
            }
            Event::Finished { job, outcome, .. } => match outcome {
                RunOutcome::Succeeded => tracing::info!(pipeline = %job, "run succeeded"),
                RunOutcome::Failed { message, .. } => {
                    tracing::warn!(pipeline = %job, error = %message, "run failed")
                }
                RunOutcome::Interrupted => tracing::info!(pipeline = %job, "run interrupted"),
            },
            Event::SkippedOverlap { job, at } => tracing::warn!(
                pipeline = %job, occurrence = %at,
                "previous run still going; this occurrence is skipped"
            ),
            Event::RetryScheduled { job, attempt, at } => {
                tracing::info!(pipeline = %job, attempt, retry_at = %at, "retry scheduled")
            }
        }
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    fn upsert(&mut self, job: Job) {
        let now = self.clock.now();
        if let Some(st) = self.jobs.get_mut(&job.name) {
            if st.job.revision == job.revision {
                return;
            }
            tracing::info!(pipeline = %job.name, schedule = %job.schedule.expression, "pipeline changed");
            st.next_due = job.schedule.next_after(now);
            st.job = job;
            return;
        }
        let mut next_due = job.schedule.next_after(now);
        if self.policy.catch_up == CatchUp::RunOnce {
            if let Some(last) = job.last_started {
                if job
                    .schedule
                    .next_after(last)
                    .is_some_and(|missed| missed <= now)
                {
                    tracing::info!(pipeline = %job.name, last_started = %last, "missed a run while down; running once now");
                    next_due = Some(now);
                }
            }
        }
        tracing::info!(
            pipeline = %job.name,
            schedule = %job.schedule.expression,
            timezone = %job.schedule.timezone.name(),
            next = ?next_due,
            "pipeline scheduled"
        );
        self.jobs.insert(
            job.name.clone(),
            JobState {
                job,
                next_due,
                retry: None,
                running: false,
                attempt: 0,
                queued: false,
                backoff: None,
            },
        );
    }

    fn remove(&mut self, name: &str) {
        if self.jobs.remove(name).is_some() {
            tracing::info!(pipeline = %name, "pipeline removed");
            self.ready.retain(|(n, _)| n != name);
        }
    }

    /// Moves every job that is due at `now` to the ready queue.
    fn collect_due(&mut self, now: DateTime<Utc>) {
        let mut skipped = Vec::new();
        for (name, st) in self.jobs.iter_mut() {
            if let Some((at, attempt)) = st.retry {
                if at <= now && !st.running && !st.queued {
                    st.retry = None;
                    st.queued = true;
                    self.ready.push_back((name.clone(), attempt));
                }
            }
            let Some(due) = st.next_due else { continue };
            if due > now {
                continue;
            }
            // Later occurrences already past (e.g. after a long run) collapse into one.
            st.next_due = st.job.schedule.next_after(now);
            if st.running || st.queued {
                skipped.push(Event::SkippedOverlap {
                    job: name.clone(),
                    at: due,
                });
            } else {
                // A scheduled run supersedes a pending retry.
                st.retry = None;
                st.backoff = None;
                st.queued = true;
                self.ready.push_back((name.clone(), 0));
            }
        }
        for e in skipped {
            self.emit(e);
        }
    }

    fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.jobs
            .values()
            .flat_map(|st| [st.next_due, st.retry.map(|(at, _)| at)])
            .flatten()
            .min()
    }

    fn finished(&mut self, name: &str, outcome: RunOutcome, stopping: bool) {
        let now = self.clock.now();
        self.emit(Event::Finished {
            job: name.to_owned(),
            outcome: outcome.clone(),
            at: now,
        });
        let max_retries = self.policy.max_retries;
        let (min, max) = (self.policy.min_backoff, self.policy.max_backoff);
        let Some(st) = self.jobs.get_mut(name) else {
            return;
        };
        st.running = false;
        let retry = match outcome {
            RunOutcome::Failed {
                retryable: true, ..
            } if !stopping => {
                let backoff = st.backoff.get_or_insert_with(|| {
                    ExponentialBuilder::default()
                        .with_min_delay(min)
                        .with_max_delay(max)
                        .with_max_times(max_retries as usize)
                        .with_jitter()
                        .build()
                });
                let attempt = st.attempt;
                backoff.next().map(|d| {
                    let at = now + chrono::Duration::from_std(d).unwrap_or_default();
                    (at, attempt + 1)
                })
            }
            _ => None,
        };
        match retry {
            Some((at, attempt)) => {
                st.retry = Some((at, attempt));
                self.emit(Event::RetryScheduled {
                    job: name.to_owned(),
                    attempt,
                    at,
                });
            }
            None => {
                st.retry = None;
                st.backoff = None;
            }
        }
    }

    /// Runs until `shutdown` flips to `true` (or its sender is dropped):
    /// starts due jobs, applies `commands`, then stops gracefully.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let mut running: JoinSet<(String, RunOutcome)> = JoinSet::new();
        let mut commands_open = true;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = self.clock.now();
            self.collect_due(now);
            while running.len() < self.policy.max_concurrent_runs.max(1) {
                let Some((name, attempt)) = self.ready.pop_front() else {
                    break;
                };
                let Some(st) = self.jobs.get_mut(&name) else {
                    continue;
                };
                st.queued = false;
                st.running = true;
                st.attempt = attempt;
                let runner = self.runner.clone();
                let cancel = cancel_rx.clone();
                self.emit(Event::Started {
                    job: name.clone(),
                    attempt,
                    at: now,
                });
                running.spawn(async move {
                    let outcome = runner.run(&name, attempt, cancel).await;
                    (name, outcome)
                });
            }
            let wake = self.next_wake();
            let sleep = match wake {
                Some(at) => (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                cmd = commands.recv(), if commands_open => match cmd {
                    Some(Command::Upsert(job)) => self.upsert(*job),
                    Some(Command::Remove(name)) => self.remove(&name),
                    None => commands_open = false,
                },
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok((name, outcome)) = done {
                        self.finished(&name, outcome, false);
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!(
            running = running.len(),
            "stopping: no new runs; running ones commit at their next checkpoint"
        );
        let _ = cancel_tx.send(true);
        while let Some(done) = running.join_next().await {
            if let Ok((name, outcome)) = done {
                self.finished(&name, outcome, true);
            }
        }
    }
}
