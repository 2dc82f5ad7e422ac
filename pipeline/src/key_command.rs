//! `pyfod key generate`: the key pair a remote cache's writers sign with.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use pyfod_remote::SecretKey;

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Make an Ed25519 key pair in Nix's name:base64 format: the secret key goes
    /// to a file only its owner can read, the public key to stdout (and --public-key-file)
    Generate {
        /// The key's name, as `ci.example.org-1`: signatures carry it
        name: String,
        /// Where the secret key is written; never overwritten
        #[arg(long, value_name = "FILE")]
        secret_key_file: PathBuf,
        /// Also write the public key here
        #[arg(long, value_name = "FILE")]
        public_key_file: Option<PathBuf>,
    },
}

pub fn execute(command: &KeyCommand) -> anyhow::Result<ExitCode> {
    let KeyCommand::Generate {
        name,
        secret_key_file,
        public_key_file,
    } = command;
    let key = SecretKey::generate(name)?;
    // Created new and owner-only, so an existing key is never replaced.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(secret_key_file)
        .with_context(|| {
            format!(
                "cannot create {}; an existing key file is never overwritten: remove it first, or choose another path",
                secret_key_file.display()
            )
        })?;
    file.write_all(key.to_nix_string().as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", secret_key_file.display()))?;
    let public = key.public().to_string();
    if let Some(path) = public_key_file {
        pyfod_store::write_atomic(path, format!("{public}\n").as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    pyfod_cli::print_stdout(&format!("{public}\n"));
    Ok(ExitCode::SUCCESS)
}
