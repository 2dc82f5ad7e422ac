//! Runs a command and measures it: wall time and the peak resident memory of the
//! process (from `wait4`, so it is the child's own, not ours).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    /// The peak RSS wait4 reports: the process's, or a descendant's if larger
    /// (a compiler it ran).
    pub peak_rss_kib: u64,
    /// The process's own peak RSS, descendants not counted (`VmHWM`, sampled).
    pub own_peak_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

pub fn measure(command: &mut Command) -> anyhow::Result<Run> {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let pid = child.id() as libc::pid_t;
    // Read the output on threads so a full pipe cannot stall the child.
    let mut child = child;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut out, &mut text).map(|_| text)
    });
    let err_thread = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut err, &mut text).map(|_| text)
    });
    // VmHWM only grows: the last sample before the process ends is its peak, to
    // within what it allocated in its last 10 ms.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let (status, usage) = wait4(pid)?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let own_peak_kib = sampler.join().unwrap_or(0);
    let wall = start.elapsed();
    let stdout = out_thread.join().unwrap()?;
    let stderr = err_thread.join().unwrap()?;
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{command:?} failed (status {status:#x}): {stderr}");
    }
    Ok(Run {
        wall,
        peak_rss_kib: usage.ru_maxrss as u64,
        own_peak_kib,
        stdout,
        stderr,
    })
}

#[allow(unsafe_code)]
fn wait4(pid: libc::pid_t) -> anyhow::Result<(libc::c_int, libc::rusage)> {
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pointers to live locals; pid is our own child's.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error).context("wait4");
        }
    }
}

/// Empties the page cache, so the next run reads from disk. Needs root and a
/// writable /proc/sys; returns why not when it cannot.
pub fn drop_caches() -> Result<(), String> {
    let status = Command::new("sync").status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("sync failed".into());
    }
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n")
        .map_err(|e| format!("cannot write /proc/sys/vm/drop_caches: {e}"))
}

pub fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    }
}
