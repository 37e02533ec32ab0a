//! The HostedControlPlane's status: the release lookup, one condition per component, `Available`,
//! and where the release came from with the management MirrorSet's hash. Written only when it
//! changes.
//!
//! Availability is read from the workloads' own status, which only something that runs them
//! writes: under devcluster's process runner only our binaries run, so the components report
//! `WaitingForAvailable` there, truthfully; under its kubelet (or a real cluster) they run. A
//! workload whose pod cannot get an image has the container, the image and the runtime's message
//! in its condition and in `Available`.

use std::collections::BTreeMap;

use hypershift_api::hosted_cluster::ReleaseImageSource;
use hypershift_api::hosted_control_plane::{HostedControlPlane, HostedControlPlaneStatus};
use hypershift_support::conditions::{Wanted, merge};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};

use super::Context;
use super::dereference::catalogs::{CatalogInputs, Resolution};
use super::dereference::{Dereferenced, release_image};
use super::error::Error;
use super::validate::Invalid;
use crate::catalogs::CATALOGS;
use crate::components::COMPONENTS;

/// How the reconcile ended.
pub enum Outcome<'a> {
    /// Rendered and applied; each workload's availability, and what was rendered from.
    Applied(&'a BTreeMap<String, bool>, &'a super::validate::ValidControlPlane),
    /// Nothing rendered.
    Invalid(&'a Invalid),
}

/// The conditions for `outcome`.
pub fn wanted(ctx: &Context, d: &Dereferenced, outcome: &Outcome<'_>) -> Vec<Wanted> {
    let mut out = Vec::new();
    out.push(match outcome {
        Outcome::Invalid(i) => Wanted::falsy("ValidReleaseInfo", i.reason, i.message.clone()),
        Outcome::Applied(_, cp) => Wanted::truthy(
            "ValidReleaseInfo",
            "AsExpected",
            format!(
                "release {} served by {} ({}); management mirrors {}",
                cp.release_version,
                cp.release_pulled_from,
                if cp.release_via_mirror {
                    "a mirror"
                } else {
                    "the source"
                },
                ctx.mirror_set_hash
            ),
        ),
    });
    if let Outcome::Applied(_, cp) = outcome {
        let set = &cp.data_plane_mirrors;
        out.push(Wanted::truthy(
            "ValidDataPlaneMirrors",
            "AsExpected",
            if set.is_empty() {
                "no spec.imageContentSources: no guest mirrors".to_owned()
            } else {
                format!(
                    "{} rules ({}) in ConfigMap {}",
                    set.rules().len(),
                    set.content_hash(),
                    super::build::GUEST_MIRRORS
                )
            },
        ));
    } else if let Outcome::Invalid(i) = outcome
        && i.reason == "InvalidImageContentSources"
    {
        out.push(Wanted::falsy(
            "ValidDataPlaneMirrors",
            i.reason,
            i.message.clone(),
        ));
    }
    let available = match outcome {
        Outcome::Applied(a, _) => (*a).clone(),
        Outcome::Invalid(_) => d.available.clone(),
    };
    out.extend(component_conditions(d, &available));
    out.extend(catalog_conditions(ctx, d, &available));
    out.push(match outcome {
        Outcome::Applied(..) => Wanted::truthy(
            "ReconciliationSucceeded",
            "ReconciliatonSucceeded",
            "Reconciliation completed successfully",
        ),
        Outcome::Invalid(i) => Wanted::falsy("ReconciliationSucceeded", i.reason, i.message.clone()),
    });
    out
}

