//! Step 5: the HostedCluster's status: conditions with upstream types where they exist, ours
//! otherwise, the ignition endpoint, and where the release image came from. Written only when it
//! changes, so a reconcile that changes nothing causes no watch event; a condition's
//! `lastTransitionTime` moves only when its status does (`hypershift_support::conditions`).
//! A condition that newly turns False (or says something new while False) is also a Warning
//! Event, except the waiting states.

use hypershift_api::conditions::{self, reasons};
use hypershift_api::hosted_cluster::{HostedCluster, HostedClusterStatus, ReleaseImageSource};
use hypershift_support::conditions::{Wanted, merge, newly_failing};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource as _, ResourceExt as _};
use serde_json::json;

use super::build::{Applied, ControlPlaneResources};
use super::dereference::Dereferenced;
use super::error::Error;
use super::validate::{Invalid, ValidatedHostedCluster};
use crate::context::Context;

/// How the reconcile went, for the status.
#[derive(Debug)]
pub enum Outcome<'a> {
    Invalid(&'a [Invalid]),
    Applied(&'a ValidatedHostedCluster, &'a ControlPlaneResources<Applied>),
    ApplyFailed(&'a ValidatedHostedCluster, &'a Error),
}

/// Reasons that mean "not yet", not "broken": no Warning Event for them.
const WAITING: &[&str] = &[reasons::WAITING_FOR_AVAILABLE, reasons::NOT_FOUND];

/// Every condition this controller owns, for `outcome`.
pub fn wanted(d: &Dereferenced, outcome: &Outcome<'_>) -> Vec<Wanted> {
    let invalid: &[Invalid] = match outcome {
        Outcome::Invalid(p) => p,
        _ => &[],
    };
    // Availability from the Deployments as just applied (the apply answer carries their status),
    // else as read before.
    let (cpo, ignition, control_plane) = match outcome {
        Outcome::Applied(_, applied) => (
            Some(available(&applied.control_plane_operator.deployment)),
            Some(available(&applied.ignition_server.deployment)),
            reported_available(&applied.hosted_control_plane),
        ),
        _ => (
            d.control_plane_operator_available,
            d.ignition_server_available,
            None,
        ),
    };
    let mut out = vec![
        validity(
            invalid,
            conditions::VALID_CONFIGURATION,
            "Configuration passes validation",
        ),
        validity(invalid, conditions::VALID_RELEASE_IMAGE, "Release image is valid"),
        release_resolved(d),
        management_mirrors(d),
        reconciliation(outcome),
        availability(
            conditions::IGNITION_ENDPOINT_AVAILABLE,
            ignition,
            "Ignition server",
        ),
        control_plane_availability(cpo, control_plane),
    ];
    if let Outcome::Applied(_, applied) = outcome {
        out.extend(from_control_plane(&applied.hosted_control_plane));
    }
    out
}

/// The HostedControlPlane conditions the HostedCluster shows as they are (upstream copies
/// `ValidReleaseInfo` and the etcd and kube-apiserver availability; ours add the data-plane
/// mirrors and the OLM catalogs, so a bad catalog annotation is seen where it was written).
pub const FROM_CONTROL_PLANE: &[&str] = &[
    "ValidReleaseInfo",
    "EtcdAvailable",
    "KubeAPIServerAvailable",
    "ValidDataPlaneMirrors",
    "ValidOLMCatalogConfiguration",
    "OLMCatalogImagesResolved",
    "OLMCatalogsAvailable",
];

/// [`FROM_CONTROL_PLANE`] as the control-plane-operator last wrote them (none before it has).
fn from_control_plane(hcp: &hypershift_api::hosted_control_plane::HostedControlPlane) -> Vec<Wanted> {
    let Some(status) = &hcp.status else {
        return Vec::new();
    };
    FROM_CONTROL_PLANE
        .iter()
        .filter_map(|type_| {
            let c = status.conditions.iter().find(|c| c.type_ == *type_)?;
            Some(Wanted {
                type_,
                status: match c.status.as_str() {
                    "True" => Some(true),
                    "False" => Some(false),
                    _ => None,
                },
                reason: c.reason.clone(),
                message: c.message.clone(),
            })
        })
        .collect()
}

fn available(d: &Deployment) -> bool {
    d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) > 0
}

/// True unless some problem fails `type_`; then False with the first problem's reason and every
/// problem's message.
fn validity(invalid: &[Invalid], type_: &'static str, ok: &str) -> Wanted {
    let found: Vec<&Invalid> = invalid.iter().filter(|p| p.condition == type_).collect();
    match found.first() {
        Some(first) => Wanted::falsy(
            type_,
            first.reason,
            joined(found.iter().map(|p| p.message.as_str())),
        ),
        None => Wanted::truthy(type_, reasons::AS_EXPECTED, ok),
    }
}

