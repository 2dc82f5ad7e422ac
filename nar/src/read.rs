//! Reader threads: read the files of a unit ahead of the hasher, in parallel, in
//! bounded chunks.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use pyfod_digest::{Sha256, Sha256Hasher};

use crate::HashError;
use crate::budget::Budget;

/// Largest piece of data handed to the hasher at once, and the most bytes of
/// small files grouped into one unit. Small enough to stay in a core's cache.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// The files of one unit, for one reader.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) index: u64,
    pub(crate) files: Vec<FileJob>,
    /// Also compute each file's own SHA-256 (for the hash manifest).
    pub(crate) record_digests: bool,
    pub(crate) pieces: Sender<Piece>,
}

/// One regular file, as the walker saw it.
#[derive(Debug)]
pub(crate) struct FileJob {
    pub(crate) path: PathBuf,
    /// The NAR header announces this many bytes.
    pub(crate) size: u64,
    /// Device and inode.
    pub(crate) identity: (u64, u64),
    /// Modification time (seconds, nanoseconds).
    pub(crate) mtime: (i64, i64),
}

#[derive(Debug)]
pub(crate) enum Piece {
    /// `bytes[..len]` is the next part of the unit's concatenated contents.
    Data {
        bytes: Vec<u8>,
        len: usize,
        counted: bool,
    },
    /// The unit is complete; each file's own digest, when asked for.
    Done {
        digests: Vec<Sha256>,
    },
    Failed(HashError),
}

/// Chunk buffers, handed back by the hasher once hashed, so that reading costs
/// no allocation, zeroing or page faults per chunk.
#[derive(Debug)]
pub(crate) struct BufferPool {
    sender: Sender<Vec<u8>>,
    receiver: Receiver<Vec<u8>>,
}

impl BufferPool {
    pub(crate) fn new(buffers: usize) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(buffers);
        BufferPool { sender, receiver }
    }

    /// A buffer that holds `len` bytes: a recycled chunk, or a small exact one.
    fn take(&self, len: u64) -> Vec<u8> {
        if len > CHUNK / 4 {
            self.receiver
                .try_recv()
                .unwrap_or_else(|_| vec![0u8; CHUNK as usize])
        } else {
            vec![0u8; len as usize]
        }
    }

    /// Takes back a buffer the hasher is done with.
    pub(crate) fn give(&self, buffer: Vec<u8>) {
        if buffer.len() as u64 == CHUNK {
            let _ = self.sender.try_send(buffer);
        }
    }
}

/// Runs jobs until the queue closes or the hasher stops.
pub(crate) fn reader(jobs: &Receiver<Job>, budget: &Budget, pool: &BufferPool) {
    yield_to_hasher();
    for job in jobs.iter() {
        let reader = UnitReader {
            job: &job,
            budget,
            pool,
        };
        match reader.read() {
            Ok(Some(digests)) => {
                let _ = job.pieces.send(Piece::Done { digests });
            }
            Ok(None) => return,
            Err(error) => {
                let _ = job.pieces.send(Piece::Failed(error));
            }
        }
    }
}

/// Lowers this thread's priority. With the page cache warm, readers are as
/// CPU-bound as the hasher, and a fair scheduler would give the one thread that
/// matters a fraction of a core; reading from disk, readers sleep on I/O and the
/// priority makes no difference.
fn yield_to_hasher() {
    // SAFETY: gettid and setpriority take and return plain integers; on Linux,
    // PRIO_PROCESS with a thread id changes that thread alone.
    #[allow(unsafe_code)]
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

struct UnitReader<'a> {
    job: &'a Job,
    budget: &'a Budget,
    pool: &'a BufferPool,
}

/// `Ok(None)`: the hasher has stopped, so should we.
type ReadResult<T> = Result<Option<T>, HashError>;

impl UnitReader<'_> {
    fn read(&self) -> ReadResult<Vec<Sha256>> {
        match self.job.files.as_slice() {
            [file] if file.size > CHUNK => self
                .stream(file)
                .map(|d| d.map(|d| d.into_iter().collect())),
            files => self.gather(files),
        }
    }

    /// Reads small files back to back into one buffer and sends it whole.
    fn gather(&self, files: &[FileJob]) -> ReadResult<Vec<Sha256>> {
        let total: u64 = files.iter().map(|f| f.size).sum();
        let mut bytes = self.pool.take(total);
        let mut digests = Vec::new();
        let mut at = 0usize;
        for file in files {
            let mut handle = open(file)?;
            let end = at + file.size as usize;
            let got =
                read_full(&mut handle, &mut bytes[at..end]).map_err(io_error("read", file))?;
            if got < file.size as usize {
                return Err(shrank(file, got as u64));
            }
            check_unchanged(&handle, file)?;
            if self.job.record_digests {
                digests.push(Sha256::of(&bytes[at..end]));
            }
            at = end;
        }
        let Ok(counted) = self.budget.acquire(bytes.len() as u64, self.job.index) else {
            return Ok(None);
        };
        self.send(bytes, total as usize, counted)
            .map(|sent| sent.then_some(digests))
    }

    /// Streams one large file in chunks, each counted against the budget.
    fn stream(&self, file: &FileJob) -> ReadResult<Option<Sha256>> {
        let mut handle = open(file)?;
        let mut digest = self.job.record_digests.then(Sha256Hasher::new);
        let mut remaining = file.size;
        while remaining > 0 {
            let want = remaining.min(CHUNK);
            let mut bytes = self.pool.take(want);
            let Ok(counted) = self.budget.acquire(bytes.len() as u64, self.job.index) else {
                return Ok(None);
            };
            let got = match read_full(&mut handle, &mut bytes[..want as usize]) {
                Ok(got) if got as u64 == want => got,
                result => {
                    if counted {
                        self.budget.release(bytes.len() as u64);
                    }
                    let got = result.map_err(io_error("read", file))?;
                    return Err(shrank(file, file.size - remaining + got as u64));
                }
            };
            if let Some(digest) = &mut digest {
                digest.update(&bytes[..got]);
            }
            remaining -= want;
            if !self.send(bytes, got, counted)? {
                return Ok(None);
            }
        }
        check_unchanged(&handle, file)?;
        Ok(Some(digest.map(Sha256Hasher::finish)))
    }

    /// Hands a piece to the hasher; false when it has gone.
    fn send(&self, bytes: Vec<u8>, len: usize, counted: bool) -> Result<bool, HashError> {
        let size = bytes.len() as u64;
        if self
            .job
            .pieces
            .send(Piece::Data {
                bytes,
                len,
                counted,
            })
            .is_err()
        {
            if counted {
                self.budget.release(size);
            }
            return Ok(false);
        }
        Ok(true)
    }
}

