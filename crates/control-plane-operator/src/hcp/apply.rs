//! Writing the workloads (server-side apply) and pruning the ones no row renders any more.

use std::collections::BTreeMap;

use hypershift_support::meta::managed_by_selector;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::ConfigMap;

use super::Context;
use super::build::Workload;
use super::error::Error;

/// Applies `workloads`; returns each one's availability as the apply answered it.
pub async fn apply(ctx: &Context, workloads: &[Workload]) -> Result<BTreeMap<String, bool>, Error> {
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
    let keep: Vec<&str> = workloads.iter().map(Workload::name).collect();
    let selector = managed_by_selector(crate::FIELD_MANAGER);
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
