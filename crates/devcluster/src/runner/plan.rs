//! From a Deployment's pod template to what to run: which of our binaries each container's
//! image names, the argv and environment (with `valueFrom` resolved), the files of each volume,
//! and container paths mapped to the directories those files are written to. Pure: no IO, no
//! client; the Secrets and ConfigMaps come in through [`Lookup`].
//!
//! Rules (also in `docs/devcluster.md`):
//! - image → binary: the last path component of the image name, without tag or digest
//!   (`quay.invalid/openshift/control-plane-operator:4.99` → `control-plane-operator`), if it is
//!   one of the configured binaries; a template with any other image is not ours to run;
//! - argv: `command[1..]` then `args` (`command[0]` names the program inside the image; our binary
//!   replaces it); `$(VAR)` references to the container's env are expanded as the kubelet does;
//! - env: `value`, `valueFrom.secretKeyRef`, `configMapKeyRef`, `fieldRef` (`metadata.name`,
//!   `metadata.namespace`, `metadata.uid`, `spec.nodeName`, `spec.serviceAccountName`,
//!   `status.podIP`, `status.hostIP`), `envFrom` (Secret and ConfigMap, with `prefix`); a missing
//!   non-optional reference keeps the Deployment waiting, with the reason in its status;
//! - volumes: `secret`, `configMap` (with `items`, `defaultMode`/`mode`), `projected` (secret and
//!   configMap sources), `emptyDir` and `hostPath`; each is written under the pod directory;
//! - paths: every `volumeMount.mountPath` (plus `subPath`) found in an argument, a `command`
//!   element, an env value or `workingDir` — on path-component boundaries — is replaced by the
//!   directory the volume was written to, longest mount path first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodTemplateSpec, Secret};

/// Read access to the cluster's Secrets and ConfigMaps.
pub trait Lookup {
    /// A Secret.
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
    /// A ConfigMap.
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap>;
}

/// The binary an image names: last path component, without tag or digest.
pub fn image_binary_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// The files of one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeContent {
    /// Files (relative path, bytes, mode) to write into a fresh directory.
    Files(Vec<(String, Vec<u8>, u32)>),
    /// An existing host directory, used in place.
    HostPath(PathBuf),
}

/// One container to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPlan {
    /// Container name.
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Arguments (paths mapped).
    pub args: Vec<String>,
    /// Environment (paths mapped), in order.
    pub env: Vec<(String, String)>,
    /// Working directory, if mapped onto a volume.
    pub working_dir: Option<PathBuf>,
}

/// Everything needed to start one "pod" of a Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPlan {
    /// Volumes by name.
    pub volumes: BTreeMap<String, VolumeContent>,
    /// Containers in template order.
    pub containers: Vec<ContainerPlan>,
}

/// Identity of the pod being planned (for `fieldRef`).
#[derive(Debug, Clone)]
pub struct PodIdentity<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// The pod name (`<deployment>-<template hash>`).
    pub name: &'a str,
    /// A uid for `metadata.uid`.
    pub uid: &'a str,
}

/// Whether every container of the template names a configured binary (then the runner owns it).
pub fn is_ours(template: &PodTemplateSpec, binaries: &BTreeMap<String, PathBuf>) -> bool {
    let Some(spec) = &template.spec else { return false };
    !spec.containers.is_empty()
        && spec.containers.iter().all(|c| {
            c.image
                .as_deref()
                .is_some_and(|i| binaries.contains_key(image_binary_name(i)))
        })
}

