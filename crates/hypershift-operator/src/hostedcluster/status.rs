//! Step 5: the HostedCluster's status: conditions with upstream types where they exist, ours
//! otherwise, the ignition endpoint, and where the release image came from. Written only when it
//! changes, so a reconcile that changes nothing causes no watch event; a condition's
//! `lastTransitionTime` moves only when its status does.

use hypershift_api::conditions::{self, reasons};
use hypershift_api::hosted_cluster::{HostedCluster, HostedClusterStatus, ReleaseImageSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource as _, ResourceExt as _};
use serde_json::json;

use super::dereference::Dereferenced;
use super::error::Error;
use super::validate::{Invalid, ValidatedHostedCluster};
use crate::context::Context;

/// How the reconcile went, for the status.
#[derive(Debug)]
pub enum Outcome<'a> {
    Invalid(&'a [Invalid]),
    Applied(&'a ValidatedHostedCluster),
    ApplyFailed(&'a ValidatedHostedCluster, &'a Error),
}

struct Wanted {
    type_: &'static str,
    status: bool,
    reason: &'static str,
    message: String,
}

fn wanted(d: &Dereferenced, outcome: &Outcome<'_>) -> Vec<Wanted> {
    let invalid: &[Invalid] = match outcome {
        Outcome::Invalid(p) => p,
        _ => &[],
    };
    vec![
        validity(
            invalid,
            conditions::VALID_CONFIGURATION,
            "Configuration passes validation",
        ),
        validity(invalid, conditions::VALID_RELEASE_IMAGE, "Release image is valid"),
        release_resolved(d),
        reconciliation(outcome),
        availability(
            conditions::IGNITION_ENDPOINT_AVAILABLE,
            d.ignition_server_available,
            "Ignition server",
        ),
        availability(
            conditions::AVAILABLE,
            d.control_plane_operator_available,
            "Control plane operator",
        ),
    ]
}

/// True unless some problem fails `type_`; then False with the first problem's reason and every
/// problem's message.
fn validity(invalid: &[Invalid], type_: &'static str, ok: &str) -> Wanted {
    let found: Vec<&Invalid> = invalid.iter().filter(|p| p.condition == type_).collect();
    match found.first() {
        Some(first) => Wanted {
            type_,
            status: false,
            reason: first.reason,
            message: found
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        },
        None => Wanted {
            type_,
            status: true,
            reason: reasons::AS_EXPECTED,
            message: ok.to_owned(),
        },
    }
}

fn release_resolved(d: &Dereferenced) -> Wanted {
    let type_ = conditions::RELEASE_IMAGE_RESOLVED;
    match &d.release {
        Some(Ok(served)) => Wanted {
            type_,
            status: true,
            reason: reasons::AS_EXPECTED,
            message: format!(
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
        },
        Some(Err(e)) => Wanted {
            type_,
            status: false,
            reason: reasons::LOOKUP_FAILED,
            message: e.to_string(),
        },
        None => Wanted {
            type_,
            status: false,
            reason: reasons::INVALID_CONFIGURATION,
            message: "not looked up: the release image or the pull secret is invalid".into(),
        },
    }
}

fn reconciliation(outcome: &Outcome<'_>) -> Wanted {
    let type_ = conditions::RECONCILIATION_SUCCEEDED;
    match outcome {
        Outcome::Applied(_) => Wanted {
            type_,
            status: true,
            reason: reasons::RECONCILIATION_SUCCEEDED,
            message: "Reconciliation completed successfully".into(),
        },
        Outcome::ApplyFailed(_, e) => Wanted {
            type_,
            status: false,
            reason: reasons::RECONCILIATION_ERROR,
            message: e.to_string(),
        },
        Outcome::Invalid(p) => Wanted {
            type_,
            status: false,
            reason: reasons::RECONCILIATION_ERROR,
            message: p
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
}

fn availability(type_: &'static str, available: Option<bool>, what: &str) -> Wanted {
    match available {
        Some(true) => Wanted {
            type_,
            status: true,
            reason: reasons::AS_EXPECTED,
            message: format!("{what} deployment is available"),
        },
        Some(false) => Wanted {
            type_,
            status: false,
            reason: reasons::WAITING_FOR_AVAILABLE,
            message: format!("{what} deployment is not yet available"),
        },
        None => Wanted {
            type_,
            status: false,
            reason: reasons::NOT_FOUND,
            message: format!("{what} deployment not found"),
        },
    }
}

/// The conditions to write: `wanted` merged with `existing` (times kept when nothing changed).
fn merge(
    existing: &[Condition],
    wanted: Vec<Wanted>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| !wanted.iter().any(|w| w.type_ == c.type_))
        .cloned()
        .collect();
    for w in wanted {
        let status = if w.status { "True" } else { "False" };
        let previous = existing.iter().find(|c| c.type_ == w.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == status => p.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: w.type_.to_owned(),
            status: status.to_owned(),
            reason: w.reason.to_owned(),
            message: w.message,
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
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
    let conditions = merge(
        &current.conditions,
        wanted(d, outcome),
        hc.metadata.generation,
        Timestamp::now(),
    );
    let ignition_endpoint = match outcome {
        Outcome::Applied(v) | Outcome::ApplyFailed(v, _) => Some(v.ignition_endpoint.clone()),
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
    let next = HostedClusterStatus {
        conditions,
        ignition_endpoint,
        release_image_source,
        other: current.other.clone(),
    };
    if next == current {
        return Ok(());
    }
    for c in &next.conditions {
        let was_false_with_same_message = current
            .conditions
            .iter()
            .any(|p| p.type_ == c.type_ && p.status == "False" && p.message == c.message);
        if c.status == "False"
            && c.reason != reasons::WAITING_FOR_AVAILABLE
            && c.reason != reasons::NOT_FOUND
            && !was_false_with_same_message
        {
            publish_warning(ctx, hc, &c.reason, &c.message).await;
        }
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

/// A Warning event on the HostedCluster (failures to publish are logged, never fatal).
pub async fn publish_warning(ctx: &Context, hc: &HostedCluster, reason: &str, message: &str) {
    let event = Event {
        type_: EventType::Warning,
        reason: reason.to_owned(),
        note: Some(message.chars().take(1024).collect()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &hc.object_ref(&())).await {
        tracing::warn!(error = %e, hc = %hc.name_any(), "cannot publish an event");
    }
}
