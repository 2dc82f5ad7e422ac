//! The processes pyfod starts and waits for — build backends and everything they
//! start, git — each in a process group of its own, so that one signal ends all
//! of it:
//!
//! - a child that outlives its timeout is ended (its group: `SIGTERM`, then
//!   `SIGKILL`), and the wait says so;
//! - when pyfod itself is interrupted (`SIGINT`, `SIGTERM`, `SIGHUP`; see
//!   [`handle_signals`]), every group still running is ended, the waits return
//!   [`ProcessError::Interrupted`], and pyfod unwinds, removing its work areas,
//!   then exits 128 + the signal's number.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Groups of children running now, by process group id.
static GROUPS: Mutex<Option<HashSet<i32>>> = Mutex::new(None);
/// The signal pyfod was interrupted by, or 0.
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// How long a group has between `SIGTERM` and `SIGKILL`.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run {what}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} ran for longer than its timeout of {} and was ended", show(*timeout))]
    TimedOut { what: String, timeout: Duration },
    #[error("interrupted (signal {signal}); {what} was ended")]
    Interrupted { what: String, signal: i32 },
}

fn show(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, s) => format!("{h}:{m:02}:{s:02}"),
    }
}

/// The signal pyfod was interrupted by, if it was.
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}

/// Runs `command` to its end in a process group of its own; `what` names it in
/// errors. Ends the group after `timeout`, or when pyfod is interrupted.
pub fn run(
    command: &mut Command,
    what: &str,
    timeout: Option<Duration>,
) -> Result<ExitStatus, ProcessError> {
    if let Some(signal) = interrupted() {
        return Err(ProcessError::Interrupted {
            what: what.to_owned(),
            signal,
        });
    }
    let mut child = command
        .process_group(0)
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            what: what.to_owned(),
            source,
        })?;
    let group = child.id() as i32;
    register(group, true);
    let result = wait(&mut child, group, what, timeout);
    register(group, false);
    result
}

fn wait(
    child: &mut Child,
    group: i32,
    what: &str,
    timeout: Option<Duration>,
) -> Result<ExitStatus, ProcessError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let waited = child.try_wait().map_err(|source| ProcessError::Spawn {
            what: what.to_owned(),
            source,
        })?;
        if let Some(status) = waited {
            // Whatever it left running in its group goes with it.
            kill_group(group, libc::SIGKILL);
            return Ok(status);
        }
        if let Some(signal) = interrupted() {
            end(child, group);
            return Err(ProcessError::Interrupted {
                what: what.to_owned(),
                signal,
            });
        }
        if let Some(timeout) = timeout
            && started.elapsed() > timeout
        {
            end(child, group);
            return Err(ProcessError::TimedOut {
                what: what.to_owned(),
                timeout,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Ends a group: `SIGTERM`, a grace period, `SIGKILL`; reaps the child.
fn end(child: &mut Child, group: i32) {
    kill_group(group, libc::SIGTERM);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_group(group, libc::SIGKILL);
    let _ = child.wait();
}

fn register(group: i32, running: bool) {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    let set = groups.get_or_insert_with(HashSet::new);
    if running {
        set.insert(group);
    } else {
        set.remove(&group);
    }
}

fn kill_group(group: i32, signal: i32) {
    // SAFETY: killpg takes plain integers; a group that is gone is ESRCH.
    #[allow(unsafe_code)]
    unsafe {
        libc::killpg(group, signal);
    }
}

/// For a binary: on `SIGINT`, `SIGTERM` or `SIGHUP`, mark pyfod interrupted and
/// end every child group, so that the waits return and the work areas are
/// removed as the stack unwinds; if the process has not ended `grace` later
/// (it was not waiting for a child), it exits then. A second signal exits at once.
pub fn handle_signals(grace: Duration) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        tracing::warn!("cannot handle signals: an interrupted build may leave its backend running");
        return;
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if INTERRUPTED.swap(signal, Ordering::SeqCst) != 0 {
                    std::process::exit(128 + signal);
                }
                eprintln!("pyfod: interrupted (signal {signal}); ending the builds");
                let groups: Vec<i32> = GROUPS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .flatten()
                    .copied()
                    .collect();
                for group in groups {
                    kill_group(group, libc::SIGTERM);
                }
                let signal_copy = signal;
                std::thread::spawn(move || {
                    std::thread::sleep(grace);
                    std::process::exit(128 + signal_copy);
                });
            }
        })
        .ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_outlives_its_timeout_is_ended_with_its_children() {
        let dir = std::env::temp_dir().join(format!("pyfod-process-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("grandchild-lived");
        // The grandchild would write the marker after 2 s; its group is ended first.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let error = run(
            Command::new("/bin/sh").args(["-c", &script]),
            "a sleeper",
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert!(matches!(error, ProcessError::TimedOut { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains("a sleeper ran for longer than its timeout")
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a grandchild outlived its group");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_quick_child_runs_to_its_end() {
        let status = run(Command::new("/bin/sh").args(["-c", "exit 3"]), "sh", None).unwrap();
        assert_eq!(status.code(), Some(3));
        let error = run(&mut Command::new("/no/such/program"), "nothing", None).unwrap_err();
        assert!(error.to_string().contains("cannot run nothing"));
    }
}
