//! The API types every binary shares, and nothing else.
//!
//! This crate does no IO and depends on neither tokio nor a Kubernetes client:
//! it holds `#[derive(CustomResource)]` types and plain serde structs.
//! - [`openshift`]: the OpenShift mirror objects we only read
//!   (ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet).
//! - [`crds`]: the CustomResourceDefinitions generated from these types (`deploy/crds/`).
//! - [`yaml`]: how our objects are written as YAML.

pub mod crds;
pub mod openshift;
pub mod yaml;

/// The `kube::Resource` trait of these types (group, version, kind, plural), re-exported so
/// pure crates can read them without depending on kube themselves.
pub use kube::Resource;
