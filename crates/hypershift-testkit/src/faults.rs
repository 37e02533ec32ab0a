//! Endpoints that misbehave on purpose, all on 127.0.0.1.

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
