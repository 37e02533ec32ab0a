//! The API types every binary shares, and nothing else.
//!
//! This crate does no IO and depends on neither tokio nor a Kubernetes client:
//! it holds `#[derive(CustomResource)]` types and plain serde structs.
//! - [`hosted_cluster`], [`node_pool`], [`hosted_control_plane`]: `hypershift.openshift.io/v1beta1`,
//!   the subset we use, unknown fields kept.
//! - [`names`], [`conditions`]: every object name and condition type the binaries agree on.
//! - [`openshift`]: the OpenShift mirror objects we only read
//!   (ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet).
//! - [`crds`]: the CustomResourceDefinitions generated from these types (`deploy/crds/`).
//! - [`yaml`]: how our objects are written as YAML.

pub mod conditions;
pub mod crds;
pub mod hosted_cluster;
pub mod hosted_control_plane;
pub mod names;
pub mod node_pool;
pub mod openshift;
pub mod yaml;

/// The `kube::Resource` trait of these types (group, version, kind, plural), re-exported so
/// pure crates can read them without depending on kube themselves.
pub use kube::Resource;
