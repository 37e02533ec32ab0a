//! The resource types the server knows: a fixed table of built-in kinds plus one type per
//! `CustomResourceDefinition`, registered and removed as CRDs come and go.
//!
//! A [`ResourceType`] carries everything the other modules need: group, served versions (the
//! storage version first), names, scope, whether `/status` is a subresource, whether
//! `metadata.generation` is tracked, and the list rules ([`ListRules`]) that strategic merge
//! patch and server-side apply use to merge lists by key.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::error::ApiError;

/// How a list field merges: as a whole, as a set of scalars, or as a map keyed by some fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole (the default, as for CRDs without `x-kubernetes-list-type`).
    Atomic,
    /// A set of scalars (`metadata.finalizers`).
    Set,
    /// Items identified by these fields (`containers` by `name`); the first is the
    /// strategic-merge `patchMergeKey`.
    Map(Vec<String>),
}

/// List rules of a type, by dotted field path with list levels elided
/// (`spec.template.spec.containers.env`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRules {
    rules: BTreeMap<String, ListKind>,
}

impl ListRules {
    /// The rule for a path; lists not named are atomic.
    pub fn get(&self, path: &str) -> ListKind {
        self.rules.get(path).cloned().unwrap_or(ListKind::Atomic)
    }

    fn insert(&mut self, path: String, kind: ListKind) {
        self.rules.insert(path, kind);
    }
}

/// One kind of object the server stores and serves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent facts about a type, as in API discovery"
)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// Served versions; the first is the storage (and preferred) version.
    pub versions: Vec<String>,
    /// `Kind`.
    pub kind: String,
    /// `KindList`.
    pub list_kind: String,
    /// Plural resource name, as in the URL.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// `kubectl` short names.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether `/status` is a subresource (status then changes only through it).
    pub status: bool,
    /// Built in (strategic merge patch and protobuf bodies are accepted only for these).
    pub builtin: bool,
    /// Whether `metadata.generation` is set and bumped on spec changes.
    pub generation: bool,
    /// Merge rules for lists.
    pub lists: ListRules,
    /// `additionalPrinterColumns` of a CRD's storage version: (name, type, JSON path).
    pub printer_columns: Vec<(String, String, String)>,
}

impl ResourceType {
    /// The storage version.
    pub fn storage_version(&self) -> &str {
        self.versions.first().map_or("v1", String::as_str)
    }

    /// `apps/v1` or `v1`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }

    /// `deployments.apps`.
    pub fn qualified(&self) -> String {
        crate::error::qualified(&self.group, &self.plural)
    }
}

/// (group, version, kind, plural, short names, namespaced, status subresource, generation, in category `all`)
type BuiltIn = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    bool,
    bool,
    bool,
);

/// The built-in kinds: those the operators use, plus the workload kinds `kubectl get all` asks for.
#[rustfmt::skip]
const BUILT_INS: &[BuiltIn] = &[
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        &["ns"],
        false,
        true,
        false,
        false,
    ),
    ("", "v1", "Secret", "secrets", &[], true, false, false, false),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        &["cm"],
        true,
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        &["sa"],
        true,
        false,
        false,
        false,
    ),
    ("", "v1", "Service", "services", &["svc"], true, true, false, true),
    ("", "v1", "Event", "events", &["ev"], true, false, false, false),
    ("", "v1", "Pod", "pods", &["po"], true, true, false, true),
    (
        "",
        "v1",
        "Endpoints",
        "endpoints",
        &["ep"],
        true,
        false,
        false,
        false,
    ),
    (
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        &["pvc"],
        true,
        true,
        false,
        false,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "deployments",
        &["deploy"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        &["sts"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        &["rs"],
        true,
        true,
        true,
        true,
    ),
    (
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        &["ds"],
        true,
        true,
        true,
        true,
    ),
    ("batch", "v1", "Job", "jobs", &[], true, true, true, true),
    (
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        &["cj"],
        true,
        true,
        true,
        true,
    ),
    (
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
        true,
        true,
        true,
        false,
    ),
    (
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
        true,
        false,
        true,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        &[],
        true,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        &[],
        true,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        &[],
        false,
        false,
        false,
        false,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        &[],
        true,
        false,
        false,
        false,
    ),
    (
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        &[],
        true,
        false,
        false,
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
        false,
        true,
        true,
        false,
    ),
];

/// Where the pod spec sits in each workload kind.
fn pod_spec_prefix(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("", "Pod") => Some("spec"),
        ("apps", "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet") | ("batch", "Job") => {
            Some("spec.template.spec")
        }
        ("batch", "CronJob") => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    }
}

