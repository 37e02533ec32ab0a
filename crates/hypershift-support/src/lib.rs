//! The kube-facing kit every operator binary shares (upstream's `support/`).
//!
//! - [`config`]: defaults, an optional YAML file, env and flags layered into one struct; the
//!   flag groups every binary shares.
//! - [`binary`]: the `main` skeleton: exit statuses, one start-up line, signals.
//! - [`controller`]: error categories and the requeue policy (backoff or wait for a change).
//! - [`conditions`], [`events`], [`meta`]: condition merging, Events, owned objects' metadata.
//! - [`contract`]: the typed contracts between our binaries (token Secret, payload status,
//!   command lines); [`ca_bundle`]: PEM bundles checked without quoting them.
//! - [`telemetry`]: tracing in text or JSON, with a log filter that can change at runtime.
//! - [`admin`]: the admin listener: `/healthz`, `/livez`, `/readyz`, `/metrics`, `PUT /log-level`.
//! - [`metrics`]: reconcile counters and durations with bounded labels.
//! - [`pod`]: the restricted security context every rendered pod gets.
//! - [`apply`]: server-side apply with one field manager, and orphan deletion by label.
//! - [`leader`]: leader election with a `coordination.k8s.io/v1` Lease (client-go's semantics); the
//!   [`leader::Leadership`] handle renews in the background and resolves `lost()` when it ends.
//! - [`client`]: a client from `--kubeconfig`, in-cluster config or `$KUBECONFIG`.
//! - [`golden`]: golden-file assertions for pure builders (tests).

pub mod admin;
pub mod apply;
pub mod binary;
pub mod ca_bundle;
pub mod client;
pub mod conditions;
pub mod config;
pub mod contract;
pub mod controller;
pub mod events;
pub mod golden;
pub mod leader;
pub mod meta;
pub mod metrics;
pub mod pod;
pub mod telemetry;
