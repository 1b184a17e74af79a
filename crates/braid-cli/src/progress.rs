//! Progress: bars with records/s per stream on a terminal, periodic log
//! lines elsewhere.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use braid_runtime::LiveStats;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Whether stderr is an interactive terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A running progress display; `finish` stops it.
pub struct Display {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Display {
    /// Starts showing `live` for `pipeline`.
    pub fn start(live: Arc<LiveStats>, interactive: bool, pipeline: &str) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let pipeline = pipeline.to_owned();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
            let style = ProgressStyle::with_template(
                "{prefix:<36} {spinner} {human_pos:>10} rows  {msg}  {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let mut bars: BTreeMap<(String, String), ProgressBar> = BTreeMap::new();
            let mut last_log = Instant::now();
            let mut last_rows: BTreeMap<(String, String), u64> = BTreeMap::new();
            let tick = if interactive {
                Duration::from_millis(125)
            } else {
                Duration::from_secs(1)
            };
            loop {
                let done = tokio::select! {
                    _ = &mut stopped => true,
                    _ = tokio::time::sleep(tick) => false,
                };
                let snapshot = live.snapshot();
                if interactive {
                    for ((source, stream), s) in &snapshot {
                        let bar =
                            bars.entry((source.clone(), stream.clone()))
                                .or_insert_with(|| {
                                    let b = multi.add(ProgressBar::new_spinner());
                                    b.set_style(style.clone());
                                    b.set_prefix(format!("{pipeline} {source}.{stream}"));
                                    b
                                });
                        bar.set_position(s.rows);
                        let rate = s.rows as f64 / bar.elapsed().as_secs_f64().max(0.001);
                        if s.done {
                            bar.finish_with_message(format!(
                                "{rate:>9.0} rows/s  {:>6} pages  committed",
                                s.pages
                            ));
                        } else {
                            bar.set_message(format!("{rate:>9.0} rows/s  {:>6} pages", s.pages));
                        }
                    }
                } else if last_log.elapsed() >= Duration::from_secs(5) || done {
                    let secs = last_log.elapsed().as_secs_f64().max(0.001);
                    for ((source, stream), s) in &snapshot {
                        let prev = last_rows
                            .insert((source.clone(), stream.clone()), s.rows)
                            .unwrap_or(0);
                        if s.rows != prev || !done {
                            tracing::info!(
                                pipeline = %pipeline, source = %source, stream = %stream,
                                rows = s.rows, committed = s.rows_committed, pages = s.pages,
                                rows_per_sec = ((s.rows - prev) as f64 / secs) as u64,
                                elapsed_s = started.elapsed().as_secs(),
                                "progress"
                            );
                        }
                    }
                    last_log = Instant::now();
                }
                if done {
                    for bar in bars.values() {
                        if !bar.is_finished() {
                            bar.abandon();
                        }
                    }
                    break;
                }
            }
        });
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Stops the display after one last update.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}