/// List rules of the built-in kinds, as in their Go types' `patchMergeKey` and `listMapKeys`.
fn builtin_list_rules(group: &str, kind: &str) -> ListRules {
    let mut rules = ListRules::default();
    rules.insert("metadata.finalizers".into(), ListKind::Set);
    rules.insert(
        "metadata.ownerReferences".into(),
        ListKind::Map(vec!["uid".into()]),
    );
    rules.insert("status.conditions".into(), ListKind::Map(vec!["type".into()]));
    let map = |keys: &[&str]| ListKind::Map(keys.iter().map(|k| (*k).to_owned()).collect());
    if let Some(prefix) = pod_spec_prefix(group, kind) {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            rules.insert(format!("{prefix}.{list}"), map(&["name"]));
            rules.insert(format!("{prefix}.{list}.env"), map(&["name"]));
            rules.insert(
                format!("{prefix}.{list}.ports"),
                map(&["containerPort", "protocol"]),
            );
            rules.insert(format!("{prefix}.{list}.volumeMounts"), map(&["mountPath"]));
            rules.insert(format!("{prefix}.{list}.volumeDevices"), map(&["devicePath"]));
        }
        rules.insert(format!("{prefix}.volumes"), map(&["name"]));
        rules.insert(format!("{prefix}.imagePullSecrets"), map(&["name"]));
        rules.insert(format!("{prefix}.hostAliases"), map(&["ip"]));
    }
    if (group, kind) == ("", "Service") {
        rules.insert("spec.ports".into(), map(&["port", "protocol"]));
    }
    if (group, kind) == ("", "ServiceAccount") {
        rules.insert("secrets".into(), map(&["name"]));
        rules.insert("imagePullSecrets".into(), map(&["name"]));
    }
    rules
}

fn builtin(row: &BuiltIn) -> ResourceType {
    let (group, version, kind, plural, short, namespaced, status, generation, all) = *row;
    ResourceType {
        group: group.into(),
        versions: vec![version.into()],
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: if all { vec!["all".into()] } else { Vec::new() },
        namespaced,
        status,
        builtin: true,
        generation,
        lists: builtin_list_rules(group, kind),
        printer_columns: Vec::new(),
    }
}

/// All types, keyed by (group, plural).
#[derive(Debug, Clone)]
pub struct Registry {
    types: BTreeMap<(String, String), Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The built-in types only.
    pub fn new() -> Self {
        let types = BUILT_INS
            .iter()
            .map(|row| {
                let t = builtin(row);
                ((t.group.clone(), t.plural.clone()), Arc::new(t))
            })
            .collect();
        Self { types }
    }

    /// The type serving `group`/`plural`, if any.
    pub fn get(&self, group: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types.get(&(group.to_owned(), plural.to_owned())).cloned()
    }

    /// The type serving `group`/`version`/`plural`, if that version is served.
    pub fn get_served(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.get(group, plural).filter(|t| t.serves(version))
    }

