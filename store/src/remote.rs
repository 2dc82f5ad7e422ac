//! The seam between the store and a cache behind it (`pyfod-remote`): on a
//! miss the store asks the remote before doing the work, and tells it of every
//! entry it made. The store publishes what a remote brings exactly as it
//! publishes its own work, so everything after is the same.

use std::fmt::Debug;

use crate::{EntryName, Found, Produced, Store};

/// A cache behind the local store.
pub trait Remote: Send + Sync + Debug {
    /// The entry `name`, brought in whole and checked: its manifest, its tree
    /// with the tree's index, and everything it needs already in `store`
    /// (through [`Store::obtain`] and [`Store::blob_writer`]). None on a miss,
    /// and on anything untrusted or damaged, which the remote reports itself.
    fn pull(&self, store: &Store, name: &EntryName) -> Option<Produced>;

    /// `found` was made here: offer it to the remote. May work behind the
    /// caller's back; [`Remote::finish`] waits for it.
    fn push(&self, store: &Store, found: &Found);

    /// Waits for pushes under way, and reports what moved.
    fn finish(&self) {}

    /// Bytes brought in and sent out so far.
    fn transferred(&self) -> Transferred {
        Transferred::default()
    }
}

/// Bytes moved between the store and its remote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transferred {
    pub down: u64,
    pub up: u64,
}

impl Store {
    /// Puts `remote` behind this store.
    pub fn with_remote(mut self, remote: std::sync::Arc<dyn Remote>) -> Store {
        self.remote = Some(remote);
        self
    }

    /// The remote behind this store, if any.
    pub fn remote(&self) -> Option<&dyn Remote> {
        self.remote.as_deref()
    }

    /// This store with nothing behind it.
    pub fn without_remote(&self) -> Store {
        let mut store = self.clone();
        store.remote = None;
        store
    }

    /// Waits for the remote's uploads under way, if there is a remote.
    pub fn finish_remote(&self) {
        if let Some(remote) = &self.remote {
            remote.finish();
        }
    }
}
