//! The pyfod store: a directory that holds
//!
//! ```text
//! VERSION               layout version of this store
//! blobs/sha256/<hex>    files named by the SHA-256 of their contents (read-only)
//! stages/<key>/         a finished stage output: `manifest`, and `tree/` if it made one
//! trees/<name>/         source trees: git checkouts, copies of local projects
//! git/<hash>.git        bare clones, one per repository URL
//! tmp/<id>, <id>.lock   work in progress, each piece held by a lock of its writer
//! locks/<name>.lock     named locks that serialise work on one key
//! ```
//!
//! Invariants:
//! - Nothing is ever written in place. A blob or stage output is made under `tmp/`,
//!   flushed to disk, and renamed into place in one step; whatever sits under
//!   `blobs/` or `stages/` is whole.
//! - A killed process leaves only `tmp/` entries, which the next `open` removes once
//!   their writer's lock is free.
//! - Two processes may publish the same key at once: the first rename wins, the
//!   second finds the entry there and drops its own copy. Both succeed.

mod atomic;
mod copy;
mod error;
mod key;
mod lock;
mod temp;

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use atomic::{AtomicFile, sibling_temp, sync_dir, write_atomic};
pub use copy::{copy_tree, copy_tree_except};
pub use error::StoreError;
pub use key::StageKey;
pub use lock::LockGuard;
use pyfod_digest::{Sha256, Sha256Hasher};
pub use temp::TempEntry;

/// Layout version written to `VERSION`. A store of another layout is refused
/// rather than misread.
pub const LAYOUT_VERSION: u32 = 1;

/// A pyfod store on the local file system.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A finished stage output in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEntry {
    pub dir: PathBuf,
    pub manifest: PathBuf,
    /// The tree the stage made, if it made one.
    pub tree: Option<PathBuf>,
}

