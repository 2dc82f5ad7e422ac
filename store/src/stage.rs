//! The stage contract: what a stage reads, what settings it takes, what it
//! writes, and the one way it is run through the store's cache.
//!
//! A stage's cache key ([`StageKey`]) is made from its name, its format version,
//! the digest of its input ([`Stage::input_digest`], by content), and its
//! settings in the key encoding ([`crate::key`]). A stage declares everything
//! that can change its output in those two; nothing else reaches its `run`.

use std::path::PathBuf;

use pyfod_digest::Sha256;
use pyfod_manifest::{DecodeError, Manifest, StorePath};
use serde::Serialize;

use crate::{EntryName, Origin, Produced, StageKey, Store, StoreError};

/// A stage: a library with one entry, [`Stage::run`], that the store caches.
pub trait Stage {
    /// The stage's name in keys, manifest envelopes and messages.
    const STAGE: pyfod_manifest::Stage;
    /// Bumped whenever what the stage writes for the same input and settings
    /// changes: a new key for every cached result.
    const FORMAT_VERSION: u32;
    /// What it reads: a lock and the files it names, or the previous manifest.
    type Input;
    /// Plain data, resolved before anything runs; in the key, whole.
    type Settings: Serialize;
    /// What it writes.
    type Output: Manifest;
    type Error: From<StoreError>;

    /// The digest of everything in `input` that can change the output, by
    /// content: the bytes of a manifest, of a lock, of the local sources it names.
    fn input_digest(input: &Self::Input) -> Sha256;

    /// Whether a stored result may stand in for a run (`--check` says no).
    fn reuse(_settings: &Self::Settings) -> bool {
        true
    }

    /// Whether the output depends on where the store is (a venv made for the
    /// place the store keeps it): then the store's root is in the key, and two
    /// stores at different paths, on one machine or two, share nothing of it.
    fn located_in_store(_settings: &Self::Settings) -> bool {
        false
    }

    /// Does the work; the result is published under the key by the store.
    fn run(
        input: &Self::Input,
        settings: &Self::Settings,
        work: &Work<'_>,
    ) -> Result<Produced, Self::Error>;
}

/// What a stage's run knows of where its result goes.
#[derive(Debug)]
pub struct Work<'a> {
    pub store: &'a Store,
    pub key: StageKey,
    /// The digest of the input, for the output manifest's envelope.
    pub input_digest: Sha256,
}

impl Work<'_> {
    /// Where the stage's tree will be, once published.
    pub fn tree_path(&self) -> StorePath {
        EntryName::Stage(self.key).tree_path()
    }

    /// The output manifest in its envelope, naming the input it came from.
    pub fn encode<M: Manifest>(&self, manifest: &M) -> Vec<u8> {
        manifest.encode(Some(self.input_digest))
    }
}

/// A stage's result, from the store or made now.
#[derive(Debug, Clone)]
pub struct StageOutput<M> {
    pub key: StageKey,
    /// The manifest's bytes: the next stage's input.
    pub bytes: Vec<u8>,
    pub manifest: M,
    /// The stage's tree, checked against its index.
    pub tree: Option<PathBuf>,
    pub index: Option<crate::TreeIndex>,
    pub origin: Origin,
}

impl Store {
    /// Runs stage `S` on `input` with `settings`, or finds its result in the
    /// store, checked. A stored manifest that no longer decodes is evicted and
    /// the stage runs again.
    pub fn run_stage<S: Stage>(
        &self,
        input: &S::Input,
        settings: &S::Settings,
    ) -> Result<StageOutput<S::Output>, S::Error> {
        let input_digest = S::input_digest(input);
        let key = if S::located_in_store(settings) {
            let root = crate::key::PathKey(self.root());
            StageKey::new(
                S::STAGE.name(),
                S::FORMAT_VERSION,
                &input_digest,
                &(settings, root),
            )
        } else {
            StageKey::new(S::STAGE.name(), S::FORMAT_VERSION, &input_digest, settings)
        };
        let name = EntryName::Stage(key);
        let work = Work {
            store: self,
            key,
            input_digest,
        };
        // A stage that must run (`--check`) runs: neither this store nor the
        // remote may stand in for it.
        let store = if S::reuse(settings) {
            self
        } else {
            self.evict_locked(&name)?;
            &self.without_remote()
        };
        let mut found = store.entry(&name, || S::run(input, settings, &work))?;
        let manifest = match S::Output::decode(&found.manifest) {
            Ok((_, manifest)) => manifest,
            Err(error) if found.origin != Origin::Ran => {
                tracing::warn!(
                    "the store's {} holds a manifest that does not decode ({error}); running {} again",
                    name.relative(),
                    S::STAGE
                );
                self.evict_locked(&name)?;
                // Not from the remote again: it would bring the same bytes.
                let local = self.without_remote();
                found = local.entry(&name, || S::run(input, settings, &work))?;
                S::Output::decode(&found.manifest)
                    .map_err(|e| bad_manifest(&name, e))?
                    .1
            }
            Err(error) => return Err(bad_manifest(&name, error).into()),
        };
        Ok(StageOutput {
            key,
            bytes: found.manifest,
            manifest,
            tree: found.tree,
            index: found.index,
            origin: found.origin,
        })
    }

    /// [`Store::evict`], under the entry's lock.
    fn evict_locked(&self, name: &EntryName) -> Result<(), StoreError> {
        let _lock = self.lock(&name.lock_name())?;
        self.evict(name);
        Ok(())
    }
}

fn bad_manifest(name: &EntryName, error: DecodeError) -> StoreError {
    StoreError::BadManifest {
        path: format!("{}/manifest", name.relative()),
        source: error,
    }
}
