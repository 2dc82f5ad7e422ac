//! A miss here, asked of the remote: the record, checked and trusted; what it
//! needs, brought in; its tree, streamed, checked, unpacked and indexed.

use futures::StreamExt;
use pyfod_digest::Sha256;
use pyfod_store::{EntryName, Produced, Store};

use crate::Inner as RemoteCache;
use crate::record::{self, Record, Untrusted};
use crate::transfer::TransferError;

/// The largest manifest a record may name.
const MAX_MANIFEST: usize = 256 << 20;

pub(crate) fn pull(cache: &RemoteCache, store: &Store, name: &EntryName) -> Option<Produced> {
    if cache.is_down() || cache.trusted.is_empty() {
        return None;
    }
    let entry = name.relative();
    let path = record::record_path(name);
    let bytes = match cache.block_on(cache.client.get_bytes(&path, record::MAX_RECORD)) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            tracing::debug!("remote: {path} is not there");
            return None;
        }
        Err(e) => {
            cache.went_down(&format!("reading {path}"), &e);
            return None;
        }
    };
    let claim = match trusted_claim(cache, &bytes, &entry) {
        Ok(claim) => claim,
        Err(why) => {
            tracing::warn!("the remote's {path} is ignored: {why}; {entry} is made here");
            return None;
        }
    };
    match bring(cache, store, &claim) {
        Ok(produced) => Some(produced),
        Err(Missing::Tree(tree)) => {
            tracing::debug!("remote: {path} needs the tree {tree}, which neither store has");
            None
        }
        Err(Missing::Transfer(e)) => {
            if let TransferError::Corrupt { .. } = &e {
                tracing::warn!("{e}; {entry} is made here");
            } else if e.is_not_found() {
                tracing::warn!(
                    "the remote's {path} names an object it does not have ({e}); {entry} is made here"
                );
            } else {
                cache.went_down(&format!("bringing in {entry}"), &e);
            }
            None
        }
    }
}

fn trusted_claim(
    cache: &RemoteCache,
    bytes: &[u8],
    entry: &str,
) -> Result<record::Claim, Untrusted> {
    let record = Record::parse(bytes)?;
    let claim = record.trusted(&cache.trusted)?.clone();
    if claim.entry != entry {
        return Err(Untrusted::Malformed(format!(
            "it is a record of {}",
            claim.entry
        )));
    }
    Ok(claim)
}

enum Missing {
    Tree(String),
    Transfer(TransferError),
}

impl From<TransferError> for Missing {
    fn from(e: TransferError) -> Missing {
        Missing::Transfer(e)
    }
}

fn bring(cache: &RemoteCache, store: &Store, claim: &record::Claim) -> Result<Produced, Missing> {
    for tree in &claim.needs.trees {
        if store.obtain(&EntryName::Tree(tree.clone())).is_none() {
            return Err(Missing::Tree(tree.clone()));
        }
    }
    let (digest, size) = claim.manifest;
    let manifest = cache.block_on(async {
        let mut bytes = Vec::with_capacity(size.min(MAX_MANIFEST as u64) as usize);
        if size > MAX_MANIFEST as u64 {
            return Err(TransferError::Corrupt {
                path: format!("cas/{}", digest.to_hex()),
                what: "a manifest larger than any".into(),
            });
        }
        cache.client.get_checked(&digest, size, &mut bytes).await?;
        Ok(bytes)
    });
    let manifest = manifest.map_err(|e| note_corrupt(cache, &digest, e))?;
    let wanted: Vec<(Sha256, u64)> = claim
        .needs
        .blobs
        .iter()
        .filter(|(digest, size)| !store.has_blob(digest, *size))
        .copied()
        .collect();
    cache.block_on(async {
        let mut transfers = futures::stream::iter(wanted.iter().map(|(digest, size)| async move {
            let writer = store
                .blob_writer()
                .map_err(|e| TransferError::Local(e.to_string()))?;
            cache
                .client
                .get_blob(digest, *size, writer)
                .await
                .map_err(|e| note_corrupt(cache, digest, e))
        }))
        .buffer_unordered(cache.jobs);
        while let Some(done) = transfers.next().await {
            done?;
        }
        Ok::<(), Missing>(())
    })?;
    let tree = match claim.tree {
        Some((nar, nar_size)) => Some(bring_tree(cache, store, &nar, nar_size)?),
        None => None,
    };
    Ok(Produced {
        manifest,
        tree,
        needs: claim.needs.clone(),
    })
}

fn bring_tree(
    cache: &RemoteCache,
    store: &Store,
    nar: &Sha256,
    nar_size: u64,
) -> Result<(pyfod_store::TempEntry, pyfod_store::TreeIndex), Missing> {
    let local = |what: String| Missing::Transfer(TransferError::Local(what));
    let file_entry = store.temp_entry().map_err(|e| local(e.to_string()))?;
    let file = std::fs::File::create(file_entry.path()).map_err(|e| local(e.to_string()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    cache
        .block_on(cache.client.get_checked(nar, nar_size, &mut out))
        .map_err(|e| note_corrupt(cache, nar, e))?;
    std::io::Write::flush(&mut out).map_err(|e| local(e.to_string()))?;
    drop(out);
    let tree = store.temp_entry().map_err(|e| local(e.to_string()))?;
    // The NAR's bytes are the ones the signed record names; it is still read
    // as hostile, since a trusted key does not make a NAR well formed.
    pyfod_nar::unpack_file(file_entry.path(), tree.path(), nar_size)
        .map_err(|e| corrupt_tree(nar, e.to_string()))?;
    drop(file_entry);
    let index = store.index_tree(&tree).map_err(|e| local(e.to_string()))?;
    if index.nar_sha256() != *nar {
        return Err(corrupt_tree(nar, "it unpacks to another tree".into()));
    }
    Ok((tree, index))
}

fn corrupt_tree(nar: &Sha256, what: String) -> Missing {
    Missing::Transfer(TransferError::Corrupt {
        path: format!("cas/{}", nar.to_hex()),
        what,
    })
}

/// Remembers a blob the remote holds corrupt, so this machine's upload
/// replaces it.
fn note_corrupt(cache: &RemoteCache, digest: &Sha256, e: TransferError) -> Missing {
    if let TransferError::Corrupt { .. } = e {
        cache
            .corrupt
            .lock()
            .expect("no panics while held")
            .push(*digest);
    }
    Missing::Transfer(e)
}
