//! The jobserver hands out exactly its tokens, to pyfod's threads and to
//! children that open it by name, as GNU make's clients do.

use std::process::Command;
use std::time::{Duration, Instant};

use pyfod_process::Jobserver;

#[test]
fn it_hands_out_its_tokens_and_takes_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = Jobserver::new(dir.path(), 2).unwrap();
    assert!(server.makeflags().contains("--jobserver-auth=fifo:"));
    let one = server.acquire(|| false).unwrap().unwrap();
    let two = server.acquire(|| false).unwrap().unwrap();
    // A third waits, and gives up when told to.
    let asked = Instant::now();
    let deadline = asked + Duration::from_millis(300);
    assert!(
        server
            .acquire(|| Instant::now() > deadline)
            .unwrap()
            .is_none()
    );
    assert!(asked.elapsed() >= Duration::from_millis(300));
    drop(one);
    let three = server.acquire(|| false).unwrap().unwrap();
    drop((two, three));
    let path = server.path().to_path_buf();
    drop(server);
    assert!(!path.exists(), "the pipe is removed with the jobserver");
}

#[test]
fn a_child_takes_a_token_by_the_pipes_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Jobserver::new(dir.path(), 1).unwrap();
    let held = server.acquire(|| false).unwrap().unwrap();
    // The child's read waits for the token pyfod holds: it cannot have it.
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(
            "import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); b=os.read(fd,1); \
             os.write(fd,b); print('took', b.decode())",
        )
        .arg(server.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the child took a token pyfod held"
    );
    drop(held);
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "took +");
    // It gave it back.
    assert!(server.acquire(|| true).unwrap().is_some());
}
