//! The pyfod store: a directory that holds
//!
//! ```text
//! VERSION               layout version of this store
//! blobs/sha256/<hex>    files named by the SHA-256 of their contents (read-only, sealed)
//! stages/<key>/         the output of a stage, or of a piece of one (see [`entry`])
//! trees/<name>/         trees named by content: source trees, unpacked wheels (see [`entry`])
//! git/<hash>.git        bare clones, one per repository URL
//! builds/               what earlier builds produced (see [`history`])
//! logs/                 the logs of failed builds
//! tmp/<id>, <id>.lock   work in progress, each piece held by a lock of its writer
//! locks/<name>.lock     named locks that serialise work on one key
//! ```
//!
//! This crate alone knows that layout: every other crate asks it for paths.
//!
//! Invariants:
//! - Nothing is ever written in place. A blob or entry is made under `tmp/`,
//!   flushed to disk, and renamed into place in one step; whatever sits under
//!   `blobs/`, `stages/` or `trees/` is whole.
//! - Nothing is used unchecked: an entry's tree against its index, a blob against
//!   its size and sealed mtime (its bytes when those moved), before use.
//! - A killed process leaves only `tmp/` entries, which the next `open` removes once
//!   their writer's lock is free.
//! - Two processes may publish the same key at once: the first rename wins, the
//!   second finds the entry there and drops its own copy. Both succeed.
//! - `gc` never removes what a running pyfod may use: every open store holds a
//!   shared lock that `gc` takes exclusively.

mod atomic;
mod blob;
mod copy;
pub mod entry;
mod error;
pub mod gc;
pub mod history;
pub mod index;
pub mod key;
mod lock;
mod remote;
mod stage;
mod temp;
pub mod verify;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use atomic::{AtomicFile, sibling_temp, sync_dir, write_atomic};
pub use blob::BlobWriter;
pub use copy::{copy_tree, copy_tree_except, link_tree, replace_tree, update_tree};
pub use entry::{EntryName, Found, Needs, Origin, Produced};
pub use error::StoreError;
pub use index::{Damage, Thoroughness, TreeIndex};
pub use key::StageKey;
pub use lock::LockGuard;
pub use remote::{Remote, Transferred};
pub use stage::{Stage, StageOutput, Work};
pub use temp::TempEntry;

/// Layout version written to `VERSION`. A store of an older layout is cleared of
/// what this pyfod would misread (its entries; blobs and clones stay); a newer
/// one is refused rather than misread.
pub const LAYOUT_VERSION: u32 = 2;

