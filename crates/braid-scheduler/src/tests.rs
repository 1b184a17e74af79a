use std::collections::HashMap;
use std::sync::Mutex;

use chrono::TimeZone;

use super::*;

/// Records every start; each job sleeps `took` and returns its next scripted outcome.
#[derive(Default)]
struct Script {
    took: HashMap<String, Duration>,
    outcomes: Mutex<HashMap<String, VecDeque<RunOutcome>>>,
    starts: Mutex<Vec<(String, u32, DateTime<Utc>)>>,
    concurrent: Mutex<(usize, usize)>,
    cancelled: Mutex<Vec<String>>,
}

struct ScriptRunner {
    script: Arc<Script>,
    clock: TokioClock,
}

#[async_trait]
impl Runner for ScriptRunner {
    async fn run(&self, job: &str, attempt: u32, mut cancel: watch::Receiver<bool>) -> RunOutcome {
        let s = &self.script;
        s.starts
            .lock()
            .unwrap()
            .push((job.to_owned(), attempt, self.clock.now()));
        {
            let mut c = s.concurrent.lock().unwrap();
            c.0 += 1;
            c.1 = c.1.max(c.0);
        }
        let took = s.took.get(job).copied().unwrap_or(Duration::from_secs(1));
        let outcome = tokio::select! {
            _ = tokio::time::sleep(took) => s
                .outcomes
                .lock()
                .unwrap()
                .get_mut(job)
                .and_then(|q| q.pop_front())
                .unwrap_or(RunOutcome::Succeeded),
            _ = cancel.wait_for(|c| *c) => {
                s.cancelled.lock().unwrap().push(job.to_owned());
                RunOutcome::Interrupted
            }
        };
        s.concurrent.lock().unwrap().0 -= 1;
        outcome
    }
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 30).unwrap()
}

fn job(name: &str, cron: &str) -> Job {
    job_tz(name, cron, chrono_tz::UTC)
}

fn job_tz(name: &str, cron: &str, tz: chrono_tz::Tz) -> Job {
    Job {
        name: name.into(),
        schedule: Schedule::new(cron, tz).unwrap(),
        revision: 1,
        last_started: None,
    }
}

struct Harness {
    script: Arc<Script>,
    commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    events: mpsc::UnboundedReceiver<Event>,
}

fn start(script: Script, policy: Policy, jobs: Vec<Job>) -> Harness {
    let script = Arc::new(script);
    let clock = TokioClock::starting_at(base());
    let (etx, events) = mpsc::unbounded_channel();
    let scheduler = Scheduler::with_clock(
        ScriptRunner {
            script: script.clone(),
            clock,
        },
        policy,
        clock,
    )
    .events(etx);
    let (commands, rx) = mpsc::channel(16);
    let (shutdown, srx) = watch::channel(false);
    for j in jobs {
        commands.try_send(Command::Upsert(Box::new(j))).unwrap();
    }
    let task = tokio::spawn(scheduler.run(rx, srx));
    Harness {
        script,
        commands,
        shutdown,
        task,
        events,
    }
}

impl Harness {
    async fn stop(mut self) -> (Arc<Script>, Vec<Event>) {
        self.shutdown.send(true).unwrap();
        self.task.await.unwrap();
        let mut events = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            events.push(e);
        }
        (self.script, events)
    }
}

fn starts(script: &Script) -> Vec<(String, u32, String)> {
    script
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(|(j, a, t)| (j.clone(), *a, t.format("%H:%M:%S").to_string()))
        .collect()
}

