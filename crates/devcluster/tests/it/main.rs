//! The devcluster conformance suite: the server driven by kube-rs and by kubectl, as an outside
//! client would, plus the `devcluster` binary itself and the runner. One test binary (link
//! time matters here).

// clippy.toml allows unwrap in `#[test]` functions; the helpers of this test binary get the same
// rule: a panic there is the failure report.
#![allow(clippy::unwrap_used)]

mod binary;
mod common;
mod kube_api;
mod kubectl;
mod runner;
