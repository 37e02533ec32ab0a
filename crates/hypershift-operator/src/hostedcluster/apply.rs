//! Step 4: applies the built objects, in an order that never starts a pod before what it mounts,
//! and deletes owned objects that are no longer rendered. Server-side apply with the operator's
//! field manager; nothing here decides content.

use std::marker::PhantomData;

use hypershift_api::names;
use hypershift_api::openshift::Route;
use k8s_openapi::api::core::v1::ConfigMap;

use super::build::{Applied, ControlPlaneResources, Prepared, Workload, owned_selector};
use super::error::Error;
use crate::context::Context;

/// Applies everything; the struct is destructured without `..`, so a new resource field does
/// not compile until it is applied here.
pub async fn apply(
    ctx: &Context,
    resources: ControlPlaneResources<Prepared>,
) -> Result<ControlPlaneResources<Applied>, Error> {
    let ControlPlaneResources {
        namespace,
        pull_secret,
        registry_ca_bundle,
        user_ca_bundle,
        ignition_ca,
        ignition_serving_cert,
        hosted_control_plane,
        control_plane_operator,
        ignition_server,
        ignition_service,
        ignition_route,
        state: PhantomData,
    } = resources;
    let a = &ctx.applier;
    // 1. The namespace everything else lives in.
    let namespace = a.apply_cluster(&namespace).await?;
    let cp_namespace = namespace.metadata.name.clone().unwrap_or_default();
    // 2. Identities.
    for w in [&control_plane_operator, &ignition_server] {
        a.apply(&w.service_account).await?;
        a.apply(&w.role).await?;
        a.apply(&w.role_binding).await?;
    }
    // 3. Secrets and config maps the pods mount; stale bundles (flag or spec removed) go.
    let pull_secret = a.apply(&pull_secret).await?;
    let ignition_ca = a.apply(&ignition_ca).await?;
    let ignition_serving_cert = a.apply(&ignition_serving_cert).await?;
    let mut keep = Vec::new();
    let registry_ca_bundle = match registry_ca_bundle {
        Some(cm) => {
            keep.push(names::REGISTRY_CA_BUNDLE);
            Some(a.apply(&cm).await?)
        }
        None => None,
    };
    let user_ca_bundle = match user_ca_bundle {
        Some(cm) => {
            keep.push(names::USER_CA_BUNDLE);
            Some(a.apply(&cm).await?)
        }
        None => None,
    };
    a.delete_orphans::<ConfigMap>(&cp_namespace, &owned_selector(), &keep)
        .await?;
    // 4. The control plane's spec, for the control-plane-operator.
    let hosted_control_plane = a.apply(&hosted_control_plane).await?;
    // 5. Services and Routes (a Route no longer wanted goes), then the Deployments last.
    let ignition_service = a.apply(&ignition_service).await?;
    let ignition_route = if let Some(route) = ignition_route {
        Some(a.apply(&route).await?)
    } else {
        if ctx.defaults.route_api {
            a.delete_orphans::<Route>(&cp_namespace, &owned_selector(), &[])
                .await?;
        }
        None
    };
    let control_plane_operator = apply_workload_deployment(ctx, control_plane_operator).await?;
    let ignition_server = apply_workload_deployment(ctx, ignition_server).await?;
    Ok(ControlPlaneResources {
        namespace,
        pull_secret,
        registry_ca_bundle,
        user_ca_bundle,
        ignition_ca,
        ignition_serving_cert,
        hosted_control_plane,
        control_plane_operator,
        ignition_server,
        ignition_service,
        ignition_route,
        state: PhantomData,
    })
}

async fn apply_workload_deployment(ctx: &Context, w: Workload) -> Result<Workload, Error> {
    Ok(Workload {
        deployment: ctx.applier.apply(&w.deployment).await?,
        ..w
    })
}
