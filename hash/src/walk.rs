//! Walks a tree in NAR order and hands its files to the readers.
//!
//! One thread walks: it lists each directory, sorts the names by their bytes, and
//! sends the hasher one event per node, in the order the NAR needs them. For each
//! regular file it also queues a read job, after the event, so that every job a
//! reader holds belongs to a file the hasher will reach.

use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};

use crate::HashError;
use crate::read::{Job, Piece};

/// Capacity of each file's chunk channel: how far a reader may run ahead within
/// the file the hasher is on.
const CHUNKS_IN_FLIGHT: usize = 8;

/// A node of the tree, in NAR order. `name` is `None` for the root.
#[derive(Debug)]
pub(crate) enum Event {
    DirStart {
        name: Option<Vec<u8>>,
    },
    DirEnd,
    File {
        name: Option<Vec<u8>>,
        path: PathBuf,
        size: u64,
        executable: bool,
        data: Receiver<Piece>,
    },
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
    },
}

pub(crate) struct Walker {
    pub(crate) events: Sender<Result<Event, HashError>>,
    pub(crate) jobs: Sender<Job>,
    pub(crate) record_digests: bool,
    next_file: u64,
}

struct Frame {
    dir: PathBuf,
    entries: std::vec::IntoIter<(Vec<u8>, Metadata)>,
}

impl Walker {
    pub(crate) fn new(
        events: Sender<Result<Event, HashError>>,
        jobs: Sender<Job>,
        record_digests: bool,
    ) -> Self {
        Walker {
            events,
            jobs,
            record_digests,
            next_file: 0,
        }
    }

    /// Walks `root`, sending every node; an error is sent as the last event.
    pub(crate) fn run(mut self, root: &Path) {
        if let Err(Some(error)) = self.walk(root) {
            let _ = self.events.send(Err(error));
        }
    }

    /// `Err(None)` means the hasher stopped listening.
    fn walk(&mut self, root: &Path) -> Result<(), Option<HashError>> {
        let meta = root.symlink_metadata().map_err(|source| HashError::Io {
            action: "read",
            path: root.to_path_buf(),
            source,
        })?;
        let mut stack = Vec::new();
        self.node(None, root.to_path_buf(), &meta, &mut stack)?;
        while let Some(frame) = stack.last_mut() {
            match frame.entries.next() {
                Some((name, meta)) => {
                    let path = frame.dir.join(std::ffi::OsStr::from_bytes(&name));
                    self.node(Some(name), path, &meta, &mut stack)?;
                }
                None => {
                    stack.pop();
                    self.send(Event::DirEnd)?;
                }
            }
        }
        Ok(())
    }

    fn node(
        &mut self,
        name: Option<Vec<u8>>,
        path: PathBuf,
        meta: &Metadata,
        stack: &mut Vec<Frame>,
    ) -> Result<(), Option<HashError>> {
        let file_type = meta.file_type();
        if file_type.is_dir() {
            let entries = list_dir(&path)?;
            self.send(Event::DirStart { name })?;
            stack.push(Frame {
                dir: path,
                entries: entries.into_iter(),
            });
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path).map_err(|source| HashError::Io {
                action: "read the symlink",
                path: path.clone(),
                source,
            })?;
            let target = target.into_os_string().into_encoded_bytes();
            self.send(Event::Symlink { name, target })?;
        } else if file_type.is_file() {
            let (sender, receiver) = crossbeam_channel::bounded(CHUNKS_IN_FLIGHT);
            let index = self.next_file;
            self.next_file += 1;
            self.send(Event::File {
                name,
                path: path.clone(),
                size: meta.len(),
                executable: meta.mode() & 0o100 != 0,
                data: receiver,
            })?;
            let job = Job {
                index,
                path,
                size: meta.len(),
                identity: (meta.dev(), meta.ino()),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                record_digest: self.record_digests,
                chunks: sender,
            };
            self.jobs.send(job).map_err(|_| None)?;
        } else {
            let kind = if file_type.is_socket() {
                "socket"
            } else if file_type.is_fifo() {
                "FIFO (named pipe)"
            } else if file_type.is_block_device() {
                "block device"
            } else if file_type.is_char_device() {
                "character device"
            } else {
                "file of unknown type"
            };
            return Err(Some(HashError::Unsupported { path, kind }));
        }
        Ok(())
    }

    fn send(&self, event: Event) -> Result<(), Option<HashError>> {
        self.events.send(Ok(event)).map_err(|_| None)
    }
}

/// A directory's entries with their (not followed) metadata, sorted by the
/// unsigned bytes of their names, as NAR requires.
fn list_dir(dir: &Path) -> Result<Vec<(Vec<u8>, Metadata)>, HashError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| HashError::Io {
            action,
            path,
            source,
        }
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("list the directory", dir))? {
        let entry = entry.map_err(io_error("list the directory", dir))?;
        let meta = entry.metadata().map_err(io_error("read", &entry.path()))?;
        entries.push((entry.file_name().into_encoded_bytes(), meta));
    }
    entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}
