//! One validated configuration struct per binary, layered from four sources, and the flag groups
//! every binary shares.
//!
//! Precedence, lowest first: built-in defaults, the `--config` YAML file, environment variables
//! `<PREFIX>_<KEY>` (key upper-cased, `-` as `_`), then command-line flags. Flags feed the last
//! layer as `Option`s that are skipped when absent, so a flag only overrides what it sets.
//!
//! The documented keys are exactly the keys of the binary's configuration struct (its defaults,
//! serialised). Unknown keys in the file are errors naming the key; unknown flags are clap's
//! errors. The environment, though, belongs to the platform: in a pod Kubernetes injects
//! service-link variables for every Service of the namespace (`HYPERSHIFT_OPERATOR_PORT`,
//! `…_SERVICE_HOST`, `…_PORT_443_TCP_ADDR` for a Service named `hypershift-operator`), so only
//! documented keys are read from it and everything else is ignored.
//!
//! Shared flag groups ([`KubeArgs`], [`AdminArgs`], [`LogArgs`], [`LeaderArgs`], [`RegistryArgs`])
//! are flattened into each binary's clap `Args` and, as their `*Config` halves, into its
//! configuration struct (`#[serde(flatten)]`), so every binary spells them the same way.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use figment::Figment;
use figment::providers::{Env, Serialized};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::telemetry::LogFormat;

/// Why the configuration is invalid (one line, for the exit message).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(String),
    #[error("config file {file}: {reason}")]
    File { file: String, reason: String },
    #[error("config file {file}: unknown key {key:?} (known: {known})")]
    UnknownKey {
        file: String,
        key: String,
        known: String,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The documented keys of a configuration: the keys its defaults serialise to.
pub fn documented_keys<C: Serialize>(defaults: &C) -> BTreeSet<String> {
    match serde_json::to_value(defaults) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
        _ => BTreeSet::new(),
    }
}

/// Merges `defaults`, `file`, the documented `<env_prefix>_*` variables and `flags`, flags winning.
pub fn load<C: Serialize + DeserializeOwned>(
    defaults: &C,
    file: Option<&Path>,
    env_prefix: &str,
    flags: &impl Serialize,
) -> Result<C, ConfigError> {
    let keys = documented_keys(defaults);
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        figment = figment.merge(Serialized::defaults(read_file(path, &keys)?));
    }
    let prefix = format!("{env_prefix}_");
    let env = Env::prefixed(&prefix).filter_map(move |key| {
        let key = key.as_str().to_ascii_lowercase().replace('_', "-");
        keys.contains(&key).then(|| key.into())
    });
    figment = figment.merge(env).merge(Serialized::defaults(flags));
    figment
        .extract()
        .map_err(|e| ConfigError::Invalid(name_the_key(&figment, defaults).unwrap_or_else(|| one_line(&e))))
}

/// serde loses the key of a type error inside a `#[serde(flatten)]` group; find it by putting
/// each merged value, one at a time, into the defaults.
fn name_the_key<C: Serialize + DeserializeOwned>(figment: &Figment, defaults: &C) -> Option<String> {
    let serde_json::Value::Object(base) = serde_json::to_value(defaults).ok()? else {
        return None;
    };
    base.keys().find_map(|key| {
        let value: serde_json::Value = figment.extract_inner(key).ok()?;
        let mut candidate = base.clone();
        candidate.insert(key.clone(), value.clone());
        let err = serde_json::from_value::<C>(serde_json::Value::Object(candidate)).err()?;
        let source = figment
            .find_metadata(key)
            .map(|m| format!(" (from {})", m.name))
            .unwrap_or_default();
        Some(format!(
            "{key}{source}: {}",
            err.to_string().lines().next().unwrap_or_default()
        ))
    })
}

