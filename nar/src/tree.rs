//! Hashes a tree: one walker thread, a pool of readers, and the calling thread
//! writing the NAR stream into SHA-256 (and optionally a file) in order.

use std::io::{self, Write};
use std::path::Path;
use std::thread;

use crossbeam_channel::Receiver;
use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_manifest::{ByteString, NarEntry, NarNode, RelPath};

use crate::HashError;
use crate::budget::Budget;
use crate::nar::NarWriter;
use crate::read::{self, BufferPool, Piece};
use crate::walk::{Node, Unit, UnitData, Walker};

/// How to hash a tree.
#[derive(Debug, Clone)]
pub struct HashSettings {
    /// Threads reading files ahead of the hasher.
    pub readers: usize,
    /// Bytes of file contents that may wait, read but not yet hashed.
    pub read_ahead: u64,
    /// Record every entry with its own SHA-256, for a hash manifest.
    pub record_entries: bool,
    /// Names left out at every depth below the root (`.git`, say): the hash is
    /// that of the tree without them.
    pub skip_names: Vec<Vec<u8>>,
    /// Leave sockets, FIFOs and devices out (a NAR cannot hold them) rather
    /// than fail: for a developer's project directory, as its copy leaves them out.
    pub skip_special: bool,
}

impl Default for HashSettings {
    fn default() -> Self {
        HashSettings {
            readers: default_readers(),
            read_ahead: 4 * 1024 * 1024,
            record_entries: false,
            skip_names: Vec::new(),
            skip_special: false,
        }
    }
}

