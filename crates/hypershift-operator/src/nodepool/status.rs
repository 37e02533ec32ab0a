//! Step 5: the NodePool's conditions (upstream's types): `ValidGeneratedPayload` from what the
//! ignition server reported on the token Secret (the [`PayloadStatus`] contract), and
//! `ReachedIgnitionEndpoint` from whether a node fetched the payload. Written only when they
//! change; a condition newly failing is also a Warning Event, except the waiting states.

use hypershift_api::conditions::{self, reasons};
use hypershift_api::node_pool::NodePool;
use hypershift_support::conditions::{Wanted, merge, newly_failing};
use hypershift_support::contract::{PayloadStatus, keys};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource as _, ResourceExt as _};
use serde_json::json;

use super::build::{Applied, NodePoolSecrets};
use super::error::Error;
use super::validate::{ValidatedNodePool, Waiting};
use crate::context::Context;

/// `ReachedIgnitionEndpoint` (upstream's).
pub const REACHED_IGNITION_ENDPOINT: &str = "ReachedIgnitionEndpoint";

/// How the reconcile went.
#[derive(Debug)]
pub enum Outcome<'a> {
    Waiting(&'a Waiting),
    Applied(&'a ValidatedNodePool, &'a NodePoolSecrets<Applied>),
}

const QUIET: &[&str] = &[
    reasons::WAITING_FOR_INPUTS,
    reasons::WAITING_FOR_IGNITION_SERVER,
    "IgnitionNotReached",
];

/// The conditions this controller owns, for `outcome`.
pub fn wanted(outcome: &Outcome<'_>) -> Vec<Wanted> {
    let payload = conditions::VALID_GENERATED_PAYLOAD;
    match outcome {
        Outcome::Waiting(Waiting::Inputs(m)) => {
            vec![Wanted::falsy(payload, reasons::WAITING_FOR_INPUTS, m.clone())]
        }
        Outcome::Waiting(Waiting::Config(m)) => {
            vec![Wanted::falsy(payload, reasons::INVALID_CONFIG, m.clone())]
        }
        Outcome::Applied(np, applied) => {
            // The token Secret as just applied: the apply answer carries the ignition server's
            // latest report and annotations.
            let token = &applied.token;
            let generated = match PayloadStatus::from_secret(token) {
                None => Wanted::unknown(
                    payload,
                    reasons::WAITING_FOR_IGNITION_SERVER,
                    format!(
                        "the ignition server has not reported on token Secret {}/{} yet",
                        np.control_plane_namespace, np.token.name
                    ),
                ),
                Some(s) if s.is_generated() => Wanted::truthy(payload, &s.reason, s.message),
                Some(PayloadStatus { reason, message }) => Wanted::falsy(payload, &reason, message),
            };
            let reached = if token
                .annotations()
                .contains_key(keys::IGNITION_REACHED_ANNOTATION)
            {
                Wanted::truthy(
                    REACHED_IGNITION_ENDPOINT,
                    reasons::AS_EXPECTED,
                    "a node fetched its payload",
                )
            } else {
                Wanted::falsy(
                    REACHED_IGNITION_ENDPOINT,
                    "IgnitionNotReached",
                    "no node has fetched the payload yet",
                )
            };
            vec![generated, reached]
        }
    }
}

/// The conditions to write (pure; `now` for transition times).
pub fn next_conditions(np: &NodePool, outcome: &Outcome<'_>, now: Timestamp) -> Vec<Condition> {
    let existing = np
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    merge(&existing, &wanted(outcome), np.metadata.generation, now)
}

/// Writes the conditions if they changed; Warning Events for new failures.
pub async fn write(ctx: &Context, np: &NodePool, outcome: &Outcome<'_>) -> Result<(), Error> {
    let existing = np
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let next = next_conditions(np, outcome, Timestamp::now());
    if next == existing {
        return Ok(());
    }
    let reference = np.object_ref(&());
    for c in newly_failing(&existing, &next, QUIET) {
        hypershift_support::events::warn(&ctx.recorder, &reference, &c.reason, &c.message).await;
    }
    let api: Api<NodePool> = Api::namespaced(ctx.client.clone(), &np.namespace().unwrap_or_default());
    let patch = json!({"status": {"conditions": next}});
    api.patch_status(&np.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(Error::Status)?;
    Ok(())
}
