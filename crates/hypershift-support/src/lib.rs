//! The kube-facing kit every operator binary shares (upstream's `support/`).
//!
//! - [`config`]: defaults, an optional YAML file, env and flags layered into one struct.
//! - [`telemetry`]: tracing in text or JSON, with a log filter that can change at runtime.
//! - [`admin`]: the admin listener: `/healthz`, `/livez`, `/readyz`, `/metrics`, `PUT /log-level`.
//! - [`metrics`]: reconcile counters and durations with bounded labels.
//! - [`apply`]: server-side apply with one field manager, and orphan deletion by label.
//! - [`leader`]: leader election with a `coordination.k8s.io/v1` Lease (client-go's semantics); the
//!   [`leader::Leadership`] handle renews in the background and resolves `lost()` when it ends.
//! - [`client`]: a client from `--kubeconfig`, in-cluster config or `$KUBECONFIG`.
//! - [`golden`]: golden-file assertions for pure builders (tests).

pub mod admin;
pub mod apply;
pub mod client;
pub mod config;
pub mod golden;
pub mod leader;
pub mod metrics;
pub mod telemetry;
