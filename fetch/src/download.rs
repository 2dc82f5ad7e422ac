//! Downloads: bounded concurrency, retries on connection errors and 5xx, each
//! file streamed into the store while its SHA-256 is computed and compared with
//! the lock's. Nothing enters the store unverified; a file already there costs no
//! request at all.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyfod_digest::Sha256;
use pyfod_store::{Store, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::FetchError;

/// Attempts after the first, on errors worth retrying.
const RETRIES: u32 = 3;

/// Where an artifact comes from.
#[derive(Debug, Clone)]
pub enum Location {
    Url(String),
    Local(PathBuf),
}

/// One artifact to put in the store.
#[derive(Debug, Clone)]
pub struct Job {
    pub package: String,
    pub filename: String,
    pub location: Location,
    /// The URL the lock names, whatever mirror served it; `None` for local files.
    pub origin: Option<String>,
    /// From the lock; `None` only with `--allow-unhashed`.
    pub expected: Option<Sha256>,
    /// The size the lock gives, if it gives one.
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    pub sha256: Sha256,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub offline: bool,
    pub jobs: usize,
}

/// Logins from `$NETRC` or `~/.netrc`, by host, for URLs that carry none.
#[derive(Debug, Clone, Default)]
pub struct Netrc {
    machines: std::collections::HashMap<String, (String, String)>,
    default: Option<(String, String)>,
}

impl Netrc {
    pub fn load() -> Netrc {
        let path = std::env::var_os("NETRC")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc")));
        path.and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| Netrc::parse(&text))
            .unwrap_or_default()
    }

    fn parse(text: &str) -> Netrc {
        let mut netrc = Netrc::default();
        let mut tokens = text.split_whitespace();
        // (machine or None for `default`, login, password) being read.
        let mut current: Option<(Option<String>, String, String)> = None;
        let finish = |entry: Option<(Option<String>, String, String)>, netrc: &mut Netrc| {
            if let Some((machine, login, password)) = entry {
                match machine {
                    Some(host) => {
                        netrc.machines.entry(host).or_insert((login, password));
                    }
                    None => netrc.default = Some((login, password)),
                }
            }
        };
        while let Some(token) = tokens.next() {
            match token {
                "machine" => {
                    finish(current.take(), &mut netrc);
                    current = tokens
                        .next()
                        .map(|h| (Some(h.to_owned()), String::new(), String::new()));
                }
                "default" => {
                    finish(current.take(), &mut netrc);
                    current = Some((None, String::new(), String::new()));
                }
                "login" => {
                    if let (Some(entry), Some(v)) = (&mut current, tokens.next()) {
                        entry.1 = v.to_owned();
                    }
                }
                "password" => {
                    if let (Some(entry), Some(v)) = (&mut current, tokens.next()) {
                        entry.2 = v.to_owned();
                    }
                }
                "account" => {
                    tokens.next();
                }
                _ => {}
            }
        }
        finish(current, &mut netrc);
        netrc
    }

    /// The login for `url`'s host, unless the URL has its own.
    fn for_url(&self, url: &str) -> Option<&(String, String)> {
        let rest = url.split_once("://")?.1;
        let authority = rest.split('/').next()?;
        if authority.contains('@') {
            return None;
        }
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        self.machines.get(host).or(self.default.as_ref())
    }
}

/// The download runtime (one thread) and an HTTP client on it: the platform's
/// trust roots, a connect timeout.
fn http_client() -> Result<(tokio::runtime::Runtime, reqwest::Client), FetchError> {
    let fail = |detail: String| FetchError::Download {
        package: String::new(),
        url: String::new(),
        detail,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the download runtime: {e}")))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("pyfod/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(format!("cannot set up HTTPS: {e}")))?;
    Ok((runtime, client))
}

/// A bar on a terminal (files, and bytes so far); nothing otherwise.
fn progress_bar(files: usize) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(files as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("fetch [{bar:30}] {pos}/{len} files, {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Fetches every job, in parallel; results in the jobs' order.
pub fn fetch_all(
    jobs: Vec<Job>,
    store: &Store,
    settings: &Settings,
) -> Result<Vec<Fetched>, FetchError> {
    let missing: Vec<&Job> = jobs
        .iter()
        .filter(|job| job.expected.is_none_or(|d| store.intact_blob(&d).is_none()))
        .collect();
    if settings.offline {
        let remote: Vec<String> = missing
            .iter()
            .filter(|job| matches!(job.location, Location::Url(_)))
            .map(|job| format!("{} ({})", job.filename, job.package))
            .collect();
        if !remote.is_empty() {
            return Err(FetchError::Offline { missing: remote });
        }
    }
    let (runtime, client) = http_client()?;
    let netrc = Arc::new(Netrc::load());
    let bar = progress_bar(jobs.len());
    let result = runtime.block_on(async {
        let permits = Arc::new(Semaphore::new(settings.jobs.max(1)));
        let mut set = JoinSet::new();
        for (index, job) in jobs.into_iter().enumerate() {
            let (client, store, permits, netrc) = (
                client.clone(),
                store.clone(),
                permits.clone(),
                netrc.clone(),
            );
            set.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("never closed");
                (
                    index,
                    fetch_one(&client, &netrc, &store, &job)
                        .await
                        .and_then(|f| sized(&job, f)),
                )
            });
        }
        let mut results = vec![None; set.len()];
        let mut bytes = 0u64;
        while let Some(joined) = set.join_next().await {
            let (index, result) = joined.expect("download tasks do not panic");
            match result {
                Ok(fetched) => {
                    bytes += fetched.size;
                    bar.inc(1);
                    bar.set_message(format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0)));
                    results[index] = Some(fetched);
                }
                Err(error) => {
                    set.abort_all();
                    return Err(error);
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every job answered"))
            .collect())
    });
    bar.finish_and_clear();
    result
}

