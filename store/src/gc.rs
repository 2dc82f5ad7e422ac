//! `pyfod store gc`: removes what no recent build used.
//!
//! Entries (`stages/`, `trees/`) carry their last use in their directory's mtime,
//! which every lookup renews. `gc` removes entries unused for longer than
//! `--older-than`, then the least recently used until the store fits in
//! `--max-size`, then every blob no remaining entry needs. It takes the lock every
//! open store holds shared, exclusively: it waits for running builds, and none can
//! start while it works, so it never removes what a build holds.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pyfod_digest::Sha256;

use crate::entry::{EntryName, Needs};
use crate::{Store, StoreError, lock};

/// What to remove.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Remove entries unused for longer than this.
    pub older_than: Option<Duration>,
    /// Then remove the least recently used until the store is at most this big.
    pub max_size: Option<u64>,
}

/// What `gc` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub entries_removed: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub bytes_kept: u64,
}

struct Candidate {
    name: EntryName,
    dir: PathBuf,
    last_used: SystemTime,
    bytes: u64,
    needs: Needs,
}

/// Collects garbage in the store at `root`, waiting for running pyfod processes.
pub fn gc(root: &Path, options: &GcOptions) -> Result<GcReport, StoreError> {
    let store = Store::open_unlocked(root)?;
    let lock_path = store.root.join("locks/in-use.lock");
    let file = lock::open(&lock_path)?;
    if file.try_lock().is_err() {
        tracing::warn!("waiting for the pyfod processes using {}", root.display());
        file.lock()
            .map_err(|e| StoreError::io("lock", &lock_path, e))?;
    }
    let mut entries = store.candidates()?;
    let now = SystemTime::now();
    let mut report = GcReport::default();
    // Oldest first: what goes first when the store must shrink.
    entries.sort_by_key(|e| e.last_used);
    let blob_sizes = store.blob_sizes()?;
    let mut needed: HashMap<Sha256, usize> = HashMap::new();
    for entry in &entries {
        for (blob, _) in &entry.needs.blobs {
            *needed.entry(*blob).or_default() += 1;
        }
    }
    let mut total: u64 =
        entries.iter().map(|e| e.bytes).sum::<u64>() + blob_sizes.values().sum::<u64>();
    let mut kept = Vec::new();
    for entry in entries {
        let stale = options
            .older_than
            .is_some_and(|age| now.duration_since(entry.last_used).unwrap_or_default() > age);
        let too_big = options.max_size.is_some_and(|max| total > max);
        if !(stale || too_big) {
            kept.push(entry);
            continue;
        }
        store.evict(&entry.name);
        report.entries_removed += 1;
        report.bytes_freed += entry.bytes;
        total -= entry.bytes;
        for (blob, _) in &entry.needs.blobs {
            let count = needed.get_mut(blob).expect("counted above");
            *count -= 1;
            if *count == 0
                && let Some(size) = blob_sizes.get(blob)
            {
                total -= size;
            }
        }
        tracing::debug!("removed {}", entry.dir.display());
    }
    for (blob, size) in &blob_sizes {
        if needed.get(blob).copied().unwrap_or(0) == 0 {
            store.evict_blob(blob);
            report.blobs_removed += 1;
            report.bytes_freed += size;
        }
    }
    if let Some(age) = options.older_than {
        store.remove_old_logs(now, age);
    }
    report.bytes_kept = kept.iter().map(|e| e.bytes).sum::<u64>()
        + blob_sizes
            .iter()
            .filter(|(b, _)| needed.get(b).copied().unwrap_or(0) > 0)
            .map(|(_, s)| s)
            .sum::<u64>();
    Ok(report)
}

impl Store {
    fn candidates(&self) -> Result<Vec<Candidate>, StoreError> {
        let mut out = Vec::new();
        for (name, path) in self.entries()? {
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            let needs = fs::read(path.join("needs"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            out.push(Candidate {
                name,
                last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                bytes: disk_usage(&path),
                dir: path,
                needs,
            });
        }
        Ok(out)
    }

    fn blob_sizes(&self) -> Result<HashMap<Sha256, u64>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let listing = fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, e))?;
        Ok(listing
            .flatten()
            .filter_map(|item| {
                let name = item.file_name();
                let digest = Sha256::from_hex(name.to_str()?)?;
                Some((digest, item.metadata().ok()?.len()))
            })
            .collect())
    }

    fn remove_old_logs(&self, now: SystemTime, age: Duration) {
        let Ok(listing) = fs::read_dir(self.root.join("logs")) else {
            return;
        };
        for item in listing.flatten() {
            let old = item
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > age);
            if old {
                let _ = fs::remove_file(item.path());
            }
        }
    }
}

/// Bytes a tree takes on disk (allocated blocks), never following links.
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    own + fs::read_dir(path)
        .map(|listing| listing.flatten().map(|e| disk_usage(&e.path())).sum())
        .unwrap_or(0)
}
