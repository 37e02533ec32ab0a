//! The `devcluster` command line: `devcluster serve` starts a cluster, writes its kubeconfig,
//! prints one line when ready and runs until SIGTERM or Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{Auth, DevCluster, DevClusterOptions, RunnerOptions};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "devcluster",
    version,
    about = "A local Kubernetes API server for tests and demos (not for production)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGTERM.
    Serve(ServeArgs),
}

/// `devcluster serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Where to write the kubeconfig (default: <state-dir>/kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Directory for the CA, the kubeconfig and the runner's files (default: a temporary one).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Bearer token clients must send (default: a random one, written into the kubeconfig).
    #[arg(long, conflicts_with = "no_auth")]
    pub token: Option<String>,
    /// Accept requests without a token.
    #[arg(long)]
    pub no_auth: bool,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub plain_http: bool,
    /// Run a binary for Deployments whose images are named NAME (`…/NAME:tag`): `NAME=PATH`, or
    /// `NAME` for `<binaries-dir>/NAME`. Repeatable; without it no runner starts.
    #[arg(long = "run", value_name = "NAME[=PATH]")]
    pub run: Vec<String>,
    /// Where `--run NAME` finds its binary.
    #[arg(long, default_value = "target/debug")]
    pub binaries_dir: PathBuf,
}

/// Runs the command; `out` gets the ready line.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let Command::Serve(args) = cli.command;
    let auth = match (args.no_auth, args.token) {
        (true, _) => Auth::None,
        (false, Some(t)) => Auth::Token(t),
        (false, None) => Auth::RandomToken,
    };
    let runner = (!args.run.is_empty()).then(|| {
        args.run
            .iter()
            .fold(RunnerOptions::default(), |o, spec| match spec.split_once('=') {
                Some((name, path)) => o.binary(name, path),
                None => o.binary(spec.as_str(), args.binaries_dir.join(spec)),
            })
    });
    let options = DevClusterOptions {
        runner,
        addr: args.addr,
        tls: !args.plain_http,
        auth,
        state_dir: args.state_dir,
        kubeconfig: args.kubeconfig,
        ..DevClusterOptions::default()
    };
    let cluster = DevCluster::start(options).await?;
    writeln!(
        out,
        "devcluster ready: server={} kubeconfig={}",
        cluster.base_url(),
        cluster.kubeconfig_path().display()
    )?;
    out.flush()?;
    wait_for_signal().await?;
    tracing::info!("stopping");
    cluster.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r?,
    }
    Ok(())
}