/// The file as a map of documented keys.
fn read_file(
    path: &Path,
    keys: &BTreeSet<String>,
) -> Result<serde_json::Map<String, serde_json::Value>, ConfigError> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConfigError::MissingFile(file)),
        Err(e) => {
            return Err(ConfigError::File {
                file,
                reason: e.to_string(),
            });
        }
    };
    let value: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| ConfigError::File {
        file: file.clone(),
        reason: format!(
            "not valid YAML: {}",
            e.to_string().lines().next().unwrap_or_default()
        ),
    })?;
    let map = match value {
        serde_json::Value::Object(map) => map,
        serde_json::Value::Null => serde_json::Map::new(),
        _ => {
            return Err(ConfigError::File {
                file,
                reason: "must be a mapping of keys to values".into(),
            });
        }
    };
    if let Some(key) = map.keys().find(|k| !keys.contains(*k)) {
        return Err(ConfigError::UnknownKey {
            file,
            key: key.clone(),
            known: keys.iter().cloned().collect::<Vec<_>>().join(", "),
        });
    }
    Ok(map)
}

fn one_line(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Deserialises a list from either a list or one string (an env variable holds one string).
pub fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match serde::Deserialize::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `--kubeconfig FILE`.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeArgs {
    /// Kubeconfig (default: in-cluster, then $KUBECONFIG).
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
}

/// The merged [`KubeArgs`].
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct KubeConfig {
    pub kubeconfig: Option<PathBuf>,
}

/// `--admin-addr ADDR`.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AdminArgs {
    /// Address of the admin listener (`/healthz`, `/livez`, `/readyz`, `/metrics`, `PUT /log-level`).
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_addr: Option<SocketAddr>,
}

/// The merged [`AdminArgs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AdminConfig {
    pub admin_addr: SocketAddr,
}

impl AdminConfig {
    /// All interfaces on `port`: in a pod the kubelet probes the pod's IP, never its loopback.
    pub fn on_port(port: u16) -> Self {
        Self {
            admin_addr: SocketAddr::from(([0, 0, 0, 0], port)),
        }
    }
}

/// `--log-format`, `--log-level`.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogArgs {
    /// Log line format.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// Log filter (`RUST_LOG` syntax).
    #[arg(long, value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

/// The merged [`LogArgs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LogConfig {
    pub log_format: LogFormat,
    pub log_level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Text,
            log_level: "info".into(),
        }
    }
}

/// `--leader-elect`, and client-go's three durations.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeaderArgs {
    /// Elect a leader through a Lease before reconciling (`--leader-elect=false` to run alone).
    #[arg(long, value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect: Option<bool>,
    /// Seconds a standby waits, after it last saw the Lease change, before taking it over.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_lease_seconds: Option<u64>,
    /// Seconds the leader keeps trying to renew before it steps down.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_renew_deadline_seconds: Option<u64>,
    /// Seconds between attempts to acquire or renew.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_elect_retry_period_seconds: Option<u64>,
}

/// The merged [`LeaderArgs`]; client-go's defaults (15 s, 10 s, 2 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LeaderElectionConfig {
    pub leader_elect: bool,
    pub leader_elect_lease_seconds: u64,
    pub leader_elect_renew_deadline_seconds: u64,
    pub leader_elect_retry_period_seconds: u64,
}

impl LeaderElectionConfig {
    /// The timings, checked in the flags' terms (client-go's rules: retry period < renew
    /// deadline < lease duration).
    pub fn to_leader_config(&self) -> Result<crate::leader::LeaderConfig, String> {
        let Self {
            leader_elect: _,
            leader_elect_lease_seconds: lease,
            leader_elect_renew_deadline_seconds: renew_deadline,
            leader_elect_retry_period_seconds: retry_period,
        } = *self;
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
        let config = crate::leader::LeaderConfig {
            lease_duration: std::time::Duration::from_secs(lease),
            renew_deadline: std::time::Duration::from_secs(renew_deadline),
            retry_period: std::time::Duration::from_secs(retry_period),
        };
        config
            .validate()
            .map_err(|e| format!("--leader-elect-lease-seconds: {e}"))?;
        Ok(config)
    }
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            leader_elect: true,
            leader_elect_lease_seconds: 15,
            leader_elect_renew_deadline_seconds: 10,
            leader_elect_retry_period_seconds: 2,
        }
    }
}

