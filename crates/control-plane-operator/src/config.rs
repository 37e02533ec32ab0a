//! The control-plane-operator's command line and configuration.
//!
//! `control-plane-operator run [flags]`. Every flag can also come from the `--config` YAML file
//! (same names, without `--`) or from `CONTROL_PLANE_OPERATOR_<NAME>` variables; flags win over
//! env, env over the file, the file over the defaults. Unknown flags and file keys are errors;
//! unknown `CONTROL_PLANE_OPERATOR_*` variables (service links) are ignored.
//!
//! `OPENSHIFT_IMG_OVERRIDES` (the management mirrors) is read once, as upstream, and merged with
//! `--registry-overrides` by the carrier contract: the env's mirrors first, each override target
//! appended as the last-priority mirror (`MirrorCarriers::merged_mirror_set`). An entry the
//! mirror core rejects stops the process with a one-line reason.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hypershift_mirrors::ManagementMirrors;
use hypershift_mirrors::contract::{IMAGE_OVERRIDES_ENV, MirrorCarriers};
use hypershift_support::config::{
    AdminArgs, AdminConfig, KubeArgs, KubeConfig, LeaderArgs, LeaderElectionConfig, LogArgs, LogConfig,
    RegistryArgs, RegistryConfig, RegistrySettings,
};
use hypershift_support::leader::LeaderConfig;
use serde::{Deserialize, Serialize};

/// The control-plane-operator: renders one HostedControlPlane's components.
#[derive(Debug, Parser)]
#[command(name = "control-plane-operator", version, about)]
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
    /// The control-plane namespace (default `$MY_NAMESPACE`).
    #[arg(long, value_name = "NS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The HostedControlPlane to reconcile.
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_control_plane: Option<String>,
    /// Registry overrides: `Replace` on every image written into a pod spec, and last-priority
    /// mirrors for the operator's own lookups.
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryArgs,
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
    pub hosted_control_plane: String,
    #[serde(flatten)]
    pub registry: RegistryConfig,
    #[serde(flatten)]
    pub admin: AdminConfig,
    #[serde(flatten)]
    pub log: LogConfig,
    #[serde(flatten)]
    pub leader: LeaderElectionConfig,
}

/// The admin port's default (what the hypershift-operator renders).
pub const ADMIN_PORT: u16 = 8080;

impl Default for Config {
    fn default() -> Self {
        Self {
            kube: KubeConfig::default(),
            namespace: String::new(),
            hosted_control_plane: String::new(),
            registry: RegistryConfig::default(),
            admin: AdminConfig::on_port(ADMIN_PORT),
            log: LogConfig::default(),
            leader: LeaderElectionConfig::default(),
        }
    }
}

/// The variables read besides `CONTROL_PLANE_OPERATOR_*`: `OPENSHIFT_IMG_OVERRIDES`, `MY_NAMESPACE`.
pub use hypershift_support::config::ChildEnvironment as Environment;

/// The configuration the operator runs with.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    pub hosted_control_plane: String,
    pub registry: RegistrySettings,
    /// Both carriers as received.
    pub carriers: MirrorCarriers,
    /// The merged management mirrors its own lookups go through.
    pub mirrors: ManagementMirrors,
    pub admin_addr: SocketAddr,
    pub leader_elect: bool,
    pub leader_election: LeaderConfig,
}

impl Config {
    /// Merges defaults, the file, env and flags.
    pub fn load(flags: &Flags) -> Result<Self, hypershift_support::config::ConfigError> {
        hypershift_support::config::load(
            &Self::default(),
            flags.config.as_deref(),
            "CONTROL_PLANE_OPERATOR",
            flags,
        )
    }

