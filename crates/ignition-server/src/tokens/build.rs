//! The payload: an Ignition config (spec 3.2.0, upstream's version) for a NodePool's workers.
//!
//! Built in this order, a later entry for the same path (file, directory, link) or unit name
//! replacing an earlier one:
//! 1. the machine-config-operator's templates ([`super::templates`]);
//! 2. `/etc/containers/registries.conf` (0644): the data-plane mirrors rendered by the mirror core
//!    (containers-registries.conf(5) v2, what CRI-O and podman read);
//! 3. `/var/lib/kubelet/config.json` (0600): the pull secret;
//! 4. `/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt` (0644): the
//!    additional trust bundle, when there is one;
//! 5. the NodePool's MachineConfigs, by name (their files, directories, links, units; their users'
//!    SSH keys are merged by user name).
//!
//! Everything is kept in maps sorted by path or name, and the JSON is serialised from the
//! `ignition-config` types in their field order, so the same inputs give the same bytes.

use std::collections::BTreeMap;

use ignition_config::v3_2::{Config, Directory, File, Link, Passwd, Storage, Systemd, Unit, User};

use super::dereference::Images;
use super::error::Failure;
use super::templates::{self, Values, file};
use super::validate::ValidToken;

/// Where the node's container runtime reads its mirrors.
pub const REGISTRIES_CONF: &str = "/etc/containers/registries.conf";
/// Where the kubelet (and CRI-O) read the pull secret.
pub const PULL_SECRET: &str = "/var/lib/kubelet/config.json";
/// Where the node trusts the additional CA bundle (the MCO's path).
pub const TRUST_BUNDLE: &str = "/etc/pki/ca-trust/source/anchors/openshift-config-user-ca-bundle.crt";

#[derive(Default)]
struct Parts {
    files: BTreeMap<String, File>,
    directories: BTreeMap<String, Directory>,
    links: BTreeMap<String, Link>,
    units: BTreeMap<String, Unit>,
    users: BTreeMap<String, User>,
}

impl Parts {
    fn add_file(&mut self, f: File) {
        self.files.insert(f.path.clone(), f);
    }

    /// Merges a MachineConfig's Ignition config.
    fn merge(&mut self, config: &Config) {
        if let Some(storage) = &config.storage {
            for f in storage.files.iter().flatten() {
                self.add_file(f.clone());
            }
            for d in storage.directories.iter().flatten() {
                self.directories.insert(d.path.clone(), d.clone());
            }
            for l in storage.links.iter().flatten() {
                self.links.insert(l.path.clone(), l.clone());
            }
        }
        for u in config.systemd.iter().flat_map(|s| s.units.iter().flatten()) {
            self.units.insert(u.name.clone(), u.clone());
        }
        for user in config.passwd.iter().flat_map(|p| p.users.iter().flatten()) {
            match self.users.get_mut(&user.name) {
                Some(existing) => {
                    let keys = existing.ssh_authorized_keys.get_or_insert_with(Vec::new);
                    for k in user.ssh_authorized_keys.iter().flatten() {
                        if !keys.contains(k) {
                            keys.push(k.clone());
                        }
                    }
                }
                None => {
                    self.users.insert(user.name.clone(), user.clone());
                }
            }
        }
    }

    fn into_config(self) -> Config {
        let storage = Storage {
            files: some(self.files.into_values().collect()),
            directories: some(self.directories.into_values().collect()),
            links: some(self.links.into_values().collect()),
            ..Storage::default()
        };
        let units = some(self.units.into_values().collect());
        let users = some(self.users.into_values().collect());
        Config {
            storage: Some(storage),
            systemd: units.map(|units| Systemd { units: Some(units) }),
            passwd: users.map(|users| Passwd {
                users: Some(users),
                groups: None,
            }),
            ..Config::default()
        }
    }
}

fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The payload's Ignition config.
pub fn config(valid: &ValidToken, images: &Images) -> Result<Config, Failure> {
    let values = Values {
        release_version: &images.release_version,
        release_image: valid.release.as_str(),
        node_pool: &valid.node_pool,
        images: &images.components,
    };
    let rendered = templates::render(&images.templates, &values).map_err(|e| {
        Failure::InvalidTemplates(format!(
            "{} image {}: {e}",
            super::dereference::MCO_COMPONENT,
            images.mco_image
        ))
    })?;
    let mut parts = Parts {
        files: rendered.files,
        units: rendered.units,
        ..Parts::default()
    };
    let registries = hypershift_mirrors::registries_conf::render(&valid.mirrors);
    parts.add_file(file(REGISTRIES_CONF, 0o644, registries.as_bytes()));
    parts.add_file(file(PULL_SECRET, 0o600, &valid.pull_secret));
    if !valid.trust_bundle.is_empty() {
        parts.add_file(file(TRUST_BUNDLE, 0o644, valid.trust_bundle.as_bytes()));
    }
    for mc in &valid.machine_configs {
        parts.merge(&mc.config);
    }
    Ok(parts.into_config())
}

/// The payload's bytes.
pub fn payload(valid: &ValidToken, images: &Images) -> Result<Vec<u8>, Failure> {
    let config = config(valid, images)?;
    serde_json::to_vec(&config)
        .map_err(|e| Failure::InvalidTemplates(format!("the payload does not serialise: {e}")))
}

#[cfg(test)]
mod tests;
