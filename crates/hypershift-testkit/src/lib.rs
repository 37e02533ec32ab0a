//! The test kit (not published): the real parts our tests, benchmarks and the demo run against.
//!
//! - [`TestRegistry`]: the CNCF distribution registry (`/usr/bin/docker-registry`, Debian
//!   `docker-registry`) on 127.0.0.1 with TLS from a fresh CA and htpasswd basic auth.
//! - [`SyntheticRelease`]: an OpenShift-like release payload and its component images, built
//!   here byte-for-byte (reproducible digests) and pushed in oc-mirror v2's layout; with
//!   [`SyntheticRelease::runnable`], made of real images ([`images`]: ours and the stand-in's).
//! - [`faults`]: endpoints that refuse connections, never answer, or count who contacts them, and
//!   a TCP proxy that stops forwarding on demand ([`faults::StallingProxy`]).
//! - [`cluster`]: a devcluster seeded with our CRDs, namespaces and pull secret; YAML apply; the
//!   HostedCluster and NodePool documents of the scenarios; a kubeconfig through a proxy.
//! - [`process`]: our built binaries as processes with an admin port ([`BinaryProcess`],
//!   [`OperatorProcess`]).
//! - [`ignition`]: the real Ignition client booting a pointer config into a scratch root, and
//!   `ignition-validate`; [`https_get`] for HTTPS endpoints trusting a test CA; [`containers`]:
//!   skopeo pulling as a node's container runtime would.
//!
//! Everything listens on 127.0.0.1 only. A missing registry binary is a loud panic that says how
//! to install it, never a silent skip. Crate tests dev-depend on this crate, never on `e2e`.

pub mod cluster;
pub mod containers;
pub mod faults;
pub mod ignition;
pub mod images;
pub mod process;
mod registry;
mod release;
mod tls;

pub use process::{
    BinaryProcess, OperatorProcess, binary, free_address, median, metric, rss_bytes, workspace_root,
};
pub use registry::TestRegistry;
pub use release::{
    COMPONENTS, ImageBlob, IndexBlob, Layer, MCO_TEMPLATES, SOURCE_COMPONENTS, SOURCE_RELEASE,
    SyntheticRelease, catalog_image, catalog_mirror, catalog_overrides, push_catalog, push_catalog_image,
    push_image, push_index, runnable_catalog_image,
};
pub use tls::{TestCa, accepted_for, https_get};