/// Plans a pod; `Err` says what it waits for (a missing Secret, an unsupported volume, …).
/// `volume_dir(name)` is where volume `name` will be written.
pub fn plan(
    template: &PodTemplateSpec,
    pod: &PodIdentity<'_>,
    binaries: &BTreeMap<String, PathBuf>,
    lookup: &dyn Lookup,
    volume_dir: &dyn Fn(&str) -> PathBuf,
) -> Result<PodPlan, String> {
    let spec = template.spec.as_ref().ok_or("the pod template has no spec")?;
    let mut volumes = BTreeMap::new();
    let mut volume_paths = BTreeMap::new();
    for v in spec.volumes.iter().flatten() {
        let content = volume_content(v, pod.namespace, lookup)?;
        let path = match &content {
            VolumeContent::HostPath(p) => p.clone(),
            VolumeContent::Files(_) => volume_dir(&v.name),
        };
        volume_paths.insert(v.name.clone(), path);
        volumes.insert(v.name.clone(), content);
    }
    let mut containers = Vec::new();
    for c in &spec.containers {
        let image = c.image.as_deref().unwrap_or_default();
        let program = binaries.get(image_binary_name(image)).ok_or_else(|| {
            format!(
                "container {}: image {image} is not one of the configured binaries",
                c.name
            )
        })?;
        let mounts = mounts(c, &volume_paths)?;
        let env = container_env(c, spec.service_account_name.as_deref(), pod, lookup)?;
        let env: Vec<(String, String)> = env
            .into_iter()
            .map(|(k, v)| (k, map_paths(&v, &mounts)))
            .collect();
        let mut args: Vec<String> = c.command.iter().flatten().skip(1).cloned().collect();
        args.extend(c.args.iter().flatten().cloned());
        let args = args
            .iter()
            .map(|a| map_paths(&expand_vars(a, &env), &mounts))
            .collect();
        let working_dir = c
            .working_dir
            .as_deref()
            .map(|w| map_paths(w, &mounts))
            .filter(|w| {
                Path::new(w).is_absolute()
                    && Path::new(w) != Path::new(c.working_dir.as_deref().unwrap_or_default())
            })
            .map(PathBuf::from);
        containers.push(ContainerPlan {
            name: c.name.clone(),
            program: program.clone(),
            args,
            env,
            working_dir,
        });
    }
    Ok(PodPlan { volumes, containers })
}

/// Mount path → host directory for one container (longest first).
fn mounts(c: &Container, volume_paths: &BTreeMap<String, PathBuf>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let base = volume_paths
            .get(&m.name)
            .ok_or_else(|| format!("container {}: volumeMount {} names no volume", c.name, m.name))?;
        let host = match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => base.join(sub),
            None => base.clone(),
        };
        let mount = m.mount_path.trim_end_matches('/').to_owned();
        out.push((mount, host.to_string_lossy().into_owned()));
    }
    out.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
    Ok(out)
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')
}

/// Replaces mount paths found on path-component boundaries.
pub fn map_paths(s: &str, mounts: &[(String, String)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'scan: while i < s.len() {
        let before_ok = s[..i].chars().next_back().is_none_or(|c| !path_char(c));
        if before_ok && s[i..].starts_with('/') {
            for (mount, host) in mounts {
                if mount.is_empty() || !s[i..].starts_with(mount.as_str()) {
                    continue;
                }
                let end = i + mount.len();
                let after_ok = s[end..].chars().next().is_none_or(|c| c == '/' || !path_char(c));
                if after_ok {
                    out.push_str(host);
                    i = end;
                    continue 'scan;
                }
            }
        }
        let c = s[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Expands `$(NAME)` from the container's env, leaves unknown references and `$$(X)` (→ `$(X)`).
pub(crate) fn expand_vars(s: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(t) = tail.strip_prefix("$$(") {
            out.push_str("$(");
            rest = t;
            continue;
        }
        if let Some(inner) = tail.strip_prefix("$(")
            && let Some(close) = inner.find(')')
        {
            let name = &inner[..close];
            if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
                out.push_str(v);
                rest = &inner[close + 1..];
                continue;
            }
        }
        out.push('$');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

fn secret_value(s: &Secret, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = s.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.0.clone());
    }
    s.string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|v| v.as_bytes().to_vec())
}

fn config_map_value(c: &ConfigMap, key: &str) -> Option<Vec<u8>> {
    if let Some(v) = c.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.as_bytes().to_vec());
    }
    c.binary_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|ByteString(b)| b.clone())
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8 and cannot be an environment variable"))
}

