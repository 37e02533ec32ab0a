//! Endpoints that misbehave on purpose, all on 127.0.0.1: refusing, black-holed and counting
//! endpoints, and a proxy that stalls on demand ([`StallingProxy`]).

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// `127.0.0.1:PORT` where nothing listens: connections are refused at once.
///
/// # Panics
/// If no loopback port can be bound.
pub fn refusing_address() -> String {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    addr.to_string()
}

/// A server that accepts connections and never sends a byte (a black-holed registry).
/// It also counts the connections. Stops when dropped.
#[derive(Debug)]
pub struct BlackHole {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

/// A server that counts connections and closes each at once (a "source" registry that must
/// never be contacted). Stops when dropped.
#[derive(Debug)]
pub struct CountingServer {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

async fn listen(hold: bool) -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let task = tokio::spawn(async move {
        let mut open_streams = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            if hold {
                open_streams.push(stream);
            }
        }
    });
    (addr, accepted, task)
}

impl BlackHole {
    /// Starts the server (needs a tokio runtime).
    pub async fn start() -> Self {
        let (addr, accepted, task) = listen(true).await;
        Self { addr, accepted, task }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl CountingServer {
    /// Starts the server (needs a tokio runtime).
    pub async fn start() -> Self {
        let (addr, accepted, task) = listen(false).await;
        Self { addr, accepted, task }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that forwards bytes both ways until
/// [`StallingProxy::stall`] is called: from then on it forwards nothing more on the connections it
/// has, and accepts new ones without connecting them anywhere, so every client call through it
/// hangs (an API server that stopped answering, a half-dead network path). TLS passes through
/// untouched, so a client that trusts the upstream's certificate for `127.0.0.1` trusts it here
/// too. [`StallingProxy::resume`] forwards what was held back and carries on. Stops, and closes
/// every connection, when dropped.
#[derive(Debug)]
pub struct StallingProxy {
    pub addr: SocketAddr,
    stalled: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StallingProxy {
    /// Starts the proxy (needs a tokio runtime).
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let (stalled, gate) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            // Owning the connections' tasks here ends them all when the proxy is dropped.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                connections.spawn(forward(client, upstream, gate.clone()));
            }
        });
        Self { addr, stalled, task }
    }

    /// `https://127.0.0.1:PORT`: the proxy as the URL of a TLS server behind it.
    pub fn https_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Stops forwarding: from now on no byte passes in either direction, and new connections are
    /// accepted but never answered.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again, starting with what was held back while stalled.
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One proxied connection: connects to `upstream` once not stalled, then pumps both ways.
async fn forward(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    if stalled.wait_for(|s| !*s).await.is_err() {
        return;
    }
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, stalled.clone()),
        pump(server_read, client_write, stalled),
    );
}

/// Copies `from` to `to` chunk by chunk; a chunk read while stalled is held until resumed. At the
/// end of `from`, shuts down the writing side of `to` (the other direction carries on).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    use super::*;

    /// An upstream that echoes every byte back.
    async fn echo() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (addr, task)
    }

    async fn round_trip(s: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
        s.write_all(bytes).await.unwrap();
        let mut back = vec![0; bytes.len()];
        s.read_exact(&mut back).await.unwrap();
        back
    }

    #[tokio::test]
    async fn a_stalled_proxy_holds_bytes_and_new_connections_until_resumed() {
        let (upstream, _echo) = echo().await;
        let proxy = StallingProxy::start(upstream).await;
        let mut old = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(round_trip(&mut old, b"before").await, b"before");

        proxy.stall();
        old.write_all(b"held").await.unwrap();
        let mut new = TcpStream::connect(proxy.addr).await.unwrap();
        new.write_all(b"new").await.unwrap();
        // An absence check: a slow machine can only make it pass, never fail.
        let mut byte = [0; 1];
        for s in [&mut old, &mut new] {
            assert!(
                tokio::time::timeout(Duration::from_millis(300), s.read(&mut byte))
                    .await
                    .is_err(),
                "nothing passes while stalled"
            );
        }

        proxy.resume();
        let mut back = [0; 4];
        old.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"held", "what was held back is forwarded");
        let mut back = [0; 3];
        new.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"new", "a connection accepted while stalled is connected");
    }
}
