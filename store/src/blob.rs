//! Blobs: files named by the SHA-256 of their bytes, read-only and sealed (see
//! [`crate::index`]) from the moment they are published.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use pyfod_digest::{Sha256, Sha256Hasher};

use crate::index::{self, Damage, Thoroughness};
use crate::{Store, StoreError, TempEntry, atomic};

impl Store {
    /// Where the blob with this digest lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.to_hex())
    }

    /// Whether the store has this blob, at the size given, passing the quick check.
    pub fn has_blob(&self, digest: &Sha256, size: u64) -> bool {
        self.check_blob(digest, size, self.thoroughness()).is_ok()
    }

    /// The size of the blob with this digest, if the store has it intact.
    pub fn intact_blob(&self, digest: &Sha256) -> Option<u64> {
        let size = self.blob_path(digest).symlink_metadata().ok()?.len();
        self.check_blob(digest, size, self.thoroughness())
            .map_err(|_| self.evict_blob(digest))
            .ok()?;
        Some(size)
    }

    /// The blob with this digest, checked before use: a blob whose bytes no
    /// longer match its name is removed, and the error says to fetch it again.
    pub fn verified_blob(&self, digest: &Sha256, size: u64) -> Result<PathBuf, StoreError> {
        self.check_blob(digest, size, self.thoroughness())
            .map_err(|damage| {
                if damage.what != "is missing" {
                    self.evict_blob(digest);
                }
                StoreError::BadBlob {
                    digest: *digest,
                    what: damage.what,
                }
            })?;
        Ok(self.blob_path(digest))
    }

    /// Checks a blob: its size, its sealed mtime, and, when that moved or `how`
    /// is full, its bytes.
    pub(crate) fn check_blob(
        &self,
        digest: &Sha256,
        size: u64,
        how: Thoroughness,
    ) -> Result<(), Damage> {
        let path = self.blob_path(digest);
        let damage = |what: String| Damage {
            path: format!("blobs/sha256/{}", digest.to_hex()),
            what,
        };
        let meta = match path.symlink_metadata() {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(damage("is missing".into()));
            }
            Err(e) => return Err(damage(format!("cannot be read: {e}"))),
        };
        if !meta.is_file() {
            return Err(damage("is not a regular file".into()));
        }
        if meta.len() != size {
            return Err(damage(format!("has {} bytes, not {size}", meta.len())));
        }
        if how == Thoroughness::Full || !index::is_sealed(&meta) {
            let (actual, _) =
                index::file_digest(&path).map_err(|e| damage(format!("cannot be read: {e}")))?;
            if actual != *digest {
                return Err(damage(format!(
                    "its bytes changed (they hash to {})",
                    actual.to_hex()
                )));
            }
            let _ = index::seal(&path);
        }
        Ok(())
    }

    pub(crate) fn evict_blob(&self, digest: &Sha256) {
        let path = self.blob_path(digest);
        tracing::debug!("removing the damaged blob {}", path.display());
        let _ = fs::remove_file(path);
    }

    /// Streams `reader` into the store, hashing it on the way. With `expected`, a
    /// different digest is an error and nothing enters the store.
    pub fn add_blob(
        &self,
        mut reader: impl Read,
        expected: Option<&Sha256>,
    ) -> Result<Sha256, StoreError> {
        let mut writer = self.blob_writer()?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::Source(e)),
            };
            writer.write(&buf[..n])?;
        }
        writer.commit(expected)
    }

    pub fn add_blob_bytes(&self, bytes: &[u8]) -> Result<Sha256, StoreError> {
        self.add_blob(bytes, None)
    }

    /// A blob written piece by piece (a download, say), hashed on the way and
    /// published by [`BlobWriter::commit`]; dropped uncommitted, it leaves nothing.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let temp = self.temp_entry()?;
        let path = temp.path().to_path_buf();
        let file = File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp,
            file,
            hasher: Sha256Hasher::new(),
        })
    }
}

/// See [`Store::blob_writer`].
#[derive(Debug)]
pub struct BlobWriter {
    store: Store,
    temp: TempEntry,
    file: File,
    hasher: Sha256Hasher,
}

impl BlobWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(data);
        self.file
            .write_all(data)
            .map_err(|e| StoreError::io("write", self.temp.path(), e))
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// Checks the digest against `expected` and moves the blob into place, read-only
    /// and sealed. A blob already there that fails its check is replaced.
    pub fn commit(self, expected: Option<&Sha256>) -> Result<Sha256, StoreError> {
        let size = self.hasher.len();
        let digest = self.hasher.finish();
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(StoreError::DigestMismatch {
                expected: *expected,
                actual: digest,
            });
        }
        let path = self.temp.path();
        self.file
            .set_permissions(fs::Permissions::from_mode(0o444))
            .and_then(|()| self.file.set_modified(index::sealed_mtime()))
            .and_then(|()| self.file.sync_all())
            .map_err(|e| StoreError::io("flush", path, e))?;
        if self
            .store
            .check_blob(&digest, size, Thoroughness::Quick)
            .is_err()
        {
            let target = self.store.blob_path(&digest);
            fs::rename(path, &target).map_err(|e| StoreError::io("publish", &target, e))?;
            atomic::sync_dir(target.parent().expect("blob paths have a parent"))
                .map_err(|e| StoreError::io("flush", &target, e))?;
        }
        Ok(digest)
    }
}
