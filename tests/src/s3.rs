//! A real S3 server on 127.0.0.1 (`s3s-fs`, from the crate registry; `.ci/run`
//! installs it), with one bucket and credentials of its own, for the remote
//! cache's tests and benchmark.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "PYFODTESTACCESSKEY";
pub const SECRET_KEY: &str = "pyfod-test-secret-Zq93xY";
pub const BUCKET: &str = "cache";

/// A running `s3s-fs`, stopped when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// Where the server keeps the bucket's objects, as files.
    pub data: PathBuf,
}

impl S3Server {
    /// Starts `s3s-fs` on a free port with its data under `dir`; none when it
    /// is not installed (after [`crate::oracle::announce_skip`], which fails
    /// the test when `PYFOD_REQUIRE_ORACLE` is set).
    pub fn start(test: &str, dir: &Path) -> Option<S3Server> {
        if Command::new("s3s-fs")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            crate::oracle::announce_skip(test, "s3s-fs");
            return None;
        }
        let data = dir.join("s3-data");
        std::fs::create_dir_all(data.join(BUCKET)).expect("create the bucket");
        let port = free_port();
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let server = S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            data,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    /// The variables every S3 tool reads, pointing at this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Sets [`S3Server::env`] on `command`, and clears what could point it elsewhere.
    pub fn configure(&self, command: &mut Command) {
        for name in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_ENDPOINT_URL_S3",
            "AWS_DEFAULT_REGION",
        ] {
            command.env_remove(name);
        }
        command.envs(self.env());
    }

    /// The file holding object `key` of the bucket.
    pub fn object(&self, key: &str) -> PathBuf {
        self.data.join(BUCKET).join(key)
    }

    /// Every object key in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect(&self.data.join(BUCKET), "", &mut out);
        out.sort();
        out
    }
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in listing.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let key = format!("{prefix}{name}");
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&entry.path(), &format!("{key}/"), out);
        } else {
            out.push(key);
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
