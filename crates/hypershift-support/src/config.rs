//! One validated configuration struct per binary, layered from four sources.
//!
//! Precedence, lowest first: built-in defaults, the `--config` YAML file, environment variables
//! `<PREFIX>_<KEY>` (key upper-cased, `-` as `_`), then command-line flags. Flags feed the last
//! layer as `Option`s that are skipped when absent, so a flag only overrides what it sets.
//! Unknown keys in the file are errors (the config struct denies them).

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format as _, Serialized};
use serde::{Serialize, de::DeserializeOwned};

/// Why the configuration is invalid (one line, for the exit message).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Merges `defaults`, `file`, `<env_prefix>_*` variables and `flags`, flags winning.
pub fn load<C: Serialize + DeserializeOwned>(
    defaults: &C,
    file: Option<&Path>,
    env_prefix: &str,
    flags: &impl Serialize,
) -> Result<C, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::MissingFile(path.display().to_string()));
        }
        figment = figment.merge(serde_saphyr::figment::Yaml::file_exact(path));
    }
    let prefix = format!("{env_prefix}_");
    figment = figment
        .merge(Env::prefixed(&prefix).map(|key| key.as_str().to_ascii_lowercase().replace('_', "-").into()))
        .merge(Serialized::defaults(flags));
    figment.extract().map_err(|e| ConfigError::Invalid(one_line(&e)))
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

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment's Jail closure returns figment::Error"
)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "kebab-case", deny_unknown_fields)]
    struct Config {
        admin_addr: String,
        #[serde(deserialize_with = "string_or_list")]
        registry_overrides: Vec<String>,
        leader_elect: bool,
    }

    #[derive(Serialize, Default)]
    #[serde(rename_all = "kebab-case")]
    struct Flags {
        #[serde(skip_serializing_if = "Option::is_none")]
        admin_addr: Option<String>,
    }

    fn defaults() -> Config {
        Config {
            admin_addr: "127.0.0.1:8080".into(),
            registry_overrides: vec![],
            leader_elect: true,
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
            assert_eq!((c.admin_addr.as_str(), c.leader_elect), ("127.0.0.1:1", false));
            assert_eq!(c.registry_overrides, ["a=b"]);
            jail.set_env("TESTX_ADMIN_ADDR", "127.0.0.1:2");
            jail.set_env("TESTX_REGISTRY_OVERRIDES", "x=y,z=w");
            let c = load(&defaults(), Some(Path::new("c.yaml")), "TESTX", &Flags::default()).unwrap();
            assert_eq!(c.admin_addr, "127.0.0.1:2");
            assert_eq!(c.registry_overrides, ["x=y,z=w"]);
            let flags = Flags {
                admin_addr: Some("127.0.0.1:3".into()),
            };
            let c = load(&defaults(), Some(Path::new("c.yaml")), "TESTX", &flags).unwrap();
            assert_eq!(c.admin_addr, "127.0.0.1:3");
            assert!(!c.leader_elect, "an absent flag does not reset the file's value");
            Ok(())
        });
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.yaml", "admin-adr: typo\n")?;
            let err = load(&defaults(), Some(Path::new("c.yaml")), "TESTY", &Flags::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("admin-adr") && !err.contains('\n'), "{err}");
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
}