    /// Groups with their served versions, in discovery order: core, built-in groups, then CRD
    /// groups by name. Versions are in preference order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut order: Vec<String> = Vec::new();
        for row in BUILT_INS {
            if !order.iter().any(|g| g == row.0) {
                order.push(row.0.to_owned());
            }
        }
        let mut custom: Vec<String> = self
            .types
            .values()
            .filter(|t| !t.builtin && !order.contains(&t.group))
            .map(|t| t.group.clone())
            .collect();
        custom.sort();
        custom.dedup();
        order.extend(custom);
        order
            .into_iter()
            .filter_map(|group| {
                let mut versions: Vec<String> = self
                    .types
                    .values()
                    .filter(|t| t.group == group)
                    .flat_map(|t| t.versions.iter().cloned())
                    .collect();
                versions.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)).then(a.cmp(b)));
                versions.dedup();
                (!versions.is_empty()).then_some((group, versions))
            })
            .collect()
    }

    /// Types of one group that serve `version`.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .values()
            .filter(|t| t.group == group && t.serves(version))
            .cloned()
            .collect()
    }

    /// Registers (or re-registers) the type a CRD defines; refuses to shadow a built-in.
    pub fn register_crd(&mut self, t: ResourceType) -> Result<Arc<ResourceType>, ApiError> {
        let key = (t.group.clone(), t.plural.clone());
        if self.types.get(&key).is_some_and(|old| old.builtin) {
            return Err(ApiError::invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                &format!("{}.{}", t.plural, t.group),
                "spec.group",
                "the group and plural name a built-in resource",
            ));
        }
        let t = Arc::new(t);
        self.types.insert(key, Arc::clone(&t));
        Ok(t)
    }

    /// Removes a CRD's type.
    pub fn unregister(&mut self, group: &str, plural: &str) {
        let key = (group.to_owned(), plural.to_owned());
        if self.types.get(&key).is_some_and(|t| !t.builtin) {
            self.types.remove(&key);
        }
    }
}

/// Kubernetes version priority: GA > beta > alpha, then by numbers (`v2` > `v1` > `v1beta2`).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u32>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (level, n) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        return (0, 0, 0);
    };
    n.parse::<u32>().map_or((0, 0, 0), |minor| (level, major, minor))
}

/// The type a CRD object defines, validated as the API server does the parts we rely on.
pub fn type_from_crd(crd: &Value) -> Result<ResourceType, ApiError> {
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let invalid = |field: &str, why: &str| {
        ApiError::invalid(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            name,
            field,
            why,
        )
    };
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    if group.is_empty() || !group.contains('.') {
        return Err(invalid("spec.group", "should be a domain with at least one dot"));
    }
    let names = &spec["names"];
    let plural = names["plural"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    if plural.is_empty() || plural != plural.to_ascii_lowercase() {
        return Err(invalid(
            "spec.names.plural",
            "Required value: a lower-case plural name",
        ));
    }
    if kind.is_empty() {
        return Err(invalid("spec.names.kind", "Required value"));
    }
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            &format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => {
            return Err(invalid(
                "spec.scope",
                "Unsupported value: must be Namespaced or Cluster",
            ));
        }
    };
    let Some(versions) = spec["versions"].as_array().filter(|v| !v.is_empty()) else {
        return Err(invalid(
            "spec.versions",
            "Required value: must have at least one version",
        ));
    };
    let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
    let [storage] = storage.as_slice() else {
        return Err(invalid(
            "spec.versions",
            "must have exactly one version marked as storage version",
        ));
    };
    let storage_name = storage["name"].as_str().unwrap_or_default().to_owned();
    let mut served: Vec<String> = versions
        .iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    served.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    // The storage version first: objects are kept in it and other versions only rename apiVersion.
    served.retain(|v| *v != storage_name);
    served.insert(0, storage_name);
    let status = storage["subresources"].get("status").is_some();
    let mut lists = ListRules::default();
    lists.insert("metadata.finalizers".into(), ListKind::Set);
    lists.insert(
        "metadata.ownerReferences".into(),
        ListKind::Map(vec!["uid".into()]),
    );
    collect_schema_lists(&storage["schema"]["openAPIV3Schema"], "", &mut lists);
    let str_list = crate::meta::string_list;
    Ok(ResourceType {
        group: group.to_owned(),
        versions: served,
        kind: kind.to_owned(),
        list_kind: names["listKind"]
            .as_str()
            .map_or_else(|| format!("{kind}List"), str::to_owned),
        plural: plural.to_owned(),
        singular: names["singular"]
            .as_str()
            .map_or_else(|| kind.to_ascii_lowercase(), str::to_owned),
        short_names: str_list(&names["shortNames"]),
        categories: str_list(&names["categories"]),
        namespaced,
        status,
        builtin: false,
        generation: true,
        lists,
        printer_columns: printer_columns(storage),
    })
}

