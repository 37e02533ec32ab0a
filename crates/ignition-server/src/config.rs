//! The ignition-server's command line and configuration.
//!
//! `ignition-server start [flags]`. Every flag can also come from the `--config` YAML file (same
//! names, without `--`) or from `IGNITION_SERVER_<NAME>` variables; flags win over env, env over
//! the file, the file over the defaults. Unknown flags and unknown file keys are errors; unknown
//! `IGNITION_SERVER_*` variables (a Service named `ignition-server` injects
//! `IGNITION_SERVER_PORT`, `IGNITION_SERVER_SERVICE_HOST`, …) are ignored.
//!
//! Two more variables are read, as upstream: `OPENSHIFT_IMG_OVERRIDES` (the management mirrors,
//! parsed by the shared carrier parser) and `MY_NAMESPACE` (the namespace when `--namespace` is
//! not given). [`Config::validate`] turns the raw values into what the server runs with, or a
//! one-line reason to exit.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hypershift_mirrors::ManagementMirrors;
use hypershift_mirrors::contract::{IMAGE_OVERRIDES_ENV, MirrorCarriers};
use hypershift_support::config::{
    AdminArgs, AdminConfig, KubeArgs, KubeConfig, LogArgs, LogConfig, RegistryArgs, RegistryConfig,
    RegistrySettings,
};
use serde::{Deserialize, Serialize};

/// The ignition-server: serves each NodePool's Ignition payload to its nodes, reading release
/// images through the management cluster's mirrors.
#[derive(Debug, Parser)]
#[command(name = "ignition-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve payloads.
    Start(Flags),
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
    /// The namespace of the token Secrets (the control-plane namespace; default `$MY_NAMESPACE`).
    #[arg(long, value_name = "NS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The HTTPS listener for `/ignition`.
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<SocketAddr>,
    /// PEM certificate chain of the HTTPS listener (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the HTTPS listener (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// At most this many HTTPS connections at once; more wait to be accepted.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Registry overrides apply to every image the server reads (not merged into the mirrors);
    /// the CA bundle is trusted for the mirror registries.
    #[command(flatten)]
    #[serde(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub log: LogArgs,
}

/// The merged configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    #[serde(flatten)]
    pub kube: KubeConfig,
    pub namespace: String,
    pub addr: SocketAddr,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub max_connections: usize,
    #[serde(flatten)]
    pub registry: RegistryConfig,
    #[serde(flatten)]
    pub admin: AdminConfig,
    #[serde(flatten)]
    pub log: LogConfig,
}

/// The HTTPS port's default, upstream's.
pub const HTTPS_PORT: u16 = 9090;
/// The admin port's default (all interfaces: kubelet probes reach it in a pod).
pub const ADMIN_PORT: u16 = 8081;

impl Default for Config {
    fn default() -> Self {
        Self {
            kube: KubeConfig::default(),
            namespace: String::new(),
            addr: SocketAddr::from(([0, 0, 0, 0], HTTPS_PORT)),
            cert_file: None,
            key_file: None,
            max_connections: 1024,
            registry: RegistryConfig::default(),
            admin: AdminConfig::on_port(ADMIN_PORT),
            log: LogConfig::default(),
        }
    }
}

/// The variables read besides `IGNITION_SERVER_*`: `OPENSHIFT_IMG_OVERRIDES`, `MY_NAMESPACE`.
pub use hypershift_support::config::ChildEnvironment as Environment;

/// The configuration the server runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    pub addr: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub max_connections: usize,
    pub registry: RegistrySettings,
    /// Both carriers as received (the hypershift-operator's typed contract).
    pub carriers: MirrorCarriers,
    /// `OPENSHIFT_IMG_OVERRIDES` as a rule set: the mirrors every lookup goes through.
    pub mirrors: ManagementMirrors,
    pub admin_addr: SocketAddr,
}

impl Config {
    /// Merges defaults, the file, env and flags.
    pub fn load(flags: &Flags) -> Result<Self, hypershift_support::config::ConfigError> {
        hypershift_support::config::load(
            &Self::default(),
            flags.config.as_deref(),
            "IGNITION_SERVER",
            flags,
        )
    }

