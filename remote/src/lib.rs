//! A shared stage cache: the local store's entries on an object store, so a
//! machine that starts cold reuses every stage another machine already ran.
//!
//! The layout follows Bazel's remote cache:
//!
//! ```text
//! cas/<sha256>         blobs, and trees as NARs, named by their SHA-256
//! ac/<stage key>       a stage's result: a signed record (see [`record`])
//! ac/trees/<name>      a tree entry's record (unpacked wheels, source trees)
//! ```
//!
//! Invariants:
//! - Nothing from the remote is used unchecked. A record is used only when a
//!   trusted key signed it for exactly the entry asked for; every blob and NAR
//!   is hashed as it streams in and dropped if it is not what the record
//!   claims. A poisoned cache can make a build slower, never different.
//! - A result is uploaded only after its work succeeded and was published
//!   here, blobs and trees first, its record last and create-only: two
//!   machines racing on a key cannot clobber each other, and a record never
//!   names what is not there yet.
//! - A remote that is down costs one warning and a local build, never a
//!   failed one.
//! - Credentials come from the environment and are never logged or recorded.

pub mod config;
pub mod keys;
pub mod location;
mod pull;
mod push;
pub mod record;
mod transfer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyfod_store::{EntryName, Found, Produced, Remote, Store, Transferred};

pub use config::{CacheConfig, CacheFlags};
pub use keys::{PublicKey, SecretKey};
pub use location::Endpoint;

/// What may be done with the remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Use what it has; add nothing (untrusted CI, outside contributions).
    Read,
    /// Use what it has, and upload what was made here.
    Write,
    /// Do not use it.
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(text: &str) -> Result<Mode, String> {
        match text {
            "read" => Ok(Mode::Read),
            "write" => Ok(Mode::Write),
            "off" => Ok(Mode::Off),
            _ => Err(format!("`{text}`: expected read, write or off")),
        }
    }
}

/// How to reach the remote and whom to trust.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// `s3://bucket/prefix` or `file:///dir`.
    pub url: String,
    /// None: write when a secret key is given, else read.
    pub mode: Option<Mode>,
    pub endpoint: Endpoint,
    /// Public keys in Nix's `name:base64` form; a record signed by none is ignored.
    pub trusted_public_keys: Vec<String>,
    /// The file holding the secret key uploads are signed with.
    pub secret_key_file: Option<PathBuf>,
    /// Transfers at once.
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("the remote {url} cannot be used: {why}")]
    Url { url: String, why: String },
    #[error("{0}")]
    Key(String),
    #[error("cannot read the secret key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the secret key file {path}: {why}")]
    BadKeyFile { path: PathBuf, why: String },
    #[error(
        "--remote-mode write needs a secret key to sign what it uploads: set [cache] secret-key-file in pyfod.toml, --secret-key-file or PYFOD_SECRET_KEY_FILE (make one with `pyfod key generate`)"
    )]
    WriteWithoutKey,
    #[error("cannot start the remote's transfers: {0}")]
    Runtime(std::io::Error),
}

/// A remote cache: the [`Remote`] the store asks on a miss.
pub struct RemoteCache {
    inner: Arc<Inner>,
    uploads: push::Uploads,
    /// Last: the uploads are waited for before the runtime goes.
    _runtime: tokio::runtime::Runtime,
}

/// What the pulls and the upload worker share.
pub(crate) struct Inner {
    client: transfer::Client,
    handle: tokio::runtime::Handle,
    mode: Mode,
    trusted: Vec<PublicKey>,
    secret: Option<SecretKey>,
    jobs: usize,
    /// Set on the first failed request: the rest of the run builds locally.
    down: AtomicBool,
    /// Blobs found corrupt on the remote: replaced when this machine uploads them.
    corrupt: Mutex<Vec<pyfod_digest::Sha256>>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RemoteCache")
            .field("url", &inner.client.location.url)
            .field("mode", &inner.mode)
            .field(
                "trusted",
                &inner.trusted.iter().map(|k| k.name()).collect::<Vec<_>>(),
            )
            .field("signs_as", &inner.secret.as_ref().map(|k| k.name()))
            .finish_non_exhaustive()
    }
}

