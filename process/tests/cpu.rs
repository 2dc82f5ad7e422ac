//! The CPU time of what a thread runs is counted, with the descendants the
//! child waited for: a build's backend and the compilers it ran.

use std::process::Command;
use std::time::Duration;

/// A shell that keeps a core busy for a while, in a child of its own.
fn busy_grandchild() -> Command {
    let mut command = Command::new("/bin/sh");
    command.args([
        "-c",
        "sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'",
    ]);
    command
}

#[test]
fn a_childs_cpu_time_counts_its_waited_for_descendants() {
    let before = pyfod_process::children_cpu();
    let status = pyfod_process::run(&mut busy_grandchild(), "a busy shell", None, 0).unwrap();
    assert!(status.success());
    let spent = pyfod_process::children_cpu() - before;
    // The loop is the grandchild's: only counted if waited-for descendants are.
    assert!(spent >= Duration::from_millis(20), "{spent:?}");
}

#[test]
fn each_thread_counts_its_own_children() {
    let here = pyfod_process::children_cpu();
    std::thread::spawn(|| {
        pyfod_process::run(&mut busy_grandchild(), "a busy shell", None, 0).unwrap();
        assert!(pyfod_process::children_cpu() > Duration::ZERO);
    })
    .join()
    .unwrap();
    assert_eq!(
        pyfod_process::children_cpu(),
        here,
        "another thread's child was counted here"
    );
}

#[test]
fn a_nicer_group_runs_nicer_and_its_children_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nice");
    // The nice value of a grandchild: field 19 of its /proc stat (`sh` has no spaces in its name).
    let script = format!("sh -c 'cut -d\" \" -f19 /proc/$$/stat > {}'", out.display());
    let own: i32 = std::fs::read_to_string("/proc/self/stat")
        .unwrap()
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(16)
        .unwrap()
        .parse()
        .unwrap();
    let status =
        pyfod_process::run(Command::new("/bin/sh").args(["-c", &script]), "sh", None, 5).unwrap();
    assert!(status.success());
    let theirs: i32 = std::fs::read_to_string(&out)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(theirs, (own + 5).min(19));
}
