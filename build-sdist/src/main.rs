use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(name = "pyfod-build-sdist", version)]
struct Cli {
    #[command(flatten)]
    global: pyfod_cli::GlobalArgs,
    #[command(flatten)]
    command: pyfod_build_sdist::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.global.init();
    pyfod_cli::finish(
        "pyfod-build-sdist",
        pyfod_build_sdist::command::execute(&cli.command, &cli.global),
    )
}
