//! The object store's requests, each logged at `-v`, counted, and bounded.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, WriteMultipart};
use pyfod_digest::{Sha256, Sha256Hasher};
use pyfod_store::{BlobWriter, Transferred};

use crate::location::Location;

/// Why a transfer failed: the remote said no, or the bytes were wrong.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Remote(#[from] object_store::Error),
    #[error("{path} on the remote is corrupt: {what}")]
    Corrupt { path: String, what: String },
    #[error("{0}")]
    Local(String),
}

impl TransferError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            TransferError::Remote(object_store::Error::NotFound { .. })
        )
    }
}

/// Parts of a large upload; S3's floor is 5 MiB.
const PART: usize = 16 << 20;

#[derive(Debug, Default)]
pub struct Counters {
    down: AtomicU64,
    up: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> Transferred {
        Transferred {
            down: self.down.load(Ordering::Relaxed),
            up: self.up.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
pub struct Client {
    pub location: Location,
    pub counters: Counters,
}

impl Client {
    /// A whole object of at most `limit` bytes; larger is corrupt.
    pub async fn get_bytes(&self, relative: &str, limit: usize) -> Result<Vec<u8>, TransferError> {
        let path = self.location.path(relative);
        let result = self.location.store.get(&path).await?;
        if result.meta.size > limit as u64 {
            return Err(corrupt(
                relative,
                format!("{} bytes, more than any such object", result.meta.size),
            ));
        }
        let bytes = result.bytes().await?;
        self.counted_down(relative, bytes.len() as u64);
        Ok(bytes.to_vec())
    }

    /// Streams `cas/<digest>` into `out`, checking size and digest on the way.
    pub async fn get_checked(
        &self,
        digest: &Sha256,
        size: u64,
        out: &mut dyn Write,
    ) -> Result<(), TransferError> {
        let relative = format!("cas/{}", digest.to_hex());
        let path = self.location.path(&relative);
        let result = self.location.store.get(&path).await?;
        if result.meta.size != size {
            return Err(corrupt(
                &relative,
                format!("{} bytes where {size} were claimed", result.meta.size),
            ));
        }
        let mut hasher = Sha256Hasher::new();
        let mut seen = 0u64;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            if seen > size {
                return Err(corrupt(&relative, "more bytes than its size".into()));
            }
            hasher.update(&chunk);
            out.write_all(&chunk)
                .map_err(|e| TransferError::Local(format!("writing {relative} here: {e}")))?;
        }
        let got = hasher.finish();
        if seen != size || got != *digest {
            return Err(corrupt(
                &relative,
                format!("its bytes hash to {}", got.to_hex()),
            ));
        }
        self.counted_down(&relative, size);
        Ok(())
    }

    /// Streams `cas/<digest>` into a blob of the local store.
    pub async fn get_blob(
        &self,
        digest: &Sha256,
        size: u64,
        mut writer: BlobWriter,
    ) -> Result<(), TransferError> {
        let mut sink = BlobSink(&mut writer, None);
        self.get_checked(digest, size, &mut sink).await?;
        if let Some(e) = sink.1 {
            return Err(TransferError::Local(e));
        }
        writer
            .commit(Some(digest))
            .map_err(|e| TransferError::Local(e.to_string()))?;
        Ok(())
    }

    /// The size of the object at `relative`, if there is one.
    pub async fn head(&self, relative: &str) -> Result<Option<u64>, TransferError> {
        let path = self.location.path(relative);
        tracing::info!("remote: HEAD {relative}");
        match self.location.store.head(&path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a small object; `create` fails with `AlreadyExists` rather than
    /// replace one that is there.
    pub async fn put_bytes(
        &self,
        relative: &str,
        bytes: Vec<u8>,
        create: bool,
    ) -> Result<(), TransferError> {
        let path = self.location.path(relative);
        let len = bytes.len() as u64;
        let mode = if create {
            PutMode::Create
        } else {
            PutMode::Overwrite
        };
        tracing::info!("remote: PUT {relative} ({len} bytes)");
        self.location
            .store
            .put_opts(&path, PutPayload::from(bytes), PutOptions::from(mode))
            .await?;
        self.counted_up(len);
        Ok(())
    }

    /// Uploads a file in parts, never whole in memory.
    pub async fn put_file(&self, relative: &str, file: &Path) -> Result<(), TransferError> {
        let size = std::fs::metadata(file)
            .map_err(|e| TransferError::Local(format!("{}: {e}", file.display())))?
            .len();
        if size <= PART as u64 {
            let bytes = std::fs::read(file)
                .map_err(|e| TransferError::Local(format!("{}: {e}", file.display())))?;
            return self.put_bytes(relative, bytes, false).await;
        }
        let path = self.location.path(relative);
        tracing::info!("remote: PUT {relative} ({size} bytes, in parts)");
        let upload = self.location.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut input = std::fs::File::open(file)
            .map_err(|e| TransferError::Local(format!("{}: {e}", file.display())))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut input, &mut buf)
                .map_err(|e| TransferError::Local(format!("{}: {e}", file.display())))?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        self.counted_up(size);
        Ok(())
    }

    fn counted_down(&self, relative: &str, bytes: u64) {
        tracing::info!("remote: GET {relative} ({bytes} bytes)");
        self.counters.down.fetch_add(bytes, Ordering::Relaxed);
    }

    fn counted_up(&self, bytes: u64) {
        self.counters.up.fetch_add(bytes, Ordering::Relaxed);
    }
}

fn corrupt(path: &str, what: String) -> TransferError {
    TransferError::Corrupt {
        path: path.to_owned(),
        what,
    }
}

/// A `Write` over a blob writer, keeping its first error.
struct BlobSink<'a>(&'a mut BlobWriter, Option<String>);

impl Write for BlobSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Err(e) = self.0.write(buf) {
            self.1.get_or_insert(e.to_string());
            return Err(std::io::Error::other("blob write failed"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