fn policy() -> Policy {
    Policy {
        max_concurrent_runs: 4,
        max_retries: 3,
        min_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(40),
        catch_up: CatchUp::Skip,
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_runs_at_each_occurrence() {
    let h = start(Script::default(), policy(), vec![job("crm", "* * * * *")]);
    tokio::time::sleep(Duration::from_secs(200)).await; // until 00:03:50
    let (script, _) = h.stop().await;
    assert_eq!(
        starts(&script),
        vec![
            ("crm".into(), 0, "00:01:00".into()),
            ("crm".into(), 0, "00:02:00".into()),
            ("crm".into(), 0, "00:03:00".into()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn six_field_and_macro_schedules_are_honoured() {
    let h = start(
        Script::default(),
        policy(),
        vec![job("fast", "*/20 * * * * *"), job("hourly", "@hourly")],
    );
    tokio::time::sleep(Duration::from_secs(3600)).await; // until 01:00:30
    let (script, _) = h.stop().await;
    let s = starts(&script);
    let fast: Vec<_> = s.iter().filter(|(j, _, _)| j == "fast").collect();
    assert_eq!(fast.len(), 180, "every 20 s for an hour");
    assert_eq!(fast[0].2, "00:00:40");
    let hourly: Vec<_> = s.iter().filter(|(j, _, _)| j == "hourly").collect();
    assert_eq!(hourly.len(), 1);
    assert_eq!(hourly[0].2, "01:00:00");
}

#[tokio::test(start_paused = true)]
async fn schedules_are_read_in_their_time_zone() {
    // 08:00 in Shanghai is 00:00 UTC; base is 00:00:30 UTC on 2 March, so the
    // first run is the next day at 00:00 UTC.
    let h = start(
        Script::default(),
        policy(),
        vec![job_tz("cn", "0 8 * * *", chrono_tz::Asia::Shanghai)],
    );
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    let (script, _) = h.stop().await;
    let s = script.starts.lock().unwrap().clone();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].2, Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_run_still_going_is_not_started_twice() {
    let mut script = Script::default();
    script.took.insert("slow".into(), Duration::from_secs(90));
    let h = start(script, policy(), vec![job("slow", "* * * * *")]);
    tokio::time::sleep(Duration::from_secs(260)).await; // until 00:04:50
    let (script, events) = h.stop().await;
    // 00:01 runs until 00:02:30, so 00:02 is skipped; 00:03 runs until 00:04:30, 00:04 skipped.
    assert_eq!(
        starts(&script),
        vec![
            ("slow".into(), 0, "00:01:00".into()),
            ("slow".into(), 0, "00:03:00".into()),
        ]
    );
    let skipped: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::SkippedOverlap { .. }))
        .collect();
    assert_eq!(skipped.len(), 2, "{events:?}");
    assert_eq!(script.concurrent.lock().unwrap().1, 1);
}

#[tokio::test(start_paused = true)]
async fn a_retryable_failure_is_retried_with_growing_backoff() {
    let script = Script::default();
    script.outcomes.lock().unwrap().insert(
        "ads".into(),
        VecDeque::from([
            RunOutcome::Failed {
                retryable: true,
                message: "HTTP 503".into(),
            },
            RunOutcome::Failed {
                retryable: true,
                message: "HTTP 503".into(),
            },
            RunOutcome::Succeeded,
        ]),
    );
    let h = start(script, policy(), vec![job("ads", "0 * * * *")]);
    tokio::time::sleep(Duration::from_secs(3600 + 300)).await;
    let (script, _) = h.stop().await;
    let s = script.starts.lock().unwrap().clone();
    let attempts: Vec<u32> = s.iter().map(|(_, a, _)| *a).collect();
    assert_eq!(attempts, vec![0, 1, 2], "{s:?}");
    let gap1 = (s[1].2 - s[0].2).num_seconds();
    let gap2 = (s[2].2 - s[1].2).num_seconds();
    // Each run takes 1 s; backoff 10 s then 20 s, each with up to 100% jitter.
    assert!((11..=21).contains(&gap1), "first retry after {gap1} s");
    assert!((21..=41).contains(&gap2), "second retry after {gap2} s");
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_the_limit_and_permanent_failures_are_not_retried() {
    let script = Script::default();
    let fail = |retryable| RunOutcome::Failed {
        retryable,
        message: "x".into(),
    };
    script
        .outcomes
        .lock()
        .unwrap()
        .insert("flaky".into(), VecDeque::from(vec![fail(true); 10]));
    script
        .outcomes
        .lock()
        .unwrap()
        .insert("badcreds".into(), VecDeque::from(vec![fail(false); 10]));
    let h = start(
        script,
        policy(),
        vec![job("flaky", "0 * * * *"), job("badcreds", "0 * * * *")],
    );
    tokio::time::sleep(Duration::from_secs(3600 + 1800)).await;
    let (script, _) = h.stop().await;
    let s = starts(&script);
    assert_eq!(s.iter().filter(|(j, _, _)| j == "flaky").count(), 4); // 1 + 3 retries
    assert_eq!(s.iter().filter(|(j, _, _)| j == "badcreds").count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_global_limit_queues_due_runs() {
    let mut script = Script::default();
    for j in ["a", "b", "c"] {
        script.took.insert(j.into(), Duration::from_secs(10));
    }
    let mut p = policy();
    p.max_concurrent_runs = 1;
    let h = start(
        script,
        p,
        vec![
            job("a", "* * * * *"),
            job("b", "* * * * *"),
            job("c", "* * * * *"),
        ],
    );
    tokio::time::sleep(Duration::from_secs(60)).await; // until 00:01:30
    let (script, _) = h.stop().await;
    assert_eq!(script.concurrent.lock().unwrap().1, 1);
    assert_eq!(
        starts(&script),
        vec![
            ("a".into(), 0, "00:01:00".into()),
            ("b".into(), 0, "00:01:10".into()),
            ("c".into(), 0, "00:01:20".into()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn catch_up_runs_once_after_downtime_or_waits() {
    let mut missed = job("daily", "0 2 * * *");
    missed.last_started = Some(base() - chrono::Duration::days(3));
    let mut p = policy();
    p.catch_up = CatchUp::RunOnce;
    let h = start(Script::default(), p.clone(), vec![missed.clone()]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (script, _) = h.stop().await;
    assert_eq!(
        starts(&script),
        vec![("daily".into(), 0, "00:00:30".into())]
    );

    // Not missed: the last run was after the last occurrence.
    let mut fresh = job("daily", "0 2 * * *");
    fresh.last_started = Some(base() - chrono::Duration::hours(20));
    let h = start(Script::default(), p, vec![fresh]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (script, _) = h.stop().await;
    assert!(starts(&script).is_empty());

    let h = start(Script::default(), policy(), vec![missed]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (script, _) = h.stop().await;
    assert!(starts(&script).is_empty(), "skip waits for 02:00");
}

#[tokio::test(start_paused = true)]
async fn jobs_are_changed_and_removed_without_a_restart() {
    let h = start(Script::default(), policy(), vec![job("a", "* * * * *")]);
    tokio::time::sleep(Duration::from_secs(60)).await; // 00:01:30, a ran at 00:01
    let mut changed = job("a", "*/5 * * * *");
    changed.revision = 2;
    h.commands
        .send(Command::Upsert(Box::new(changed)))
        .await
        .unwrap();
    h.commands
        .send(Command::Upsert(Box::new(job("b", "* * * * *"))))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(240)).await; // 00:05:30
    h.commands.send(Command::Remove("b".into())).await.unwrap();
    tokio::time::sleep(Duration::from_secs(300)).await; // 00:10:30
    let (script, _) = h.stop().await;
    let s = starts(&script);
    let a: Vec<_> = s
        .iter()
        .filter(|(j, _, _)| j == "a")
        .map(|x| x.2.clone())
        .collect();
    let b: Vec<_> = s
        .iter()
        .filter(|(j, _, _)| j == "b")
        .map(|x| x.2.clone())
        .collect();
    assert_eq!(a, vec!["00:01:00", "00:05:00", "00:10:00"]);
    assert_eq!(b, vec!["00:02:00", "00:03:00", "00:04:00", "00:05:00"]);
}

#[tokio::test(start_paused = true)]
async fn stopping_cancels_running_runs_waits_for_them_and_starts_nothing() {
    let mut script = Script::default();
    script.took.insert("long".into(), Duration::from_secs(600));
    let h = start(script, policy(), vec![job("long", "* * * * *")]);
    tokio::time::sleep(Duration::from_secs(45)).await; // 00:01:15: running
    let (script, events) = h.stop().await;
    assert_eq!(script.cancelled.lock().unwrap().as_slice(), ["long"]);
    assert_eq!(starts(&script).len(), 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Finished {
            outcome: RunOutcome::Interrupted,
            ..
        }
    )));
    // An interrupted run is not retried.
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::RetryScheduled { .. })));
}
