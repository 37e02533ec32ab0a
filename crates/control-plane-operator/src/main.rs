//! `control-plane-operator run`: see the library for what it does.

use std::process::ExitCode;

use clap::Parser as _;
use control_plane_operator::config::{Cli, Command, Config, Environment};
use hypershift_support::binary::Binary;

const BINARY: Binary = Binary::new("control-plane-operator", env!("CARGO_PKG_VERSION"));

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Run(flags) | Command::PrintConfig(flags)) = &cli.command;
    let config = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => return BINARY.fail(&e),
    };
    if matches!(cli.command, Command::PrintConfig(_)) {
        return BINARY.print_config(&config);
    }
    let operator = match config.validate(&Environment::from_process()) {
        Ok(c) => c,
        Err(e) => return BINARY.fail(&e),
    };
    BINARY
        .serve_graceful(&config.log, &config, |log, stop| {
            control_plane_operator::run(operator, Some(log), stop)
        })
        .await
}