impl RemoteCache {
    /// Opens the remote `settings` name; none when its mode is `off`.
    pub fn open(settings: &RemoteSettings) -> Result<Option<Arc<RemoteCache>>, RemoteError> {
        let secret = match &settings.secret_key_file {
            Some(path) => Some(read_secret_key(path)?),
            None => None,
        };
        let mode = settings.mode.unwrap_or(if secret.is_some() {
            Mode::Write
        } else {
            Mode::Read
        });
        if mode == Mode::Off {
            return Ok(None);
        }
        if mode == Mode::Write && secret.is_none() {
            return Err(RemoteError::WriteWithoutKey);
        }
        let mut trusted = settings
            .trusted_public_keys
            .iter()
            .map(|k| PublicKey::parse(k))
            .collect::<Result<Vec<_>, _>>()?;
        // A machine that signs trusts its own signature.
        if let Some(secret) = &secret
            && !trusted.contains(&secret.public())
        {
            trusted.push(secret.public());
        }
        if trusted.is_empty() {
            tracing::warn!(
                "the remote {} is not read: no key is trusted; name the keys its writers sign with in [cache] trusted-public-keys (or --trusted-public-key)",
                settings.url
            );
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pyfod-remote")
            .enable_all()
            .build()
            .map_err(RemoteError::Runtime)?;
        // The client's connection pool belongs to the runtime it was made in.
        let location = {
            let _entered = runtime.enter();
            location::open(&settings.url, &settings.endpoint)?
        };
        let inner = Inner {
            client: transfer::Client {
                location,
                counters: transfer::Counters::default(),
            },
            handle: runtime.handle().clone(),
            mode,
            trusted,
            secret,
            jobs: settings.jobs.max(1),
            down: AtomicBool::new(false),
            corrupt: Mutex::new(Vec::new()),
        };
        Ok(Some(Arc::new(RemoteCache {
            inner: Arc::new(inner),
            uploads: push::Uploads::default(),
            _runtime: runtime,
        })))
    }

    pub fn mode(&self) -> Mode {
        self.inner.mode
    }
}

impl Inner {
    /// Marks the remote down after a failed request, warning once.
    fn went_down(&self, doing: &str, error: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                "the remote {} failed ({doing}: {error}); this run builds without it",
                self.client.location.url
            );
        }
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// Runs a transfer from a thread outside the runtime (a build's, the
    /// upload worker's).
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Whether `found` holds an object the remote was found to hold corrupt.
    fn holds_corrupt(&self, found: &pyfod_store::Found) -> bool {
        let corrupt = self.corrupt.lock().expect("not poisoned");
        let manifest = pyfod_digest::Sha256::of(&found.manifest);
        corrupt.contains(&manifest)
            || found
                .index
                .as_ref()
                .is_some_and(|i| corrupt.contains(&i.nar_sha256()))
            || found.needs.blobs.iter().any(|(d, _)| corrupt.contains(d))
    }

    /// Whether `cas/<digest>` must be uploaded: the remote lacks it, or holds
    /// it corrupt.
    async fn wants(&self, digest: &pyfod_digest::Sha256) -> Result<bool, transfer::TransferError> {
        if self.corrupt.lock().expect("not poisoned").contains(digest) {
            return Ok(true);
        }
        Ok(self
            .client
            .head(&format!("cas/{}", digest.to_hex()))
            .await?
            .is_none())
    }
}

impl Remote for RemoteCache {
    fn pull(&self, store: &Store, name: &EntryName) -> Option<Produced> {
        pull::pull(&self.inner, store, name)
    }

    fn push(&self, store: &Store, found: &Found) {
        if self.inner.mode == Mode::Write {
            push::queue(self, store, found);
        }
    }

    fn finish(&self) {
        self.uploads.wait();
    }

    fn transferred(&self) -> Transferred {
        self.inner.client.counters.snapshot()
    }
}

impl Drop for RemoteCache {
    fn drop(&mut self) {
        self.uploads.wait();
    }
}

fn read_secret_key(path: &std::path::Path) -> Result<SecretKey, RemoteError> {
    let text = std::fs::read_to_string(path).map_err(|source| RemoteError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    SecretKey::parse(&text).map_err(|e| RemoteError::BadKeyFile {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}
