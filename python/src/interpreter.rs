//! The interpreter a build is for: asked once about everything any stage needs,
//! and known afterwards by what it answered, never by the name it was called by.
//!
//! Each stage keys its cache on the part of the answer that can change its
//! output: fetch on the marker environment and tags ([`Interpreter::markers`]),
//! install on [`VenvIdentity`] (the venv names the executable), build-sdist on
//! [`BuildIdentity`] (the real executable and how it was built). `python3` and
//! `python3.11` in one directory are then one interpreter to build-sdist.

use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// What the interpreter says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Interpreter {
    /// `sys.executable`, as the interpreter names itself: what a venv's
    /// `bin/python` points at (uv does not resolve it either).
    pub executable: PathBuf,
    /// `sys._base_executable` with every symlink resolved: the file that runs.
    pub real_executable: PathBuf,
    /// `3.11.7`
    pub version: String,
    pub minor: u8,
    /// `sys.version`: the version, the build date and the compiler; two builds of
    /// one version differ here.
    pub build: String,
    /// The PEP 508 marker environment, by name, sorted.
    pub markers: Vec<(String, String)>,
    /// `2.36`, on glibc systems.
    pub glibc: Option<String>,
    /// A free-threaded build (`3.13t`).
    pub gil_disabled: bool,
    /// `sysconfig`'s `CFLAGS`, which setuptools drops when `CFLAGS` is set.
    pub cflags: String,
    /// `sysconfig`'s `EXT_SUFFIX`, `.cpython-311-x86_64-linux-gnu.so`.
    pub ext_suffix: String,
    /// Where `Python.h` is.
    pub include: String,
}

/// What makes two venvs of the same wheels differ: the executable their
/// `bin/python` names, and the version their `pyvenv.cfg` and `lib/` name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VenvIdentity {
    #[serde(serialize_with = "path_bytes")]
    pub executable: PathBuf,
    pub version: String,
    pub minor: u8,
}

/// What makes two builds of one sdist differ: the interpreter that runs them
/// (by its real path and its build) and the flags and headers it compiles with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildIdentity {
    #[serde(serialize_with = "path_bytes")]
    pub real_executable: PathBuf,
    pub build: String,
    pub cflags: String,
    pub ext_suffix: String,
    pub include: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum InterpreterError {
    #[error(
        "cannot run the interpreter `{python}`: {detail}; pass --python with the path of a working CPython"
    )]
    Run { python: String, detail: String },
    #[error(
        "the interpreter `{python}` exited with {status} when asked about itself{}; pass --python with a working CPython",
        if stderr.is_empty() { String::new() } else { format!(": {stderr}") }
    )]
    Failed {
        python: String,
        status: String,
        stderr: String,
    },
    #[error(
        "`{python}` did not answer as CPython 3 does ({detail}); pass --python with a working CPython"
    )]
    Answer { python: String, detail: String },
}

/// Run by the interpreter: everything pyfod asks of it, as JSON.
const PROBE: &str = r#"
import json, os, platform, sys, sysconfig
def full(info):
    v = "%d.%d.%d" % info[:3]
    if info.releaselevel != "final":
        v += info.releaselevel[0] + str(info.serial)
    return v
name, libc = platform.libc_ver()
base = getattr(sys, "_base_executable", None) or sys.executable
markers = {
    "implementation_name": sys.implementation.name,
    "implementation_version": full(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
print(json.dumps({
    "executable": sys.executable,
    "real_executable": os.path.realpath(base),
    "version": platform.python_version(),
    "minor": sys.version_info[1],
    "build": sys.version,
    "markers": sorted(markers.items()),
    "glibc": libc if name == "glibc" else None,
    "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "cflags": sysconfig.get_config_var("CFLAGS") or "",
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX") or "",
    "include": sysconfig.get_path("include") or "",
}))
"#;

impl Interpreter {
    /// Asks `python` (a path, or a name on PATH) about itself, once.
    pub fn probe(python: &str) -> Result<Interpreter, InterpreterError> {
        let output = Command::new(python)
            .args(["-I", "-c", PROBE])
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .output()
            .map_err(|e| InterpreterError::Run {
                python: python.to_owned(),
                detail: e.to_string(),
            })?;
        if !output.status.success() {
            return Err(InterpreterError::Failed {
                python: python.to_owned(),
                status: output.status.to_string(),
                stderr: last_line(&output.stderr),
            });
        }
        let answer: Interpreter =
            serde_json::from_slice(&output.stdout).map_err(|e| InterpreterError::Answer {
                python: python.to_owned(),
                detail: format!("{e}; it printed {:?}", last_line(&output.stdout)),
            })?;
        if answer.version.split('.').next() != Some("3") {
            return Err(InterpreterError::Answer {
                python: python.to_owned(),
                detail: format!("its version is {}", answer.version),
            });
        }
        Ok(answer)
    }

    /// A marker value by name (`python_full_version`, `platform_machine`, …).
    pub fn marker(&self, name: &str) -> Option<&str> {
        self.markers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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

    pub fn venv_identity(&self) -> VenvIdentity {
        VenvIdentity {
            executable: self.executable.clone(),
            version: self.version.clone(),
            minor: self.minor,
        }
    }

    pub fn build_identity(&self) -> BuildIdentity {
        BuildIdentity {
            real_executable: self.real_executable.clone(),
            build: self.build.clone(),
            cflags: self.cflags.clone(),
            ext_suffix: self.ext_suffix.clone(),
            include: self.include.clone(),
        }
    }
}

/// A path as its bytes, whatever they are (serde's own impl wants UTF-8).
fn path_bytes<S: serde::Serializer>(
    path: &std::path::Path,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use std::os::unix::ffi::OsStrExt;
    serializer.serialize_bytes(path.as_os_str().as_bytes())
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_answers_and_two_names_are_one_build() {
        let Ok(first) = Interpreter::probe("python3") else {
            eprintln!("skipped: no python3");
            return;
        };
        assert!(first.version.starts_with("3."));
        assert_eq!(
            first.marker("python_full_version"),
            Some(first.version.as_str())
        );
        let name = format!("python3.{}", first.minor);
        if let Ok(second) = Interpreter::probe(&name)
            && second.real_executable == first.real_executable
        {
            assert_eq!(second.build_identity(), first.build_identity());
        }
    }

    #[test]
    fn a_failing_interpreter_says_how_it_failed() {
        let error = Interpreter::probe("/bin/false").unwrap_err().to_string();
        assert!(error.contains("exited with exit status: 1"), "{error}");
        let error = Interpreter::probe("/no/such/python")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cannot run the interpreter `/no/such/python`"),
            "{error}"
        );
        let error = Interpreter::probe("/bin/echo").unwrap_err().to_string();
        assert!(
            error.contains("did not answer as CPython 3 does"),
            "{error}"
        );
    }
}