fn joined<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    messages.collect::<Vec<_>>().join("; ")
}

fn release_resolved(d: &Dereferenced) -> Wanted {
    let type_ = conditions::RELEASE_IMAGE_RESOLVED;
    match &d.release {
        Some(Ok(served)) => Wanted::truthy(
            type_,
            reasons::AS_EXPECTED,
            format!(
                "release {} served by {} ({}); management mirrors {}",
                served.value.version(),
                served.pulled_from,
                if served.via_mirror {
                    "a mirror"
                } else {
                    "the source"
                },
                d.mirrors.set.content_hash()
            ),
        ),
        Some(Err(e)) => Wanted::falsy(type_, reasons::LOOKUP_FAILED, e.to_string()),
        None => Wanted::falsy(
            type_,
            reasons::INVALID_CONFIGURATION,
            "not looked up: the release image or the pull secret is invalid",
        ),
    }
}

/// Ours: whether every management mirror object could be read. An invalid entry is left out of
/// the mirror set, so pulls it was meant to redirect go elsewhere; every HostedCluster is told,
/// with the object and the field.
fn management_mirrors(d: &Dereferenced) -> Wanted {
    let type_ = conditions::VALID_MANAGEMENT_MIRRORS;
    if d.mirrors.problems.is_empty() {
        return Wanted::truthy(
            type_,
            reasons::AS_EXPECTED,
            format!("management mirrors {} are valid", d.mirrors.set.content_hash()),
        );
    }
    Wanted::falsy(
        type_,
        reasons::INVALID_MIRROR_ENTRIES,
        format!(
            "invalid entries were left out of the management mirrors: {}",
            joined(d.mirrors.problems.iter().map(|p| p.message.as_str()))
        ),
    )
}

fn reconciliation(outcome: &Outcome<'_>) -> Wanted {
    let type_ = conditions::RECONCILIATION_SUCCEEDED;
    match outcome {
        Outcome::Applied(..) => Wanted::truthy(
            type_,
            reasons::RECONCILIATION_SUCCEEDED,
            "Reconciliation completed successfully",
        ),
        Outcome::ApplyFailed(_, e) => Wanted::falsy(type_, reasons::RECONCILIATION_ERROR, e.to_string()),
        Outcome::Invalid(p) => Wanted::falsy(
            type_,
            reasons::RECONCILIATION_ERROR,
            joined(p.iter().map(|p| p.message.as_str())),
        ),
    }
}

/// The control-plane-operator's own report on the HostedControlPlane: `Available`'s status and
/// message.
fn reported_available(
    hcp: &hypershift_api::hosted_control_plane::HostedControlPlane,
) -> Option<(bool, String)> {
    let status = hcp.status.as_ref()?;
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::AVAILABLE)?;
    Some((c.status == "True", c.message.clone()))
}

/// `Available`: the control-plane-operator runs and reports every component of its
/// HostedControlPlane available. Only something that runs the components says so.
fn control_plane_availability(cpo: Option<bool>, control_plane: Option<(bool, String)>) -> Wanted {
    let type_ = conditions::AVAILABLE;
    match (cpo, control_plane) {
        (Some(true), Some((true, _))) => Wanted::truthy(
            type_,
            reasons::AS_EXPECTED,
            "The hosted control plane is available",
        ),
        (Some(true), Some((false, message))) => Wanted::falsy(
            type_,
            reasons::WAITING_FOR_AVAILABLE,
            format!("The hosted control plane is not yet available: {message}"),
        ),
        (Some(true), None) => Wanted::falsy(
            type_,
            reasons::WAITING_FOR_AVAILABLE,
            "Control plane operator deployment is available; the hosted control plane has not reported yet",
        ),
        (other, _) => availability(type_, other, "Control plane operator"),
    }
}

fn availability(type_: &'static str, available: Option<bool>, what: &str) -> Wanted {
    match available {
        Some(true) => Wanted::truthy(
            type_,
            reasons::AS_EXPECTED,
            format!("{what} deployment is available"),
        ),
        Some(false) => Wanted::falsy(
            type_,
            reasons::WAITING_FOR_AVAILABLE,
            format!("{what} deployment is not yet available"),
        ),
        None => Wanted::falsy(type_, reasons::NOT_FOUND, format!("{what} deployment not found")),
    }
}

