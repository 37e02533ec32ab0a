//! The `main` every binary of ours shares: exit statuses, one start-up line, signals.
//!
//! | exit status | when |
//! |---|---|
//! | 0 | stopped by SIGTERM or SIGINT, or the work ended |
//! | 1 | invalid configuration, or the work failed (one line on stderr: `<binary>: <reason>`) |
//! | 2 | usage error (clap: an unknown flag, a missing value) |
//!
//! ```text
//! const BINARY: Binary = Binary::new("hypershift-operator", env!("CARGO_PKG_VERSION"));
//! let config = match Config::load(&flags) { Ok(c) => c, Err(e) => return BINARY.fail(&e) };
//! BINARY.serve(&config.log, &config, |log| run(config, log)).await
//! ```

use std::fmt::Display;
use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;

use serde::Serialize;

use crate::config::LogConfig;
use crate::telemetry::LogHandle;

/// A binary's name and version, for its start-up line and its exit messages.
#[derive(Debug, Clone, Copy)]
pub struct Binary {
    pub name: &'static str,
    pub version: &'static str,
}

impl Binary {
    pub const fn new(name: &'static str, version: &'static str) -> Self {
        Self { name, version }
    }

    /// `<name>: <message>` on one line on stderr; exit status 1.
    pub fn fail(&self, message: &dyn Display) -> ExitCode {
        let text = format!("{message:#}");
        let _ = writeln!(std::io::stderr(), "{}: {}", self.name, text.replace('\n', " "));
        ExitCode::from(1)
    }

    /// The configuration as YAML on stdout (`print-config`); exit status 0.
    pub fn print_config(&self, config: &impl Serialize) -> ExitCode {
        match hypershift_api::yaml::to_string(config) {
            Ok(text) => {
                let _ = std::io::stdout().write_all(text.as_bytes());
                ExitCode::SUCCESS
            }
            Err(e) => self.fail(&e),
        }
    }

    /// Installs rustls' ring provider, starts logging, logs one start-up line with `config` (which
    /// must hold no secret: paths, never contents), and runs `work` until it ends or a signal
    /// arrives.
    pub async fn serve<F, Fut, E>(&self, log: &LogConfig, config: &impl Serialize, work: F) -> ExitCode
    where
        F: FnOnce(LogHandle) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        self.serve_inner(log, config, |handle| async move {
            tokio::select! {
                result = work(handle) => result.map_err(|e| format!("{e:#}")),
                signal = shutdown_signal() => {
                    tracing::info!(signal, "stopping on signal");
                    Ok(())
                }
            }
        })
        .await
    }
}

impl Binary {
    /// Like [`Binary::serve`], for work that stops gracefully: `work` gets a receiver that turns
    /// `true` on SIGTERM/SIGINT and should then finish what is in flight and return. It is given
    /// [`GRACE`] for that before the process exits anyway (the kubelet's default grace period is
    /// 30 s).
    pub async fn serve_graceful<F, Fut, E>(
        &self,
        log: &LogConfig,
        config: &impl Serialize,
        work: F,
    ) -> ExitCode
    where
        F: FnOnce(LogHandle, tokio::sync::watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopping = async move {
            let signal = shutdown_signal().await;
            tracing::info!(signal, "stopping on signal");
            let _ = stop_tx.send(true);
            tokio::time::sleep(GRACE).await;
            // Keeps the sender alive until then.
            drop(stop_tx);
            tracing::warn!(grace = ?GRACE, "work did not stop within the grace period");
        };
        self.serve_inner(log, config, |handle| async move {
            tokio::select! {
                result = work(handle, stop_rx) => result.map_err(|e| format!("{e:#}")),
                () = stopping => Ok(()),
            }
        })
        .await
    }

    async fn serve_inner<F, Fut>(&self, log: &LogConfig, config: &impl Serialize, work: F) -> ExitCode
    where
        F: FnOnce(LogHandle) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        // Ring only: kube and oci-client would otherwise race for the process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let handle = match crate::telemetry::init(log.log_format, &log.log_level) {
            Ok(h) => h,
            Err(e) => return self.fail(&e),
        };
        tracing::info!(
            config = %serde_json::to_string(config).unwrap_or_default(),
            version = self.version,
            "starting {}",
            self.name
        );
        match work(handle).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => self.fail(&e),
        }
    }
}

/// Resolves once [`Binary::serve_graceful`]'s receiver says stop (or its sender is gone).
pub async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// How long graceful work gets after the stop signal.
pub const GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves on SIGTERM (what the kubelet sends) or SIGINT; names the signal.
pub async fn shutdown_signal() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        () = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => "SIGTERM",
    }
}
