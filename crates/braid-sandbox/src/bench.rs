//! For the bench examples: run a command (usually `braid run`) against the
//! sandbox and measure its wall time and peak resident memory.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// What one measured run took.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// How the process ended.
    pub status: ExitStatus,
    /// Wall time from spawn to exit, in seconds.
    pub secs: f64,
    /// Peak resident set (`VmHWM`) seen while it ran, in KiB.
    pub peak_rss_kib: u64,
}

/// `VmHWM` of a live process, in KiB (Linux).
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Spawns `command` and waits for it asynchronously (so a sandbox in the
/// same runtime keeps serving), sampling its peak RSS every 20 ms.
pub async fn run_measured(command: &mut Command) -> std::io::Result<Measured> {
    let start = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let mut peak_rss_kib = 0;
    let status = loop {
        if let Some(h) = vm_hwm_kib(pid) {
            peak_rss_kib = peak_rss_kib.max(h);
        }
        if let Some(s) = child.try_wait()? {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Ok(Measured {
        status,
        secs: start.elapsed().as_secs_f64(),
        peak_rss_kib,
    })
}
