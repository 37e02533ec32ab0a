//! Discovery documents, computed from the registry on every request so CRDs appear and disappear
//! at once: `/version`, `/api`, `/apis`, `/apis/{group}`, `/api/v1`, `/apis/{group}/{version}`, the
//! aggregated form (`apidiscovery.k8s.io/v2`, when the client's `Accept` asks for it), and a
//! minimal `/openapi/v2` (no schemas, so clients validate nothing against it).

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceType};

/// The Kubernetes version devcluster claims (matches the k8s-openapi feature `v1_33`).
pub const MAJOR: &str = "1";
/// Minor version.
pub const MINOR: &str = "33";

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-devcluster"),
        "gitCommit": "devcluster",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "none (devcluster is written in Rust)",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

/// `/api` (legacy form).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (legacy form).
pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}`, if the group exists.
pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let groups = reg.groups();
    let (g, vs) = groups.iter().find(|(g, _)| g == name && !g.is_empty())?;
    let mut doc = group_doc(g, vs);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `/api/v1` or `/apis/{group}/{version}`, if anything is served there.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = reg.in_group_version(group, version);
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for t in &types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": VERBS,
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        if t.status {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": SUB_VERBS,
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

fn aggregated_resource(t: &ResourceType, version: &str) -> Value {
    let kind = json!({"group": t.group, "version": version, "kind": t.kind});
    let mut r = json!({
        "resource": t.plural,
        "responseKind": kind,
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": VERBS,
    });
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    if t.status {
        r["subresources"] = json!([{"subresource": "status", "responseKind": kind, "verbs": SUB_VERBS}]);
    }
    r
}

/// Aggregated discovery: `/api` (core only) or `/apis` (every other group), in the given
/// `apiVersion` (`apidiscovery.k8s.io/v2` or `v2beta1`, which share the schema).
pub fn aggregated(reg: &Registry, core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .in_group_version(g, v)
                        .iter()
                        .map(|t| aggregated_resource(t, v))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g}, "versions": vs})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// The `Accept` media type that asks for aggregated discovery, and the `apiVersion` it wants.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if params.first() != Some(&"application/json") || !params.contains(&"g=apidiscovery.k8s.io") {
            continue;
        }
        if !params.contains(&"as=APIGroupDiscoveryList") {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            return Some("v2beta1");
        }
    }
    None
}

/// `/openapi/v2` as JSON: valid, with no paths or definitions.
pub fn openapi_v2_json() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "devcluster", "version": format!("v{MAJOR}.{MINOR}.0")},
        "paths": {},
        "definitions": {},
    })
}

/// `/openapi/v2` as the gnostic protobuf `Document` that client-go asks for: `swagger` (field 1),
/// `info` (field 2: `title` 1, `version` 2) and an empty `paths` (field 8).
pub fn openapi_v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        out.push((number << 3) | 2);
        let mut len = bytes.len();
        loop {
            let low = u8::try_from(len & 0x7f).unwrap_or(0);
            len >>= 7;
            if len == 0 {
                out.push(low);
                break;
            }
            out.push(low | 0x80);
        }
        out.extend_from_slice(bytes);
    }
    let mut info = Vec::new();
    field(&mut info, 1, b"devcluster");
    field(&mut info, 2, format!("v{MAJOR}.{MINOR}.0").as_bytes());
    let mut doc = Vec::new();
    field(&mut doc, 1, b"2.0");
    field(&mut doc, 2, &info);
    field(&mut doc, 8, &[]);
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_accept_header_from_kubectl_selects_v2() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(accept), Some("v2"));
        assert_eq!(wants_aggregated("application/json"), None);
    }

    #[test]
    fn apps_v1_lists_deployments_and_their_status_subresource() {
        let doc = resource_list(&Registry::new(), "apps", "v1").unwrap();
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments") && names.contains(&"deployments/status"));
        assert_eq!(doc["groupVersion"], "apps/v1");
    }

    #[test]
    fn unknown_group_version_has_no_resource_list() {
        assert!(resource_list(&Registry::new(), "config.openshift.io", "v1").is_none());
        assert!(group(&Registry::new(), "config.openshift.io").is_none());
    }

    #[test]
    fn aggregated_core_holds_only_the_core_group() {
        let doc = aggregated(&Registry::new(), true, "apidiscovery.k8s.io/v2");
        assert_eq!(doc["items"].as_array().unwrap().len(), 1);
        assert_eq!(doc["items"][0]["metadata"]["name"], "");
    }

    #[test]
    fn openapi_protobuf_starts_with_the_swagger_field() {
        let pb = openapi_v2_protobuf();
        assert_eq!(&pb[..5], &[0x0a, 3, b'2', b'.', b'0']);
    }
}