fn io_error(action: &'static str, file: &FileJob) -> impl FnOnce(io::Error) -> HashError {
    let path = file.path.clone();
    move |source| HashError::Io {
        action,
        path,
        source,
    }
}

fn open(file: &FileJob) -> Result<File, HashError> {
    File::open(&file.path).map_err(io_error("open", file))
}

/// One fstat, after the read: the file must be the one the walker listed, with
/// the same size and modification time.
fn check_unchanged(handle: &File, file: &FileJob) -> Result<(), HashError> {
    let after = handle.metadata().map_err(io_error("read", file))?;
    if (after.dev(), after.ino()) != file.identity {
        return Err(changed(&file.path, "it was replaced by another file"));
    }
    if after.len() > file.size {
        return Err(changed(
            &file.path,
            &format!("it grew past the {} bytes it had when listed", file.size),
        ));
    }
    if after.len() != file.size || (after.mtime(), after.mtime_nsec()) != file.mtime {
        return Err(changed(&file.path, "it was modified during the read"));
    }
    Ok(())
}

fn shrank(file: &FileJob, got: u64) -> HashError {
    changed(
        &file.path,
        &format!(
            "it was {} bytes when listed, but ended after {got}",
            file.size
        ),
    )
}

fn changed(path: &Path, detail: &str) -> HashError {
    HashError::Changed {
        path: path.to_path_buf(),
        detail: detail.to_owned(),
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-file job as the walker would have made it for `path`, then `edit`
    /// applied to pretend the file was different when listed.
    fn job_for(path: &Path, edit: impl FnOnce(&mut FileJob)) -> (Job, Receiver<Piece>) {
        let meta = path.symlink_metadata().unwrap();
        let (pieces, receiver) = crossbeam_channel::unbounded();
        let mut file = FileJob {
            path: path.to_path_buf(),
            size: meta.len(),
            identity: (meta.dev(), meta.ino()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        };
        edit(&mut file);
        let job = Job {
            index: 0,
            files: vec![file],
            record_digests: true,
            pieces,
        };
        (job, receiver)
    }

    fn read(job: &Job) -> ReadResult<Vec<Sha256>> {
        let budget = Budget::new(1 << 30);
        let pool = BufferPool::new(4);
        UnitReader {
            job,
            budget: &budget,
            pool: &pool,
        }
        .read()
    }

    fn changed_detail(job: &Job) -> String {
        match read(job) {
            Err(HashError::Changed { detail, .. }) => detail,
            other => panic!("expected a change to be noticed, got {other:?}"),
        }
    }

    #[test]
    fn streams_large_files_in_chunks_with_their_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (job, receiver) = job_for(&path, |_| {});
        let digests = read(&job).unwrap().unwrap();
        assert_eq!(digests, [Sha256::of(&data)]);
        drop(job);
        let lens: Vec<usize> = receiver
            .iter()
            .map(|piece| match piece {
                Piece::Data { len, .. } => len,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lens, [CHUNK as usize, CHUNK as usize, 5]);
    }

    #[test]
    fn a_file_that_shrank_grew_or_was_touched_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        for size in [1000usize, CHUNK as usize + 1000] {
            let path = tmp.path().join(format!("f{size}"));
            std::fs::write(&path, vec![1u8; size]).unwrap();

            let (job, _rx) = job_for(&path, |f| f.size += 10);
            let detail = changed_detail(&job);
            assert!(detail.contains(&format!("ended after {size}")), "{detail}");

            let (job, _rx) = job_for(&path, |f| f.size -= 10);
            let detail = changed_detail(&job);
            assert!(
                detail.contains(&format!("grew past the {} bytes", size - 10)),
                "{detail}"
            );

            let (job, _rx) = job_for(&path, |f| f.mtime.0 -= 10);
            assert!(changed_detail(&job).contains("modified"));

            let (job, _rx) = job_for(&path, |f| f.identity.1 += 1);
            assert!(changed_detail(&job).contains("replaced"));
        }
    }

    #[test]
    fn the_message_names_the_file_and_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("growing.log");
        std::fs::write(&path, b"abc").unwrap();
        let (job, _rx) = job_for(&path, |f| f.size = 1);
        let error = read(&job).unwrap_err().to_string();
        assert!(error.contains("growing.log"), "{error}");
        assert!(error.contains("hash it again"), "{error}");
    }
}