    /// Checks every value; the error is one line naming the offending one.
    pub fn validate(&self, env: &Environment) -> Result<OperatorConfig, String> {
        let registry = self.registry.validate()?;
        let namespace = env.namespace(&self.namespace)?;
        if self.hosted_control_plane.is_empty() {
            return Err("--hosted-control-plane must be set".into());
        }
        let carriers = env.carriers(&registry);
        let mirrors = carriers
            .merged_mirror_set()
            .map_err(|e| format!("{IMAGE_OVERRIDES_ENV} with --registry-overrides: {e}"))?;
        Ok(OperatorConfig {
            kubeconfig: self.kube.kubeconfig.clone(),
            namespace,
            hosted_control_plane: self.hosted_control_plane.clone(),
            registry,
            carriers,
            mirrors,
            admin_addr: self.admin.admin_addr,
            leader_elect: self.leader.leader_elect,
            leader_election: self.leader.to_leader_config()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;
    use hypershift_mirrors::{MirrorSetBuilder, RegistryOverrides};
    use hypershift_support::contract::ControlPlaneOperatorArgs;

    use super::*;

    fn parse(args: &[String]) -> Flags {
        let all = std::iter::once("control-plane-operator".to_owned()).chain(args.iter().cloned());
        match Cli::try_parse_from(all).unwrap_or_else(|e| panic!("{e}")).command {
            Command::Run(f) => f,
            Command::PrintConfig(_) => panic!("not run"),
        }
    }

    /// What the hypershift-operator renders (its typed `to_args()`) is what this binary reads.
    #[test]
    fn the_operators_args_round_trip() {
        let mut b = MirrorSetBuilder::new();
        b.add_image_overrides(
            "t",
            &[("quay.invalid/ocp".to_owned(), vec!["m1.invalid/ocp".to_owned()])]
                .into_iter()
                .collect(),
        )
        .unwrap();
        let set: ManagementMirrors = b.build();
        for overrides in ["", "quay.invalid/ocp=r.invalid/ocp"] {
            let registry_overrides = if overrides.is_empty() {
                RegistryOverrides::new()
            } else {
                RegistryOverrides::parse_flag(overrides).unwrap()
            };
            let args = ControlPlaneOperatorArgs {
                namespace: "clusters-example".into(),
                hosted_control_plane: "example".into(),
                admin_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
                carriers: MirrorCarriers::new(&set, registry_overrides),
                registry_ca_bundle: None,
            };
            let config = Config::load(&parse(&args.to_args())).unwrap();
            let env = Environment {
                image_overrides: Some(args.image_overrides_env()),
                namespace: None,
            };
            let op = config.validate(&env).unwrap();
            assert_eq!(op.namespace, args.namespace);
            assert_eq!(op.hosted_control_plane, args.hosted_control_plane);
            assert_eq!(op.admin_addr, args.admin_addr);
            // `--registry-overrides==` reads back as pflag's `{"": ""}`: the same flag value.
            assert_eq!(op.carriers.image_overrides, args.carriers.image_overrides);
            assert_eq!(
                op.carriers.registry_overrides.to_flag(),
                args.carriers.registry_overrides.to_flag()
            );
            let expected = if overrides.is_empty() {
                "quay.invalid/ocp=m1.invalid/ocp"
            } else {
                "quay.invalid/ocp=m1.invalid/ocp,quay.invalid/ocp=r.invalid/ocp"
            };
            assert_eq!(op.mirrors.to_image_overrides().to_env(), expected);
        }
    }

    #[test]
    fn invalid_values_are_named() {
        let base = Config {
            namespace: "ns".into(),
            hosted_control_plane: "hcp".into(),
            ..Config::default()
        };
        let env = Environment::default();
        assert_eq!(
            Config {
                hosted_control_plane: String::new(),
                ..base.clone()
            }
            .validate(&env)
            .unwrap_err(),
            "--hosted-control-plane must be set"
        );
        let broken = Environment {
            image_overrides: Some("quay.invalid/a=Not A Mirror".into()),
            namespace: None,
        };
        assert!(
            base.validate(&broken)
                .unwrap_err()
                .starts_with("OPENSHIFT_IMG_OVERRIDES with --registry-overrides: ")
        );
    }
}