fn printer_columns(version: &Value) -> Vec<(String, String, String)> {
    version["additionalPrinterColumns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| {
                    Some((
                        c["name"].as_str()?.to_owned(),
                        c["type"].as_str().unwrap_or("string").to_owned(),
                        c["jsonPath"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Collects `x-kubernetes-list-type: map|set` from a structural schema.
fn collect_schema_lists(schema: &Value, path: &str, out: &mut ListRules) {
    if let Some(props) = schema["properties"].as_object() {
        for (field, sub) in props {
            let p = if path.is_empty() {
                field.clone()
            } else {
                format!("{path}.{field}")
            };
            collect_schema_lists(sub, &p, out);
        }
    }
    if schema["type"] == "array" {
        match schema["x-kubernetes-list-type"].as_str() {
            Some("map") => {
                let keys: Vec<String> = schema["x-kubernetes-list-map-keys"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    out.insert(path.to_owned(), ListKind::Map(keys));
                }
            }
            Some("set") => out.insert(path.to_owned(), ListKind::Set),
            _ => {}
        }
        collect_schema_lists(&schema["items"], path, out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn version_priority_orders_ga_then_beta_then_alpha() {
        let mut v = vec!["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "foo"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1", "foo"]);
    }

    #[test]
    fn deployment_containers_merge_by_name_and_env_by_name() {
        let r = Registry::new();
        let d = r.get("apps", "deployments").unwrap();
        assert_eq!(
            d.lists.get("spec.template.spec.containers"),
            ListKind::Map(vec!["name".into()])
        );
        assert_eq!(
            d.lists.get("spec.template.spec.containers.env"),
            ListKind::Map(vec!["name".into()])
        );
        assert_eq!(
            d.lists.get("spec.template.spec.containers.args"),
            ListKind::Atomic
        );
    }

    fn crd(name: &str) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {
                "group": "example.invalid",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Namespaced",
                "versions": [
                    {"name": "v1alpha1", "served": true, "storage": false},
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                     "schema": {"openAPIV3Schema": {"type": "object", "properties": {"status": {"type": "object",
                        "properties": {"conditions": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["type"], "items": {"type": "object"}}}}}}}}
                ]
            }
        })
    }

    #[test]
    fn crd_type_keeps_storage_version_first_and_reads_list_map_keys() {
        let t = type_from_crd(&crd("widgets.example.invalid")).unwrap();
        assert_eq!(t.versions, ["v1", "v1alpha1"]);
        assert!(t.status && t.namespaced && !t.builtin);
        assert_eq!(t.list_kind, "WidgetList");
        assert_eq!(
            t.lists.get("status.conditions"),
            ListKind::Map(vec!["type".into()])
        );
    }

    #[test]
    fn crd_whose_name_is_not_plural_dot_group_is_invalid() {
        let e = type_from_crd(&crd("widget.example.invalid")).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.contains("metadata.name"), "{}", e.message);
    }

    #[test]
    fn crd_cannot_shadow_a_builtin() {
        let mut r = Registry::new();
        let mut t = type_from_crd(&crd("widgets.example.invalid")).unwrap();
        t.group = "apps".into();
        t.plural = "deployments".into();
        assert_eq!(r.register_crd(t).unwrap_err().code, 422);
    }

    #[test]
    fn groups_list_core_first_and_custom_groups_after_builtins() {
        let mut r = Registry::new();
        r.register_crd(type_from_crd(&crd("widgets.example.invalid")).unwrap())
            .unwrap();
        let groups = r.groups();
        assert_eq!(groups[0].0, "");
        assert_eq!(groups.last().unwrap().0, "example.invalid");
        assert_eq!(groups.last().unwrap().1, ["v1", "v1alpha1"]);
    }
}
