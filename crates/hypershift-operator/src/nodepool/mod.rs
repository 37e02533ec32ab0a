//! The NodePool reconciler: what a node needs to fetch its Ignition payload.
//!
//! For each NodePool, in the control-plane namespace, a token Secret `token-<np>-<hash>` that
//! the ignition server serves payloads for (token, release image, compressed config, hashes), and
//! in the NodePool's namespace a user-data Secret `user-data-<np>-<hash>` holding the pointer
//! Ignition config (ignition-server URL, its CA, the bearer token) nodes boot with.
//! `<hash>` is the config hash: a change of the data-plane mirrors, the NodePool's config
//! ConfigMaps, its release or the pull secret gives new Secrets, and the old token expires two
//! hours later (upstream's behaviour, spec/olm-dataplane-ignition.md C.4–C.6).
//!
//! Where we differ from upstream: the operator rotates the token itself (after 5.5 hours the
//! token becomes `old_token`, still accepted, and a new one is written; the user data follows),
//! so the ignition server only reads Secrets; and the config is rendered here from
//! `spec.imageContentSources` and the NodePool's ConfigMaps, hashed with the release *image*
//! (no lookup needed) instead of the release version.

mod payload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use hypershift_api::conditions::{self, reasons};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_api::node_pool::NodePool;
use hypershift_support::apply::delete_if_present;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Resource as _, ResourceExt as _};
use serde_json::json;
use tracing::{instrument, warn};

use crate::context::Context;
pub use payload::{compress_and_encode, config_hash, hash_simple, pointer_config};

/// The token Secret's annotations and keys (upstream's).
pub const IGNITION_CONFIG_ANNOTATION: &str = "hypershift.openshift.io/ignition-config";
pub const NODE_POOL_ANNOTATION: &str = "hypershift.openshift.io/nodePool";
pub const TOKEN_GENERATION_ANNOTATION: &str = "hypershift.openshift.io/last-token-generation-time";
pub const TOKEN_EXPIRATION_ANNOTATION: &str = "hypershift.openshift.io/ignition-token-expiration-timestamp";
pub const UPGRADE_TYPE_ANNOTATION: &str = "hypershift.openshift.io/node-pool-upgrade-type";
/// Label selecting a NodePool's Secrets (the name; the namespace is that of its HostedCluster).
pub const NODE_POOL_LABEL: &str = "hypershift.openshift.io/nodepool-name";
const FINALIZER: &str = "hypershift.openshift.io/nodepool-finalizer";

/// A token is rotated after this long (half of its 11 hours of validity).
const ROTATE_AFTER: Duration = Duration::from_mins(330);
/// An outdated token is still accepted this long.
const OUTDATED_GRACE: Duration = Duration::from_hours(2);
const RETRY: Duration = Duration::from_secs(15);

/// Why a NodePool reconcile could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Apply(#[from] hypershift_support::apply::ApplyError),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube_api",
            Self::Apply(_) => "apply",
            Self::Finalizer(_) => "finalizer",
        }
    }
}

/// Runs the controller.
pub async fn run(ctx: Arc<Context>) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<NodePool>::all(client.clone()), watcher::Config::default())
        .with_config(controller::Config::default().concurrency(crate::MAX_CONCURRENT_RECONCILES));
    let store = controller.store();
    controller
        .watches(
            Api::<HostedCluster>::all(client.clone()),
            watcher::Config::default(),
            move |hc: HostedCluster| {
                let (ns, name) = (hc.namespace().unwrap_or_default(), hc.name_any());
                store
                    .state()
                    .into_iter()
                    .filter(|np| {
                        np.namespace().as_deref() == Some(ns.as_str()) && np.spec.cluster_name == name
                    })
                    .map(|np| ObjectRef::from_obj(&*np))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            Api::<Secret>::all(client),
            watcher::Config::default().labels(NODE_POOL_LABEL),
            |s: Secret| {
                let owner = s.annotations().get(NODE_POOL_ANNOTATION)?;
                let (ns, name) = owner.split_once('/')?;
                Some(ObjectRef::new(name).within(ns))
            },
        )
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "nodepool controller event");
            }
        })
        .await;
}