/// Readers for the machine: enough to keep a disk queue busy when the page cache
/// is cold (measured on 2 cores: 2 readers 0.85 s, 4 0.6 s, 8 0.5 s for 300 MiB),
/// few enough not to crowd the hasher when it is warm (0.22 s up to 4, 0.24 s at 8).
pub fn default_readers() -> usize {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 3).clamp(4, 16)
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
    // Units waiting for the hasher hold only names and sizes; their contents wait
    // under the read-ahead budget.
    let (unit_tx, unit_rx) = crossbeam_channel::bounded(256);
    let (job_tx, job_rx) = crossbeam_channel::bounded(256);
    let budget = Budget::new(settings.read_ahead);
    // Enough recycled chunks to cover the read-ahead, and the readers' own.
    let pool = BufferPool::new((settings.read_ahead / read::CHUNK) as usize + settings.readers + 8);
    let walker = Walker::new(unit_tx, job_tx, settings);
    thread::scope(|scope| {
        scope.spawn(move || walker.run(root));
        for _ in 0..settings.readers.max(1) {
            let jobs = job_rx.clone();
            let (budget, pool) = (&budget, &pool);
            scope.spawn(move || read::reader(&jobs, budget, pool));
        }
        drop(job_rx);
        let result = Hasher::new(nar_out, settings.record_entries)
            .and_then(|hasher| hasher.consume(&unit_rx, &budget, &pool));
        // Whatever happened, let the walker and readers finish: a closed channel
        // stops the walker, a cancelled budget stops the readers.
        budget.cancel();
        drop(unit_rx);
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
}

/// The piece of a unit's contents being consumed.
struct Current {
    bytes: Vec<u8>,
    len: usize,
    at: usize,
    counted: bool,
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
        })
    }

    fn consume(
        mut self,
        units: &Receiver<Result<Unit, HashError>>,
        budget: &Budget,
        pool: &BufferPool,
    ) -> Result<TreeHash, HashError> {
        for unit in units.iter() {
            self.unit(unit?, budget, pool).map_err(|e| match e {
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

    fn record(&mut self, name: Option<&[u8]>, node: NarNode) {
        if let Some(entries) = &mut self.entries {
            let path = child_path(&self.dirs, name);
            entries.push(NarEntry { path, node });
        }
    }

    fn unit(&mut self, unit: Unit, budget: &Budget, pool: &BufferPool) -> Result<(), Failure> {
        if let Some(data) = &unit.data {
            budget.advance(data.index);
        }
        let mut current: Option<Current> = None;
        // Entries of this unit's files, whose digests arrive when the unit ends.
        let mut file_entries = Vec::new();
        for node in unit.nodes {
            match node {
                Node::File {
                    name,
                    size,
                    executable,
                } => {
                    let data = unit.data.as_ref().expect("a unit with files has data");
                    if let Some(entries) = &self.entries {
                        file_entries.push(entries.len());
                    }
                    let file = (name.as_deref(), size, executable);
                    self.file(file, data, &mut current, budget, pool)?;
                }
                other => self.structure(other)?,
            }
        }
        if let Some(data) = &unit.data {
            self.end_unit(data, file_entries, budget, pool)?;
        }
        Ok(())
    }

    /// A directory's start or end, or a symlink.
    fn structure(&mut self, node: Node) -> Result<(), Failure> {
        match node {
            Node::DirStart { name } => {
                // Paths are only needed for the entries.
                let path = match self.entries {
                    Some(_) => child_path(&self.dirs, name.as_deref()),
                    None => RelPath::root(),
                };
                if let Some(name) = &name {
                    self.nar.start_entry(name)?;
                }
                self.nar.start_directory()?;
                self.record(name.as_deref(), NarNode::Directory);
                self.dirs.push((path, name.is_some()));
            }
            Node::DirEnd => {
                self.nar.end_directory()?;
                if let Some((_, true)) = self.dirs.pop() {
                    self.nar.end_entry()?;
                }
            }
            Node::Symlink { name, target } => {
                if let Some(name) = &name {
                    self.nar.start_entry(name)?;
                }
                self.nar.symlink(&target)?;
                if name.is_some() {
                    self.nar.end_entry()?;
                }
                self.record(
                    name.as_deref(),
                    NarNode::Symlink {
                        target: ByteString(target),
                    },
                );
            }
            Node::File { .. } => unreachable!("files are the caller's"),
        }
        Ok(())
    }

    /// A regular file: its contents taken piece by piece from the unit's data.
    fn file(
        &mut self,
        (name, size, executable): (Option<&[u8]>, u64, bool),
        data: &UnitData,
        current: &mut Option<Current>,
        budget: &Budget,
        pool: &BufferPool,
    ) -> Result<(), Failure> {
        if let Some(name) = name {
            self.nar.start_entry(name)?;
        }
        self.nar.start_regular(executable, size)?;
        let mut left = size;
        while left > 0 {
            let piece = match current {
                Some(piece) => piece,
                None => current.insert(next_piece(data)?),
            };
            let n = left.min((piece.len - piece.at) as u64) as usize;
            self.nar.contents(&piece.bytes[piece.at..piece.at + n])?;
            piece.at += n;
            left -= n as u64;
            if piece.at == piece.len {
                let piece = current.take().unwrap();
                if piece.counted {
                    budget.release(piece.bytes.len() as u64);
                }
                pool.give(piece.bytes);
            }
        }
        self.nar.end_regular()?;
        if name.is_some() {
            self.nar.end_entry()?;
        }
        self.record(
            name,
            NarNode::Regular {
                executable,
                size,
                sha256: Sha256::default(),
            },
        );
        Ok(())
    }

    /// The unit's end: what is left of its data, and its files' digests.
    fn end_unit(
        &mut self,
        data: &UnitData,
        file_entries: Vec<usize>,
        budget: &Budget,
        pool: &BufferPool,
    ) -> Result<(), Failure> {
        let digests = loop {
            match next(data)? {
                Piece::Done { digests } => break digests,
                // Empty files send no data; a unit of them still ends in Done.
                Piece::Data { bytes, counted, .. } => {
                    if counted {
                        budget.release(bytes.len() as u64);
                    }
                    pool.give(bytes);
                }
                Piece::Failed(error) => return Err(Failure::Hash(error)),
            }
        };
        if let Some(entries) = &mut self.entries {
            for (index, digest) in file_entries.into_iter().zip(digests) {
                if let NarNode::Regular { sha256, .. } = &mut entries[index].node {
                    *sha256 = digest;
                }
            }
        }
        Ok(())
    }
}

/// The path of `name` in the innermost open directory (the root's is empty).
fn child_path(dirs: &[(RelPath, bool)], name: Option<&[u8]>) -> RelPath {
    match (dirs.last(), name) {
        (Some((parent, _)), Some(name)) => parent.join(name),
        _ => RelPath::root(),
    }
}

fn next(data: &UnitData) -> Result<Piece, Failure> {
    data.pieces.recv().map_err(|_| {
        Failure::Hash(HashError::ReaderLost {
            path: data.first_path.clone(),
        })
    })
}

fn next_piece(data: &UnitData) -> Result<Current, Failure> {
    match next(data)? {
        Piece::Data {
            bytes,
            len,
            counted,
        } => Ok(Current {
            bytes,
            len,
            at: 0,
            counted,
        }),
        Piece::Failed(error) => Err(Failure::Hash(error)),
        Piece::Done { .. } => Err(Failure::Hash(HashError::ReaderLost {
            path: data.first_path.clone(),
        })),
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
