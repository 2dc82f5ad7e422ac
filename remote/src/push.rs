//! Results made here, offered to the remote behind the build's back: one
//! worker thread takes them in order; each goes up as its blobs and NAR
//! first, its signed record last and create-only.

use std::sync::Mutex;
use std::thread::JoinHandle;

use futures::StreamExt;
use pyfod_digest::Sha256;
use pyfod_nar::HashSettings;
use pyfod_store::{EntryName, Found, Store};

use crate::record::{self, Claim};
use crate::transfer::TransferError;
use crate::{Inner, RemoteCache};

struct Job {
    store: Store,
    found: Found,
}

/// The upload worker and its queue.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    queue: Mutex<Option<crossbeam_channel::Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({})", self.found.name.relative())
    }
}

impl Uploads {
    /// Waits for every queued upload; later pushes start a new worker.
    pub(crate) fn wait(&self) {
        drop(self.queue.lock().expect("not poisoned").take());
        if let Some(worker) = self.worker.lock().expect("not poisoned").take() {
            let _ = worker.join();
        }
    }
}

pub(crate) fn queue(cache: &RemoteCache, store: &Store, found: &Found) {
    // Stage results are what another machine asks for; a tree goes up when a
    // result needs it (an unpacked wheel is remade from its blob faster than
    // it is fetched).
    if !matches!(found.name, EntryName::Stage(_)) || cache.inner.is_down() {
        return;
    }
    let mut queue = cache.uploads.queue.lock().expect("not poisoned");
    if queue.is_none() {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let inner = cache.inner.clone();
        let worker = std::thread::Builder::new()
            .name("pyfod-upload".into())
            .spawn(move || {
                for job in rx {
                    if inner.is_down() {
                        continue;
                    }
                    if let Err(e) = upload(&inner, &job.store, &job.found) {
                        inner.went_down(&format!("uploading {}", job.found.name.relative()), &e);
                    }
                }
            });
        match worker {
            Ok(worker) => {
                *cache.uploads.worker.lock().expect("not poisoned") = Some(worker);
                *queue = Some(tx);
            }
            Err(e) => {
                tracing::warn!("cannot start the remote's uploads: {e}");
                return;
            }
        }
    }
    let job = Job {
        // The job must not keep the remote alive through the store.
        store: store.without_remote(),
        found: found.clone(),
    };
    if let Some(queue) = queue.as_ref() {
        let _ = queue.send(job);
    }
}

/// Uploads `found` and what it needs unless the remote has its record.
fn upload(inner: &Inner, store: &Store, found: &Found) -> Result<(), TransferError> {
    let secret = inner.secret.as_ref().expect("write mode has a key");
    let path = record::record_path(&found.name);
    let recorded = inner.block_on(inner.client.head(&path))?.is_some();
    if recorded && !inner.holds_corrupt(found) {
        tracing::debug!("remote: {path} is there already");
        return Ok(());
    }
    for tree in &found.needs.trees {
        let name = EntryName::Tree(tree.clone());
        if inner
            .block_on(inner.client.head(&record::record_path(&name)))?
            .is_some()
        {
            continue;
        }
        match store.lookup_entry(&name) {
            Some(tree_found) => upload(inner, store, &tree_found)?,
            None => {
                tracing::debug!("remote: {path} is not uploaded: the tree {tree} it needs is gone");
                return Ok(());
            }
        }
    }
    let manifest = Sha256::of(&found.manifest);
    let manifest_len = found.manifest.len() as u64;
    inner.block_on(async {
        if inner.wants(&manifest).await? {
            let relative = format!("cas/{}", manifest.to_hex());
            inner
                .client
                .put_bytes(&relative, found.manifest.clone(), false)
                .await?;
        }
        let mut blobs =
            futures::stream::iter(found.needs.blobs.iter().map(|(digest, size)| async move {
                if !inner.wants(digest).await? {
                    return Ok(());
                }
                let file = store
                    .verified_blob(digest, *size)
                    .map_err(|e| TransferError::Local(e.to_string()))?;
                inner
                    .client
                    .put_file(&format!("cas/{}", digest.to_hex()), &file)
                    .await
            }))
            .buffer_unordered(inner.jobs);
        while let Some(done) = blobs.next().await {
            done?;
        }
        Ok::<(), TransferError>(())
    })?;
    let tree = match (&found.tree, &found.index) {
        (Some(tree), Some(index)) => {
            let nar = index.nar_sha256();
            if inner.block_on(inner.wants(&nar))? {
                upload_nar(inner, store, tree, &nar)?;
            }
            Some((nar, index.0.nar_size))
        }
        _ => None,
    };
    if recorded {
        // Only the corrupt objects it names were replaced; the record stays.
        return Ok(());
    }
    let claim = Claim {
        entry: found.name.relative(),
        manifest: (manifest, manifest_len),
        tree,
        needs: found.needs.clone(),
    };
    match inner.block_on(inner.client.put_bytes(&path, claim.sign(secret), true)) {
        Ok(()) => Ok(()),
        Err(TransferError::Remote(object_store::Error::AlreadyExists { .. })) => {
            tracing::debug!("remote: {path} was published by another machine first; theirs stays");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Writes the tree's NAR to a work file, checks it is the tree the index
/// names, and uploads it in parts.
fn upload_nar(
    inner: &Inner,
    store: &Store,
    tree: &std::path::Path,
    nar: &Sha256,
) -> Result<(), TransferError> {
    let local = |e: String| TransferError::Local(e);
    let work = store.temp_entry().map_err(|e| local(e.to_string()))?;
    let mut file = std::fs::File::create(work.path()).map_err(|e| local(e.to_string()))?;
    let hash = pyfod_nar::hash_path(tree, &HashSettings::default(), Some(&mut file))
        .map_err(|e| local(e.to_string()))?;
    if hash.nar_sha256 != *nar {
        return Err(local(format!(
            "{} changed since it was indexed; it is not uploaded",
            tree.display()
        )));
    }
    inner.block_on(
        inner
            .client
            .put_file(&format!("cas/{}", nar.to_hex()), work.path()),
    )
}
