//! The connector's process: spawned in its own process group (so a Python
//! connector's worker processes go with it), stderr forwarded to braid's
//! logs with its last lines kept for error messages, killed when dropped.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use braid_core::Error;

/// How to start the connector.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// Protocol name for messages (`airbyte`, `singer`).
    pub protocol: &'static str,
    /// The program.
    pub program: PathBuf,
    /// Arguments before the protocol's own (`spec`, `--config ...`).
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// How many stderr lines error messages quote.
    pub stderr_tail_lines: usize,
}

impl CommandSpec {
    /// `program args…` as written in the pipeline.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// The last lines of a process's stderr.
#[derive(Debug, Default)]
pub struct StderrTail {
    lines: VecDeque<String>,
    cap: usize,
}

impl StderrTail {
    fn push(&mut self, line: String) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The kept lines, joined.
    pub fn text(&self) -> String {
        self.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Kills a process group once, from any thread.
#[derive(Debug)]
pub struct KillSwitch {
    pgid: i32,
    done: AtomicBool,
}

impl KillSwitch {
    /// Sends SIGKILL to the group unless it already ended.
    pub fn kill(&self) {
        if !self.done.swap(true, Ordering::SeqCst) && self.pgid > 0 {
            // SAFETY: killpg only sends a signal; the group is the child's own
            // (created with process_group(0)) and still unreaped.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
    }

    fn disarm(&self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// A running connector process.
pub struct Running {
    child: Child,
    /// Kills the process group; shared with whoever must be able to stop it.
    pub kill: Arc<KillSwitch>,
    tail: Arc<Mutex<StderrTail>>,
    stderr_thread: Option<JoinHandle<()>>,
    label: String,
}

impl Running {
    /// Starts `spec` with `args` appended; stdout is returned for reading.
    pub fn spawn(spec: &CommandSpec, args: &[OsString]) -> Result<(Self, ChildStdout), Error> {
        use std::os::unix::process::CommandExt;
        let label = format!("{}: `{}`", spec.protocol, spec.display());
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::Config(format!(
                "{label}: cannot start the connector: {e} (is it installed and on PATH?)"
            ))
        })?;
        let pgid = child.id() as i32;
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let tail = Arc::new(Mutex::new(StderrTail {
            lines: VecDeque::new(),
            cap: spec.stderr_tail_lines.max(1),
        }));
        let stderr_thread = {
            let tail = tail.clone();
            let protocol = spec.protocol;
            let span = tracing::Span::current();
            std::thread::Builder::new()
                .name(format!("{protocol}-stderr"))
                .spawn(move || {
                    let _entered = span.enter();
                    forward_stderr(protocol, stderr, &tail)
                })
                .map_err(|e| Error::Internal(format!("{label}: stderr thread: {e}")))?
        };
        Ok((
            Running {
                child,
                kill: Arc::new(KillSwitch {
                    pgid,
                    done: AtomicBool::new(false),
                }),
                tail,
                stderr_thread: Some(stderr_thread),
                label,
            },
            stdout,
        ))
    }

    /// `airbyte: `command``, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Waits for the process to end (stderr read to its end too).
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        let status = self.child.wait().map_err(|e| {
            Error::Internal(format!("{}: waiting for the connector: {e}", self.label))
        })?;
        self.kill.disarm();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        Ok(status)
    }

    /// The last stderr lines.
    pub fn stderr_tail(&self) -> String {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).text()
    }

    /// What went wrong with a process that ended with `status`: its exit
    /// code or signal, what it reported (`hint`) and the tail of its stderr
    /// (without the label).
    pub fn failure(&self, status: ExitStatus, hint: Option<&str>) -> String {
        use std::os::unix::process::ExitStatusExt;
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(s)) => format!("was killed by signal {s}"),
            _ => "ended abnormally".to_owned(),
        };
        let mut msg = how;
        if let Some(h) = hint {
            msg.push_str(": ");
            msg.push_str(h);
        }
        let tail = self.stderr_tail();
        if tail.trim().is_empty() {
            msg.push_str(" (stderr was empty)");
        } else {
            msg.push_str("; last lines of its stderr:\n");
            msg.push_str(&tail);
        }
        msg
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.kill.done.load(Ordering::SeqCst) {
            self.kill.kill();
            // SIGKILL cannot be caught: reap the child so it leaves no zombie.
            let _ = self.child.wait();
        }
    }
}

