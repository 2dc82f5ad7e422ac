//! A jobserver in GNU make's named-pipe form (`--jobserver-auth=fifo:PATH`,
//! make 4.4): the pipe holds one byte per job that may run; whoever starts a
//! job beyond the one it was given takes a byte, and puts it back when the job
//! ends. pyfod takes one for each build it starts; inside a build, cargo
//! (`CARGO_MAKEFLAGS`) and pyfod's hook runner (setuptools' parallel
//! `build_ext`) take one for each compiler they run beside their first. So
//! `--jobs` bounds the compilers of every build together, not each build.
//!
//! Not `MAKEFLAGS`: make 4.3 (Debian 12's) stops with "invalid
//! --jobserver-auth string" at the named-pipe form, and the descriptor form
//! does not survive the `close_fds` of Python's `subprocess`. A make or ninja
//! a backend runs keeps its own job count.
//!
//! Tokens only decide when work runs, never what it makes, so nothing of the
//! jobserver enters a cache key.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The byte a token is; make accepts any, and gives back what it took.
const TOKEN: u8 = b'+';
/// How often a wait for a token looks whether it should give up.
const POLL: Duration = Duration::from_millis(100);

/// A named pipe of `jobs` tokens, removed when dropped.
#[derive(Debug)]
pub struct Jobserver {
    path: PathBuf,
    /// Held open for reading and writing, so the pipe lives while pyfod does,
    /// and non-blocking, so a wait can look up from time to time.
    pipe: File,
    jobs: usize,
}

/// One token taken; given back when dropped.
#[derive(Debug)]
pub struct Token<'a> {
    server: &'a Jobserver,
    byte: u8,
}

impl Jobserver {
    /// A jobserver of `jobs` tokens at `dir/jobserver` (a directory of pyfod's
    /// own: clients open it by name).
    pub fn new(dir: &Path, jobs: usize) -> io::Result<Jobserver> {
        let path = dir.join("jobserver");
        make_fifo(&path)?;
        let pipe = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        let server = Jobserver {
            path,
            pipe,
            jobs: jobs.max(1),
        };
        (&server.pipe).write_all(&vec![TOKEN; server.jobs])?;
        Ok(server)
    }

    /// Where clients open it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The jobs it allows at once.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// What cargo reads from `CARGO_MAKEFLAGS` to join it.
    pub fn makeflags(&self) -> String {
        format!(
            " -j{} --jobserver-auth=fifo:{}",
            self.jobs,
            self.path.display()
        )
    }

    /// Waits for a token; `None` as soon as `give_up` says so (looked at every
    /// 100 ms), or when pyfod is interrupted.
    pub fn acquire(&self, give_up: impl Fn() -> bool) -> io::Result<Option<Token<'_>>> {
        let mut byte = [0u8];
        loop {
            match (&self.pipe).read(&mut byte) {
                Ok(1) => {
                    return Ok(Some(Token {
                        server: self,
                        byte: byte[0],
                    }));
                }
                Ok(_) => return Err(io::Error::other("the jobserver's pipe was closed")),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if give_up() || crate::interrupted().is_some() {
                return Ok(None);
            }
            wait_readable(&self.pipe, POLL);
        }
    }
}

impl Drop for Token<'_> {
    fn drop(&mut self) {
        // The pipe has room: it never holds more than the tokens it was given.
        let _ = (&self.server.pipe).write_all(&[self.byte]);
    }
}

impl Drop for Jobserver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn make_fifo(path: &Path) -> io::Result<()> {
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::other("a path with a NUL byte"))?;
    // SAFETY: `name` is a valid C string that outlives the call.
    #[allow(unsafe_code)]
    let made = unsafe { libc::mkfifo(name.as_ptr(), 0o600) };
    if made != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sleeps until `file` may be read or `timeout` passed.
fn wait_readable(file: &File, timeout: Duration) {
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    #[allow(unsafe_code)]
    unsafe {
        libc::poll(&mut poll, 1, timeout.as_millis() as libc::c_int);
    }
}
