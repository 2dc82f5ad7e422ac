//! The interpreter builds run on: asked once for what goes into every build.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use crate::BuildError;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildInterpreter {
    /// The base interpreter (`sys._base_executable`), part of every build's identity.
    pub base: PathBuf,
    /// `3.11.7`
    pub version: String,
    /// `sysconfig`'s `CFLAGS`, which setuptools drops when `CFLAGS` is set.
    pub cflags: String,
}

impl BuildInterpreter {
    pub fn probe(command: &Path) -> Result<BuildInterpreter, BuildError> {
        let script = "import json, platform, sys, sysconfig; print(json.dumps({\
            'base': getattr(sys, '_base_executable', sys.executable), \
            'version': platform.python_version(), \
            'cflags': sysconfig.get_config_var('CFLAGS') or ''}))";
        let failed = |detail: String| BuildError::Interpreter {
            python: command.display().to_string(),
            detail,
        };
        let output = Command::new(command)
            .args(["-I", "-c", script])
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !output.status.success() {
            return Err(failed(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| failed(e.to_string()))
    }
}
