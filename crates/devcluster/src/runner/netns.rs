//! A network namespace per pod (the container runtime's port isolation): each pod gets its own
//! loopback, so two pods bind the same port without colliding, and the node's loopback services
//! a pod needs (the devcluster API, the registry) are forwarded **into** it on the same
//! `127.0.0.1:PORT`, so pods reach them exactly as the kubeconfig, the mirrors and the pull
//! secret name them — and nothing but 127.0.0.1 is ever contacted (no bridge, no routed address,
//! no veth). Containers join it with `podman run --network=ns:<path>`; the runner probes a pod's
//! ports from inside it ([`PodNetwork::connect`]).
//!
//! Mechanics: `ip netns add` creates `/run/netns/<name>` and `ip -n <name> link set lo up`
//! brings its loopback up (root is needed, as for a kubelet); a forwarder's listening socket is
//! created by a short-lived thread that entered the namespace with setns(2) (a socket stays in
//! the namespace it was created in, whichever thread uses it later), and each accepted connection
//! is relayed to the same port on the node's loopback. Dropping the value stops the forwarders and
//! deletes the namespace.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;

use nix::sched::CloneFlags;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::debug;

/// A pod's network namespace and its forwarders.
#[derive(Debug)]
pub struct PodNetwork {
    name: String,
    forwarders: Vec<JoinHandle<()>>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip {}: {e} (iproute2 is needed)", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `f` on a thread inside the network namespace at `path`.
fn in_namespace<T: Send>(
    path: &std::path::Path,
    f: impl FnOnce() -> std::io::Result<T> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("cannot enter {}: {e}", path.display()))?;
            f().map_err(|e| format!("in {}: {e}", path.display()))
        })
        .join()
        .map_err(|_| "the namespace thread panicked".to_owned())?
    })
}

impl PodNetwork {
    /// Creates the namespace `name` (a stale one of that name is replaced) with loopback up, and
    /// forwards each of `node_ports` from its `127.0.0.1` to the node's.
    ///
    /// Call within a Tokio runtime (the forwarders are tasks).
    ///
    /// # Errors
    /// When `ip` fails (not root, no iproute2) or a forwarder cannot bind; the namespace is
    /// removed again.
    pub fn create(name: &str, node_ports: &[u16]) -> Result<Self, String> {
        let _ = ip(&["netns", "delete", name]);
        ip(&["netns", "add", name])?;
        let mut network = Self {
            name: name.to_owned(),
            forwarders: Vec::new(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        for &port in node_ports {
            let listener = in_namespace(&network.path(), || {
                let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
                l.set_nonblocking(true)?;
                Ok(l)
            })?;
            let listener =
                TcpListener::from_std(listener).map_err(|e| format!("forwarder for port {port}: {e}"))?;
            network.forwarders.push(tokio::spawn(forward(listener, port)));
        }
        Ok(network)
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// The `--network` value for podman: `ns:/run/netns/<name>`.
    pub fn podman_network(&self) -> String {
        format!("ns:{}", self.path().display())
    }

    /// A connection to `127.0.0.1:port` inside the pod (a probe's).
    ///
    /// # Errors
    /// When nothing listens there, or the namespace is gone.
    pub fn connect(&self, port: u16) -> Result<std::net::TcpStream, String> {
        connect_at(&self.path(), port)
    }

    /// Binds `127.0.0.1:port` inside the pod (what a container's server does; for tests).
    ///
    /// # Errors
    /// When the port is taken in this pod.
    pub fn bind(&self, port: u16) -> Result<std::net::TcpListener, String> {
        in_namespace(&self.path(), || {
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        })
    }
}

/// A connection to `127.0.0.1:port` inside the network namespace at `path` (one second to
/// connect).
///
/// # Errors
/// When nothing listens there, or the namespace is gone.
pub fn connect_at(path: &std::path::Path, port: u16) -> Result<std::net::TcpStream, String> {
    in_namespace(path, || {
        std::net::TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            std::time::Duration::from_secs(1),
        )
    })
}

/// Relays every connection accepted in the pod to the same port on the node's loopback.
async fn forward(listener: TcpListener, port: u16) {
    loop {
        let mut inbound = match listener.accept().await {
            Ok((inbound, _)) => inbound,
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                debug!(port, "forwarding into the pod: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            match TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
                Ok(mut outbound) => {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                Err(e) => debug!(port, "forwarding into the pod: the node's port refused: {e}"),
            }
        });
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        for f in &self.forwarders {
            f.abort();
        }
        let _ = ip(&["netns", "delete", &self.name]);
    }
}
