//! The pure mirror core: everything about *where an image is pulled from*, with no IO.
//!
//! This crate depends on neither tokio nor a Kubernetes client nor any network stack; the
//! release provider, the three operators and the `hypershift` CLI all build on it.
//!
//! ```text
//!  ICSP / IDMS / ITMS ─┐                      ┌─► resolve(ImageRef) ─► ordered pull candidates
//!  registries.conf ────┼─► MirrorSetBuilder ─► MirrorSet<D> ─┼─► render IDMS/ITMS YAML, registries.conf TOML
//!  OPENSHIFT_IMG_OVERRIDES ┘   (validate, merge)              └─► OPENSHIFT_IMG_OVERRIDES, content hash
//!
//!  --registry-overrides ─► RegistryOverrides::replace (HyperShift's strict longest prefix)
//! ```
//!
//! - [`reference`]: [`ImageRef`], the distribution reference grammar with containers/image
//!   normalisation.
//! - [`scope`]: source scopes (`*.host`, `host`, `host/path`, `host/path:tag`) and mirror locations.
//! - [`mirror_set`]: [`MirrorSet`], its deterministic merge and content hash; the
//!   [`Management`]/[`DataPlane`] domains that keep control-plane and data-plane mirrors apart.
//! - [`matcher`]: longest-prefix matching with containers/image semantics, node or live mode.
//! - [`documents`], [`registries_conf`]: reading and rendering the file formats.
//! - [`contract`]: the two mirror carriers the hypershift-operator hands its children.
//! - [`wire`]: HyperShift's `--registry-overrides`, `OPENSHIFT_IMG_OVERRIDES` and OLM annotation formats.

pub mod contract;
pub mod documents;
pub mod matcher;
pub mod mirror_set;
pub mod reference;
pub mod registries_conf;
pub mod scope;
pub mod wire;

pub use documents::{MirrorDocument, RenderedMirrorSets, parse_documents, render_mirror_sets};
pub use matcher::{MatchMode, Resolution};
pub use mirror_set::{
    AppliesTo, DataPlane, DataPlaneMirrors, Domain, EntryError, InputError, InputKind, Management,
    ManagementMirrors, Mirror, MirrorRule, MirrorSet, MirrorSetBuilder,
};
pub use reference::{ImageRef, ReferenceError, sha256_digest};
pub use registries_conf::RegistriesConf;
pub use scope::{ScopeKind, SourceScope};
pub use wire::{ImageOverrides, RegistryOverrides};
