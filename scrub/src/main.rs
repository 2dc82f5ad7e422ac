use std::process::ExitCode;

use clap::Parser;

/// Remove Nix store references and machine paths from a venv tree
#[derive(Parser)]
#[command(name = "pyfod-scrub", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_scrub::Command,
    #[command(flatten)]
    global: pyfod_cli::GlobalArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.global.init();
    pyfod_cli::finish(
        "pyfod-scrub",
        pyfod_scrub::command::execute(&cli.command, &cli.global),
    )
}
