use std::process::ExitCode;

use clap::Parser;

/// Decide, and fetch, every artifact a uv.lock needs for a target
#[derive(Parser)]
#[command(name = "pyfod-fetch", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_fetch::Command,
    #[command(flatten)]
    global: pyfod_cli::GlobalArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.global.init();
    pyfod_cli::finish(
        "pyfod-fetch",
        pyfod_fetch::command::execute(&cli.command, &cli.global),
    )
}
