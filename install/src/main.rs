use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pyfod-install", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_install::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pyfod_cli::finish("pyfod-install", pyfod_install::execute(&cli.command))
}
