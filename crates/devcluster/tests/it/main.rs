//! The devcluster conformance suite: the server driven by kube-rs and by kubectl, as an outside
//! client would, plus the `devcluster` binary itself. One test binary (link time matters here).

mod binary;
mod common;
mod kube_api;
mod kubectl;
