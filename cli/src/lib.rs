//! What every pyfod binary shares: the global flags, logging, and how a failure
//! is reported and turned into an exit code.
//!
//! Exit codes follow Nix: 0 success, 1 failure, 2 bad usage (clap), 102 hash
//! mismatch, 104 a `--check` rebuild that differs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use pyfod_store::Store;

pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_HASH_MISMATCH: u8 = 102;
pub const EXIT_CHECK_MISMATCH: u8 = 104;

/// The most threads or processes any `--jobs` may ask for.
pub const MAX_JOBS: usize = 256;

/// Parses a `--jobs` value: one to [`MAX_JOBS`]; the same rule for every command.
pub fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("at least 1".into()),
        Ok(n) if n > MAX_JOBS => Err(format!("at most {MAX_JOBS}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a number")),
    }
}

/// Flags every pyfod command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// The pyfod store [default: $PYFOD_STORE, else $XDG_CACHE_HOME/pyfod]
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The shared cache behind the store: flags over `[cache]` of pyfod.toml.
#[derive(Debug, Clone, Default, Args)]
pub struct CacheArgs {
    /// A shared stage cache behind the store: s3://bucket/prefix or file:///dir
    #[arg(long, global = true, env = "PYFOD_REMOTE", value_name = "URL")]
    pub remote: Option<String>,

    /// read: use the remote's results; write: also upload (needs a secret key); off
    /// [default: write with a secret key, else read]
    #[arg(long, global = true, env = "PYFOD_REMOTE_MODE", value_name = "MODE")]
    pub remote_mode: Option<pyfod_remote::Mode>,

    /// A public key (name:base64) whose signed results are used; repeatable
    #[arg(
        long = "trusted-public-key",
        global = true,
        env = "PYFOD_TRUSTED_PUBLIC_KEYS",
        value_delimiter = ' ',
        value_name = "KEY"
    )]
    pub trusted_public_keys: Vec<String>,

    /// The file holding the secret key (name:base64) that signs uploads
    #[arg(
        long,
        global = true,
        env = "PYFOD_SECRET_KEY_FILE",
        value_name = "FILE"
    )]
    pub secret_key_file: Option<PathBuf>,
}

impl CacheArgs {
    pub fn flags(&self) -> pyfod_remote::CacheFlags {
        pyfod_remote::CacheFlags {
            remote: self.remote.clone().filter(|r| !r.is_empty()),
            mode: self.remote_mode,
            trusted_public_keys: self
                .trusted_public_keys
                .iter()
                .filter(|k| !k.is_empty())
                .cloned()
                .collect(),
            secret_key_file: self.secret_key_file.clone(),
        }
    }
}

impl GlobalArgs {
    pub fn open_store(&self) -> anyhow::Result<Store> {
        self.open_store_with(&pyfod_remote::CacheConfig::default())
    }

    /// Opens the store, with the remote the flags or `file` (pyfod.toml's
    /// `[cache]`) name behind it.
    pub fn open_store_with(&self, file: &pyfod_remote::CacheConfig) -> anyhow::Result<Store> {
        let store = Store::open_or_default(self.store.as_deref())?;
        let Some(settings) = pyfod_remote::config::resolve(file, &self.cache.flags()) else {
            return Ok(store);
        };
        match pyfod_remote::RemoteCache::open(&settings)? {
            Some(remote) => Ok(store.with_remote(remote)),
            None => Ok(store),
        }
    }

    /// What every binary does first: logging, and signals that end the builds
    /// it runs rather than leave them running.
    pub fn init(&self) {
        self.init_logging();
        pyfod_process::handle_signals(std::time::Duration::from_secs(10));
    }

    /// Sets up `tracing` on stderr: warnings by default, more with `-v`.
    pub fn init_logging(&self) {
        let level = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .without_time()
            .try_init();
    }
}

/// Ends a command: an error is printed with its whole cause chain, one cause a
/// line, and exits 1; success exits with the code the command chose.
pub fn finish(program: &str, result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", render_error(program, &error));
            // Interrupted, as a shell reports it: 128 + the signal.
            match pyfod_process::interrupted() {
                Some(signal) => ExitCode::from((128 + signal) as u8),
                None => ExitCode::from(EXIT_FAILURE),
            }
        }
    }
}

/// `program: error: what\n  caused by: why\n  caused by: …`
pub fn render_error(program: &str, error: &anyhow::Error) -> String {
    let mut out = format!("{program}: error: {error}");
    for cause in error.chain().skip(1) {
        out.push_str(&format!("\n  caused by: {cause}"));
    }
    let full = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::StorageFull)
    });
    if full {
        out.push_str(
            "\n  hint: the file system is full; free some space, or give --store (or $PYFOD_STORE) a disk with room. The store is left consistent: run the command again.",
        );
    }
    out
}

/// Writes `text` to stdout as it is, ignoring a closed pipe (`pyfod hash | head`),
/// where `print!` would panic.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