pub(crate) fn container_env(
    c: &Container,
    service_account: Option<&str>,
    pod: &PodIdentity<'_>,
    lookup: &dyn Lookup,
) -> Result<Vec<(String, String)>, String> {
    let ns = pod.namespace;
    let mut env: Vec<(String, String)> = Vec::new();
    for from in c.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.secret_ref {
            match lookup.secret(ns, &r.name) {
                Some(s) => {
                    let keys: Vec<String> = s.data.iter().flatten().map(|(k, _)| k.clone()).collect();
                    for k in keys {
                        let v = secret_value(&s, &k).unwrap_or_default();
                        env.push((
                            format!("{prefix}{k}"),
                            utf8(v, &format!("secret {}/{} key {k}", ns, r.name))?,
                        ));
                    }
                }
                None if r.optional == Some(true) => {}
                None => {
                    return Err(format!(
                        "container {}: envFrom secret {ns}/{} not found",
                        c.name, r.name
                    ));
                }
            }
        }
        if let Some(r) = &from.config_map_ref {
            match lookup.config_map(ns, &r.name) {
                Some(cm) => {
                    for (k, v) in cm.data.iter().flatten() {
                        env.push((format!("{prefix}{k}"), v.clone()));
                    }
                }
                None if r.optional == Some(true) => {}
                None => {
                    return Err(format!(
                        "container {}: envFrom configmap {ns}/{} not found",
                        c.name, r.name
                    ));
                }
            }
        }
    }
    for e in c.env.iter().flatten() {
        let value = match &e.value_from {
            None => expand_vars(e.value.as_deref().unwrap_or_default(), &env),
            Some(from) => {
                if let Some(r) = &from.secret_key_ref {
                    match lookup.secret(ns, &r.name).and_then(|s| secret_value(&s, &r.key)) {
                        Some(v) => utf8(v, &format!("secret {ns}/{} key {}", r.name, r.key))?,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(format!(
                                "container {}: env {}: secret {ns}/{} key {} not found",
                                c.name, e.name, r.name, r.key
                            ));
                        }
                    }
                } else if let Some(r) = &from.config_map_key_ref {
                    match lookup
                        .config_map(ns, &r.name)
                        .and_then(|m| config_map_value(&m, &r.key))
                    {
                        Some(v) => utf8(v, &format!("configmap {ns}/{} key {}", r.name, r.key))?,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(format!(
                                "container {}: env {}: configmap {ns}/{} key {} not found",
                                c.name, e.name, r.name, r.key
                            ));
                        }
                    }
                } else if let Some(f) = &from.field_ref {
                    match f.field_path.as_str() {
                        "metadata.name" => pod.name.to_owned(),
                        "metadata.namespace" => ns.to_owned(),
                        "metadata.uid" => pod.uid.to_owned(),
                        "spec.nodeName" => "devcluster".to_owned(),
                        "spec.serviceAccountName" => service_account.unwrap_or("default").to_owned(),
                        "status.podIP" | "status.hostIP" => "127.0.0.1".to_owned(),
                        other => {
                            return Err(format!(
                                "container {}: env {}: fieldRef {other} is not supported",
                                c.name, e.name
                            ));
                        }
                    }
                } else {
                    return Err(format!(
                        "container {}: env {}: this valueFrom is not supported",
                        c.name, e.name
                    ));
                }
            }
        };
        env.push((e.name.clone(), value));
    }
    Ok(env)
}

fn mode_of(mode: Option<i32>, default: Option<i32>) -> u32 {
    mode.or(default)
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(0o644)
}

/// Files of a Secret or ConfigMap (`items` selects and renames keys).
fn source_files(
    all: Vec<(String, Vec<u8>)>,
    items: Option<&Vec<k8s_openapi::api::core::v1::KeyToPath>>,
    default_mode: Option<i32>,
    what: &str,
) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    match items {
        None => Ok(all
            .into_iter()
            .map(|(k, v)| (k, v, mode_of(None, default_mode)))
            .collect()),
        Some(items) => items
            .iter()
            .map(|i| {
                let v = all
                    .iter()
                    .find(|(k, _)| *k == i.key)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("{what}: key {} not found", i.key))?;
                if i.path.split('/').any(|p| p == "..") || i.path.starts_with('/') {
                    return Err(format!(
                        "{what}: item path {} must be relative and stay inside the volume",
                        i.path
                    ));
                }
                Ok((i.path.clone(), v, mode_of(i.mode, default_mode)))
            })
            .collect(),
    }
}

fn secret_entries(s: &Secret) -> Vec<(String, Vec<u8>)> {
    s.data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect()
}

fn config_map_entries(c: &ConfigMap) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = c
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
        .collect();
    out.extend(
        c.binary_data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone())),
    );
    out
}

