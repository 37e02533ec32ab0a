//! Finding each OLM catalog's image: the annotations first, else the release version's default
//! address (through `olm-catalogs-is-registry-overrides`) probed through the management mirrors,
//! stepping back minor versions. Each catalog is probed on its own and concurrently; a 401 or a
//! manifest-unknown is "not found" for that catalog, not a failure of the control plane.
//!
//! Results are cached per catalog: a catalog found for 5 minutes, one not found for 1 minute
//! (keyed by the release version, the overrides and the pull secret's fingerprint), so a
//! reconcile does not walk four versions again. Failures (a registry down) are not cached here;
//! the release provider remembers them briefly.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hypershift_api::hosted_cluster::annotations;
use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_releaseinfo::{AttemptError, ImageRef, LookupError, PullSecret, ReleaseProvider as _};
use kube::ResourceExt as _;

use crate::catalogs::{self, CATALOGS, Catalog, Placement, SourceOverrides};
use crate::hcp::Context;

/// What the catalogs' annotations and lookups gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogInputs {
    /// `spec.olmCatalogPlacement: guest`.
    Guest,
    /// `spec.configuration.operatorhub.disableAllDefaultSources: true`: no default catalog.
    Disabled,
    /// An annotation or the placement is malformed: the catalogs stay as they are.
    Invalid { reason: &'static str, message: String },
    /// All four catalog-image annotations, by digest.
    Pinned(BTreeMap<&'static str, String>),
    /// Each catalog's default image as looked up.
    Resolved(BTreeMap<&'static str, Resolution>),
}

impl CatalogInputs {
    /// Whether some catalog's image was not found or its lookup failed: looked for again
    /// sooner than the resync (the image may be mirrored later, the registry come back).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Resolved(r) if r.values().any(|r| !matches!(r, Resolution::Found { .. })))
    }
}

/// One catalog's lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// `address` (a tag reference, after the overrides) exists and named `digest`.
    Found { address: String, digest: String },
    /// No version of it exists at any candidate (each address tried, in order).
    NotFound { tried: Vec<String> },
    /// A lookup failed for another reason (a registry down, a blocked source).
    Failed { error: String },
}

/// The placement and the overrides annotation, checked (pure): `None` for guest placement.
pub fn plan(hcp: &HostedControlPlane) -> Result<Option<SourceOverrides>, CatalogInputs> {
    let invalid = |reason, message| CatalogInputs::Invalid { reason, message };
    let placement = Placement::parse(hcp.spec.olm_catalog_placement.as_deref())
        .map_err(|m| invalid("InvalidOLMCatalogPlacement", m))?;
    if placement == Placement::Guest {
        return Ok(None);
    }
    hcp.annotations()
        .get(annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES)
        .map_or_else(|| Ok(SourceOverrides::default()), |v| SourceOverrides::parse(v))
        .map(Some)
        .map_err(|m| invalid("InvalidRegistryOverridesAnnotation", m))
}

/// `spec.configuration.operatorhub.disableAllDefaultSources` (upstream then renders no catalog).
pub fn default_sources_disabled(hcp: &HostedControlPlane) -> bool {
    hcp.spec
        .configuration
        .as_ref()
        .and_then(|c| c.pointer("/operatorhub/disableAllDefaultSources"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The catalogs' inputs for `hcp`, whose release is `release_version`.
pub async fn resolve(
    ctx: &Context,
    hcp: &HostedControlPlane,
    release_version: &str,
    pull: &PullSecret,
) -> CatalogInputs {
    let overrides = match plan(hcp) {
        Err(invalid) => return invalid,
        Ok(None) => return CatalogInputs::Guest,
        Ok(Some(overrides)) => overrides,
    };
    if default_sources_disabled(hcp) {
        return CatalogInputs::Disabled;
    }
    match catalogs::pinned_images(hcp.annotations()) {
        Err(message) => {
            return CatalogInputs::Invalid {
                reason: "InvalidCatalogImageAnnotations",
                message,
            };
        }
        Ok(Some(pinned)) => return CatalogInputs::Pinned(pinned),
        Ok(None) => {}
    }
    let versions = match catalogs::versions(release_version) {
        Ok(v) => v,
        Err(message) => {
            return CatalogInputs::Invalid {
                reason: "InvalidReleaseVersion",
                message,
            };
        }
    };
    let lookups = CATALOGS
        .iter()
        .map(|c| resolve_one(ctx, c, &versions, &overrides, pull));
    let found = futures::future::join_all(lookups).await;
    CatalogInputs::Resolved(CATALOGS.iter().map(|c| c.name).zip(found).collect())
}

async fn resolve_one(
    ctx: &Context,
    catalog: &Catalog,
    versions: &[String],
    overrides: &SourceOverrides,
    pull: &PullSecret,
) -> Resolution {
    let candidates: Vec<String> = versions
        .iter()
        .flat_map(|v| overrides.candidates(&catalogs::default_image(catalog, v)))
        .collect();
    let key = (candidates.join(","), pull.fingerprint());
    if let Some(hit) = ctx.catalog_cache.get(&key) {
        return hit;
    }
    let mut tried = Vec::new();
    for candidate in candidates {
        let image = match ImageRef::parse(&candidate) {
            Ok(i) => i,
            Err(e) => {
                return Resolution::Failed {
                    error: format!("{candidate}: {e}"),
                };
            }
        };
        match ctx.provider.resolve(&image, pull).await {
            Ok(served) => {
                let found = Resolution::Found {
                    address: candidate,
                    digest: served.digest,
                };
                ctx.catalog_cache.put(key, found.clone());
                return found;
            }
            Err(e) if not_found(&e) => tried.push(candidate),
            Err(e) => {
                return Resolution::Failed { error: e.to_string() };
            }
        }
    }
    let missing = Resolution::NotFound { tried };
    ctx.catalog_cache.put(key, missing.clone());
    missing
}

/// A 401 or a missing manifest, at every candidate the provider tried: this image is not there
/// for us (upstream's `manifest unknown` / `not authorized`).
fn not_found(e: &LookupError) -> bool {
    match e {
        LookupError::NotFound { .. } | LookupError::Unauthorized { .. } => true,
        LookupError::AllCandidatesFailed { attempts, .. } => attempts.iter().all(|a| match &a.error {
            AttemptError::Failed(e) => not_found(e),
            AttemptError::SkippedUnhealthy { .. } => false,
        }),
        _ => false,
    }
}

/// How long a catalog found is trusted, and one not found.
const FOUND_TTL: Duration = Duration::from_mins(5);
pub const NOT_FOUND_TTL: Duration = Duration::from_mins(1);
/// Entries kept at most (four catalogs per control plane; a few release versions).
const MAX_ENTRIES: usize = 64;

type Key = (String, [u8; 32]);

/// Catalog lookups by (candidates, pull secret fingerprint).
#[derive(Debug, Default)]
pub struct CatalogCache {
    entries: Mutex<HashMap<Key, (Instant, Resolution)>>,
}

impl CatalogCache {
    fn get(&self, key: &Key) -> Option<Resolution> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.get(key)?;
        let ttl = if matches!(value, Resolution::Found { .. }) {
            FOUND_TTL
        } else {
            NOT_FOUND_TTL
        };
        if at.elapsed() < ttl {
            return Some(value.clone());
        }
        entries.remove(key);
        None
    }

    fn put(&self, key: Key, value: Resolution) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            // Oldest first.
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }
}
