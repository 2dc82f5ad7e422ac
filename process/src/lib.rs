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
//!
//! The CPU time of each child, with everything it started and waited for, is
//! added up per calling thread ([`children_cpu`]): a build runs on one thread,
//! so that is the build's CPU time, for the critical-path report.
//!
//! [`Jobserver`] shares `--jobs` among the builds and the compilers inside them.

mod jobserver;

pub use jobserver::{Jobserver, Token};

use std::cell::Cell;
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

thread_local! {
    /// CPU time of the children this thread ran, and of what they waited for.
    static CHILDREN_CPU: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The CPU time (user and system) of every child this thread has run through
/// [`run`], with their waited-for descendants (a backend's compilers): take it
/// before and after a piece of work for that work's share.
pub fn children_cpu() -> Duration {
    CHILDREN_CPU.with(Cell::get)
}

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
/// errors. Ends the group after `timeout`, or when pyfod is interrupted. With
/// `niceness` above 0 the group runs that much nicer than pyfod, so a build
/// that others wait for gets the cores first.
pub fn run(
    command: &mut Command,
    what: &str,
    timeout: Option<Duration>,
    niceness: i32,
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
    if niceness > 0 {
        renice(group, niceness);
    }
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
        // Its CPU time is read while it is a zombie, before it is reaped; where
        // waitid cannot tell, it is reaped unread.
        let waited = match has_exited(child.id() as i32) {
            Some(false) => None,
            Some(true) => {
                if let Some(cpu) = cpu_of(child.id()) {
                    CHILDREN_CPU.with(|c| c.set(c.get() + cpu));
                }
                Some(child.wait())
            }
            None => child.try_wait().transpose(),
        };
        let waited = waited.transpose().map_err(|source| ProcessError::Spawn {
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

/// Whether `pid` has exited, without reaping it (`waitid` with `WNOWAIT`);
/// none when waitid fails.
fn has_exited(pid: i32) -> Option<bool> {
    // SAFETY: siginfo_t is plain data that waitid fills in; zeroed is valid.
    #[allow(unsafe_code)]
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            return None;
        }
        Some(info.si_pid() != 0)
    }
}

/// A process's user and system time with its waited-for children's, from
/// `/proc/<pid>/stat` (fields 14 to 17, in clock ticks).
fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..15)?
        .iter()
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf takes an integer and returns one.
    #[allow(unsafe_code)]
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / per_second))
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

/// Makes a group `by` nicer than this process; what it starts later inherits
/// it. Best effort: a priority changes how fast a build runs, never what it makes.
fn renice(group: i32, by: i32) {
    // SAFETY: getpriority and setpriority take plain integers.
    #[allow(unsafe_code)]
    unsafe {
        let own = libc::getpriority(libc::PRIO_PROCESS as _, 0);
        libc::setpriority(
            libc::PRIO_PGRP as _,
            group as libc::id_t,
            (own + by).min(19),
        );
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
            0,
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
        let status = run(
            Command::new("/bin/sh").args(["-c", "exit 3"]),
            "sh",
            None,
            0,
        )
        .unwrap();
        assert_eq!(status.code(), Some(3));
        let error = run(&mut Command::new("/no/such/program"), "nothing", None, 0).unwrap_err();
        assert!(error.to_string().contains("cannot run nothing"));
    }
}