    /// Checks every value; the error is one line naming the offending one.
    pub fn validate(&self, env: &Environment) -> Result<ServerConfig, String> {
        let Config {
            kube: KubeConfig { kubeconfig },
            namespace,
            addr,
            cert_file,
            key_file,
            max_connections,
            registry,
            admin: AdminConfig { admin_addr },
            log: _,
        } = self;
        let registry = registry.validate()?;
        let namespace = env.namespace(namespace)?;
        let cert_file = cert_file.clone().ok_or("--cert-file must be set")?;
        let key_file = key_file.clone().ok_or("--key-file must be set")?;
        if *max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        // As upstream, `--registry-overrides` is not merged into the mirrors: it rewrites every
        // image reference before the mirrors are consulted (the provider chain's outer layer).
        let carriers = env.carriers(&registry);
        let mirrors = carriers
            .mirror_set()
            .map_err(|e| format!("{IMAGE_OVERRIDES_ENV}: {e}"))?;
        Ok(ServerConfig {
            kubeconfig: kubeconfig.clone(),
            namespace,
            addr: *addr,
            cert_file,
            key_file,
            max_connections: *max_connections,
            registry,
            carriers,
            mirrors,
            admin_addr: *admin_addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use clap::Parser as _;
    use hypershift_mirrors::{MirrorSetBuilder, RegistryOverrides};
    use hypershift_support::contract::IgnitionServerArgs;

    use super::*;

    fn parse(args: &[String]) -> Flags {
        let cli =
            Cli::try_parse_from(std::iter::once("ignition-server".to_owned()).chain(args.iter().cloned()))
                .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Start(f) => f,
            Command::PrintConfig(_) => panic!("not start"),
        }
    }

    /// What the hypershift-operator renders (its typed `to_args()`) is what this binary reads.
    #[test]
    fn the_operators_args_round_trip() {
        let mut b = MirrorSetBuilder::new();
        b.add_image_overrides(
            "t",
            &[(
                "quay.invalid/ocp".to_owned(),
                vec!["m1.invalid/ocp".to_owned(), "m2.invalid/ocp".to_owned()],
            )]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let set: ManagementMirrors = b.build();
        let args = IgnitionServerArgs {
            namespace: "clusters-example".into(),
            addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            cert_file: "/var/run/secrets/ignition/serving-cert/tls.crt".into(),
            key_file: "/var/run/secrets/ignition/serving-cert/tls.key".into(),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 8081)),
            carriers: MirrorCarriers::new(
                &set,
                RegistryOverrides::parse_flag("quay.invalid=r.invalid").unwrap(),
            ),
            registry_ca_bundle: None,
        };
        let flags = parse(&args.to_args());
        let config = Config::load(&flags).unwrap();
        let env = Environment {
            image_overrides: Some(args.image_overrides_env()),
            namespace: None,
        };
        let server = config.validate(&env).unwrap();
        assert_eq!(server.namespace, args.namespace);
        assert_eq!(server.addr, args.addr);
        assert_eq!(server.cert_file.to_str(), Some(args.cert_file.as_str()));
        assert_eq!(server.key_file.to_str(), Some(args.key_file.as_str()));
        assert_eq!(server.admin_addr, args.admin_addr);
        assert_eq!(server.carriers, args.carriers);
        assert_eq!(server.mirrors.to_image_overrides(), set.to_image_overrides());
        // The flag rewrites references; it is not one more mirror.
        assert_eq!(server.mirrors.rules().len(), 1);
    }

    #[test]
    fn invalid_values_are_named() {
        let base = Config {
            namespace: "ns".into(),
            cert_file: Some("c".into()),
            key_file: Some("k".into()),
            ..Config::default()
        };
        let env = Environment::default();
        let bad = |c: Config, env: &Environment| c.validate(env).unwrap_err();
        assert_eq!(
            bad(
                Config {
                    namespace: String::new(),
                    ..base.clone()
                },
                &env
            ),
            "--namespace (or MY_NAMESPACE) must be set"
        );
        assert_eq!(
            bad(
                Config {
                    cert_file: None,
                    ..base.clone()
                },
                &env
            ),
            "--cert-file must be set"
        );
        assert!(
            bad(
                Config {
                    registry: RegistryConfig {
                        registry_overrides: vec!["nope".into()],
                        ..RegistryConfig::default()
                    },
                    ..base.clone()
                },
                &env
            )
            .starts_with("--registry-overrides \"nope\"")
        );
        let broken = Environment {
            image_overrides: Some("quay.invalid/a=Not A Mirror".into()),
            namespace: None,
        };
        assert!(bad(base.clone(), &broken).starts_with("OPENSHIFT_IMG_OVERRIDES: "));
        // MY_NAMESPACE stands in for --namespace.
        let from_env = Environment {
            image_overrides: None,
            namespace: Some("clusters-x".into()),
        };
        let c = Config {
            namespace: String::new(),
            ..base
        };
        assert_eq!(c.validate(&from_env).unwrap().namespace, "clusters-x");
    }
}
