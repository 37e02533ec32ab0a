//! A component's ServiceAccount, Role and RoleBinding in the control-plane namespace.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::meta;
use crate::hostedcluster::validate::ValidatedHostedCluster;

/// `(ServiceAccount, Role, RoleBinding)`, all named `name`, the Role granting `rules`.
pub fn identity(
    hc: &ValidatedHostedCluster,
    name: &str,
    rules: Vec<PolicyRule>,
) -> (ServiceAccount, Role, RoleBinding) {
    let service_account = ServiceAccount {
        metadata: meta(hc, name),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: meta(hc, name),
        rules: Some(rules),
    };
    let role_binding = RoleBinding {
        metadata: meta(hc, name),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.to_owned(),
            namespace: Some(hc.control_plane_namespace.clone()),
            ..Subject::default()
        }]),
    };
    (service_account, role, role_binding)
}

/// A rule over `resources` of `groups` with `verbs`.
pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect());
    PolicyRule {
        api_groups: owned(groups),
        resources: owned(resources),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        ..PolicyRule::default()
    }
}
