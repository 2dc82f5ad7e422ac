use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pyfod-fetch", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_fetch::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pyfod_cli::finish("pyfod-fetch", pyfod_fetch::execute(&cli.command))
}
