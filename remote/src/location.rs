//! Where the remote is: a URL made into an object store client, with
//! endpoint, region and credentials taken the way S3 tools take them.
//!
//! - `s3://bucket[/prefix]`: the standard `AWS_*` variables first
//!   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//!   `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), then the profile
//!   files (`AWS_PROFILE`, else `default`, in `AWS_SHARED_CREDENTIALS_FILE` or
//!   `~/.aws/credentials`, and `AWS_CONFIG_FILE` or `~/.aws/config`). An
//!   `http://` endpoint (a self-hosted server) is allowed because it was named.
//! - `file:///dir`: a directory, for one machine or a shared mount.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use crate::RemoteError;

/// An object store and the prefix under which pyfod's objects are.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    /// The URL as given, without credentials (a URL never holds any here).
    pub url: String,
}

impl Location {
    /// The object at `relative` (`ac/…`, `cas/…`) under the prefix.
    pub fn path(&self, relative: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(relative)
        } else {
            ObjectPath::from(format!("{}/{relative}", self.prefix))
        }
    }
}

/// How the endpoint is reached, besides what the environment says.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// A custom endpoint (`[cache] endpoint`), ahead of `AWS_ENDPOINT_URL`.
    pub url: Option<String>,
    pub region: Option<String>,
}

pub fn open(url: &str, endpoint: &Endpoint) -> Result<Location, RemoteError> {
    let bad = |why: &str| RemoteError::Url {
        url: url.to_owned(),
        why: why.to_owned(),
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains(['@', ':', '?', '#']) {
            return Err(bad(
                "name a bucket, as s3://bucket/prefix; credentials do not go in the URL",
            ));
        }
        let store = s3(bucket, endpoint).map_err(|e| bad(&e.to_string()))?;
        return Ok(Location {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
            url: url.to_owned(),
        });
    }
    if let Some(dir) = url.strip_prefix("file://") {
        let dir = PathBuf::from(dir);
        if !dir.is_absolute() {
            return Err(bad(
                "a file:// remote needs an absolute path, as file:///srv/pyfod",
            ));
        }
        std::fs::create_dir_all(&dir).map_err(|e| bad(&format!("cannot create it: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(&e.to_string()))?;
        return Ok(Location {
            store: Arc::new(store),
            prefix: String::new(),
            url: url.to_owned(),
        });
    }
    Err(bad(
        "pyfod reads s3://bucket/prefix and file:///dir remotes",
    ))
}

fn s3(bucket: &str, endpoint: &Endpoint) -> object_store::Result<Arc<dyn ObjectStore>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let profile_name = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let credentials = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config = env("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let from_credentials = read_profile(&credentials, &profile_name, false);
    let from_config = read_profile(&config, &profile_name, true);
    let profile = |key: &str| {
        from_credentials
            .get(key)
            .or_else(|| from_config.get(key))
            .cloned()
    };

    // The variables win over the profile, as in every AWS tool.
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    if env("AWS_ACCESS_KEY_ID").is_none()
        && let (Some(id), Some(secret)) = (
            profile("aws_access_key_id"),
            profile("aws_secret_access_key"),
        )
    {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
        if let Some(token) = profile("aws_session_token") {
            builder = builder.with_token(token);
        }
    }
    let anonymous = env("AWS_ACCESS_KEY_ID").is_none()
        && profile("aws_access_key_id").is_none()
        && env("AWS_WEB_IDENTITY_TOKEN_FILE").is_none()
        && env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_none()
        && env("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_none();
    if anonymous {
        // No credentials anywhere: read a public bucket unsigned rather than
        // wait on a metadata service this machine may not have.
        tracing::debug!("no AWS credentials found: requests to s3://{bucket} are unsigned");
        builder = builder.with_skip_signature(true);
    }
    let region = endpoint
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile("region"));
    if let Some(region) = region {
        builder = builder.with_region(region);
    }
    let endpoint_url = endpoint
        .url
        .clone()
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| profile("endpoint_url"));
    let mut options = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300));
    if let Some(url) = endpoint_url {
        options = options.with_allow_http(url.starts_with("http://"));
        builder = builder.with_endpoint(url);
    }
    // A remote that is down should cost seconds, not the default three minutes.
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 2,
        retry_timeout: Duration::from_secs(15),
    };
    Ok(Arc::new(
        builder
            .with_client_options(options)
            .with_retry(retry)
            .build()?,
    ))
}

/// The keys of one profile in an AWS INI file: `[name]` in the credentials
/// file, `[profile name]` (or `[default]`) in the config file.
fn read_profile(path: &std::path::Path, name: &str, config: bool) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let wanted = if config && name != "default" {
        format!("profile {name}")
    } else {
        name.to_owned()
    };
    let mut out = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == wanted;
        } else if inside && let Some((key, value)) = line.split_once('=') {
            out.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_by_section() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config");
        std::fs::write(
            &file,
            "[default]\nregion = eu-west-1\n\n[profile ci]\n# a comment\nregion=us-east-2\nendpoint_url = http://127.0.0.1:9000\n[other]\nregion = x\n",
        )
        .unwrap();
        assert_eq!(read_profile(&file, "default", true)["region"], "eu-west-1");
        let ci = read_profile(&file, "ci", true);
        assert_eq!(ci["region"], "us-east-2");
        assert_eq!(ci["endpoint_url"], "http://127.0.0.1:9000");
        assert!(read_profile(&file, "missing", true).is_empty());
    }
}