/// Log level of a stderr line, from the level word loggers put in it.
fn stderr_level(line: &str) -> tracing::Level {
    let upper = |w: &str| line.contains(w);
    if upper("CRITICAL") || upper("FATAL") || upper("ERROR") || upper("Traceback") {
        tracing::Level::ERROR
    } else if upper("WARNING") || upper("WARN") {
        tracing::Level::WARN
    } else {
        tracing::Level::DEBUG
    }
}

fn forward_stderr(protocol: &'static str, stderr: impl Read, tail: &Mutex<StderrTail>) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        if line.is_empty() {
            continue;
        }
        match stderr_level(&line) {
            tracing::Level::ERROR => tracing::error!(connector = protocol, "stderr: {line}"),
            tracing::Level::WARN => tracing::warn!(connector = protocol, "stderr: {line}"),
            _ => tracing::debug!(connector = protocol, "stderr: {line}"),
        }
        tail.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }
}

/// Runs a short command (spec, check, discover) to its end; returns its
/// stdout lines and exit status, with the process for error messages.
pub fn run_to_end(
    spec: &CommandSpec,
    args: &[OsString],
) -> Result<(Running, Vec<String>, ExitStatus), Error> {
    let (mut running, stdout) = Running::spawn(spec, args)?;
    let mut lines = Vec::new();
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            Error::Internal(format!("{}: reading its output: {e}", running.label()))
        })?;
        if n == 0 {
            break;
        }
        lines.push(String::from_utf8_lossy(&buf).trim_end().to_owned());
    }
    let status = running.wait()?;
    Ok((running, lines, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> CommandSpec {
        CommandSpec {
            protocol: "airbyte",
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            env: vec![("BRAID_T".into(), "v".into())],
            cwd: None,
            stderr_tail_lines: 2,
        }
    }

    #[test]
    fn failure_names_the_exit_code_and_quotes_the_last_stderr_lines() {
        let (r, lines, status) = run_to_end(
            &sh("echo out-$BRAID_T; echo one >&2; echo two >&2; echo three >&2; exit 3"),
            &[],
        )
        .unwrap();
        assert_eq!(lines, vec!["out-v".to_string()]);
        assert!(!status.success());
        let msg = r.failure(status, Some("it said no"));
        assert!(msg.contains("exited with code 3: it said no"), "{msg}");
        assert!(msg.ends_with("two\nthree"), "{msg}");
        assert!(!msg.contains("one"), "{msg}");
    }

    #[test]
    fn a_missing_program_is_a_config_error() {
        let mut spec = sh("");
        spec.program = "/nonexistent/source-x".into();
        let e = Running::spawn(&spec, &[]).err().unwrap();
        assert!(matches!(e, Error::Config(_)), "{e}");
        assert!(e.to_string().contains("/nonexistent/source-x"), "{e}");
    }

    #[test]
    fn dropping_kills_the_whole_process_group() {
        let (r, stdout) = Running::spawn(&sh("sleep 30 & echo $!; wait"), &[]).unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let grandchild: i32 = line.trim().parse().unwrap();
        drop(r);
        // The grandchild (same group) is gone within a moment.
        let mut gone = false;
        for _ in 0..100 {
            // Gone, or a zombie waiting for a reaper: either way no longer running.
            let stat =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            if matches!(state, None | Some('Z') | Some('X')) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(gone, "process {grandchild} survived");
    }
}
