//! Writing the workloads and the catalogs' objects (server-side apply) and pruning the ones
//! nothing renders any more. When the catalogs stay as they are (a malformed annotation), none of
//! their objects is written or pruned.

use std::collections::BTreeMap;

use hypershift_api::openshift::ImageStream;
use hypershift_support::meta::managed_by_selector;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service};

use super::Context;
use super::build::{CatalogObjects, Workload};
use super::error::Error;

/// Applies `workloads` and the catalogs' objects; returns each Deployment's and StatefulSet's
/// availability as the apply answered it.
pub async fn apply(
    ctx: &Context,
    workloads: &[Workload],
    catalogs: Option<&CatalogObjects>,
) -> Result<BTreeMap<String, bool>, Error> {
    let mut available = BTreeMap::new();
    for w in workloads {
        let up = match w {
            Workload::Deployment(d) => {
                let applied = ctx.applier.apply(&**d).await?;
                applied.status.and_then(|s| s.available_replicas).unwrap_or(0) > 0
            }
            Workload::StatefulSet(s) => {
                let applied = ctx.applier.apply(&**s).await?;
                applied.status.and_then(|s| s.ready_replicas).unwrap_or(0) > 0
            }
        };
        available.insert(w.name().to_owned(), up);
    }
    let mut keep: Vec<String> = workloads.iter().map(|w| w.name().to_owned()).collect();
    let selector = managed_by_selector(crate::FIELD_MANAGER);
    match catalogs {
        Some(objects) => {
            for d in &objects.deployments {
                let applied = ctx.applier.apply(d).await?;
                let up = applied.status.and_then(|s| s.available_replicas).unwrap_or(0) > 0;
                available.insert(d.metadata.name.clone().unwrap_or_default(), up);
            }
            for s in &objects.services {
                ctx.applier.apply(s).await?;
            }
            let services = objects.service_names();
            let services: Vec<&str> = services.iter().map(String::as_str).collect();
            ctx.applier
                .delete_orphans::<Service>(&ctx.namespace, &selector, &services)
                .await?;
            if ctx.image_stream_api {
                let keep_stream: Vec<&str> = match &objects.image_stream {
                    Some(stream) => {
                        ctx.applier.apply(stream).await?;
                        vec![super::build::CATALOGS_IMAGE_STREAM]
                    }
                    None => Vec::new(),
                };
                ctx.applier
                    .delete_orphans::<ImageStream>(&ctx.namespace, &selector, &keep_stream)
                    .await?;
            }
            keep.extend(objects.deployment_names());
        }
        // Nothing of the catalogs is touched.
        None => keep.extend(
            crate::catalogs::CATALOGS
                .iter()
                .map(crate::catalogs::Catalog::deployment),
        ),
    }
    let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
    ctx.applier
        .delete_orphans::<Deployment>(&ctx.namespace, &selector, &keep)
        .await?;
    ctx.applier
        .delete_orphans::<StatefulSet>(&ctx.namespace, &selector, &keep)
        .await?;
    Ok(available)
}

/// Applies the guest mirrors ConfigMap, or deletes it when there are none.
pub async fn guest_mirrors(ctx: &Context, config_map: Option<&ConfigMap>) -> Result<(), Error> {
    let keep: Vec<&str> = match config_map {
        Some(cm) => {
            ctx.applier.apply(cm).await?;
            vec![super::build::GUEST_MIRRORS]
        }
        None => Vec::new(),
    };
    ctx.applier
        .delete_orphans::<ConfigMap>(&ctx.namespace, &managed_by_selector(crate::FIELD_MANAGER), &keep)
        .await?;
    Ok(())
}