/// One condition per component and `Available`, each naming an image its pod cannot get.
fn component_conditions(d: &Dereferenced, available: &BTreeMap<String, bool>) -> Vec<Wanted> {
    let mut out = Vec::new();
    let mut up = 0;
    for c in COMPONENTS {
        out.push(match available.get(c.name) {
            Some(true) => {
                up += 1;
                Wanted::truthy(c.condition, "AsExpected", format!("{} is available", c.name))
            }
            Some(false) => Wanted::falsy(
                c.condition,
                "WaitingForAvailable",
                match d.image_problems.get(c.name) {
                    Some(problem) => format!("{} has no available replica: {problem}", c.name),
                    None => format!("{} has no available replica", c.name),
                },
            ),
            None => Wanted::falsy(c.condition, "NotFound", format!("{} is not rendered", c.name)),
        });
    }
    out.push(if up == COMPONENTS.len() {
        Wanted::truthy(
            "Available",
            "AsExpected",
            "every control-plane component is available",
        )
    } else {
        let waiting: Vec<&str> = COMPONENTS
            .iter()
            .filter(|c| available.get(c.name) != Some(&true))
            .map(|c| c.name)
            .collect();
        // An image that cannot be pulled is named here too (the HostedCluster shows this one).
        let problems: String = waiting
            .iter()
            .filter_map(|w| d.image_problems.get(*w).map(|p| format!("; {w}: {p}")))
            .collect();
        Wanted::falsy(
            "Available",
            "WaitingForAvailable",
            format!(
                "{up} of {} components available; waiting for {}{problems}",
                COMPONENTS.len(),
                waiting.join(", ")
            ),
        )
    });
    out
}

/// Whether the catalogs' configuration is valid (and how their images are chosen).
pub const VALID_OLM_CATALOG_CONFIGURATION: &str = "ValidOLMCatalogConfiguration";
/// Whether each catalog's image was found.
pub const OLM_CATALOG_IMAGES_RESOLVED: &str = "OLMCatalogImagesResolved";
/// Whether the catalog Deployments are available.
pub const OLM_CATALOGS_AVAILABLE: &str = "OLMCatalogsAvailable";

/// The OLM catalogs' conditions; none when the release was not read (nothing was decided).
fn catalog_conditions(ctx: &Context, d: &Dereferenced, available: &BTreeMap<String, bool>) -> Vec<Wanted> {
    let Some(inputs) = &d.catalogs else {
        return Vec::new();
    };
    let guest = "spec.olmCatalogPlacement is guest: the catalogs run in the guest cluster, none here";
    match inputs {
        CatalogInputs::Invalid { reason, message } => vec![Wanted::falsy(
            VALID_OLM_CATALOG_CONFIGURATION,
            reason,
            format!("{message}; the catalogs are left as they were"),
        )],
        CatalogInputs::Guest => absent("GuestPlacement", guest),
        CatalogInputs::Disabled => absent(
            "DefaultSourcesDisabled",
            "spec.configuration.operatorhub.disableAllDefaultSources is true: no default catalog is rendered",
        ),
        CatalogInputs::Pinned(_) => vec![
            Wanted::truthy(
                VALID_OLM_CATALOG_CONFIGURATION,
                "CatalogImageAnnotations",
                format!(
                    "the {} catalog Deployments run the images the annotations pin by digest; no ImageStream",
                    CATALOGS.len()
                ),
            ),
            Wanted::truthy(
                OLM_CATALOG_IMAGES_RESOLVED,
                "CatalogImageAnnotations",
                "pinned by annotation: nothing to look up",
            ),
            catalogs_available(
                available,
                &CATALOGS
                    .iter()
                    .map(crate::catalogs::Catalog::deployment)
                    .collect::<Vec<_>>(),
            ),
        ],
        CatalogInputs::Resolved(resolved) => resolved_conditions(ctx, resolved, available),
    }
}

