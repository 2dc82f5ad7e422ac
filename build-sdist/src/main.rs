use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pyfod-build-sdist", version)]
struct Cli {
    #[command(flatten)]
    command: pyfod_build_sdist::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    pyfod_cli::finish(
        "pyfod-build-sdist",
        pyfod_build_sdist::execute(&cli.command),
    )
}
