//! The admin listener, separate from any domain server: health, readiness, metrics and the log
//! level.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz`, `GET /livez` | `200 ok` while the process runs |
//! | `GET /readyz` | `200 ok` once ready (caches synced, leader or standby), else `503` |
//! | `GET /metrics` | Prometheus text exposition |
//! | `PUT /log-level` | body: a `RUST_LOG`-style filter; `204`, or `400` with the reason |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use prometheus_client::registry::Registry;

use crate::telemetry::LogHandle;

/// What the admin routes read.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub registry: Arc<Registry>,
    pub ready: Arc<AtomicBool>,
    pub log: Option<LogHandle>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .route("/log-level", put(log_level))
        .with_state(state)
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string(),
        ),
    }
}

async fn log_level(State(state): State<AdminState>, body: String) -> impl IntoResponse {
    match &state.log {
        None => (
            StatusCode::NOT_IMPLEMENTED,
            "log level is fixed in this process".to_owned(),
        ),
        Some(handle) => match handle.set(body.trim()) {
            Ok(()) => (StatusCode::NO_CONTENT, String::new()),
            Err(e) => (StatusCode::BAD_REQUEST, e),
        },
    }
}

/// Binds `addr` and serves the admin routes until the task is dropped; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    state: AdminState,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    Ok((local, task))
}
