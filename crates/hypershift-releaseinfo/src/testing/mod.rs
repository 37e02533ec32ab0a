//! A real-registry test kit (feature `testing`), for this crate's tests, later tiers and the demo.
//!
//! - [`TestRegistry`]: the CNCF distribution registry (`/usr/bin/docker-registry`, Debian
//!   `docker-registry`) on 127.0.0.1 with TLS from a fresh CA and htpasswd basic auth.
//! - [`SyntheticRelease`]: an OpenShift-like release payload and its component images, built
//!   here byte-for-byte (reproducible digests) and pushed in oc-mirror v2's layout.
//! - [`faults`]: endpoints that refuse connections, never answer, or count who contacts them.
//!
//! Everything listens on 127.0.0.1 only. A missing registry binary is a loud panic that says how
//! to install it, never a silent skip.

pub mod faults;
mod payload;
mod registry;
mod tls;

pub use payload::{
    COMPONENTS, ImageBlob, IndexBlob, Layer, SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, push_image,
    push_index,
};
pub use registry::TestRegistry;
pub use tls::TestCa;
