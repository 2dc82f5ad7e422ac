//! Entries: the one cached path every stage and every piece of cached work goes
//! through.
//!
//! An entry is a directory, `stages/<key>/` or `trees/<name>/`, holding
//!
//! ```text
//! manifest     what the work produced (a stage manifest, or a small record)
//! tree/        the tree it made, if it made one
//! tree.index   that tree's index (see [`crate::index`])
//! needs        the blobs and trees it refers to, which must stay in the store
//! ```
//!
//! [`Store::entry`] is the whole sequence: take the entry's lock, look it up,
//! check it (its tree against its index, what it needs against their digests),
//! and on a miss, or on damage, which is reported and evicted, run the work and
//! publish its result in one rename.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pyfod_digest::Sha256;
use serde::{Deserialize, Serialize};

use crate::index::{Damage, TreeIndex};
use crate::{StageKey, Store, StoreError, TempEntry, atomic};

/// Where an entry lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryName {
    /// The output of a stage or a smaller piece of work: `stages/<key>`.
    Stage(StageKey),
    /// A tree named by content (`git-<commit>`, `dir-<nar hash>`,
    /// `wheel-<sha256>`): `trees/<name>`.
    Tree(String),
}

impl Store {
    /// Every entry there is, with its directory: `stages/<key>` and
    /// `trees/<name>`; a name that is neither is passed over.
    pub(crate) fn entries(&self) -> Result<Vec<(EntryName, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        for area in ["stages", "trees"] {
            let dir = self.root.join(area);
            let listing = fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, e))?;
            for item in listing.flatten() {
                let Some(name) = item.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let name = match area {
                    "stages" => match StageKey::from_hex(&name) {
                        Some(key) => EntryName::Stage(key),
                        None => continue,
                    },
                    _ => EntryName::Tree(name),
                };
                out.push((name, item.path()));
            }
        }
        Ok(out)
    }
}

impl EntryName {
    /// The entry's path relative to the store's root.
    pub fn relative(&self) -> String {
        match self {
            EntryName::Stage(key) => format!("stages/{key}"),
            EntryName::Tree(name) => format!("trees/{name}"),
        }
    }

    /// Where the entry's tree is, relative to the store's root: what manifests
    /// record as a [`pyfod_manifest::StorePath`].
    pub fn tree_path(&self) -> pyfod_manifest::StorePath {
        pyfod_manifest::StorePath(format!("{}/tree", self.relative()))
    }

    /// The entry whose tree a manifest names: `stages/<key>/tree` or
    /// `trees/<name>/tree`; anything else (an absolute path, `..`, another
    /// area) is none.
    pub fn of_tree(path: &pyfod_manifest::StorePath) -> Option<EntryName> {
        entry_of_tree_path(&path.0)
    }

    pub(crate) fn lock_name(&self) -> String {
        match self {
            EntryName::Stage(key) => format!("stage-{key}"),
            EntryName::Tree(name) => format!("tree-{name}"),
        }
    }
}

/// What an entry refers to besides its own tree.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Needs {
    /// Blobs, with their sizes.
    pub blobs: Vec<(Sha256, u64)>,
    /// Trees, by name under `trees/`.
    pub trees: Vec<String>,
}

impl Needs {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("needs serialise")
    }
}

/// What a piece of work made, ready to publish.
#[derive(Debug)]
pub struct Produced {
    pub manifest: Vec<u8>,
    /// The tree it built, with its index (from [`Store::index_tree`]).
    pub tree: Option<(TempEntry, TreeIndex)>,
    pub needs: Needs,
}

impl Produced {
    /// A result that is a manifest alone.
    pub fn manifest(manifest: Vec<u8>, needs: Needs) -> Produced {
        Produced {
            manifest,
            tree: None,
            needs,
        }
    }
}

/// Where a result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Found in the store, and checked.
    Cached,
    /// Made now.
    Ran,
    /// Brought from the remote cache, checked, and published here.
    Remote,
}

/// An entry in the store, checked.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: EntryName,
    pub manifest: Vec<u8>,
    /// The entry's tree, if it has one.
    pub tree: Option<PathBuf>,
    pub index: Option<TreeIndex>,
    /// The blobs and trees it refers to.
    pub needs: Needs,
    pub origin: Origin,
}

/// How much of an entry's tree a lookup checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// All of it, against the index.
    Tree,
    /// Nothing: its user checks each file as it reads it.
    OnUse,
}

/// Why a stored entry was not used.
#[derive(Debug)]
enum Unusable {
    Missing,
    Damaged(String),
}

impl Store {
    fn entry_dir(&self, name: &EntryName) -> PathBuf {
        self.root.join(name.relative())
    }

    /// The cached path: the entry `name` if the store has it whole, else what
    /// `make` produces, published. Damage found in a stored entry is reported,
    /// the damaged parts evicted, and the work done again.
    pub fn entry<E: From<StoreError>>(
        &self,
        name: &EntryName,
        make: impl FnOnce() -> Result<Produced, E>,
    ) -> Result<Found, E> {
        self.entry_checked(name, Check::Tree, make)
    }

