use std::process::ExitCode;

use clap::Parser;

/// Make a venv from the wheels a fetch (or build-sdist) manifest names
#[derive(Parser)]
#[command(name = "pyfod-install", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_install::Command,
    #[command(flatten)]
    global: pyfod_cli::GlobalArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.global.init();
    pyfod_cli::finish(
        "pyfod-install",
        pyfod_install::command::execute(&cli.command, &cli.global),
    )
}