#[instrument(skip(np, ctx), fields(np = %np.name_any(), ns = %np.namespace().unwrap_or_default()))]
async fn reconcile(np: Arc<NodePool>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.node_pool_metrics.start();
    let api: Api<NodePool> = Api::namespaced(ctx.client.clone(), &np.namespace().unwrap_or_default());
    finalizer(&api, FINALIZER, np, |event| async {
        match event {
            FinalizerEvent::Apply(np) => reconcile_apply(&np, &ctx).await,
            FinalizerEvent::Cleanup(np) => cleanup(&np, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    })
}

/// What stops a NodePool from getting its Secrets, as a condition message.
struct Waiting(String);

async fn reconcile_apply(np: &NodePool, ctx: &Context) -> Result<Action, Error> {
    let namespace = np.namespace().unwrap_or_default();
    let hcs: Api<HostedCluster> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(hc) = hcs.get_opt(&np.spec.cluster_name).await? else {
        return wait(
            ctx,
            np,
            Waiting(format!(
                "HostedCluster {namespace}/{} not found",
                np.spec.cluster_name
            )),
        )
        .await;
    };
    let Some(endpoint) = hc.status.as_ref().and_then(|s| s.ignition_endpoint.clone()) else {
        return wait(ctx, np, Waiting("ignition endpoint is not set".into())).await;
    };
    let cp_namespace = names::control_plane_namespace(&namespace, &hc.name_any());
    let cp_secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &cp_namespace);
    let ca = cp_secrets
        .get_opt(names::IGNITION_SERVER_CA)
        .await?
        .and_then(|s| s.data)
        .and_then(|mut d| d.remove("tls.crt"))
        .map(|b| b.0);
    let Some(ca) = ca else {
        return wait(
            ctx,
            np,
            Waiting(format!(
                "CA Secret {cp_namespace}/{} is missing tls.crt",
                names::IGNITION_SERVER_CA
            )),
        )
        .await;
    };
    let config = match payload::raw_config(ctx, np, &hc).await? {
        Ok(config) => config,
        Err(message) => return wait(ctx, np, Waiting(message)).await,
    };
    let trust_bundle = hc
        .spec
        .additional_trust_bundle
        .as_ref()
        .map(|b| b.name.clone())
        .unwrap_or_default();
    let hash = config_hash(
        &config,
        &np.spec.release.image,
        &hc.spec.pull_secret.name,
        &trust_bundle,
    );
    let now = Timestamp::now();

    // The token Secret: created once, rotated after ROTATE_AFTER, never regenerated otherwise.
    let token_name = names::token_secret(&np.name_any(), &hash);
    let existing = cp_secrets.get_opt(&token_name).await?;
    let (token, old_token, generated) = token_state(existing.as_ref(), now);
    let token_secret = token_secret(
        np,
        &cp_namespace,
        &token_name,
        &config,
        &hash,
        (&token, old_token.as_deref(), generated),
    );
    ctx.applier.apply(&token_secret).await?;
    let mut next_check = rotation_due(generated, now);

    next_check = next_check.min(expire_outdated_tokens(&cp_secrets, np, &token_name, now).await?);

    // The user data nodes boot with; outdated ones go at once (nothing boots from them later).
    let user_data_name = names::user_data_secret(&np.name_any(), &hash);
    let user_data = user_data_secret(
        np,
        &user_data_name,
        &pointer_config(&endpoint, &token, &owner(np), &hash, &ca),
    );
    ctx.applier.apply(&user_data).await?;
    let np_secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{NODE_POOL_LABEL}={}", np.name_any());
    for old in np_secrets.list(&ListParams::default().labels(&selector)).await? {
        if old.name_any() != user_data_name && old.annotations().get(NODE_POOL_ANNOTATION) == Some(&owner(np))
        {
            delete_secret(&np_secrets, &old.name_any()).await?;
        }
    }

    let condition = payload_condition(existing.as_ref());
    write_condition(ctx, np, condition).await?;
    Ok(Action::requeue(next_check.max(Duration::from_secs(1))))
}

/// Stamps older token Secrets of `np` with an expiry two hours ahead, deletes expired ones;
/// returns when to look again.
async fn expire_outdated_tokens(
    cp_secrets: &Api<Secret>,
    np: &NodePool,
    current: &str,
    now: Timestamp,
) -> Result<Duration, Error> {
    let mut next_check = ROTATE_AFTER;
    let selector = format!("{NODE_POOL_LABEL}={}", np.name_any());
    for old in cp_secrets.list(&ListParams::default().labels(&selector)).await? {
        if old.name_any() == current || old.annotations().get(NODE_POOL_ANNOTATION) != Some(&owner(np)) {
            continue;
        }
        match old
            .annotations()
            .get(TOKEN_EXPIRATION_ANNOTATION)
            .and_then(|t| t.parse::<Timestamp>().ok())
        {
            Some(expiry) if expiry <= now => delete_secret(cp_secrets, &old.name_any()).await?,
            Some(expiry) => next_check = next_check.min(until(expiry, now)),
            None => {
                let expiry = now
                    .checked_add(SignedDuration::try_from(OUTDATED_GRACE).unwrap_or_default())
                    .unwrap_or(now);
                let patch =
                    json!({"metadata": {"annotations": {TOKEN_EXPIRATION_ANNOTATION: expiry.to_string()}}});
                cp_secrets
                    .patch(&old.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                next_check = next_check.min(OUTDATED_GRACE);
            }
        }
    }
    Ok(next_check)
}

async fn delete_secret(api: &Api<Secret>, name: &str) -> Result<(), kube::Error> {
    delete_if_present(api, name, &DeleteParams::default())
        .await
        .map(drop)
}

fn owner(np: &NodePool) -> String {
    format!("{}/{}", np.namespace().unwrap_or_default(), np.name_any())
}

fn until(t: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(t.duration_since(now)).unwrap_or_default()
}

fn rotation_due(generated: Timestamp, now: Timestamp) -> Duration {
    let due = generated
        .checked_add(SignedDuration::try_from(ROTATE_AFTER).unwrap_or_default())
        .unwrap_or(now);
    until(due, now)
}

/// `(token, old_token, generated at)`: the existing ones, rotated when due, or new ones.
fn token_state(existing: Option<&Secret>, now: Timestamp) -> (String, Option<String>, Timestamp) {
    let data = existing.and_then(|s| s.data.as_ref());
    let text = |k: &str| {
        data.and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    let generated = existing
        .and_then(|s| s.annotations().get(TOKEN_GENERATION_ANNOTATION).cloned())
        .and_then(|t| t.parse::<Timestamp>().ok());
    match (text("token"), generated) {
        (Some(token), Some(at)) if rotation_due(at, now) > Duration::ZERO => (token, text("old_token"), at),
        (Some(token), _) => (uuid::Uuid::new_v4().to_string(), Some(token), now),
        (None, _) => (uuid::Uuid::new_v4().to_string(), None, now),
    }
}

fn token_secret(
    np: &NodePool,
    cp_namespace: &str,
    name: &str,
    config: &str,
    hash: &str,
    token: (&str, Option<&str>, Timestamp),
) -> Secret {
    let (token, old_token, generated) = token;
    let mut data = BTreeMap::from([
        ("token".to_owned(), ByteString(token.as_bytes().to_vec())),
        (
            "release".to_owned(),
            ByteString(np.spec.release.image.as_bytes().to_vec()),
        ),
        (
            "config".to_owned(),
            ByteString(compress_and_encode(config.as_bytes()).into_bytes()),
        ),
        ("config-hash".to_owned(), ByteString(hash.as_bytes().to_vec())),
    ]);
    if let Some(old) = old_token {
        data.insert("old_token".to_owned(), ByteString(old.as_bytes().to_vec()));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(cp_namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (
                    names::MANAGED_BY_LABEL.to_owned(),
                    names::HO_FIELD_MANAGER.to_owned(),
                ),
                (NODE_POOL_LABEL.to_owned(), np.name_any()),
            ])),
            annotations: Some(BTreeMap::from([
                (IGNITION_CONFIG_ANNOTATION.to_owned(), "true".to_owned()),
                (NODE_POOL_ANNOTATION.to_owned(), owner(np)),
                (TOKEN_GENERATION_ANNOTATION.to_owned(), generated.to_string()),
                (UPGRADE_TYPE_ANNOTATION.to_owned(), "Replace".to_owned()),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

fn user_data_secret(np: &NodePool, name: &str, value: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: np.namespace(),
            labels: Some(BTreeMap::from([
                (
                    names::MANAGED_BY_LABEL.to_owned(),
                    names::HO_FIELD_MANAGER.to_owned(),
                ),
                (NODE_POOL_LABEL.to_owned(), np.name_any()),
            ])),
            annotations: Some(BTreeMap::from([(NODE_POOL_ANNOTATION.to_owned(), owner(np))])),
            owner_references: np.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([
            // Upstream stores base64("true") here: the bytes of `dHJ1ZQ==`.
            ("disableTemplating".to_owned(), ByteString(b"dHJ1ZQ==".to_vec())),
            ("value".to_owned(), ByteString(value.as_bytes().to_vec())),
        ])),
        ..Secret::default()
    }
}

/// `ValidGeneratedPayload` from the token Secret's `reason`/`message` (written by the ignition
/// server once it generated a payload), as upstream derives it.
fn payload_condition(token: Option<&Secret>) -> (String, String, String) {
    let data = token.and_then(|s| s.data.as_ref());
    let text = |k: &str| {
        data.and_then(|d| d.get(k))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    match text("reason") {
        None => (
            "Unknown".into(),
            String::new(),
            "Unable to get status data from token secret".into(),
        ),
        Some(reason) if reason == reasons::AS_EXPECTED => {
            ("True".into(), reason, text("message").unwrap_or_default())
        }
        Some(reason) => ("False".into(), reason, text("message").unwrap_or_default()),
    }
}

async fn wait(ctx: &Context, np: &NodePool, Waiting(message): Waiting) -> Result<Action, Error> {
    write_condition(ctx, np, ("False".into(), "WaitingForInputs".into(), message)).await?;
    // Watches on HostedClusters and token Secrets bring it back; the timer is a safety net.
    Ok(Action::requeue(Duration::from_mins(5)))
}

async fn write_condition(
    ctx: &Context,
    np: &NodePool,
    (status, reason, message): (String, String, String),
) -> Result<(), Error> {
    let existing = np
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let previous = existing
        .iter()
        .find(|c| c.type_ == conditions::VALID_GENERATED_PAYLOAD);
    if previous.is_some_and(|p| {
        p.status == status
            && p.reason == reason
            && p.message == message
            && p.observed_generation == np.metadata.generation
    }) {
        return Ok(());
    }
    let last_transition_time = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(Timestamp::now()),
    };
    let mut conditions: Vec<Condition> = existing
        .into_iter()
        .filter(|c| c.type_ != conditions::VALID_GENERATED_PAYLOAD)
        .collect();
    conditions.push(Condition {
        type_: conditions::VALID_GENERATED_PAYLOAD.to_owned(),
        status,
        reason,
        message,
        observed_generation: np.metadata.generation,
        last_transition_time,
    });
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
    let api: Api<NodePool> = Api::namespaced(ctx.client.clone(), &np.namespace().unwrap_or_default());
    let patch = json!({"status": {"conditions": conditions}});
    api.patch_status(&np.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn cleanup(np: &NodePool, ctx: &Context) -> Result<Action, Error> {
    let namespace = np.namespace().unwrap_or_default();
    let cp_namespace = names::control_plane_namespace(&namespace, &np.spec.cluster_name);
    let selector = format!("{NODE_POOL_LABEL}={}", np.name_any());
    for ns in [cp_namespace, namespace] {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
        for s in api.list(&ListParams::default().labels(&selector)).await? {
            if s.annotations().get(NODE_POOL_ANNOTATION) == Some(&owner(np)) {
                delete_secret(&api, &s.name_any()).await?;
            }
        }
    }
    Ok(Action::await_change())
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "kube's Controller passes the object and context by value"
)]
fn error_policy(np: Arc<NodePool>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.node_pool_metrics.failed(error.category());
    warn!(np = %np.name_any(), category = error.category(), error = %error, "reconcile failed; retrying");
    Action::requeue(RETRY)
}

/// ConfigMaps named by a NodePool, read for its config (used by `payload`).
pub(crate) async fn config_maps(
    ctx: &Context,
    namespace: &str,
    names: &[String],
) -> Result<Vec<Result<ConfigMap, String>>, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = Vec::new();
    for name in names {
        out.push(
            api.get_opt(name)
                .await?
                .ok_or_else(|| format!("configmap {name:?} not found")),
        );
    }
    Ok(out)
}
