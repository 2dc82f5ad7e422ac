//! `[cache]` of `pyfod.toml`, and how it meets the flags and the environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Endpoint, Mode, RemoteSettings};

/// `[cache]`: the shared cache behind the store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CacheConfig {
    /// `s3://bucket/prefix` or `file:///dir`.
    pub remote: Option<String>,
    pub mode: Option<Mode>,
    /// A self-hosted server's endpoint, as `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `name:base64` public keys whose signed results are used.
    #[serde(default)]
    pub trusted_public_keys: Vec<String>,
    /// The key uploads are signed with; relative to the file. Never the key itself.
    pub secret_key_file: Option<PathBuf>,
    /// Transfers at once.
    pub jobs: Option<usize>,
}

impl CacheConfig {
    pub fn relative_to(mut self, base: &Path) -> CacheConfig {
        self.secret_key_file = self.secret_key_file.map(|p| base.join(p));
        self
    }
}

/// What the command line (or its variables) said; each wins over the file.
#[derive(Debug, Clone, Default)]
pub struct CacheFlags {
    pub remote: Option<String>,
    pub mode: Option<Mode>,
    pub trusted_public_keys: Vec<String>,
    pub secret_key_file: Option<PathBuf>,
}

/// The remote's settings, if a remote is named anywhere.
pub fn resolve(file: &CacheConfig, flags: &CacheFlags) -> Option<RemoteSettings> {
    let url = flags.remote.clone().or_else(|| file.remote.clone())?;
    let mut trusted = file.trusted_public_keys.clone();
    trusted.extend(flags.trusted_public_keys.iter().cloned());
    Some(RemoteSettings {
        url,
        mode: flags.mode.or(file.mode),
        endpoint: Endpoint {
            url: file.endpoint.clone(),
            region: file.region.clone(),
        },
        trusted_public_keys: trusted,
        secret_key_file: flags
            .secret_key_file
            .clone()
            .or_else(|| file.secret_key_file.clone()),
        jobs: file.jobs.unwrap_or(8),
    })
}
