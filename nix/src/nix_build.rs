//! `nix-build` run on an expression file: its log goes through to pyfod's
//! standard error as it comes, and its verdict is read from it.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Verdict;

/// How much of the end of Nix's log is kept to read the verdict from: the
/// report is the log's last lines, and a compile's log can be long.
const KEPT_LOG: usize = 1 << 20;

/// One `nix-build FILE --no-out-link ARGS…`.
#[derive(Debug, Clone)]
pub struct NixBuild {
    /// `nix-build`, or another path to it.
    pub program: PathBuf,
    /// Given after the file: `--arg`, `-I`, `--option`, …
    pub args: Vec<OsString>,
}

#[derive(Debug, thiserror::Error)]
pub enum NixBuildError {
    #[error(
        "cannot run {program}: {source}; install Nix (Debian: `apt-get install nix-bin`) or drop --build"
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read what {program} printed")]
    Read {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// What `nix-build` said, and its verdict.
#[derive(Debug, Clone)]
pub struct NixBuildOutput {
    pub verdict: Verdict,
    /// The end of its standard error.
    pub log: String,
}

impl Default for NixBuild {
    fn default() -> Self {
        NixBuild {
            program: PathBuf::from("nix-build"),
            args: Vec::new(),
        }
    }
}

impl NixBuild {
    /// Builds `expression`, echoing Nix's log to standard error unless `quiet`.
    pub fn run(&self, expression: &Path, quiet: bool) -> Result<NixBuildOutput, NixBuildError> {
        let program = self.program.display().to_string();
        let mut child = Command::new(&self.program)
            .arg(expression)
            .arg("--no-out-link")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| NixBuildError::Spawn {
                program: program.clone(),
                source,
            })?;
        let mut stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let reading = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).map(|_| text)
        });
        let log = echo_and_keep(stderr, quiet);
        let status = child.wait();
        let stdout = reading.join().expect("the reader does not panic");
        let read_error = |source| NixBuildError::Read {
            program: program.clone(),
            source,
        };
        let (status, stdout, log) = (
            status.map_err(read_error)?,
            stdout.map_err(read_error)?,
            log.map_err(read_error)?,
        );
        Ok(NixBuildOutput {
            verdict: Verdict::read(status.success(), &stdout, &log),
            log,
        })
    }
}

/// Copies `from` to standard error line by line (unless `quiet`), keeping the
/// last [`KEPT_LOG`] bytes.
fn echo_and_keep(from: impl Read, quiet: bool) -> std::io::Result<String> {
    let mut kept = String::new();
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(kept);
        }
        if !quiet {
            let _ = std::io::stderr().write_all(&line);
        }
        kept.push_str(&String::from_utf8_lossy(&line));
        if kept.len() > 2 * KEPT_LOG {
            let cut = kept.len() - KEPT_LOG;
            let cut = (cut..kept.len())
                .find(|&i| kept.is_char_boundary(i))
                .unwrap_or(kept.len());
            kept.drain(..cut);
        }
    }
}
