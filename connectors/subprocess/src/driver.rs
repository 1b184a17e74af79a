//! The read loop shared by both protocols: the connector's stdout read line
//! by line on a thread of its own, each line handed to the protocol, the
//! messages it makes sent on to the runtime; the process killed when the
//! runtime stops listening (a cancelled or failed run).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

use braid_core::{Error, Message, MessageStream, Result};
use tokio::sync::mpsc;

use crate::process::{CommandSpec, KillSwitch, Running};

/// Messages in flight between the reading thread and the runtime.
const CHANNEL_CAPACITY: usize = 8;

/// What a protocol does with the connector's output.
pub trait Protocol: Send + 'static {
    /// Handles line `n` (1-based) of stdout; messages for the runtime go to `out`.
    fn line(&mut self, n: u64, line: &[u8], out: &mut Vec<Message>) -> Result<()>;
    /// The process exited with 0: what is left goes to `out`.
    fn finish(&mut self, out: &mut Vec<Message>) -> Result<()>;
    /// What the connector said about its failure (an Airbyte TRACE error), if anything.
    fn failure(&self) -> Option<Failure> {
        None
    }
}

/// A failure the connector reported before it exited.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Its message.
    pub message: String,
    /// Airbyte's `failure_type`: `config_error`, `transient_error`, `system_error`.
    pub failure_type: Option<String>,
}

/// Kills the connector when the runtime drops the message stream.
struct KillOnDrop(Arc<KillSwitch>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// Starts the connector and returns the stream of its messages. `keep`
/// (the temporary config, catalog and state files) lives until the process
/// has ended.
pub fn spawn_read<K: Send + 'static>(
    spec: &CommandSpec,
    args: Vec<OsString>,
    keep: K,
    protocol: Box<dyn Protocol>,
) -> Result<MessageStream> {
    let (running, stdout) = Running::spawn(spec, &args)?;
    let guard = KillOnDrop(running.kill.clone());
    let (tx, mut rx) = mpsc::channel::<Result<Message>>(CHANNEL_CAPACITY);
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(format!("{}-read", spec.protocol))
        .spawn(move || {
            let _entered = span.enter();
            let _keep = keep;
            pump(running, stdout, protocol, &tx);
        })
        .map_err(|e| Error::Internal(format!("cannot start the reading thread: {e}")))?;
    let stream = async_stream::stream! {
        let _guard = guard;
        while let Some(m) = rx.recv().await {
            let failed = m.is_err();
            yield m;
            if failed {
                return;
            }
        }
    };
    Ok(Box::pin(stream))
}

fn send_all(tx: &mpsc::Sender<Result<Message>>, out: &mut Vec<Message>) -> bool {
    for m in out.drain(..) {
        if tx.blocking_send(Ok(m)).is_err() {
            return false;
        }
    }
    true
}

fn pump(
    mut running: Running,
    stdout: std::process::ChildStdout,
    mut protocol: Box<dyn Protocol>,
    tx: &mpsc::Sender<Result<Message>>,
) {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut buf = Vec::with_capacity(1 << 16);
    let mut out = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(Error::Internal(format!(
                    "{}: reading its output: {e}",
                    running.label()
                ))));
                return; // dropping `running` kills the process
            }
        }
        n += 1;
        let line = trim_line(&buf);
        if line.is_empty() {
            continue;
        }
        if let Err(e) = protocol.line(n, line, &mut out) {
            let _ = send_all(tx, &mut out);
            let _ = tx.blocking_send(Err(e));
            return;
        }
        if !send_all(tx, &mut out) {
            tracing::debug!(
                "{}: the run stopped reading; killing the connector",
                running.label()
            );
            return;
        }
    }
    let status = match running.wait() {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
            return;
        }
    };
    if status.success() {
        let r = protocol.finish(&mut out);
        if send_all(tx, &mut out) {
            if let Err(e) = r {
                let _ = tx.blocking_send(Err(e));
            }
        }
        return;
    }
    let failure = protocol.failure();
    let message = running.failure(status, failure.as_ref().map(|f| f.message.as_str()));
    let error = match failure.as_ref().and_then(|f| f.failure_type.as_deref()) {
        Some("config_error") => Error::Config(format!("{}: {message}", running.label())),
        _ => Error::Transient {
            endpoint: running.label().to_owned(),
            message,
        },
    };
    let _ = tx.blocking_send(Err(error));
}

fn trim_line(buf: &[u8]) -> &[u8] {
    let mut end = buf.len();
    while end > 0 && matches!(buf[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &buf[..end]
}
