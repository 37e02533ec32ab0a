//! `hypershift-operator run`: see the library for what it does.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use hypershift_operator::config::{Cli, Command, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Run(flags) | Command::PrintConfig(flags)) = &cli.command;
    let config = match Config::load(flags) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    if matches!(cli.command, Command::PrintConfig(_)) {
        let text = hypershift_api::yaml::to_string(&config).unwrap_or_default();
        let _ = std::io::stdout().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    let log = match hypershift_support::telemetry::init(config.log_format, &config.log_level) {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let operator = match config.validate() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    // One line with the effective configuration (it holds no secrets: the CA bundle is a path).
    tracing::info!(config = %serde_json::to_string(&config).unwrap_or_default(), version = env!("CARGO_PKG_VERSION"), "starting hypershift-operator");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
        }
    };
    tokio::select! {
        result = hypershift_operator::run(operator, Some(log)) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("{e:#}")),
        },
        () = shutdown => {
            tracing::info!("stopping on signal");
            ExitCode::SUCCESS
        }
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "hypershift-operator: {}",
        message.replace('\n', " ")
    );
    ExitCode::from(1)
}
