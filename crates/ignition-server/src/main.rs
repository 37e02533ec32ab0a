//! `ignition-server start`: see the library for what it does.

use std::process::ExitCode;

use clap::Parser as _;
use hypershift_support::binary::Binary;
use ignition_server::config::{Cli, Command, Config, Environment};

const BINARY: Binary = Binary::new("ignition-server", env!("CARGO_PKG_VERSION"));

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Start(flags) | Command::PrintConfig(flags)) = &cli.command;
    let config = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => return BINARY.fail(&e),
    };
    if matches!(cli.command, Command::PrintConfig(_)) {
        return BINARY.print_config(&config);
    }
    let server = match config.validate(&Environment::from_process()) {
        Ok(c) => c,
        Err(e) => return BINARY.fail(&e),
    };
    BINARY
        .serve_graceful(&config.log, &config, |log, stop| {
            ignition_server::run(server, Some(log), stop)
        })
        .await
}