/// A pyfod store on the local file system.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Check every byte of what is used (`--verify-store`), not only sizes and mtimes.
    verify_all: bool,
    /// Nothing can be written: what the store has is used, a miss is an error.
    read_only: bool,
    /// Shared while this store is open, exclusive for `gc`.
    _in_use: Option<Arc<File>>,
    /// The shared cache behind this one, asked on a miss (see [`Remote`]).
    remote: Option<Arc<dyn Remote>>,
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
    /// behind by processes that died. Until it is dropped, `gc` waits.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let mut store = Store::open_unlocked(root)?;
        if store.read_only {
            return Ok(store);
        }
        let lock = store.root.join("locks/in-use.lock");
        let file = lock::open(&lock)?;
        file.lock_shared()
            .map_err(|e| StoreError::io("lock", &lock, e))?;
        store._in_use = Some(Arc::new(file));
        Ok(store)
    }

    /// Whether the store can only be read (a read-only mount, another user's).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Opens the store without the shared lock that keeps `gc` out: for `gc`
    /// itself, which then takes that lock exclusively.
    pub(crate) fn open_unlocked(root: &Path) -> Result<Store, StoreError> {
        // Absolute: paths into the store are handed to processes that run
        // elsewhere (a build's interpreter, with the source tree as its cwd).
        let root = &std::path::absolute(root).map_err(|e| StoreError::io("resolve", root, e))?;
        let mut store = Store {
            root: root.to_path_buf(),
            verify_all: false,
            read_only: false,
            _in_use: None,
            remote: None,
        };
        for dir in ["blobs/sha256", "stages", "trees", "git", "tmp", "locks"] {
            let path = root.join(dir);
            if let Err(e) = fs::create_dir_all(&path)
                && !(is_read_only(&e) && path.is_dir())
            {
                return Err(StoreError::io("create", &path, e));
            }
        }
        // A store that cannot take a lock file is read as it is, never written.
        store.read_only = match lock::open(&root.join("locks/in-use.lock")) {
            Ok(_) => false,
            Err(StoreError::Io { source, .. }) if is_read_only(&source) => true,
            Err(e) => return Err(e),
        };
        if store.read_only {
            tracing::info!(
                "the store at {} is read-only: what it has is used, nothing is added",
                root.display()
            );
        }
        store.check_version()?;
        if !store.read_only {
            temp::sweep(&store.root.join("tmp"));
        }
        Ok(store)
    }

    /// Checks every byte of whatever is used, not only sizes and mtimes.
    pub fn verifying_everything(mut self, on: bool) -> Store {
        self.verify_all = on;
        self
    }

    pub(crate) fn thoroughness(&self) -> Thoroughness {
        if self.verify_all {
            Thoroughness::Full
        } else {
            Thoroughness::Quick
        }
    }

    fn check_version(&self) -> Result<(), StoreError> {
        let path = self.root.join("VERSION");
        match fs::read_to_string(&path) {
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(LAYOUT_VERSION) => Ok(()),
                Ok(old) if old < LAYOUT_VERSION => self.upgrade(old),
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

    /// An older layout's entries are moved out of the way (blobs and clones are
    /// the same in every layout); nothing of them is read again.
    fn upgrade(&self, old: u32) -> Result<(), StoreError> {
        let lock = self.root.join("locks/in-use.lock");
        let file = lock::open(&lock)?;
        file.lock().map_err(|e| StoreError::io("lock", &lock, e))?;
        let path = self.root.join("VERSION");
        if fs::read_to_string(&path).is_ok_and(|t| t.trim() == LAYOUT_VERSION.to_string()) {
            return Ok(());
        }
        tracing::warn!(
            "the store at {} has layout {old}; its cached stages are dropped (downloads are kept)",
            self.root.display()
        );
        for area in ["stages", "trees"] {
            let dir = self.root.join(area);
            let grave = self.temp_entry()?;
            fs::rename(&dir, grave.path()).map_err(|e| StoreError::io("clear", &dir, e))?;
            fs::create_dir(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
        }
        write_atomic(&path, format!("{LAYOUT_VERSION}\n").as_bytes())
            .map_err(|e| StoreError::io("write", &path, e))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh, locked work area under `tmp/`: a path that does not exist yet, for
    /// the caller to create as a file or directory. Removed when dropped.
    pub fn temp_entry(&self) -> Result<TempEntry, StoreError> {
        TempEntry::new(&self.root.join("tmp"))
    }

    /// A work area at `tmp/<stem>-<n>`, the first `n` no one holds: the same
    /// path from one run to the next (see [`TempEntry`]).
    pub fn named_temp_entry(&self, stem: &str) -> Result<TempEntry, StoreError> {
        TempEntry::named(&self.root.join("tmp"), stem)
    }

    /// The compiler cache's directory (`CCACHE_DIR`) when `[build]
    /// compiler-cache` is set. ccache keys each object by its compiler, flags
    /// and preprocessed source, and locks its own files.
    pub fn compiler_cache_dir(&self) -> PathBuf {
        self.root.join("ccache")
    }

    /// `CARGO_HOME` for builds: the crates cargo downloads, shared by every
    /// build. Cargo names each by crate, version and registry, checks it
    /// against the checksum in `Cargo.lock`, and locks the cache itself.
    pub fn cargo_home(&self) -> PathBuf {
        self.root.join("cargo")
    }

    /// The bare clone for a repository, named by a digest of its URL.
    pub fn git_dir(&self, repository: &str) -> PathBuf {
        self.root.join("git").join(format!(
            "{}.git",
            pyfod_digest::Sha256::of(repository.as_bytes()).to_hex()
        ))
    }

    /// Keeps a failed build's log as `logs/<name>.log`; returns where.
    pub fn keep_log(&self, name: &str, text: &[u8]) -> io::Result<PathBuf> {
        if !entry::is_plain_name(name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain name",
            ));
        }
        let dir = self.root.join("logs");
        fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.log"));
        write_atomic(&path, text)?;
        Ok(path)
    }

    /// Takes the named lock, waiting for whoever holds it. Used to run one stage
    /// key at a time, so a second process waits and then finds the output cached.
    pub fn lock(&self, name: &str) -> Result<LockGuard, StoreError> {
        let path = self.root.join("locks").join(format!("{name}.lock"));
        if self.read_only {
            return Ok(LockGuard::none(&path));
        }
        LockGuard::acquire(&path)
    }
}

/// An error that says the file system (or its permissions) will not let us write.
fn is_read_only(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EROFS) | Some(libc::EACCES) | Some(libc::EPERM)
    )
}

fn is_already_there(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST))
}
