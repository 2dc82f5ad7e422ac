//! The `pyfod` command: every stage as a subcommand, the tools that work across
//! stages (`manifest show`, `diff`), and, as the stages land, `pyfod build`, which
//! runs them in order. This is the only crate that knows the order of the stages.

mod build;
mod chain;
mod config;
mod delivery;
mod diff;
mod key_command;
mod lock_build;
mod manifest_show;
mod nix_command;
mod nix_project;
mod settings;
mod store_command;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pyfod_cli::GlobalArgs;

/// Turn a uv.lock into a bit-reproducible Python venv and its Nix NAR hash
#[derive(Debug, Parser)]
#[command(name = "pyfod", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Print the NAR SHA-256 of a file, symlink or directory, as Nix computes it
    Hash(pyfod_hash::Command),
    /// Show why two trees hash differently: compare two hash manifests or trees
    Diff(diff::Command),
    /// Inspect manifests
    #[command(subcommand)]
    Manifest(ManifestCommand),
    /// Download every artifact a uv.lock needs for a target into the store
    Fetch(pyfod_fetch::Command),
    /// Build sdists and source trees into wheels, reproducibly
    BuildSdist(pyfod_build_sdist::Command),
    /// Write a build lock: what the sdists need to build, locked by uv
    LockBuild(lock_build::LockBuildCommand),
    /// Make a venv from the wheels a fetch (or build-sdist) manifest names
    Install(pyfod_install::Command),
    /// Remove Nix store references and machine paths from a venv tree
    Scrub(pyfod_scrub::Command),
    /// Run every stage, from uv.lock to the scrubbed venv and its NAR hash
    Build(build::BuildCommand),
    /// Check the store, or remove what no recent build used
    #[command(subcommand)]
    Store(store_command::StoreCommand),
    /// Nix's side: the fixed-output derivation that runs `pyfod build`
    #[command(subcommand)]
    Nix(nix_command::NixCommand),
    /// Signing keys for a shared remote cache
    #[command(subcommand)]
    Key(key_command::KeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Print any stage's manifest as JSON
    Show {
        /// The manifest file
        file: PathBuf,
    },
}

pub fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Commands::Hash(command) => pyfod_hash::command::execute(command, &cli.global),
        Commands::Diff(command) => diff::execute(command, &cli.global),
        Commands::Manifest(ManifestCommand::Show { file }) => manifest_show::execute(file),
        Commands::Fetch(command) => pyfod_fetch::command::execute(command, &cli.global),
        Commands::BuildSdist(command) => pyfod_build_sdist::command::execute(command, &cli.global),
        Commands::LockBuild(command) => lock_build::execute(command, &cli.global),
        Commands::Install(command) => pyfod_install::command::execute(command, &cli.global),
        Commands::Scrub(command) => pyfod_scrub::command::execute(command, &cli.global),
        Commands::Build(command) => build::execute(command, &cli.global),
        Commands::Store(command) => store_command::execute(command, &cli.global),
        Commands::Nix(command) => nix_command::execute(command, &cli.global),
        Commands::Key(command) => key_command::execute(command),
    }
}
