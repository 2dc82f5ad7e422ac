//! Walks a tree in NAR order and hands its files to the readers in units.
//!
//! One thread walks: it lists each directory, sorts the names by their bytes, and
//! groups the nodes, in NAR order, into units. A unit's files are read by one
//! reader into one buffer, so a tree of many small files costs one hand-over per
//! unit, not per file; a file larger than a chunk is a unit of its own, streamed.
//! Each unit goes to the hasher before its read job goes to the readers, so every
//! job a reader holds belongs to a unit the hasher will reach.

use std::fs::{self, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};

use crate::HashError;
use crate::read::{CHUNK, FileJob, Job, Piece};

/// Capacity of each unit's piece channel: how far a reader may run ahead within
/// the unit the hasher is on.
const PIECES_IN_FLIGHT: usize = 8;
/// Most files in one unit.
const MAX_UNIT_FILES: usize = 128;
/// Most nodes in one unit, so a tree of empty directories still flows.
const MAX_UNIT_NODES: usize = 1024;

/// A node of the tree, in NAR order. `name` is `None` for the root.
#[derive(Debug)]
pub(crate) enum Node {
    DirStart {
        name: Option<Vec<u8>>,
    },
    DirEnd,
    File {
        name: Option<Vec<u8>>,
        size: u64,
        executable: bool,
    },
    Symlink {
        name: Option<Vec<u8>>,
        target: Vec<u8>,
    },
}

/// Consecutive nodes, and the contents of their regular files, concatenated in
/// order, arriving on `data` (absent when the unit has no regular file).
#[derive(Debug)]
pub(crate) struct Unit {
    pub(crate) nodes: Vec<Node>,
    pub(crate) data: Option<UnitData>,
}

#[derive(Debug)]
pub(crate) struct UnitData {
    /// Position among the units that have files: the budget's notion of "ahead".
    pub(crate) index: u64,
    /// The first file, to name in an error if the reader vanishes.
    pub(crate) first_path: PathBuf,
    pub(crate) pieces: Receiver<Piece>,
}

pub(crate) struct Walker {
    units: Sender<Result<Unit, HashError>>,
    jobs: Sender<Job>,
    record_digests: bool,
    /// Names left out at every depth.
    skip: Vec<Vec<u8>>,
    skip_special: bool,
    next_index: u64,
    nodes: Vec<Node>,
    files: Vec<FileJob>,
    bytes: u64,
}

struct Frame {
    dir: PathBuf,
    entries: std::vec::IntoIter<(Vec<u8>, Metadata)>,
}

/// Why the walk stopped early: an error to report, or the hasher went away.
enum Stop {
    Error(HashError),
    Gone,
}

impl From<HashError> for Stop {
    fn from(e: HashError) -> Self {
        Stop::Error(e)
    }
}

impl Walker {
    pub(crate) fn new(
        units: Sender<Result<Unit, HashError>>,
        jobs: Sender<Job>,
        settings: &crate::HashSettings,
    ) -> Self {
        Walker {
            units,
            jobs,
            record_digests: settings.record_entries,
            skip: settings.skip_names.clone(),
            skip_special: settings.skip_special,
            next_index: 0,
            nodes: Vec::new(),
            files: Vec::new(),
            bytes: 0,
        }
    }

    /// Walks `root`, sending every node; an error is sent as the last unit.
    pub(crate) fn run(mut self, root: &Path) {
        if let Err(Stop::Error(error)) = self.walk(root).and_then(|()| self.flush()) {
            let _ = self.units.send(Err(error));
        }
    }

    fn walk(&mut self, root: &Path) -> Result<(), Stop> {
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
                    self.push(Node::DirEnd)?;
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
    ) -> Result<(), Stop> {
        let file_type = meta.file_type();
        if file_type.is_dir() {
            let mut entries = list_dir(&path)?;
            if !self.skip.is_empty() {
                entries.retain(|(name, _)| !self.skip.contains(name));
            }
            if self.skip_special {
                entries.retain(|(_, meta)| {
                    let kind = meta.file_type();
                    kind.is_dir() || kind.is_file() || kind.is_symlink()
                });
            }
            self.push(Node::DirStart { name })?;
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
            self.push(Node::Symlink { name, target })?;
        } else if file_type.is_file() {
            let size = meta.len();
            if self.bytes + size > CHUNK || self.files.len() == MAX_UNIT_FILES {
                self.flush()?;
            }
            self.nodes.push(Node::File {
                name,
                size,
                executable: meta.mode() & 0o100 != 0,
            });
            self.files.push(FileJob {
                path,
                size,
                identity: (meta.dev(), meta.ino()),
                mtime: (meta.mtime(), meta.mtime_nsec()),
            });
            self.bytes += size;
            if size > CHUNK {
                self.flush()?;
            }
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
            return Err(HashError::Unsupported { path, kind }.into());
        }
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), Stop> {
        self.nodes.push(node);
        if self.nodes.len() >= MAX_UNIT_NODES {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends the unit built so far: to the hasher first, then its files to a reader.
    fn flush(&mut self) -> Result<(), Stop> {
        if self.nodes.is_empty() {
            return Ok(());
        }
        let nodes = std::mem::take(&mut self.nodes);
        let files = std::mem::take(&mut self.files);
        self.bytes = 0;
        let Some(first) = files.first() else {
            return self.send(Unit { nodes, data: None });
        };
        let (sender, receiver) = crossbeam_channel::bounded(PIECES_IN_FLIGHT);
        let index = self.next_index;
        self.next_index += 1;
        let data = UnitData {
            index,
            first_path: first.path.clone(),
            pieces: receiver,
        };
        self.send(Unit {
            nodes,
            data: Some(data),
        })?;
        let job = Job {
            index,
            files,
            record_digests: self.record_digests,
            pieces: sender,
        };
        self.jobs.send(job).map_err(|_| Stop::Gone)
    }

    fn send(&self, unit: Unit) -> Result<(), Stop> {
        self.units.send(Ok(unit)).map_err(|_| Stop::Gone)
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
