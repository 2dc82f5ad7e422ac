use std::process::ExitCode;

use clap::Parser;

/// Print the NAR SHA-256 of a file, symlink or directory, as Nix computes it
#[derive(Parser)]
#[command(name = "pyfod-hash", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_hash::Command,
    #[command(flatten)]
    global: pyfod_cli::GlobalArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.global.init();
    pyfod_cli::finish(
        "pyfod-hash",
        pyfod_hash::command::execute(&cli.command, &cli.global),
    )
}
