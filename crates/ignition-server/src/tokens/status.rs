//! Reporting back on the token Secret: the [`PayloadStatus`] contract (`reason`, `message`),
//! written only when it changes, and the `ignition-reached` annotation.

use hypershift_support::contract::{PayloadStatus, keys};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::Context;
use super::error::Error;

/// Writes `status` on `secret` unless it already says that.
pub async fn report(ctx: &Context, secret: &Secret, status: &PayloadStatus) -> Result<(), Error> {
    if PayloadStatus::from_secret(secret).as_ref() == Some(status) {
        return Ok(());
    }
    let name = secret.metadata.name.clone().unwrap_or_default();
    Api::<Secret>::namespaced(ctx.client.clone(), &ctx.namespace)
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(status.to_merge_patch()),
        )
        .await
        .map_err(|source| Error::Report { secret: name, source })?;
    Ok(())
}

/// Marks token Secret `name` as reached by a node.
pub async fn reached(client: &kube::Client, namespace: &str, name: &str) -> Result<(), kube::Error> {
    let patch = serde_json::json!({"metadata": {"annotations": {keys::IGNITION_REACHED_ANNOTATION: "True"}}});
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(|_| ())
}
