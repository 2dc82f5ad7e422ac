//! The base interpreter a venv runs on: where it is, and its version.

use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;

use crate::InstallError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The executable, as the interpreter names itself (`sys.executable`).
    pub executable: PathBuf,
    /// `3.11.7`
    pub version: String,
    pub minor: u8,
}

impl Interpreter {
    /// Asks `python` (a path, or a name on PATH) where it is and what it is.
    pub fn probe(python: &str) -> Result<Interpreter, InstallError> {
        #[derive(Deserialize)]
        struct Answer {
            executable: PathBuf,
            version: String,
            minor: u8,
        }
        let script = "import json, platform, sys; print(json.dumps({'executable': sys.executable, 'version': platform.python_version(), 'minor': sys.version_info[1]}))";
        let output = Command::new(python)
            .args(["-I", "-c", script])
            .output()
            .map_err(|e| InstallError::Interpreter {
                python: python.to_owned(),
                detail: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(InstallError::Interpreter {
                python: python.to_owned(),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        let answer: Answer =
            serde_json::from_slice(&output.stdout).map_err(|e| InstallError::Interpreter {
                python: python.to_owned(),
                detail: e.to_string(),
            })?;
        Ok(Interpreter {
            executable: answer.executable,
            version: answer.version,
            minor: answer.minor,
        })
    }

    /// `home` in `pyvenv.cfg`: the directory of the executable.
    pub fn home(&self) -> PathBuf {
        self.executable
            .parent()
            .map_or_else(|| PathBuf::from("/"), PathBuf::from)
    }

    /// `python3.Y`
    pub fn versioned_name(&self) -> String {
        format!("python3.{}", self.minor)
    }
}
