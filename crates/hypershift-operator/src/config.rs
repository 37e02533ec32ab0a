//! The hypershift-operator's command line and configuration.
//!
//! `hypershift-operator run [flags]`. Every flag can also come from the `--config` YAML file
//! (same names, without `--`) or from `HYPERSHIFT_OPERATOR_<NAME>` variables; flags win over
//! env, env over the file, the file over the defaults. Unknown flags and unknown file keys are
//! errors. [`Config::validate`] turns the raw values into what the operator uses, or a one-line
//! reason to exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use hypershift_mirrors::{ImageRef, RegistryOverrides};
use hypershift_support::leader::LeaderConfig;
use hypershift_support::telemetry::LogFormat;
use serde::{Deserialize, Serialize};

/// The hypershift-operator: reconciles HostedClusters and NodePools into control planes,
/// reading the management cluster's mirrors.
#[derive(Debug, Parser)]
#[command(name = "hypershift-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator.
    Run(Flags),
    /// Print the effective configuration (after file, env and flags) as YAML, and exit.
    PrintConfig(Flags),
}

/// Flags; each is optional so that an absent flag does not override the file or env.
#[derive(Debug, Default, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Flags {
    /// YAML configuration file (same keys as the flags).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Kubeconfig (default: in-cluster, then $KUBECONFIG).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// The namespace the operator runs in (its leader-election Lease lives there).
    #[arg(long, value_name = "NS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Registry overrides (`sr1=dr1,sr2=dr2`, pflag StringToString rules), passed on to the
    /// control-plane-operator and the ignition-server; repeatable.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry_overrides: Vec<String>,
    /// PEM bundle of the mirror registries' CAs; copied into each control-plane namespace and
    /// mounted into the control-plane-operator and the ignition-server.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_ca_bundle: Option<PathBuf>,
    /// The control-plane-operator image (default: the release payload's `hypershift` component;
    /// the `hypershift.openshift.io/control-plane-operator-image` annotation wins over both).
    #[arg(long, value_name = "IMAGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_operator_image: Option<String>,
    /// The ignition-server image (default: the control-plane-operator image).
    #[arg(long, value_name = "IMAGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignition_server_image: Option<String>,
    /// Address of the admin listener (`/healthz`, `/readyz`, `/metrics`).
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_addr: Option<SocketAddr>,
    /// Log line format.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter (`RUST_LOG` syntax).
    #[arg(long, value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Elect a leader through a Lease before reconciling (`--leader-elect=false` to run alone).
    #[arg(long, value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect: Option<bool>,
    /// Seconds each registry candidate may take during a release lookup.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_timeout_seconds: Option<u64>,
    /// Seconds a standby waits, after last seeing the leader's Lease change, before it may take
    /// the Lease over.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_lease_seconds: Option<u64>,
    /// Seconds the leader keeps leading without a successful renewal; then it stops and exits.
    /// Shorter than the lease.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_renew_deadline_seconds: Option<u64>,
    /// Seconds between two attempts to acquire or renew the Lease. Shorter than the renew
    /// deadline.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_retry_period_seconds: Option<u64>,
}

/// The merged configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    #[serde(deserialize_with = "hypershift_support::config::string_or_list")]
    pub registry_overrides: Vec<String>,
    pub registry_ca_bundle: Option<PathBuf>,
    pub control_plane_operator_image: Option<String>,
    pub ignition_server_image: Option<String>,
    pub admin_addr: SocketAddr,
    pub log_format: LogFormat,
    pub log_level: String,
    pub leader_elect: bool,
    pub registry_timeout_seconds: u64,
    pub leader_elect_lease_seconds: u64,
    pub leader_elect_renew_deadline_seconds: u64,
    pub leader_elect_retry_period_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            namespace: "hypershift".into(),
            registry_overrides: Vec::new(),
            registry_ca_bundle: None,
            control_plane_operator_image: None,
            ignition_server_image: None,
            admin_addr: SocketAddr::from(([127, 0, 0, 1], 9440)),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            leader_elect: true,
            registry_timeout_seconds: 10,
            // client-go's defaults.
            leader_elect_lease_seconds: 15,
            leader_elect_renew_deadline_seconds: 10,
            leader_elect_retry_period_seconds: 2,
        }
    }
}

/// The configuration the operator runs with.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    pub registry_overrides: RegistryOverrides,
    /// The bundle's PEM text.
    pub registry_ca_bundle: Option<String>,
    pub control_plane_operator_image: Option<String>,
    pub ignition_server_image: Option<String>,
    pub admin_addr: SocketAddr,
    pub leader_elect: bool,
    pub leader_election: LeaderConfig,
    pub registry_timeout: Duration,
}

impl Config {
    /// Merges defaults, the file, env and flags.
    pub fn load(flags: &Flags) -> Result<Self, hypershift_support::config::ConfigError> {
        hypershift_support::config::load(
            &Self::default(),
            flags.config.as_deref(),
            "HYPERSHIFT_OPERATOR",
            flags,
        )
    }