pub(crate) fn volume_content(
    v: &k8s_openapi::api::core::v1::Volume,
    ns: &str,
    lookup: &dyn Lookup,
) -> Result<VolumeContent, String> {
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let what = format!("volume {}: secret {ns}/{name}", v.name);
        return match lookup.secret(ns, &name) {
            Some(secret) => Ok(VolumeContent::Files(source_files(
                secret_entries(&secret),
                s.items.as_ref(),
                s.default_mode,
                &what,
            )?)),
            None if s.optional == Some(true) => Ok(VolumeContent::Files(Vec::new())),
            None => Err(format!("{what} not found")),
        };
    }
    if let Some(c) = &v.config_map {
        let what = format!("volume {}: configmap {ns}/{}", v.name, c.name);
        return match lookup.config_map(ns, &c.name) {
            Some(cm) => Ok(VolumeContent::Files(source_files(
                config_map_entries(&cm),
                c.items.as_ref(),
                c.default_mode,
                &what,
            )?)),
            None if c.optional == Some(true) => Ok(VolumeContent::Files(Vec::new())),
            None => Err(format!("{what} not found")),
        };
    }
    if let Some(p) = &v.projected {
        let mut files = Vec::new();
        for src in p.sources.iter().flatten() {
            if let Some(s) = &src.secret {
                let what = format!("volume {}: secret {ns}/{}", v.name, s.name);
                match lookup.secret(ns, &s.name) {
                    Some(secret) => files.extend(source_files(
                        secret_entries(&secret),
                        s.items.as_ref(),
                        p.default_mode,
                        &what,
                    )?),
                    None if s.optional == Some(true) => {}
                    None => return Err(format!("{what} not found")),
                }
            } else if let Some(c) = &src.config_map {
                let what = format!("volume {}: configmap {ns}/{}", v.name, c.name);
                match lookup.config_map(ns, &c.name) {
                    Some(cm) => files.extend(source_files(
                        config_map_entries(&cm),
                        c.items.as_ref(),
                        p.default_mode,
                        &what,
                    )?),
                    None if c.optional == Some(true) => {}
                    None => return Err(format!("{what} not found")),
                }
            } else {
                return Err(format!(
                    "volume {}: only secret and configMap projections are supported",
                    v.name
                ));
            }
        }
        return Ok(VolumeContent::Files(files));
    }
    if v.empty_dir.is_some() {
        return Ok(VolumeContent::Files(Vec::new()));
    }
    if let Some(h) = &v.host_path {
        return Ok(VolumeContent::HostPath(PathBuf::from(&h.path)));
    }
    Err(format!(
        "volume {}: only secret, configMap, projected, emptyDir and hostPath volumes are supported",
        v.name
    ))
}

