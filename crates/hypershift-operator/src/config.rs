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
use hypershift_support::config::{
    AdminArgs, AdminConfig, KubeArgs, KubeConfig, LeaderArgs, LeaderElectionConfig, LogArgs, LogConfig,
    RegistryArgs, RegistryConfig, RegistrySettings,
};
use hypershift_support::leader::LeaderConfig;
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
    #[command(flatten)]
    #[serde(flatten)]
    pub kube: KubeArgs,
    /// The namespace the operator runs in (its leader-election Lease lives there).
    #[arg(long, value_name = "NS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Registry overrides are passed on to the control-plane-operator and the ignition-server;
    /// the CA bundle is copied into each control-plane namespace and mounted into both.
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryArgs,
    /// The control-plane-operator image when the release payload has no `hypershift` component
    /// (the `hypershift.openshift.io/control-plane-operator-image` annotation wins over both).
    #[arg(long, value_name = "IMAGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane_operator_image: Option<String>,
    /// The ignition-server image (default: the control-plane-operator image).
    #[arg(long, value_name = "IMAGE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignition_server_image: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub leader: LeaderArgs,
}

/// The merged configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    #[serde(flatten)]
    pub kube: KubeConfig,
    pub namespace: String,
    #[serde(flatten)]
    pub registry: RegistryConfig,
    pub control_plane_operator_image: Option<String>,
    pub ignition_server_image: Option<String>,
    #[serde(flatten)]
    pub admin: AdminConfig,
    #[serde(flatten)]
    pub log: LogConfig,
    #[serde(flatten)]
    pub leader: LeaderElectionConfig,
}

/// The admin port's default (all interfaces: kubelet probes reach it in a pod).
pub const ADMIN_PORT: u16 = 9440;

impl Default for Config {
    fn default() -> Self {
        Self {
            kube: KubeConfig::default(),
            namespace: "hypershift".into(),
            registry: RegistryConfig::default(),
            control_plane_operator_image: None,
            ignition_server_image: None,
            admin: AdminConfig::on_port(ADMIN_PORT),
            log: LogConfig::default(),
            leader: LeaderElectionConfig::default(),
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
            kube: KubeConfig { kubeconfig },
            namespace,
            registry,
            control_plane_operator_image,
            ignition_server_image,
            admin: AdminConfig { admin_addr },
            log: _,
            leader,
        } = self;
        let RegistrySettings {
            registry_overrides,
            registry_ca_bundle,
            registry_timeout,
        } = registry.validate()?;
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
        let leader_election = leader.to_leader_config()?;
        Ok(OperatorConfig {
            kubeconfig: kubeconfig.clone(),
            namespace: namespace.clone(),
            registry_overrides,
            registry_ca_bundle,
            control_plane_operator_image: control_plane_operator_image.clone(),
            ignition_server_image: ignition_server_image.clone(),
            admin_addr: *admin_addr,
            leader_elect: leader.leader_elect,
            leader_election,
            registry_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_values_are_named() {
        let bad = |c: Config| c.validate().unwrap_err();
        assert!(
            bad(Config {
                registry: RegistryConfig {
                    registry_overrides: vec!["nope".into()],
                    ..RegistryConfig::default()
                },
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
                registry: RegistryConfig {
                    registry_ca_bundle: Some("/nonexistent/ca.pem".into()),
                    ..RegistryConfig::default()
                },
                ..Config::default()
            })
            .contains("/nonexistent/ca.pem")
        );
        assert!(
            bad(Config {
                registry: RegistryConfig {
                    registry_timeout_seconds: 0,
                    ..RegistryConfig::default()
                },
                ..Config::default()
            })
            .contains("at least 1")
        );
        assert_eq!(
            bad(Config {
                leader: LeaderElectionConfig {
                    leader_elect_lease_seconds: 6,
                    ..LeaderElectionConfig::default()
                },
                ..Config::default()
            }),
            "--leader-elect-lease-seconds (6) must be greater than --leader-elect-renew-deadline-seconds (10)"
        );
        assert_eq!(
            Config::default().validate().unwrap().leader_election,
            LeaderConfig::default(),
            "client-go's timings by default"
        );
        let ok = Config {
            registry: RegistryConfig {
                registry_overrides: vec!["a=b".into(), "c=d".into()],
                ..RegistryConfig::default()
            },
            ..Config::default()
        }
        .validate()
        .unwrap();
        assert_eq!(ok.registry_overrides.to_flag(), "a=b,c=d");
    }
}