impl Store {
    /// Where the store is when no `--store` is given: `$PYFOD_STORE`, else
    /// `$XDG_CACHE_HOME/pyfod`, else `$HOME/.cache/pyfod`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = var("PYFOD_STORE") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(cache) = var("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(cache).join("pyfod"));
        }
        if let Some(home) = var("HOME") {
            return Ok(PathBuf::from(home).join(".cache").join("pyfod"));
        }
        Err(StoreError::NoLocation)
    }

    /// Opens the store at `explicit`, or at [`Store::default_root`].
    pub fn open_or_default(explicit: Option<&Path>) -> Result<Store, StoreError> {
        match explicit {
            Some(root) => Store::open(root),
            None => Store::open(&Self::default_root()?),
        }
    }

    /// Opens (creating if needed) the store at `root`, and clears work left
    /// behind by processes that died.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        // Absolute: paths into the store are handed to processes that run
        // elsewhere (a build's interpreter, with the source tree as its cwd).
        let root = &std::path::absolute(root).map_err(|e| StoreError::io("resolve", root, e))?;
        let store = Store {
            root: root.to_path_buf(),
        };
        for dir in ["blobs/sha256", "stages", "trees", "git", "tmp", "locks"] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(|e| StoreError::io("create", &path, e))?;
        }
        store.check_version()?;
        temp::sweep(&store.root.join("tmp"));
        Ok(store)
    }

    fn check_version(&self) -> Result<(), StoreError> {
        let path = self.root.join("VERSION");
        match fs::read_to_string(&path) {
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(LAYOUT_VERSION) => Ok(()),
                _ => Err(StoreError::Layout {
                    path,
                    found: text.trim().to_owned(),
                }),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_atomic(&path, format!("{LAYOUT_VERSION}\n").as_bytes())
                    .map_err(|e| StoreError::io("write", &path, e))
            }
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this digest lives (whether or not it is there).
    pub fn blob_path(&self, digest: &Sha256) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.to_hex())
    }

    pub fn has_blob(&self, digest: &Sha256) -> bool {
        self.blob_path(digest).is_file()
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

    pub fn add_blob_bytes(&self, bytes: &[u8]) -> Result<Sha256, StoreError> {
        self.add_blob(bytes, None)
    }

    /// A fresh, locked work area under `tmp/`: a path that does not exist yet, for
    /// the caller to create as a file or directory. Removed when dropped.
    pub fn temp_entry(&self) -> Result<TempEntry, StoreError> {
        TempEntry::new(&self.root.join("tmp"))
    }

    fn stage_dir(&self, key: &StageKey) -> PathBuf {
        self.root.join("stages").join(key.to_string())
    }

    /// The finished output of a stage run, if the store has it.
    pub fn stage(&self, key: &StageKey) -> Option<StageEntry> {
        let dir = self.stage_dir(key);
        let manifest = dir.join("manifest");
        if !manifest.is_file() {
            return None;
        }
        let tree = dir.join("tree");
        let tree = tree.symlink_metadata().is_ok().then_some(tree);
        Some(StageEntry {
            dir,
            manifest,
            tree,
        })
    }

    /// Publishes a stage's output: its manifest bytes and, optionally, the tree it
    /// built in a [`TempEntry`]. If another process published the same key first,
    /// theirs is kept and returned.
    pub fn publish_stage(
        &self,
        key: &StageKey,
        manifest: &[u8],
        tree: Option<TempEntry>,
    ) -> Result<StageEntry, StoreError> {
        let staging = self.temp_entry()?;
        let dir = staging.path();
        fs::create_dir(dir).map_err(|e| StoreError::io("create", dir, e))?;
        let manifest_path = dir.join("manifest");
        let mut file = File::create(&manifest_path)
            .map_err(|e| StoreError::io("create", &manifest_path, e))?;
        file.write_all(manifest)
            .map_err(|e| StoreError::io("write", &manifest_path, e))?;
        drop(file);
        if let Some(tree) = tree {
            let to = dir.join("tree");
            fs::rename(tree.path(), &to).map_err(|e| StoreError::io("move", &to, e))?;
            // The tree now lives inside the staging entry; release its own lock.
            drop(tree);
        }
        // One syncfs flushes the manifest and every file of the tree; cheaper than a
        // fsync per file and just as durable.
        atomic::sync_filesystem(dir).map_err(|e| StoreError::io("flush", dir, e))?;
        let target = self.stage_dir(key);
        match fs::rename(dir, &target) {
            Ok(()) => {
                sync_dir(&self.root.join("stages"))
                    .map_err(|e| StoreError::io("flush", &target, e))?;
            }
            Err(e) if is_already_there(&e) => {
                tracing::debug!("stage {key} was published by another process; keeping theirs");
            }
            Err(e) => return Err(StoreError::io("publish", &target, e)),
        }
        self.stage(key).ok_or_else(|| {
            StoreError::io(
                "read back",
                &target,
                io::Error::new(io::ErrorKind::NotFound, "published entry vanished"),
            )
        })
    }

    /// Where the tree `name` lives (whether or not it is there).
    pub fn tree_path(&self, name: &str) -> PathBuf {
        self.root.join("trees").join(name)
    }

    /// Moves a tree built in a [`TempEntry`] to `trees/<name>`; if another process
    /// put one there first, theirs is kept. Returns its path.
    pub fn publish_tree(&self, name: &str, tree: TempEntry) -> Result<PathBuf, StoreError> {
        let target = self.tree_path(name);
        atomic::sync_filesystem(tree.path())
            .map_err(|e| StoreError::io("flush", tree.path(), e))?;
        let renamed = fs::rename(tree.path(), &target);
        // Moved or not, the work area's lock is released now.
        drop(tree);
        match renamed {
            Ok(()) => sync_dir(&self.root.join("trees"))
                .map_err(|e| StoreError::io("flush", &target, e))?,
            Err(e) if is_already_there(&e) => {}
            Err(e) => return Err(StoreError::io("publish", &target, e)),
        }
        Ok(target)
    }

    /// The bare clone for a repository, named by a digest of its URL.
    pub fn git_dir(&self, repository: &str) -> PathBuf {
        self.root.join("git").join(format!(
            "{}.git",
            Sha256::of(repository.as_bytes()).to_hex()
        ))
    }

    /// Takes the named lock, waiting for whoever holds it. Used to run one stage
    /// key at a time, so a second process waits and then finds the output cached.
    pub fn lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        LockGuard::acquire(&self.root.join("locks").join(format!("{name}.lock")))
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

    /// Checks the digest against `expected` and moves the blob into place.
    pub fn commit(self, expected: Option<&Sha256>) -> Result<Sha256, StoreError> {
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
            .and_then(|()| self.file.sync_all())
            .map_err(|e| StoreError::io("flush", path, e))?;
        let target = self.store.blob_path(&digest);
        if !target.exists() {
            fs::rename(path, &target).map_err(|e| StoreError::io("publish", &target, e))?;
            sync_dir(target.parent().expect("blob paths have a parent"))
                .map_err(|e| StoreError::io("flush", &target, e))?;
        }
        Ok(digest)
    }
}

fn is_already_there(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST))
}