/// The file as fetched, if it has the size the lock gives.
fn sized(job: &Job, fetched: Fetched) -> Result<Fetched, FetchError> {
    match job.size {
        Some(size) if size != fetched.size => Err(FetchError::SizeMismatch {
            package: job.package.clone(),
            filename: job.filename.clone(),
            locked: size,
            found: fetched.size,
        }),
        _ => Ok(fetched),
    }
}

async fn fetch_one(
    client: &reqwest::Client,
    netrc: &Netrc,
    store: &Store,
    job: &Job,
) -> Result<Fetched, FetchError> {
    if let Some(expected) = job.expected
        && let Some(size) = store.intact_blob(&expected)
    {
        return Ok(Fetched {
            sha256: expected,
            size,
        });
    }
    match &job.location {
        Location::Local(path) => {
            let file = std::fs::File::open(path).map_err(|e| FetchError::Read {
                path: path.clone(),
                source: e,
            })?;
            let size = file.metadata().map_or(0, |m| m.len());
            let sha256 = store
                .add_blob(file, job.expected.as_ref())
                .map_err(|e| mismatch_or_store(job, &path.display().to_string(), e))?;
            Ok(Fetched { sha256, size })
        }
        Location::Url(url) => {
            let mut attempt = 0;
            loop {
                match download(client, netrc, store, job, url).await {
                    Ok(fetched) => return Ok(fetched),
                    Err(Attempt::Retry(detail)) if attempt < RETRIES => {
                        attempt += 1;
                        tracing::warn!(
                            "{}: {detail}; retrying ({attempt}/{RETRIES})",
                            job.filename
                        );
                        tokio::time::sleep(Duration::from_millis(200 * 4u64.pow(attempt - 1)))
                            .await;
                    }
                    Err(Attempt::Retry(detail)) => {
                        return Err(FetchError::Download {
                            package: job.package.clone(),
                            url: crate::choose::without_credentials(url),
                            detail: format!("{detail} (after {} attempts)", RETRIES + 1),
                        });
                    }
                    Err(Attempt::Fail(error)) => return Err(error),
                }
            }
        }
    }
}

enum Attempt {
    Retry(String),
    Fail(FetchError),
}

async fn download(
    client: &reqwest::Client,
    netrc: &Netrc,
    store: &Store,
    job: &Job,
    url: &str,
) -> Result<Fetched, Attempt> {
    let shown = crate::choose::without_credentials(url);
    let mut request = client.get(url);
    if let Some((login, password)) = netrc.for_url(url) {
        request = request.basic_auth(login, Some(password));
    }
    let response = request
        .send()
        .await
        .map_err(|e| Attempt::Retry(describe(&e)))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(Attempt::Retry(format!("the server answered {status}")));
    }
    if !status.is_success() {
        let hint = if matches!(status.as_u16(), 401 | 403) {
            "; give credentials in the index URL or in ~/.netrc (machine HOST login USER password SECRET)"
        } else {
            ""
        };
        return Err(Attempt::Fail(FetchError::Download {
            package: job.package.clone(),
            url: shown,
            detail: format!("the server answered {status}{hint}"),
        }));
    }
    let mut writer = store
        .blob_writer()
        .map_err(|e| Attempt::Fail(mismatch_or_store(job, &shown, e)))?;
    let mut response = response;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => writer
                .write(&chunk)
                .map_err(|e| Attempt::Fail(mismatch_or_store(job, &shown, e)))?,
            Ok(None) => break,
            Err(e) => {
                return Err(Attempt::Retry(format!(
                    "the transfer broke off: {}",
                    describe(&e)
                )));
            }
        }
    }
    let size = writer.len();
    let sha256 = writer
        .commit(job.expected.as_ref())
        .map_err(|e| Attempt::Fail(mismatch_or_store(job, &shown, e)))?;
    Ok(Fetched { sha256, size })
}

fn mismatch_or_store(job: &Job, from: &str, error: StoreError) -> FetchError {
    match error {
        StoreError::DigestMismatch { expected, actual } => FetchError::HashMismatch {
            package: job.package.clone(),
            url: from.to_owned(),
            expected,
            actual,
        },
        other => FetchError::Store(other),
    }
}

/// reqwest's error with its causes, on one line.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_logins_by_host() {
        let netrc = Netrc::parse(
            "machine 127.0.0.1 login alice password s3cret\ndefault login anon password none\n",
        );
        assert_eq!(
            netrc.for_url("http://127.0.0.1:8080/files/x.whl"),
            Some(&("alice".to_owned(), "s3cret".to_owned()))
        );
        assert_eq!(
            netrc
                .for_url("https://other.example/x")
                .map(|l| l.0.as_str()),
            Some("anon")
        );
        assert_eq!(netrc.for_url("https://bob:pw@127.0.0.1/x"), None);
    }
}
