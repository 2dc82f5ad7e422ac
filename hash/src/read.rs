//! Reader threads: read files ahead of the hasher, in parallel, in bounded chunks.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use pyfod_digest::{Sha256, Sha256Hasher};

use crate::HashError;
use crate::budget::Budget;

/// Largest piece of a file sent to the hasher at once.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// One regular file to read.
#[derive(Debug)]
pub(crate) struct Job {
    /// Position among the tree's regular files, in NAR order.
    pub(crate) index: u64,
    pub(crate) path: PathBuf,
    /// Size when the walker saw it: the NAR header announces this many bytes.
    pub(crate) size: u64,
    /// Device and inode when the walker saw it.
    pub(crate) identity: (u64, u64),
    /// Modification time when the walker saw it.
    pub(crate) mtime: (i64, i64),
    /// Also compute the file's own SHA-256 (for the hash manifest).
    pub(crate) record_digest: bool,
    pub(crate) chunks: Sender<Piece>,
}

#[derive(Debug)]
pub(crate) enum Piece {
    Data { bytes: Vec<u8>, counted: bool },
    Done { digest: Option<Sha256> },
    Failed(HashError),
}

/// Runs jobs until the queue closes or the hasher stops.
pub(crate) fn reader(jobs: &Receiver<Job>, budget: &Budget) {
    for job in jobs.iter() {
        match read_file(&job, budget) {
            Ok(Some(digest)) => {
                let _ = job.chunks.send(Piece::Done { digest });
            }
            Ok(None) => return,
            Err(error) => {
                let _ = job.chunks.send(Piece::Failed(error));
            }
        }
    }
}

/// Reads one file into its channel. `Ok(None)` means the hasher has stopped.
fn read_file(job: &Job, budget: &Budget) -> Result<Option<Option<Sha256>>, HashError> {
    let io_error = |action| {
        let path = job.path.clone();
        move |source| HashError::Io {
            action,
            path,
            source,
        }
    };
    let mut file = File::open(&job.path).map_err(io_error("open"))?;
    let before = file.metadata().map_err(io_error("read"))?;
    if (before.dev(), before.ino()) != job.identity {
        return Err(changed(&job.path, "it was replaced by another file"));
    }
    let mut digest = job.record_digest.then(Sha256Hasher::new);
    let mut remaining = job.size;
    while remaining > 0 {
        let want = remaining.min(CHUNK);
        let Ok(counted) = budget.acquire(want, job.index) else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; want as usize];
        let got = read_full(&mut file, &mut bytes).map_err(io_error("read"))?;
        if got < bytes.len() {
            if counted {
                budget.release(want);
            }
            return Err(changed(
                &job.path,
                &format!(
                    "it was {} bytes when listed, but ended after {}",
                    job.size,
                    job.size - remaining + got as u64
                ),
            ));
        }
        if let Some(digest) = &mut digest {
            digest.update(&bytes);
        }
        remaining -= want;
        if job.chunks.send(Piece::Data { bytes, counted }).is_err() {
            if counted {
                budget.release(want);
            }
            return Ok(None);
        }
    }
    let mut probe = [0u8; 1];
    if read_full(&mut file, &mut probe).map_err(io_error("read"))? != 0 {
        return Err(changed(
            &job.path,
            &format!("it grew past the {} bytes it had when listed", job.size),
        ));
    }
    let after = file.metadata().map_err(io_error("read"))?;
    if after.len() != job.size || (after.mtime(), after.mtime_nsec()) != job.mtime {
        return Err(changed(&job.path, "it was modified during the read"));
    }
    Ok(Some(digest.map(Sha256Hasher::finish)))
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
    use std::os::unix::fs::MetadataExt;

    /// A job as the walker would have made it for `path`, then `edit` applied to
    /// pretend the file was different when listed.
    fn job_for(path: &Path, edit: impl FnOnce(&mut Job)) -> (Job, Receiver<Piece>) {
        let meta = path.symlink_metadata().unwrap();
        let (chunks, receiver) = crossbeam_channel::unbounded();
        let mut job = Job {
            index: 0,
            path: path.to_path_buf(),
            size: meta.len(),
            identity: (meta.dev(), meta.ino()),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            record_digest: true,
            chunks,
        };
        edit(&mut job);
        (job, receiver)
    }

    fn changed_detail(job: &Job) -> String {
        match read_file(job, &Budget::new(1 << 20)) {
            Err(HashError::Changed { detail, .. }) => detail,
            other => panic!("expected a change to be noticed, got {other:?}"),
        }
    }

    #[test]
    fn reads_whole_files_in_chunks_with_their_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 5)).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (job, receiver) = job_for(&path, |_| {});
        let digest = read_file(&job, &Budget::new(1 << 30)).unwrap().unwrap();
        assert_eq!(digest, Some(Sha256::of(&data)));
        drop(job);
        let pieces: Vec<Piece> = receiver.iter().collect();
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn a_file_that_shrank_grew_or_was_touched_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, vec![1u8; 1000]).unwrap();

        let (job, _rx) = job_for(&path, |job| job.size = 1010);
        assert!(changed_detail(&job).contains("ended after 1000"));

        let (job, _rx) = job_for(&path, |job| job.size = 990);
        assert!(changed_detail(&job).contains("grew past the 990 bytes"));

        let (job, _rx) = job_for(&path, |job| job.mtime.0 -= 10);
        assert!(changed_detail(&job).contains("modified"));

        let (job, _rx) = job_for(&path, |job| job.identity.1 += 1);
        assert!(changed_detail(&job).contains("replaced"));
    }

    #[test]
    fn the_message_names_the_file_and_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("growing.log");
        std::fs::write(&path, b"abc").unwrap();
        let (job, _rx) = job_for(&path, |job| job.size = 1);
        let error = read_file(&job, &Budget::new(1 << 20))
            .unwrap_err()
            .to_string();
        assert!(error.contains("growing.log"), "{error}");
        assert!(error.contains("hash it again"), "{error}");
    }
}