    /// [`Store::entry`], for a caller that checks every file it takes from the
    /// entry's tree against the index itself, as it reads it
    /// ([`crate::index::check_file`]): the tree is not walked first. A file that
    /// fails is the caller's to report; it then [evicts](Store::evict) the entry.
    pub fn entry_checked_on_use<E: From<StoreError>>(
        &self,
        name: &EntryName,
        make: impl FnOnce() -> Result<Produced, E>,
    ) -> Result<Found, E> {
        self.entry_checked(name, Check::OnUse, make)
    }

    fn entry_checked<E: From<StoreError>>(
        &self,
        name: &EntryName,
        check: Check,
        make: impl FnOnce() -> Result<Produced, E>,
    ) -> Result<Found, E> {
        if let EntryName::Tree(tree) = name
            && !is_plain_name(tree)
        {
            return Err(StoreError::BadName(tree.clone()).into());
        }
        let _lock = self.lock(&name.lock_name())?;
        match self.lookup(name, check) {
            Ok(found) => return Ok(found),
            Err(Unusable::Missing) => {}
            Err(Unusable::Damaged(what)) => {
                tracing::warn!(
                    "the store's {} cannot be used: {what}; it is made again",
                    name.relative()
                );
                self.evict(name);
            }
        }
        if self.read_only {
            return Err(StoreError::ReadOnly {
                root: self.root.clone(),
                entry: name.relative(),
            }
            .into());
        }
        if let Some(found) = self.pull(name) {
            return Ok(found);
        }
        let produced = make()?;
        let found = self.publish(name, produced, Origin::Ran)?;
        if let Some(remote) = &self.remote {
            remote.push(self, &found);
        }
        Ok(found)
    }

    /// The entry `name` from the store, else from the remote cache, under its
    /// lock, by the same path as [`Store::entry`] (damage reported and
    /// evicted); none if neither has it whole. For a remote bringing in what an
    /// entry needs, and a build looking for another machine's.
    pub fn obtain(&self, name: &EntryName) -> Option<Found> {
        /// Nothing may make the entry here: absent is an answer, not an error.
        struct Absent;
        impl From<StoreError> for Absent {
            fn from(_: StoreError) -> Absent {
                Absent
            }
        }
        self.entry_checked(name, Check::Tree, || Err::<Produced, _>(Absent))
            .ok()
    }

    /// Asks the remote cache for `name`; what it brings is published here.
    fn pull(&self, name: &EntryName) -> Option<Found> {
        let remote = self.remote.as_ref()?;
        let produced = remote.pull(self, name)?;
        match self.publish(name, produced, Origin::Remote) {
            Ok(found) => Some(found),
            Err(error) => {
                tracing::warn!(
                    "{} came from the remote cache but could not be kept: {error}; it is made here",
                    name.relative()
                );
                None
            }
        }
    }

    /// The entry `name`, if the store has it and it passes the quick check.
    pub fn lookup_entry(&self, name: &EntryName) -> Option<Found> {
        self.lookup(name, Check::Tree).ok()
    }

