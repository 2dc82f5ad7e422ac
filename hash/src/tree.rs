//! Hashes a tree: one walker thread, a pool of readers, and the calling thread
//! writing the NAR stream into SHA-256 (and optionally a file) in order.

use std::io::{self, Write};
use std::path::Path;
use std::thread;

use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_manifest::{ByteString, NarEntry, NarNode, RelPath};

use crate::HashError;
use crate::budget::Budget;
use crate::nar::NarWriter;
use crate::read::{self, Piece};
use crate::walk::{Event, Walker};

/// How to hash a tree.
#[derive(Debug, Clone)]
pub struct HashSettings {
    /// Threads reading files ahead of the hasher.
    pub readers: usize,
    /// Bytes of file contents that may wait, read but not yet hashed.
    pub read_ahead: u64,
    /// Record every entry with its own SHA-256, for a hash manifest.
    pub record_entries: bool,
}

impl Default for HashSettings {
    fn default() -> Self {
        HashSettings {
            readers: default_readers(),
            read_ahead: 32 * 1024 * 1024,
            record_entries: false,
        }
    }
}

/// Readers for the machine: enough to keep a disk queue busy when the page cache
/// is cold, few enough not to crowd the hasher when it is warm.
pub fn default_readers() -> usize {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 2).clamp(2, 8)
}

/// The NAR hash of a tree, and its entries when asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHash {
    pub nar_sha256: Sha256,
    pub nar_size: u64,
    /// In NAR order; empty unless [`HashSettings::record_entries`].
    pub entries: Vec<NarEntry>,
}

/// Computes the NAR serialisation of `root` (a file, symlink or directory, never
/// followed) and its SHA-256, writing the NAR bytes to `nar_out` as well if given.
pub fn hash_path(
    root: &Path,
    settings: &HashSettings,
    nar_out: Option<&mut dyn Write>,
) -> Result<TreeHash, HashError> {
    let (event_tx, event_rx) = crossbeam_channel::bounded(4096);
    let (job_tx, job_rx) = crossbeam_channel::bounded(4096);
    let budget = Budget::new(settings.read_ahead);
    let walker = Walker::new(event_tx, job_tx, settings.record_entries);
    thread::scope(|scope| {
        scope.spawn(move || walker.run(root));
        for _ in 0..settings.readers.max(1) {
            let jobs = job_rx.clone();
            let budget = &budget;
            scope.spawn(move || read::reader(&jobs, budget));
        }
        drop(job_rx);
        let result = Hasher::new(nar_out, settings.record_entries)
            .and_then(|hasher| hasher.consume(&event_rx, &budget));
        // Whatever happened, let the walker and readers finish: a closed channel
        // stops the walker, a cancelled budget stops the readers.
        budget.cancel();
        drop(event_rx);
        result
    })
}

/// Everything the NAR stream is written to.
struct Sink<'a> {
    digest: Sha256Hasher,
    copy: Option<io::BufWriter<&'a mut dyn Write>>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.digest.update(buf);
        if let Some(copy) = &mut self.copy {
            copy.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.copy {
            Some(copy) => copy.flush(),
            None => Ok(()),
        }
    }
}

struct Hasher<'a> {
    nar: NarWriter<Sink<'a>>,
    /// Path of each open directory, and whether it is an entry of its parent.
    dirs: Vec<(RelPath, bool)>,
    entries: Option<Vec<NarEntry>>,
    next_file: u64,
}

impl<'a> Hasher<'a> {
    fn new(nar_out: Option<&'a mut dyn Write>, record: bool) -> Result<Self, HashError> {
        let sink = Sink {
            digest: Sha256Hasher::new(),
            copy: nar_out.map(|out| io::BufWriter::with_capacity(1 << 20, out)),
        };
        Ok(Hasher {
            nar: NarWriter::new(sink).map_err(HashError::Sink)?,
            dirs: Vec::new(),
            entries: record.then(Vec::new),
            next_file: 0,
        })
    }

    fn consume(
        mut self,
        events: &crossbeam_channel::Receiver<Result<Event, HashError>>,
        budget: &Budget,
    ) -> Result<TreeHash, HashError> {
        for event in events.iter() {
            self.event(event?, budget).map_err(|e| match e {
                Failure::Hash(e) => e,
                Failure::Sink(e) => HashError::Sink(e),
            })?;
        }
        let sink = self.nar.finish().map_err(HashError::Sink)?;
        Ok(TreeHash {
            nar_size: sink.digest.len(),
            nar_sha256: sink.digest.finish(),
            entries: self.entries.unwrap_or_default(),
        })
    }

    fn path_of(&self, name: Option<&[u8]>) -> RelPath {
        match (self.dirs.last(), name) {
            (Some((parent, _)), Some(name)) => parent.join(name),
            _ => RelPath::root(),
        }
    }

    fn record(&mut self, path: RelPath, node: NarNode) {
        if let Some(entries) = &mut self.entries {
            entries.push(NarEntry { path, node });
        }
    }

    fn event(&mut self, event: Event, budget: &Budget) -> Result<(), Failure> {
        match event {
            Event::DirStart { name } => {
                let path = self.path_of(name.as_deref());
                if let Some(name) = &name {
                    self.nar.start_entry(name)?;
                }
                self.nar.start_directory()?;
                if self.entries.is_some() {
                    self.record(path.clone(), NarNode::Directory);
                }
                self.dirs.push((path, name.is_some()));
            }
            Event::DirEnd => {
                self.nar.end_directory()?;
                if let Some((_, true)) = self.dirs.pop() {
                    self.nar.end_entry()?;
                }
            }
            Event::Symlink { name, target } => {
                if let Some(name) = &name {
                    self.nar.start_entry(name)?;
                }
                self.nar.symlink(&target)?;
                if name.is_some() {
                    self.nar.end_entry()?;
                }
                if self.entries.is_some() {
                    let path = self.path_of(name.as_deref());
                    self.record(
                        path,
                        NarNode::Symlink {
                            target: ByteString(target),
                        },
                    );
                }
            }
            Event::File {
                name,
                path,
                size,
                executable,
                data,
            } => {
                budget.advance(self.next_file);
                self.next_file += 1;
                if let Some(name) = &name {
                    self.nar.start_entry(name)?;
                }
                self.nar.start_regular(executable, size)?;
                let digest = loop {
                    match data.recv() {
                        Ok(Piece::Data { bytes, counted }) => {
                            self.nar.contents(&bytes)?;
                            if counted {
                                budget.release(bytes.len() as u64);
                            }
                        }
                        Ok(Piece::Done { digest }) => break digest,
                        Ok(Piece::Failed(error)) => return Err(Failure::Hash(error)),
                        Err(_) => return Err(Failure::Hash(HashError::ReaderLost { path })),
                    }
                };
                self.nar.end_regular()?;
                if name.is_some() {
                    self.nar.end_entry()?;
                }
                if let (Some(sha256), true) = (digest, self.entries.is_some()) {
                    let entry_path = self.path_of(name.as_deref());
                    self.record(
                        entry_path,
                        NarNode::Regular {
                            executable,
                            size,
                            sha256,
                        },
                    );
                }
            }
        }
        Ok(())
    }
}

enum Failure {
    Hash(HashError),
    Sink(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Sink(e)
    }
}
