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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;
    use crate::telemetry::LogHandle;

    /// One HTTP/1.0 request to the admin listener: (status code, body).
    async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!(
                    "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    async fn start(log: Option<LogHandle>) -> (SocketAddr, Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
        let mut registry = Registry::default();
        let metrics = crate::metrics::ReconcileMetrics::register(&mut registry, "thing");
        drop(metrics.start());
        let ready = Arc::new(AtomicBool::new(false));
        let (addr, task) = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            AdminState {
                registry: Arc::new(registry),
                ready: Arc::clone(&ready),
                log,
            },
        )
        .await
        .unwrap();
        (addr, ready, task)
    }

    #[tokio::test]
    async fn health_readiness_and_metrics_answer_on_the_admin_port() {
        let (addr, ready, task) = start(None).await;
        assert_eq!(request(addr, "GET", "/healthz", "").await, (200, "ok".into()));
        assert_eq!(request(addr, "GET", "/livez", "").await, (200, "ok".into()));
        assert_eq!(
            request(addr, "GET", "/readyz", "").await.0,
            503,
            "not ready before start-up is done"
        );
        ready.store(true, Ordering::Relaxed);
        assert_eq!(request(addr, "GET", "/readyz", "").await, (200, "ok".into()));
        let (status, metrics) = request(addr, "GET", "/metrics", "").await;
        assert_eq!(status, 200);
        assert!(metrics.contains("thing_reconcile_runs_total 1"), "{metrics}");
        assert_eq!(request(addr, "GET", "/nope", "").await.0, 404);
        assert_eq!(
            request(addr, "PUT", "/log-level", "debug").await.0,
            501,
            "a fixed log level says so"
        );
        task.abort();
    }

    #[tokio::test]
    async fn the_log_level_changes_at_runtime_and_bad_filters_are_refused() {
        let (addr, _ready, task) = start(Some(LogHandle::detached("info"))).await;
        assert_eq!(
            request(addr, "PUT", "/log-level", "hypershift_support=debug,kube=warn")
                .await
                .0,
            204
        );
        let (status, body) = request(addr, "PUT", "/log-level", "=[").await;
        assert_eq!(status, 400, "{body}");
        assert!(!body.is_empty());
        task.abort();
    }
}
