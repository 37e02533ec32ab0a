//! The accept loop: serves the router over plain TCP or TLS (HTTP/1.1, and HTTP/2 when ALPN
//! picks it, as kubectl does) until told to stop; stopping drops every open connection,
//! long-running watches included.

use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

/// Serves until `stop` turns true (or its sender is dropped).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let router = router.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let service = TowerToHyperService::new(router);
                    let builder = Builder::new(TokioExecutor::new());
                    let result = match acceptor {
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => builder.serve_connection_with_upgrades(TokioIo::new(stream), service).await,
                            Err(e) => {
                                debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                        },
                        None => builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await,
                    };
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    connections.shutdown().await;
}