/// `--registry-overrides`, `--registry-ca-bundle`, `--registry-timeout-seconds`.
#[derive(Debug, Default, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryArgs {
    /// Registry overrides (`sr1=dr1,sr2=dr2`, pflag StringToString rules); repeatable.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry_overrides: Vec<String>,
    /// PEM bundle of the mirror registries' CAs.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_ca_bundle: Option<PathBuf>,
    /// Seconds each registry candidate may take during a lookup.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_timeout_seconds: Option<u64>,
}

/// The merged [`RegistryArgs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryConfig {
    #[serde(deserialize_with = "string_or_list")]
    pub registry_overrides: Vec<String>,
    pub registry_ca_bundle: Option<PathBuf>,
    pub registry_timeout_seconds: u64,
}

/// The checked [`RegistryConfig`]: what a binary builds its release provider from.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Every `--registry-overrides` occurrence, merged.
    pub registry_overrides: hypershift_mirrors::RegistryOverrides,
    /// The CA bundle's PEM text (checked to hold certificates).
    pub registry_ca_bundle: Option<String>,
    /// How long each registry candidate may take.
    pub registry_timeout: std::time::Duration,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("registry_overrides", &self.registry_overrides)
            .field(
                "registry_ca_bundle",
                &self.registry_ca_bundle.as_ref().map(|_| "<PEM>"),
            )
            .field("registry_timeout", &self.registry_timeout)
            .finish()
    }
}

impl RegistryConfig {
    /// Parses the overrides (the shared pflag parser), reads and checks the CA bundle, checks the
    /// timeout; the error is one line naming the flag.
    pub fn validate(&self) -> Result<RegistrySettings, String> {
        let mut overrides = hypershift_mirrors::RegistryOverrides::new();
        for value in &self.registry_overrides {
            overrides
                .merge_flag(value)
                .map_err(|e| format!("--registry-overrides {value:?}: {e}"))?;
        }
        let bundle = match &self.registry_ca_bundle {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--registry-ca-bundle {}: {e}", path.display()))?;
                crate::ca_bundle::parse(text.as_bytes())
                    .map_err(|e| format!("--registry-ca-bundle {}: {e}", path.display()))?;
                Some(text)
            }
            None => None,
        };
        if self.registry_timeout_seconds == 0 {
            return Err("--registry-timeout-seconds must be at least 1".into());
        }
        Ok(RegistrySettings {
            registry_overrides: overrides,
            registry_ca_bundle: bundle,
            registry_timeout: std::time::Duration::from_secs(self.registry_timeout_seconds),
        })
    }
}

impl RegistrySettings {
    /// The standard release provider chain for these settings: `--registry-overrides` outside,
    /// then `mirrors`, the cache, the OCI client trusting the CA bundle too.
    pub fn provider(
        &self,
        mirrors: hypershift_mirrors::ManagementMirrors,
    ) -> hypershift_releaseinfo::StandardProvider {
        hypershift_releaseinfo::standard(
            hypershift_releaseinfo::ProviderConfig {
                oci: hypershift_releaseinfo::OciConfig {
                    extra_ca_pem: self.registry_ca_bundle.clone().map(String::into_bytes),
                    ..hypershift_releaseinfo::OciConfig::default()
                },
                mirrors: hypershift_releaseinfo::MirrorConfig {
                    attempt_timeout: self.registry_timeout,
                    ..hypershift_releaseinfo::MirrorConfig::default()
                },
                ..hypershift_releaseinfo::ProviderConfig::default()
            },
            self.registry_overrides.clone(),
            mirrors,
        )
    }
}

/// What a binary the hypershift-operator deploys reads from its environment besides its own
/// `<PREFIX>_*` keys, as upstream: the management mirrors and its namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnvironment {
    /// `OPENSHIFT_IMG_OVERRIDES`.
    pub image_overrides: Option<String>,
    /// `MY_NAMESPACE` (the downward API), used when `--namespace` is not given.
    pub namespace: Option<String>,
}

/// The env var naming the namespace when `--namespace` is not given (upstream's).
pub const NAMESPACE_ENV: &str = "MY_NAMESPACE";

