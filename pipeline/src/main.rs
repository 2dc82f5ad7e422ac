use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = pyfod::Cli::parse();
    cli.global.init();
    pyfod_cli::finish("pyfod", pyfod::run(&cli))
}