    fn lookup(&self, name: &EntryName, check: Check) -> Result<Found, Unusable> {
        let dir = self.entry_dir(name);
        let manifest = match fs::read(dir.join("manifest")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Unusable::Missing),
            Err(e) => {
                return Err(Unusable::Damaged(format!(
                    "its manifest cannot be read: {e}"
                )));
            }
        };
        let needs: Needs = match fs::read(dir.join("needs")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Unusable::Damaged(format!("its list of needs is corrupt: {e}")))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Needs::default(),
            Err(e) => return Err(Unusable::Damaged(format!("its needs cannot be read: {e}"))),
        };
        for (digest, size) in &needs.blobs {
            self.check_blob(digest, *size, self.thoroughness())
                .map_err(|damage| {
                    if damage.what != "is missing" {
                        self.evict_blob(digest);
                    }
                    Unusable::Damaged(format!("blob {}: {}", digest.to_hex(), damage.what))
                })?;
        }
        for tree in &needs.trees {
            let tree_name = EntryName::Tree(tree.clone());
            if let Err(unusable) = self.lookup(&tree_name, Check::Tree) {
                if let Unusable::Damaged(_) = unusable {
                    self.evict(&tree_name);
                }
                return Err(Unusable::Damaged(format!(
                    "the tree {tree} it needs is gone or damaged"
                )));
            }
        }
        let tree = dir.join("tree");
        let (tree, index) = if tree.symlink_metadata().is_ok() {
            let index = fs::read(dir.join("tree.index"))
                .ok()
                .and_then(|b| TreeIndex::decode(&b))
                .ok_or_else(|| {
                    Unusable::Damaged("its tree's index is missing or corrupt".into())
                })?;
            if check == Check::Tree || self.verify_all {
                index
                    .check(&tree, self.thoroughness())
                    .map_err(|damage: Damage| Unusable::Damaged(format!("tree/{damage}")))?;
            }
            (Some(tree), Some(index))
        } else {
            (None, None)
        };
        touch(&dir);
        Ok(Found {
            name: name.clone(),
            manifest,
            tree,
            index,
            needs,
            origin: Origin::Cached,
        })
    }

    /// Hashes and seals a tree made in a work area, for [`Produced::tree`]: its
    /// NAR hash is what its manifest records.
    pub fn index_tree(&self, tree: &TempEntry) -> Result<TreeIndex, StoreError> {
        TreeIndex::make(tree.path())
    }

    fn publish(
        &self,
        name: &EntryName,
        produced: Produced,
        origin: Origin,
    ) -> Result<Found, StoreError> {
        let staging = self.temp_entry()?;
        let dir = staging.path();
        fs::create_dir(dir).map_err(|e| StoreError::io("create", dir, e))?;
        write_file(&dir.join("manifest"), &produced.manifest)?;
        write_file(&dir.join("needs"), &produced.needs.encode())?;
        let index = match produced.tree {
            Some((tree, index)) => {
                write_file(&dir.join("tree.index"), &index.encode())?;
                let to = dir.join("tree");
                fs::rename(tree.path(), &to).map_err(|e| StoreError::io("move", &to, e))?;
                // The tree now lives inside the staging entry; release its own lock.
                drop(tree);
                Some(index)
            }
            None => None,
        };
        // One syncfs flushes every file of the entry: cheaper than a fsync each.
        atomic::sync_filesystem(dir).map_err(|e| StoreError::io("flush", dir, e))?;
        let target = self.entry_dir(name);
        let parent = target.parent().expect("entries have a parent");
        match fs::rename(dir, &target) {
            Ok(()) => atomic::sync_dir(parent).map_err(|e| StoreError::io("flush", &target, e))?,
            Err(e) if crate::is_already_there(&e) => {
                tracing::debug!(
                    "{} was published by another process; keeping theirs",
                    name.relative()
                );
            }
            Err(e) => return Err(StoreError::io("publish", &target, e)),
        }
        drop(staging);
        let tree = target.join("tree");
        let has_tree = tree.symlink_metadata().is_ok();
        Ok(Found {
            name: name.clone(),
            manifest: fs::read(target.join("manifest"))
                .map_err(|e| StoreError::io("read back", &target, e))?,
            tree: has_tree.then_some(tree),
            index,
            needs: produced.needs,
            origin,
        })
    }

    /// Removes an entry, whole or not at all: it is moved out of the way first.
    pub fn evict(&self, name: &EntryName) {
        let dir = self.entry_dir(name);
        // Dropping the work area removes what was moved there.
        if let Ok(grave) = self.temp_entry()
            && fs::rename(&dir, grave.path()).is_ok()
        {
            tracing::debug!("evicted {}", name.relative());
        }
    }

    /// The tree of an entry named by a manifest, checked: its path stays inside
    /// the store, its index records `nar_sha256`, and it passes the check.
    pub fn verified_tree(&self, tree: &pyfod_manifest::StoredTree) -> Result<PathBuf, StoreError> {
        let bad = |detail: String| StoreError::BadTree {
            path: tree.store_path.0.clone(),
            detail,
        };
        let name = entry_of_tree_path(&tree.store_path.0).ok_or_else(|| {
            bad(
                "it is not the tree of a store entry (stages/<key>/tree or trees/<name>/tree)"
                    .into(),
            )
        })?;
        let found = self
            .lookup(&name, Check::Tree)
            .map_err(|unusable| match unusable {
                Unusable::Missing => {
                    bad("the store does not have it; run the stage that makes it again".into())
                }
                Unusable::Damaged(what) => {
                    self.evict(&name);
                    bad(format!(
                        "it is damaged ({what}) and was removed; run the stage that makes it again"
                    ))
                }
            })?;
        let index = found
            .index
            .ok_or_else(|| bad("the entry has no tree".into()))?;
        if index.nar_sha256() != tree.nar_sha256 {
            return Err(bad(format!(
                "the manifest says its NAR hash is {}, but the store's is {}; the manifest is not of this store, or was altered",
                tree.nar_sha256.to_sri(),
                index.nar_sha256().to_sri()
            )));
        }
        Ok(found.tree.expect("an index comes with a tree"))
    }
}

/// `stages/<key>/tree` or `trees/<name>/tree`, as an entry name; anything else
/// (an absolute path, `..`, another area) is refused.
pub(crate) fn entry_of_tree_path(path: &str) -> Option<EntryName> {
    let mut parts = path.split('/');
    let (area, name, tree) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || tree != "tree" || !is_plain_name(name) {
        return None;
    }
    match area {
        "stages" => StageKey::from_hex(name).map(EntryName::Stage),
        "trees" => Some(EntryName::Tree(name.to_owned())),
        _ => None,
    }
}

/// A single path component that names nothing but itself.
pub(crate) fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| StoreError::io("write", path, e))
}

/// Records that an entry was used now: its directory's mtime, which `gc` reads.
fn touch(dir: &Path) {
    if let Ok(file) = File::open(dir) {
        let _ = file.set_modified(SystemTime::now());
    }
}