/// A short, stable hash of the pod template (names the pod and detects template changes).
pub fn template_hash(template: &PodTemplateSpec) -> String {
    use sha2::Digest as _;
    let json = serde_json::to_vec(template).unwrap_or_default();
    let digest = sha2::Sha256::digest(&json);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(&digest[..6])
        .to_ascii_lowercase()
        .replace(['-', '_'], "x")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Fake {
        secrets: Vec<Secret>,
        config_maps: Vec<ConfigMap>,
    }

    impl Lookup for Fake {
        fn secret(&self, ns: &str, name: &str) -> Option<Secret> {
            self.secrets
                .iter()
                .find(|s| {
                    s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(name)
                })
                .cloned()
        }
        fn config_map(&self, ns: &str, name: &str) -> Option<ConfigMap> {
            self.config_maps
                .iter()
                .find(|s| {
                    s.metadata.namespace.as_deref() == Some(ns) && s.metadata.name.as_deref() == Some(name)
                })
                .cloned()
        }
    }

    fn fake() -> Fake {
        Fake {
            secrets: vec![
                serde_json::from_value(json!({"metadata": {"name": "serving-cert", "namespace": "hcp"},
                "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}}))
                .unwrap(),
            ],
            config_maps: vec![
                serde_json::from_value(json!({"metadata": {"name": "cfg", "namespace": "hcp"},
                "data": {"mode": "fast", "conf.yaml": "a: 1"}}))
                .unwrap(),
            ],
        }
    }

    fn binaries() -> BTreeMap<String, PathBuf> {
        [(
            "ignition-server".to_owned(),
            PathBuf::from("/bin/ignition-server"),
        )]
        .into()
    }

    fn template() -> PodTemplateSpec {
        serde_json::from_value(json!({"spec": {
            "containers": [{
                "name": "server",
                "image": "quay.invalid/openshift/ignition-server@sha256:abc",
                "command": ["/usr/bin/control-plane-operator", "ignition-server"],
                "args": ["--cert-file=/var/run/secrets/serving-cert/tls.crt", "--config", "/etc/cfg/conf.yaml",
                         "--not-a-mount=/var/run/secrets/serving-certificates", "--pod=$(POD)"],
                "env": [
                    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
                    {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "serving-cert", "key": "tls.key"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "CERT_DIR", "value": "/var/run/secrets/serving-cert"}
                ],
                "volumeMounts": [
                    {"name": "serving-cert", "mountPath": "/var/run/secrets/serving-cert"},
                    {"name": "cfg", "mountPath": "/etc/cfg"}
                ]
            }],
            "volumes": [
                {"name": "serving-cert", "secret": {"secretName": "serving-cert", "defaultMode": 0o640}},
                {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "conf.yaml", "path": "conf.yaml"}]}}
            ]
        }}))
        .unwrap()
    }

    fn pod() -> PodIdentity<'static> {
        PodIdentity {
            namespace: "hcp",
            name: "ign-abc",
            uid: "u",
        }
    }

    #[test]
    fn image_binary_name_strips_registry_path_tag_and_digest() {
        assert_eq!(
            image_binary_name("quay.invalid/openshift/control-plane-operator:4.99"),
            "control-plane-operator"
        );
        assert_eq!(
            image_binary_name("127.0.0.1:5000/x/ignition-server@sha256:00"),
            "ignition-server"
        );
        assert_eq!(
            image_binary_name("127.0.0.1:5000/hypershift-operator"),
            "hypershift-operator"
        );
        assert_eq!(image_binary_name("busybox"), "busybox");
    }

    #[test]
    fn plan_maps_mount_paths_resolves_env_and_drops_command_zero() {
        let p = plan(&template(), &pod(), &binaries(), &fake(), &|v| {
            PathBuf::from(format!("/tmp/pod/{v}"))
        })
        .unwrap();
        let c = &p.containers[0];
        assert_eq!(c.program, PathBuf::from("/bin/ignition-server"));
        assert_eq!(
            c.args,
            [
                "ignition-server",
                "--cert-file=/tmp/pod/serving-cert/tls.crt",
                "--config",
                "/tmp/pod/cfg/conf.yaml",
                "--not-a-mount=/var/run/secrets/serving-certificates",
                "--pod=ign-abc",
            ]
        );
        let env: BTreeMap<_, _> = c.env.iter().cloned().collect();
        assert_eq!(env["MODE"], "fast");
        assert_eq!(env["KEY"], "key");
        assert_eq!(env["CERT_DIR"], "/tmp/pod/serving-cert");
        assert_eq!(
            p.volumes["serving-cert"],
            VolumeContent::Files(vec![
                ("tls.crt".into(), b"cert".to_vec(), 0o640),
                ("tls.key".into(), b"key".to_vec(), 0o640)
            ])
        );
        assert_eq!(
            p.volumes["cfg"],
            VolumeContent::Files(vec![("conf.yaml".into(), b"a: 1".to_vec(), 0o644)])
        );
    }

    #[test]
    fn missing_secret_is_reported_as_what_the_pod_waits_for() {
        let mut f = fake();
        f.secrets.clear();
        let e = plan(&template(), &pod(), &binaries(), &f, &|v| PathBuf::from(v)).unwrap_err();
        assert_eq!(e, "volume serving-cert: secret hcp/serving-cert not found");
    }

    #[test]
    fn templates_with_other_images_are_not_ours() {
        let mut t = template();
        assert!(is_ours(&t, &binaries()));
        t.spec.as_mut().unwrap().containers[0].image = Some("quay.invalid/openshift/kube-apiserver:1".into());
        assert!(!is_ours(&t, &binaries()));
    }

    #[test]
    fn map_paths_respects_component_boundaries() {
        let mounts = vec![("/etc/a".to_owned(), "/tmp/x".to_owned())];
        assert_eq!(map_paths("/etc/a", &mounts), "/tmp/x");
        assert_eq!(map_paths("--f=/etc/a/b,/etc/ab", &mounts), "--f=/tmp/x/b,/etc/ab");
        assert_eq!(map_paths("x/etc/a", &mounts), "x/etc/a");
    }

    #[test]
    fn expand_vars_follows_kubelet_rules() {
        let env = vec![("A".to_owned(), "1".to_owned())];
        assert_eq!(expand_vars("$(A)-$(B)-$$(A)-$", &env), "1-$(B)-$(A)-$");
    }

    #[test]
    fn item_paths_cannot_escape_the_volume() {
        let e = source_files(
            vec![("k".into(), vec![])],
            Some(&vec![k8s_openapi::api::core::v1::KeyToPath {
                key: "k".into(),
                path: "../x".into(),
                mode: None,
            }]),
            None,
            "v",
        )
        .unwrap_err();
        assert!(e.contains("inside the volume"), "{e}");
    }

    #[test]
    fn template_hash_changes_with_the_template() {
        let a = template_hash(&template());
        let mut t = template();
        t.spec.as_mut().unwrap().containers[0].args = Some(vec!["--other".into()]);
        assert_ne!(a, template_hash(&t));
        assert_eq!(a, template_hash(&template()));
        assert_eq!(a.len(), 8);
    }
}