impl ChildEnvironment {
    /// This process's.
    pub fn from_process() -> Self {
        Self {
            image_overrides: std::env::var(hypershift_mirrors::contract::IMAGE_OVERRIDES_ENV).ok(),
            namespace: std::env::var(NAMESPACE_ENV).ok().filter(|n| !n.is_empty()),
        }
    }

    /// `--namespace` when given, else `MY_NAMESPACE`; one of them must be set.
    pub fn namespace(&self, flag: &str) -> Result<String, String> {
        match (flag, &self.namespace) {
            ("", Some(from_env)) => Ok(from_env.clone()),
            ("", None) => Err(format!("--namespace (or {NAMESPACE_ENV}) must be set")),
            (given, _) => Ok(given.to_owned()),
        }
    }

    /// Both carriers as received: `--registry-overrides` (already parsed) and the env's
    /// mirrors, by the shared parsers.
    pub fn carriers(&self, settings: &RegistrySettings) -> hypershift_mirrors::contract::MirrorCarriers {
        hypershift_mirrors::contract::MirrorCarriers {
            registry_overrides: settings.registry_overrides.clone(),
            image_overrides: self
                .image_overrides
                .as_deref()
                .and_then(hypershift_mirrors::ImageOverrides::parse_env)
                .unwrap_or_default(),
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            registry_overrides: Vec::new(),
            registry_ca_bundle: None,
            registry_timeout_seconds: 10,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment's Jail closure returns figment::Error"
)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    struct Config {
        #[serde(flatten)]
        admin: AdminConfig,
        #[serde(flatten)]
        registry: RegistryConfig,
        #[serde(flatten)]
        leader: LeaderElectionConfig,
        namespace: String,
    }

    #[derive(Parser, Serialize, Default, Debug)]
    #[serde(rename_all = "kebab-case")]
    struct Flags {
        #[command(flatten)]
        #[serde(flatten)]
        admin: AdminArgs,
        #[command(flatten)]
        #[serde(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        #[serde(flatten)]
        leader: LeaderArgs,
        #[arg(long)]
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    }

    fn defaults() -> Config {
        Config {
            admin: AdminConfig::on_port(8080),
            registry: RegistryConfig::default(),
            leader: LeaderElectionConfig::default(),
            namespace: "hypershift".into(),
        }
    }

    #[test]
    fn flags_over_env_over_file_over_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.yaml",
                "admin-addr: 127.0.0.1:1\nleader-elect: false\nregistry-overrides: [a=b]\n",
            )?;
            let c = load(&defaults(), Some(Path::new("c.yaml")), "TESTX", &Flags::default()).unwrap();
            assert_eq!(c.admin.admin_addr.to_string(), "127.0.0.1:1");
            assert!(!c.leader.leader_elect);
            assert_eq!(c.registry.registry_overrides, ["a=b"]);
            jail.set_env("TESTX_ADMIN_ADDR", "127.0.0.1:2");
            jail.set_env("TESTX_REGISTRY_OVERRIDES", "x=y,z=w");
            jail.set_env("TESTX_REGISTRY_TIMEOUT_SECONDS", "3");
            let c = load(&defaults(), Some(Path::new("c.yaml")), "TESTX", &Flags::default()).unwrap();
            assert_eq!(c.admin.admin_addr.to_string(), "127.0.0.1:2");
            assert_eq!(c.registry.registry_overrides, ["x=y,z=w"]);
            assert_eq!(c.registry.registry_timeout_seconds, 3);
            let flags = Flags::parse_from(["x", "--admin-addr=127.0.0.1:3", "--namespace=ns"]);
            let c = load(&defaults(), Some(Path::new("c.yaml")), "TESTX", &flags).unwrap();
            assert_eq!(c.admin.admin_addr.to_string(), "127.0.0.1:3");
            assert_eq!(c.namespace, "ns");
            assert!(
                !c.leader.leader_elect,
                "an absent flag does not reset the file's value"
            );
            Ok(())
        });
    }

    #[test]
    fn service_link_variables_of_a_service_named_like_the_prefix_are_ignored() {
        figment::Jail::expect_with(|jail| {
            // What Kubernetes injects for a Service `hypershift-operator` with port 443.
            for (k, v) in [
                ("HYPERSHIFT_OPERATOR_SERVICE_HOST", "127.0.0.9"),
                ("HYPERSHIFT_OPERATOR_SERVICE_PORT", "443"),
                ("HYPERSHIFT_OPERATOR_SERVICE_PORT_HTTPS", "443"),
                ("HYPERSHIFT_OPERATOR_PORT", "tcp://127.0.0.9:443"),
                ("HYPERSHIFT_OPERATOR_PORT_443_TCP", "tcp://127.0.0.9:443"),
                ("HYPERSHIFT_OPERATOR_PORT_443_TCP_PROTO", "tcp"),
                ("HYPERSHIFT_OPERATOR_PORT_443_TCP_PORT", "443"),
                ("HYPERSHIFT_OPERATOR_PORT_443_TCP_ADDR", "127.0.0.9"),
            ] {
                jail.set_env(k, v);
            }
            jail.set_env("HYPERSHIFT_OPERATOR_NAMESPACE", "from-env");
            let c = load(&defaults(), None, "HYPERSHIFT_OPERATOR", &Flags::default()).unwrap();
            assert_eq!(c.namespace, "from-env", "documented variables are still read");
            Ok(())
        });
    }

    #[test]
    fn bad_files_are_one_line_errors_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.yaml", "admin-adr: typo\n")?;
            let err = load(&defaults(), Some(Path::new("c.yaml")), "TESTY", &Flags::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("unknown key \"admin-adr\"")
                    && err.contains("admin-addr")
                    && !err.contains('\n'),
                "{err}"
            );
            jail.create_file("list.yaml", "- a\n")?;
            let err = load(
                &defaults(),
                Some(Path::new("list.yaml")),
                "TESTY",
                &Flags::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("must be a mapping"), "{err}");
            jail.create_file("bad.yaml", "admin-addr: [\n")?;
            let err = load(
                &defaults(),
                Some(Path::new("bad.yaml")),
                "TESTY",
                &Flags::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("not valid YAML") && !err.contains('\n'), "{err}");
            jail.create_file("wrong.yaml", "registry-timeout-seconds: soon\n")?;
            let err = load(
                &defaults(),
                Some(Path::new("wrong.yaml")),
                "TESTY",
                &Flags::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("registry-timeout-seconds"), "{err}");
            let err = load(
                &defaults(),
                Some(Path::new("missing.yaml")),
                "TESTY",
                &Flags::default(),
            )
            .unwrap_err();
            assert!(matches!(err, ConfigError::MissingFile(_)));
            Ok(())
        });
    }

    #[test]
    fn leader_timings_follow_client_gos_rules_and_name_the_flags() {
        let t = |lease, renew, retry| {
            LeaderElectionConfig {
                leader_elect: true,
                leader_elect_lease_seconds: lease,
                leader_elect_renew_deadline_seconds: renew,
                leader_elect_retry_period_seconds: retry,
            }
            .to_leader_config()
        };
        assert_eq!(
            t(15, 10, 2).unwrap(),
            crate::leader::LeaderConfig::default(),
            "the defaults are client-go's"
        );
        assert_eq!(
            t(6, 10, 2).unwrap_err(),
            "--leader-elect-lease-seconds (6) must be greater than --leader-elect-renew-deadline-seconds (10)"
        );
        assert_eq!(
            t(15, 10, 10).unwrap_err(),
            "--leader-elect-renew-deadline-seconds (10) must be greater than --leader-elect-retry-period-seconds (10)"
        );
        assert_eq!(
            t(15, 10, 0).unwrap_err(),
            "--leader-elect-retry-period-seconds must be at least 1"
        );
    }

    #[test]
    fn the_default_admin_address_is_reachable_from_outside_the_pod() {
        assert!(AdminConfig::on_port(9440).admin_addr.ip().is_unspecified());
    }
}
