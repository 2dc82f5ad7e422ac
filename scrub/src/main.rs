use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pyfod-scrub", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_scrub::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pyfod_cli::finish("pyfod-scrub", pyfod_scrub::execute(&cli.command))
}
