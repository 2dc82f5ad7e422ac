use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::StoreError;

/// An exclusive advisory lock on a file, released when dropped or when the
/// process dies (the kernel drops it with the descriptor).
#[derive(Debug)]
pub struct LockGuard {
    /// `None` in a read-only store, where nothing is written to race for.
    _file: Option<File>,
    path: PathBuf,
}

impl LockGuard {
    pub(crate) fn acquire(path: &Path) -> Result<LockGuard, StoreError> {
        let file = open(path)?;
        if file.try_lock().is_err() {
            tracing::info!(
                "waiting for another pyfod process holding {}",
                path.display()
            );
            file.lock().map_err(|e| StoreError::io("lock", path, e))?;
        }
        Ok(LockGuard {
            _file: Some(file),
            path: path.to_path_buf(),
        })
    }

    /// No lock: a read-only store only ever reads.
    pub(crate) fn none(path: &Path) -> LockGuard {
        LockGuard {
            _file: None,
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn open(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| StoreError::io("open lock", path, e))
}