/// The status for `outcome`, from the current one (pure; `now` for transition times).
pub fn next_status(
    hc: &HostedCluster,
    d: &Dereferenced,
    outcome: &Outcome<'_>,
    now: Timestamp,
) -> HostedClusterStatus {
    let current = hc.status.clone().unwrap_or_default();
    let conditions = merge(
        &current.conditions,
        &wanted(d, outcome),
        hc.metadata.generation,
        now,
    );
    let ignition_endpoint = match outcome {
        Outcome::Applied(v, _) | Outcome::ApplyFailed(v, _) => v.ignition_endpoint.clone(),
        Outcome::Invalid(_) => current.ignition_endpoint.clone(),
    };
    let release_image_source = match &d.release {
        Some(Ok(served)) => Some(ReleaseImageSource {
            image: hc.spec.release.image.clone(),
            pulled_from: served.pulled_from.clone(),
            via_mirror: served.via_mirror,
            digest: served.digest.clone(),
            mirror_set_hash: d.mirrors.set.content_hash().to_owned(),
        }),
        _ => current.release_image_source.clone(),
    };
    HostedClusterStatus {
        conditions,
        ignition_endpoint,
        release_image_source,
        other: current.other,
    }
}

/// Writes the status for `outcome`, if it changed; publishes a Warning event for each condition
/// that newly turned False.
pub async fn write(
    ctx: &Context,
    hc: &HostedCluster,
    d: &Dereferenced,
    outcome: &Outcome<'_>,
) -> Result<(), Error> {
    let current = hc.status.clone().unwrap_or_default();
    let next = next_status(hc, d, outcome, Timestamp::now());
    if next == current {
        return Ok(());
    }
    let reference = hc.object_ref(&());
    for c in newly_failing(&current.conditions, &next.conditions, WAITING) {
        hypershift_support::events::warn(&ctx.recorder, &reference, &c.reason, &c.message).await;
    }
    let api: Api<HostedCluster> = Api::namespaced(ctx.client.clone(), &hc.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": "hypershift.openshift.io/v1beta1",
        "kind": "HostedCluster",
        "status": {
            "conditions": next.conditions,
            "ignitionEndpoint": next.ignition_endpoint,
            "releaseImageSource": next.release_image_source,
        }
    });
    api.patch_status(&hc.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Status)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hypershift_support::conditions::newly_failing;

    use super::*;
    use crate::hostedcluster::validate::Invalid;
    use crate::management_mirrors::{Capabilities, MirrorKind, MirrorProblem, MirrorState};

    fn hc() -> HostedCluster {
        serde_saphyr::from_str(
            "apiVersion: hypershift.openshift.io/v1beta1\nkind: HostedCluster\nmetadata:\n  name: example\n  namespace: clusters\n  generation: 3\nspec:\n  release:\n    image: quay.invalid/r:1\n  pullSecret:\n    name: pull-secret\n",
        )
        .unwrap()
    }

    fn d(problems: Vec<MirrorProblem>) -> Dereferenced {
        Dereferenced {
            hosted_cluster: Arc::new(hc()),
            pull_secret: Ok(Vec::new()),
            user_ca_bundle: None,
            mirrors: MirrorState {
                set: Arc::default(),
                capabilities: Capabilities::default(),
                problems,
                synced: true,
            },
            release: None,
            pki: crate::pki::IgnitionPki::default(),
            published: crate::hostedcluster::validate::Published::default(),
            control_plane_operator_available: None,
            ignition_server_available: Some(false),
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn condition<'a>(
        s: &'a HostedClusterStatus,
        type_: &str,
    ) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        s.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn available_needs_the_control_plane_s_own_report() {
        let w = |cpo, cp| {
            let w = control_plane_availability(cpo, cp);
            (
                match w.status {
                    Some(true) => "True",
                    Some(false) => "False",
                    None => "Unknown",
                },
                w.reason,
                w.message,
            )
        };
        assert_eq!(w(None, None).1, reasons::NOT_FOUND);
        assert_eq!(w(Some(false), Some((true, String::new()))).0, "False");
        let (status, reason, message) = w(Some(true), None);
        assert_eq!(
            (status, reason.as_str()),
            ("False", reasons::WAITING_FOR_AVAILABLE)
        );
        assert!(message.contains("has not reported yet"), "{message}");
        let (status, _, message) = w(Some(true), Some((false, "0 of 9 components available".into())));
        assert_eq!(status, "False");
        assert!(message.ends_with("0 of 9 components available"), "{message}");
        assert_eq!(w(Some(true), Some((true, String::new()))).0, "True");
    }

    #[test]
    fn control_plane_conditions_are_shown_as_written_and_only_the_listed_ones() {
        let hcp: hypershift_api::hosted_control_plane::HostedControlPlane = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "example", "namespace": "clusters-example"},
            "spec": {"releaseImage": "quay.invalid/r:1", "pullSecret": {"name": "pull-secret"}},
            "status": {"ready": false, "conditions": [
                {"type": "ValidOLMCatalogConfiguration", "status": "False", "reason": "InvalidCatalogImageAnnotations",
                 "message": "catalog images are set for 3 of 4 catalogs", "lastTransitionTime": "2026-12-01T00:00:00Z"},
                {"type": "EtcdAvailable", "status": "Unknown", "reason": "X", "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z"},
                {"type": "PackageServerAvailable", "status": "True", "reason": "AsExpected", "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z"},
            ]},
        }))
        .unwrap();
        let copied = from_control_plane(&hcp);
        let types: Vec<&str> = copied.iter().map(|w| w.type_).collect();
        assert_eq!(types, ["EtcdAvailable", "ValidOLMCatalogConfiguration"]);
        assert_eq!(copied[0].status, None);
        assert_eq!(copied[1].status, Some(false));
        assert_eq!(copied[1].reason, "InvalidCatalogImageAnnotations");
        let mut unreported = hcp.clone();
        unreported.status = None;
        assert!(from_control_plane(&unreported).is_empty());
    }

    #[test]
    fn invalid_input_fails_its_condition_and_the_reconciliation_and_only_those_are_events() {
        let problem = Invalid {
            condition: conditions::VALID_CONFIGURATION,
            reason: reasons::INVALID_CONFIGURATION,
            message: "annotation x: bad".into(),
            transient: false,
        };
        let problems = [problem];
        let first = next_status(&hc(), &d(Vec::new()), &Outcome::Invalid(&problems), at(100));
        let c = condition(&first, conditions::VALID_CONFIGURATION);
        assert_eq!(
            (c.status.as_str(), c.message.as_str(), c.observed_generation),
            ("False", "annotation x: bad", Some(3))
        );
        assert_eq!(condition(&first, conditions::VALID_RELEASE_IMAGE).status, "True");
        assert_eq!(
            condition(&first, conditions::RECONCILIATION_SUCCEEDED).status,
            "False"
        );
        let events: Vec<&str> = newly_failing(&[], &first.conditions, WAITING)
            .into_iter()
            .map(|c| c.type_.as_str())
            .collect();
        // The waiting states (a Deployment not there or not yet available) are no Event.
        assert_eq!(
            events,
            [
                conditions::RECONCILIATION_SUCCEEDED,
                conditions::RELEASE_IMAGE_RESOLVED,
                conditions::VALID_CONFIGURATION
            ]
        );

        // The same problem again: no new Event, no time moves; fixed: the condition turns True
        // at the new time.
        let mut again_hc = hc();
        again_hc.status = Some(first.clone());
        let again = next_status(&again_hc, &d(Vec::new()), &Outcome::Invalid(&problems), at(200));
        assert_eq!(again, first);
        assert!(newly_failing(&first.conditions, &again.conditions, WAITING).is_empty());
        let fixed = next_status(&again_hc, &d(Vec::new()), &Outcome::Invalid(&[]), at(300));
        let c = condition(&fixed, conditions::VALID_CONFIGURATION);
        assert_eq!((c.status.as_str(), &c.last_transition_time.0), ("True", &at(300)));
        assert_eq!(
            condition(&fixed, conditions::VALID_RELEASE_IMAGE)
                .last_transition_time
                .0,
            at(100),
            "unchanged conditions keep their time"
        );
    }

    #[test]
    fn invalid_management_mirrors_are_reported_on_every_hosted_cluster() {
        let problem = MirrorProblem {
            kind: MirrorKind::Idms,
            name: "release".into(),
            message: "ImageDigestMirrorSet \"release\": spec.imageDigestMirrors[1].source: bad".into(),
        };
        let s = next_status(&hc(), &d(vec![problem]), &Outcome::Invalid(&[]), at(1));
        let c = condition(&s, conditions::VALID_MANAGEMENT_MIRRORS);
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", reasons::INVALID_MIRROR_ENTRIES)
        );
        assert!(
            c.message
                .contains("ImageDigestMirrorSet \"release\": spec.imageDigestMirrors[1].source"),
            "{}",
            c.message
        );
        let ok = next_status(&hc(), &d(Vec::new()), &Outcome::Invalid(&[]), at(1));
        assert_eq!(
            condition(&ok, conditions::VALID_MANAGEMENT_MIRRORS).status,
            "True"
        );
    }
}
