//! The operator's own ClusterRole: what it may call, as a table. `deploy/hypershift-operator/`
//! is rendered from it (`cargo xtask codegen`), and `tests/rbac.rs` runs the operator against
//! devcluster, which records every request it makes: a call the table does not grant fails that
//! test, and so does a rule no call needs (least privilege), unless listed in
//! [`GRANTED_NOT_EXERCISED`] with its reason.

/// One PolicyRule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub groups: &'static [&'static str],
    pub resources: &'static [&'static str],
    pub verbs: &'static [&'static str],
}

const WATCH: &[&str] = &["list", "watch"];
/// Reads, server-side apply (`patch`), and pruning (`delete`).
const OWN: &[&str] = &["get", "list", "watch", "patch", "delete"];

/// Every rule of the ClusterRole, by what the code does with it.
pub const RULES: &[Rule] = &[
    // The HostedCluster and NodePool reconcilers: watch, finalizers and status.
    Rule {
        groups: &["hypershift.openshift.io"],
        resources: &["hostedclusters", "nodepools"],
        verbs: &["get", "list", "watch", "patch", "update"],
    },
    Rule {
        groups: &["hypershift.openshift.io"],
        resources: &["hostedclusters/status", "nodepools/status"],
        verbs: &["get", "patch", "update"],
    },
    Rule {
        groups: &["hypershift.openshift.io"],
        resources: &["hostedcontrolplanes"],
        verbs: OWN,
    },
    // The management mirrors and the CRD watch that notices their APIs arriving.
    Rule {
        groups: &["config.openshift.io"],
        resources: &["imagedigestmirrorsets", "imagetagmirrorsets"],
        verbs: WATCH,
    },
    Rule {
        groups: &["operator.openshift.io"],
        resources: &["imagecontentsourcepolicies"],
        verbs: WATCH,
    },
    Rule {
        groups: &["apiextensions.k8s.io"],
        resources: &["customresourcedefinitions"],
        verbs: WATCH,
    },
    // What it renders into control-plane namespaces (and the namespaces themselves).
    Rule {
        groups: &[""],
        resources: &[
            "namespaces",
            "configmaps",
            "secrets",
            "services",
            "serviceaccounts",
        ],
        verbs: OWN,
    },
    Rule {
        groups: &["apps"],
        resources: &["deployments"],
        verbs: OWN,
    },
    Rule {
        groups: &["route.openshift.io"],
        resources: &["routes"],
        verbs: OWN,
    },
    // The control-plane-operator's and ignition-server's Roles: granting them needs `bind` and
    // `escalate` as well (the API server's escalation check), unless the operator held every
    // permission they grant.
    Rule {
        groups: &["rbac.authorization.k8s.io"],
        resources: &["roles", "rolebindings"],
        verbs: &["get", "list", "watch", "patch", "delete", "bind", "escalate"],
    },
    // Leader election.
    Rule {
        groups: &["coordination.k8s.io"],
        resources: &["leases"],
        verbs: &["get", "create", "update", "patch"],
    },
    // Events about invalid mirror entries and failing conditions.
    Rule {
        groups: &["events.k8s.io"],
        resources: &["events"],
        verbs: &["create", "patch"],
    },
];

/// Resources granted although the RBAC test's scenario does not touch them, each with its
/// reason. None: every rule's resource is exercised.
pub const GRANTED_NOT_EXERCISED: &[(&str, &str)] = &[];

/// The ClusterRole `name`.
pub fn cluster_role(name: &str) -> k8s_openapi::api::rbac::v1::ClusterRole {
    use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    ClusterRole {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        rules: Some(
            RULES
                .iter()
                .map(|r| PolicyRule {
                    api_groups: Some(strings(r.groups)),
                    resources: Some(strings(r.resources)),
                    verbs: strings(r.verbs),
                    ..PolicyRule::default()
                })
                .collect(),
        ),
        ..ClusterRole::default()
    }
}

/// Whether [`RULES`] grant `verb` on `resource` (`deployments`, `hostedclusters/status`) of
/// `group`.
pub fn allows(group: &str, resource: &str, verb: &str) -> bool {
    RULES
        .iter()
        .any(|r| r.groups.contains(&group) && r.resources.contains(&resource) && r.verbs.contains(&verb))
}
