//! The HTTPS endpoint nodes fetch their payload from.
//!
//! | Request | Answer |
//! |---|---|
//! | `/healthz`, any method | `200`, empty (upstream's; the probes use the admin port) |
//! | a path not matching `^/ignition[^/ ]*$` | `404` `404 page not found` |
//! | `/ignition…` with a method other than `GET`/`HEAD` | `405` |
//! | a request carrying a body | `413` |
//! | no `Authorization: Bearer <base64>`, a token that does not decode, an unknown or expired token, or a `NodePool` header naming another NodePool than the token's | `401` `Unauthorized`, and nothing else |
//! | a known token | `200`, `application/json; charset=utf-8`, the payload |
//!
//! Bodies end with a newline, as upstream's. Every refusal is the same `401` (upstream answers an
//! unknown token with `511`): a client learns nothing about which check failed; the
//! `ign_server_unauthorized_total{reason}` metric tells the operator. A token opens only its own
//! Secret's payload; the `NodePool` header, when sent, must name that payload's NodePool.
//!
//! The first payload served for a token Secret is reported on it (the
//! `hypershift.openshift.io/ignition-reached` annotation, which the NodePool's
//! `ReachedIgnitionEndpoint` condition reads), off the request path.
//!
//! Connections: HTTP/1.1 only (as upstream), keep-alive, at most `max_connections` at once (the
//! next waits to be accepted), 10 s for the TLS handshake, 5 s for a request's headers, 16 KiB of
//! headers. On shutdown the listener closes, requests in flight finish, idle connections close.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use k8s_openapi::jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use crate::metrics::Metrics;
use crate::store::{Lookup, PayloadStore};

/// The header naming the NodePool (`<namespace>/<name>`), sent by the pointer config.
pub const NODE_POOL_HEADER: &str = "NodePool";
/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's headers may take to arrive.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The most header bytes a request may carry (hyper's minimum buffer).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// How long requests in flight get to finish on shutdown.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What the handler reads.
#[derive(Clone, Debug)]
pub struct HttpState {
    pub store: PayloadStore,
    pub metrics: Metrics,
    /// Token Secret names to annotate as reached.
    pub reached: mpsc::UnboundedSender<String>,
}

/// The router of the HTTPS listener.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", any(|| async { StatusCode::OK }))
        .fallback(payload)
        .with_state(state)
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn unauthorized(state: &HttpState, reason: &'static str) -> Response {
    state.metrics.unauthorized(reason);
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Upstream's path rule: `/ignition` followed by anything without `/` or space.
fn is_payload_path(path: &str) -> bool {
    path.strip_prefix("/ignition")
        .is_some_and(|rest| !rest.contains(['/', ' ']))
}

/// The token of an `Authorization: Bearer <base64>` header, decoded.
fn bearer_token(headers: &HeaderMap) -> Result<String, &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no_bearer")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| "bad_encoding")?;
    String::from_utf8(bytes).map_err(|_| "bad_encoding")
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

async fn payload(State(state): State<HttpState>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if !is_payload_path(uri.path()) {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if has_body(&headers) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "Request body not accepted\n");
    }
    let token = match bearer_token(&headers) {
        Ok(t) => t,
        Err(reason) => return unauthorized(&state, reason),
    };
    let Lookup::Found(payload) = state.store.get(&token, Timestamp::now()) else {
        return unauthorized(&state, "unknown_token");
    };
    if let Some(claimed) = headers.get(NODE_POOL_HEADER)
        && claimed.as_bytes() != payload.node_pool.as_bytes()
    {
        return unauthorized(&state, "node_pool_mismatch");
    }
    state.metrics.served(&payload.node_pool);
    if state.store.mark_reached(&payload.secret) {
        let _ = state.reached.send(payload.secret.clone());
    }
    debug!(node_pool = %payload.node_pool, digest = %payload.digest, "payload served");
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(payload.bytes.clone())
    };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8".to_owned()),
            (header::CONTENT_LENGTH, payload.bytes.len().to_string()),
        ],
        body,
    )
        .into_response()
}

/// Serves `router` over TLS on `listener` until `stop` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("connections still open after the drain timeout");
    }
}

#[cfg(test)]
mod tests;
