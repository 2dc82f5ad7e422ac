//! PEP 517 hooks called through the target interpreter by pyfod's own small hook
//! runner (`hook_runner.py`), in a clean environment, with the backend's output
//! kept in the build log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::BuildError;

const RUNNER: &str = include_str!("hook_runner.py");

/// One source tree's backend, ready to be called.
#[derive(Debug)]
pub struct Backend<'a> {
    /// `name version`, for messages.
    pub package: &'a str,
    /// How long one hook may run.
    pub timeout: Option<std::time::Duration>,
    /// How much nicer than pyfod it runs: builds others wait for run at 0.
    pub niceness: i32,
    pub python: &'a Path,
    pub source: &'a Path,
    pub work: &'a Path,
    pub vars: &'a BTreeMap<String, String>,
    pub log: &'a Path,
    pub backend: &'a str,
    pub backend_path: Option<&'a [String]>,
    pub config_settings: Option<serde_json::Value>,
}

/// How a hook call ended, short of the backend failing.
#[derive(Debug)]
pub enum Answer {
    Ok(serde_json::Value),
    /// The backend's module cannot be imported: a build requirement is missing.
    Unavailable(String),
    /// `backend-path` was given but the backend was imported from elsewhere.
    OutsidePath(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawAnswer {
    Ok(serde_json::Value),
    BackendUnavailable(String),
    BackendOutsidePath(String),
}

/// A hook that exited with an error; the log says why.
#[derive(Debug)]
pub struct HookFailed {
    pub hook: &'static str,
    pub log: PathBuf,
}

impl Backend<'_> {
    /// Calls `hook` and returns what it answered.
    pub fn call(&self, hook: &'static str) -> Result<Result<Answer, HookFailed>, BuildError> {
        let runner = self.work.join("pyfod_hook_runner.py");
        if !runner.exists() {
            fs::write(&runner, RUNNER).map_err(|e| BuildError::io("write", &runner, e))?;
        }
        let wheel_directory = self.work.join("wheel");
        fs::create_dir_all(&wheel_directory)
            .map_err(|e| BuildError::io("create", &wheel_directory, e))?;
        let request = serde_json::json!({
            "hook": hook,
            "backend": self.backend,
            "backend_path": self.backend_path,
            "config_settings": self.config_settings,
            "wheel_directory": wheel_directory,
        });
        let request_path = self.work.join(format!("{hook}.request.json"));
        let result_path = self.work.join(format!("{hook}.result.json"));
        fs::write(&request_path, request.to_string())
            .map_err(|e| BuildError::io("write", &request_path, e))?;

        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log)
            .map_err(|e| BuildError::io("open", self.log, e))?;
        let header = format!(
            "pyfod: {hook} of {} in {}\n",
            self.backend,
            self.source.display()
        );
        log.write_all(header.as_bytes())
            .map_err(|e| BuildError::io("write", self.log, e))?;
        let stderr = log
            .try_clone()
            .map_err(|e| BuildError::io("open", self.log, e))?;
        // `sh` sets the umask, so that files the backend writes are 0644 and 0755
        // whatever the caller's umask, without unsafe code in pyfod.
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg("umask 022 && exec \"$@\"")
            .arg("sh")
            .arg(self.python)
            .arg(&runner)
            .arg(&request_path)
            .arg(&result_path)
            .current_dir(self.source)
            .env_clear()
            .envs(self.vars)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr));
        // Its own process group: a timeout or an interrupt ends the backend and
        // everything it started.
        let what = format!("the build of {} ({hook})", self.package);
        let status = pyfod_process::run(&mut command, &what, self.timeout, self.niceness)?;
        if !status.success() {
            return Ok(Err(HookFailed {
                hook,
                log: self.log.to_path_buf(),
            }));
        }
        let text = fs::read_to_string(&result_path)
            .map_err(|e| BuildError::io("read", &result_path, e))?;
        let raw: RawAnswer = serde_json::from_str(&text).map_err(|e| {
            BuildError::io(
                "read",
                &result_path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(Ok(match raw {
            RawAnswer::Ok(value) => Answer::Ok(value),
            RawAnswer::BackendUnavailable(why) => Answer::Unavailable(why),
            RawAnswer::BackendOutsidePath(origin) => Answer::OutsidePath(origin),
        }))
    }
}

/// Starts a build log with the environment the build runs in, so the log alone
/// says how to reproduce it.
pub fn start_log(log: &Path, vars: &BTreeMap<String, String>) -> Result<(), BuildError> {
    let mut file = File::create(log).map_err(|e| BuildError::io("create", log, e))?;
    let mut text = String::from("pyfod: build environment\n");
    for (name, value) in vars {
        text.push_str(&format!("  {name}={value}\n"));
    }
    file.write_all(text.as_bytes())
        .map_err(|e| BuildError::io("write", log, e))
}