/// The conditions for catalogs looked up from the release version.
fn resolved_conditions(
    ctx: &Context,
    resolved: &BTreeMap<&'static str, Resolution>,
    available: &BTreeMap<String, bool>,
) -> Vec<Wanted> {
    let mode = if ctx.image_stream_api {
        Wanted::truthy(
            VALID_OLM_CATALOG_CONFIGURATION,
            "ImageStream",
            format!(
                "catalog images come through ImageStream {} (image.openshift.io is served)",
                super::build::CATALOGS_IMAGE_STREAM
            ),
        )
    } else {
        Wanted::truthy(
            VALID_OLM_CATALOG_CONFIGURATION,
            "ImageStreamAPIUnavailable",
            "the management cluster does not serve image.openshift.io/v1 ImageStreams: the catalog Deployments reference their images directly, by digest",
        )
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for (name, r) in resolved {
        match r {
            Resolution::Found { address, .. } => found.push(format!("{name} from {address}")),
            Resolution::NotFound { tried } => {
                missing.push(format!("{name} (tried {})", tried.join(", ")));
            }
            Resolution::Failed { error } => failed.push(format!("{name}: {error}")),
        }
    }
    let resolution = if missing.is_empty() && failed.is_empty() {
        Wanted::truthy(OLM_CATALOG_IMAGES_RESOLVED, "AsExpected", found.join("; "))
    } else {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("not found: {}", missing.join("; ")));
        }
        if !failed.is_empty() {
            parts.push(format!("lookup failed: {}", failed.join("; ")));
        }
        parts.push("those catalogs keep what they had".to_owned());
        if !found.is_empty() {
            parts.push(format!("found: {}", found.join("; ")));
        }
        Wanted::falsy(
            OLM_CATALOG_IMAGES_RESOLVED,
            if failed.is_empty() {
                "CatalogImageNotFound"
            } else {
                "CatalogLookupFailed"
            },
            parts.join("; "),
        )
    };
    let rendered = CATALOGS
        .iter()
        .filter(|c| matches!(resolved.get(c.name), Some(Resolution::Found { .. })))
        .map(crate::catalogs::Catalog::deployment)
        .collect::<Vec<_>>();
    vec![mode, resolution, catalogs_available(available, &rendered)]
}

/// The three catalog conditions when no catalog is rendered here, on purpose.
fn absent(reason: &str, message: &str) -> Vec<Wanted> {
    [
        VALID_OLM_CATALOG_CONFIGURATION,
        OLM_CATALOG_IMAGES_RESOLVED,
        OLM_CATALOGS_AVAILABLE,
    ]
    .into_iter()
    .map(|t| Wanted::truthy(t, reason, message))
    .collect()
}

fn catalogs_available(available: &BTreeMap<String, bool>, deployments: &[String]) -> Wanted {
    let waiting: Vec<&str> = deployments
        .iter()
        .filter(|d| available.get(*d) != Some(&true))
        .map(String::as_str)
        .collect();
    if deployments.is_empty() {
        Wanted::falsy(
            OLM_CATALOGS_AVAILABLE,
            "NotFound",
            "no catalog Deployment is rendered",
        )
    } else if waiting.is_empty() {
        Wanted::truthy(
            OLM_CATALOGS_AVAILABLE,
            "AsExpected",
            format!("{} catalog Deployments available", deployments.len()),
        )
    } else {
        Wanted::falsy(
            OLM_CATALOGS_AVAILABLE,
            "WaitingForAvailable",
            format!(
                "{} of {} catalog Deployments available; waiting for {}",
                deployments.len() - waiting.len(),
                deployments.len(),
                waiting.join(", ")
            ),
        )
    }
}

/// Writes the status for `outcome` when it differs from what is there.
pub async fn write(ctx: &Context, d: &Dereferenced, outcome: &Outcome<'_>) -> Result<(), Error> {
    let hcp: &HostedControlPlane = &d.hcp;
    let current = hcp.status.clone().unwrap_or_default();
    let conditions = merge(
        &current.conditions,
        &wanted(ctx, d, outcome),
        hcp.metadata.generation,
        Timestamp::now(),
    );
    let release_image_source = match &d.release {
        Ok(served) => Some(ReleaseImageSource {
            image: release_image(hcp).to_owned(),
            pulled_from: served.pulled_from.clone(),
            via_mirror: served.via_mirror,
            digest: served.digest.clone(),
            mirror_set_hash: ctx.mirror_set_hash.clone(),
        }),
        Err(_) => current.release_image_source.clone(),
    };
    let ready =
        matches!(outcome, Outcome::Applied(a, _) if COMPONENTS.iter().all(|c| a.get(c.name) == Some(&true)));
    let next = HostedControlPlaneStatus {
        ready,
        conditions,
        release_image_source,
        ..current.clone()
    };
    if next == current {
        return Ok(());
    }
    let patch = serde_json::json!({"status": next});
    Api::<HostedControlPlane>::namespaced(ctx.client.clone(), &ctx.namespace)
        .patch_status(
            hcp.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(Error::Status)?;
    Ok(())
}