    /// Checks every value; the error is one line naming the offending one.
    pub fn validate(&self) -> Result<OperatorConfig, String> {
        let Config {
            kubeconfig,
            namespace,
            registry_overrides,
            registry_ca_bundle,
            control_plane_operator_image,
            ignition_server_image,
            admin_addr,
            log_format: _,
            log_level: _,
            leader_elect,
            registry_timeout_seconds,
            leader_elect_lease_seconds,
            leader_elect_renew_deadline_seconds,
            leader_elect_retry_period_seconds,
        } = self;
        let mut overrides = RegistryOverrides::new();
        for value in registry_overrides {
            overrides
                .merge_flag(value)
                .map_err(|e| format!("--registry-overrides {value:?}: {e}"))?;
        }
        let bundle = match registry_ca_bundle {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--registry-ca-bundle {}: {e}", path.display()))?;
                if !text.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(format!(
                        "--registry-ca-bundle {}: no PEM certificate in it",
                        path.display()
                    ));
                }
                Some(text)
            }
            None => None,
        };
        for (flag, image) in [
            ("--control-plane-operator-image", control_plane_operator_image),
            ("--ignition-server-image", ignition_server_image),
        ] {
            if let Some(image) = image {
                ImageRef::parse(image).map_err(|e| format!("{flag}: {e}"))?;
            }
        }
        if namespace.is_empty() {
            return Err("--namespace must not be empty".into());
        }
        if *registry_timeout_seconds == 0 {
            return Err("--registry-timeout-seconds must be at least 1".into());
        }
        let leader_election = leader_config(
            *leader_elect_lease_seconds,
            *leader_elect_renew_deadline_seconds,
            *leader_elect_retry_period_seconds,
        )?;
        Ok(OperatorConfig {
            kubeconfig: kubeconfig.clone(),
            namespace: namespace.clone(),
            registry_overrides: overrides,
            registry_ca_bundle: bundle,
            control_plane_operator_image: control_plane_operator_image.clone(),
            ignition_server_image: ignition_server_image.clone(),
            admin_addr: *admin_addr,
            leader_elect: *leader_elect,
            leader_election,
            registry_timeout: Duration::from_secs(*registry_timeout_seconds),
        })
    }
}

/// The leader election timings, checked in the flags' terms (client-go's rules: retry period <
/// renew deadline < lease duration).
fn leader_config(lease: u64, renew_deadline: u64, retry_period: u64) -> Result<LeaderConfig, String> {
    if retry_period == 0 {
        return Err("--leader-elect-retry-period-seconds must be at least 1".into());
    }
    if renew_deadline <= retry_period {
        return Err(format!(
            "--leader-elect-renew-deadline-seconds ({renew_deadline}) must be greater than --leader-elect-retry-period-seconds ({retry_period})"
        ));
    }
    if lease <= renew_deadline {
        return Err(format!(
            "--leader-elect-lease-seconds ({lease}) must be greater than --leader-elect-renew-deadline-seconds ({renew_deadline})"
        ));
    }
    let config = LeaderConfig {
        lease_duration: Duration::from_secs(lease),
        renew_deadline: Duration::from_secs(renew_deadline),
        retry_period: Duration::from_secs(retry_period),
    };
    config
        .validate()
        .map_err(|e| format!("--leader-elect-lease-seconds: {e}"))?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_are_named() {
        let bad = |c: Config| c.validate().unwrap_err();
        assert!(
            bad(Config {
                registry_overrides: vec!["nope".into()],
                ..Config::default()
            })
            .starts_with("--registry-overrides \"nope\"")
        );
        assert!(
            bad(Config {
                control_plane_operator_image: Some("Bad/Image".into()),
                ..Config::default()
            })
            .starts_with("--control-plane-operator-image")
        );
        assert!(
            bad(Config {
                registry_ca_bundle: Some("/nonexistent/ca.pem".into()),
                ..Config::default()
            })
            .contains("/nonexistent/ca.pem")
        );
        assert!(
            bad(Config {
                registry_timeout_seconds: 0,
                ..Config::default()
            })
            .contains("at least 1")
        );
        assert_eq!(
            bad(Config {
                leader_elect_lease_seconds: 6,
                ..Config::default()
            }),
            "--leader-elect-lease-seconds (6) must be greater than --leader-elect-renew-deadline-seconds (10)"
        );
        assert_eq!(
            bad(Config {
                leader_elect_retry_period_seconds: 10,
                ..Config::default()
            }),
            "--leader-elect-renew-deadline-seconds (10) must be greater than --leader-elect-retry-period-seconds (10)"
        );
        assert_eq!(
            bad(Config {
                leader_elect_retry_period_seconds: 0,
                ..Config::default()
            }),
            "--leader-elect-retry-period-seconds must be at least 1"
        );
        assert_eq!(
            Config::default().validate().unwrap().leader_election,
            LeaderConfig::default(),
            "client-go's timings by default"
        );
        let ok = Config {
            registry_overrides: vec!["a=b".into(), "c=d".into()],
            ..Config::default()
        }
        .validate()
        .unwrap();
        assert_eq!(ok.registry_overrides.to_flag(), "a=b,c=d");
    }
}
