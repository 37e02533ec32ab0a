//! HyperShift's wire formats, byte-compatible with the Go binaries (spec/overrides.md §2.4, §4).
//!
//! - [`RegistryOverrides`]: `--registry-overrides` (pflag `StringToString`), its serialisation
//!   and the strict longest-prefix `Replace`.
//! - [`ImageOverrides`]: `OPENSHIFT_IMG_OVERRIDES` (`src=mirror` pairs) and the
//!   `hypershift.openshift.io/olm-catalogs-is-registry-overrides` annotation, which shares its
//!   syntax. We keep each source's mirrors in priority order on the wire (HyperShift sorts them);
//!   HyperShift's parser reads our output unchanged.

mod go_csv;
mod image_overrides;
mod registry_overrides;

pub use image_overrides::{AnnotationError, ImageOverrides};
pub use registry_overrides::{FlagError, RegistryOverrides};
