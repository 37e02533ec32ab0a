//! Logging: `tracing` to stderr as text or JSON, with a filter that can be changed at runtime
//! (`PUT /log-level` on the admin listener).

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Changes the log filter of a running process.
#[derive(Clone)]
pub struct LogHandle(reload::Handle<EnvFilter, Registry>);

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogHandle")
    }
}

impl LogHandle {
    /// A handle on a filter that no subscriber uses (tests of the admin routes).
    #[cfg(test)]
    pub(crate) fn detached(filter: &str) -> Self {
        let (layer, handle) = reload::Layer::<EnvFilter, Registry>::new(EnvFilter::new(filter));
        // The handle reloads only while its layer lives: keep it in a subscriber for the test.
        Box::leak(Box::new(tracing_subscriber::registry().with(layer)));
        Self(handle)
    }

    /// Replaces the filter (`info`, `hypershift_operator=debug,kube=warn`, …).
    pub fn set(&self, filter: &str) -> Result<(), String> {
        let filter = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
        self.0.reload(filter).map_err(|e| e.to_string())
    }
}

/// Installs the global subscriber. `filter` uses `RUST_LOG` syntax.
pub fn init(format: LogFormat, filter: &str) -> Result<LogHandle, String> {
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("invalid log filter {filter:?}: {e}"))?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Text => registry
            // Colours only on a terminal: a log file or a collector gets plain text.
            .with(
                fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
    result.map_err(|e| e.to_string())?;
    Ok(LogHandle(handle))
}
