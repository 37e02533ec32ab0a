//! kube-proxy's NodePort part: each `NodePort` Service's `nodePort` listens on the node's
//! `127.0.0.1`, and every connection is relayed into the network namespace of a **ready** pod the
//! Service selects, to its `targetPort` (a number, or a container port's name), as kube-proxy
//! routes node ports to ready endpoints. That is how a machine outside the pods (a booting node's
//! Ignition client, a test) reaches a server in a pod, and nothing but `127.0.0.1` is involved.
//!
//! Not emulated: ClusterIP addresses (devcluster has no service network), `nodePort` allocation (a
//! Service that names none gets no listener; the API server here does not allocate one),
//! load-balancing (the first ready pod by name), UDP.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::runtime::reflector::Store;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::runner::netns;

/// A pod connections can be relayed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub namespace: String,
    pub pod: String,
    pub labels: BTreeMap<String, String>,
    /// Its containers' named ports.
    pub named_ports: BTreeMap<String, u16>,
    /// `/run/netns/<name>`.
    pub netns: PathBuf,
}

/// Where one node port leads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    namespace: String,
    service: String,
    selector: BTreeMap<String, String>,
    port: IntOrString,
}

impl Target {
    /// The first ready endpoint (by pod name) the Service selects, and the port in it.
    fn pick(&self, endpoints: &[Endpoint]) -> Option<(PathBuf, u16)> {
        endpoints
            .iter()
            .filter(|e| {
                e.namespace == self.namespace
                    && !self.selector.is_empty()
                    && self.selector.iter().all(|(k, v)| e.labels.get(k) == Some(v))
            })
            .find_map(|e| {
                let port = match &self.port {
                    IntOrString::Int(p) => u16::try_from(*p).ok(),
                    IntOrString::String(name) => e.named_ports.get(name).copied(),
                }?;
                Some((e.netns.clone(), port))
            })
    }
}

struct Listener {
    target: Arc<Mutex<Target>>,
    task: JoinHandle<()>,
}

/// The node ports being served.
#[derive(Default)]
pub(super) struct NodePorts {
    listening: BTreeMap<u16, Listener>,
    /// Ports that could not be bound, so that the failure is logged once, not every pass.
    failed: BTreeMap<u16, String>,
    endpoints: Arc<Mutex<Vec<Endpoint>>>,
}

impl Drop for NodePorts {
    fn drop(&mut self) {
        for l in self.listening.values() {
            l.task.abort();
        }
    }
}

/// The node ports the Services ask for: `nodePort` → where it leads.
fn wanted(services: &Store<Service>) -> BTreeMap<u16, Target> {
    let mut out = BTreeMap::new();
    let mut all = services.state();
    // Deterministic when two Services claim one port (the API server would refuse the second).
    all.sort_by_key(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()));
    for s in all {
        let Some(spec) = &s.spec else { continue };
        if spec.type_.as_deref() != Some("NodePort") && spec.type_.as_deref() != Some("LoadBalancer") {
            continue;
        }
        for p in spec.ports.iter().flatten() {
            let Some(node_port) = p.node_port.and_then(|n| u16::try_from(n).ok()) else {
                continue;
            };
            out.entry(node_port).or_insert_with(|| Target {
                namespace: s.metadata.namespace.clone().unwrap_or_default(),
                service: s.metadata.name.clone().unwrap_or_default(),
                selector: spec.selector.clone().unwrap_or_default(),
                port: p.target_port.clone().unwrap_or(IntOrString::Int(p.port)),
            });
        }
    }
    out
}

impl NodePorts {
    /// Follows the Services (listeners opened, retargeted or closed) and the ready pods.
    pub fn sync(&mut self, services: &Store<Service>, endpoints: Vec<Endpoint>) {
        if let Ok(mut e) = self.endpoints.lock() {
            *e = endpoints;
        }
        let wanted = wanted(services);
        self.listening.retain(|port, l| {
            let keep = wanted.contains_key(port);
            if !keep {
                info!(port, "closing the node port: no Service asks for it");
                l.task.abort();
            }
            keep
        });
        self.failed.retain(|port, _| wanted.contains_key(port));
        for (port, target) in wanted {
            if let Some(l) = self.listening.get(&port) {
                if let Ok(mut t) = l.target.lock()
                    && *t != target
                {
                    *t = target;
                }
                continue;
            }
            match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(TcpListener::from_std)
            {
                Ok(listener) => {
                    info!(port, namespace = %target.namespace, service = %target.service, "serving the node port");
                    self.failed.remove(&port);
                    let target = Arc::new(Mutex::new(target));
                    let task =
                        tokio::spawn(serve(listener, Arc::clone(&target), Arc::clone(&self.endpoints)));
                    self.listening.insert(port, Listener { target, task });
                }
                Err(e) => {
                    let e = e.to_string();
                    if self.failed.get(&port) != Some(&e) {
                        warn!(port, namespace = %target.namespace, service = %target.service, error = %e, "cannot listen on the node port; retrying");
                        self.failed.insert(port, e);
                    }
                }
            }
        }
    }
}

async fn serve(listener: TcpListener, target: Arc<Mutex<Target>>, endpoints: Arc<Mutex<Vec<Endpoint>>>) {
    loop {
        let mut inbound = match listener.accept().await {
            Ok((inbound, _)) => inbound,
            Err(e) => {
                debug!("node port: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let picked = {
            let t = target.lock().map(|t| t.clone());
            let e = endpoints.lock().map(|e| e.clone());
            match (t, e) {
                (Ok(t), Ok(e)) => t.pick(&e).map(|p| (t, p)),
                _ => None,
            }
        };
        let Some((t, (netns, port))) = picked else {
            // kube-proxy's answer for a Service without ready endpoints: the connection is
            // refused (here: closed at once).
            debug!("node port: no ready endpoint; closing the connection");
            continue;
        };
        tokio::spawn(async move {
            let connected = tokio::task::spawn_blocking(move || netns::connect_at(&netns, port)).await;
            let outbound = match connected {
                Ok(Ok(s)) => s
                    .set_nonblocking(true)
                    .map_err(|e| e.to_string())
                    .and_then(|()| TcpStream::from_std(s).map_err(|e| e.to_string())),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.to_string()),
            };
            match outbound {
                Ok(mut outbound) => {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                Err(e) => {
                    debug!(namespace = %t.namespace, service = %t.service, port, "node port: the pod refused: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(pod: &str, labels: &[(&str, &str)]) -> Endpoint {
        Endpoint {
            namespace: "ns".into(),
            pod: pod.into(),
            labels: labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            named_ports: BTreeMap::from([("https".to_owned(), 9090)]),
            netns: PathBuf::from(format!("/run/netns/{pod}")),
        }
    }

    #[test]
    fn a_node_port_leads_to_a_selected_pod_s_target_port_by_number_or_name() {
        let mut t = Target {
            namespace: "ns".into(),
            service: "ignition-server".into(),
            selector: BTreeMap::from([("name".to_owned(), "ignition-server".to_owned())]),
            port: IntOrString::String("https".into()),
        };
        let endpoints = [
            endpoint("other", &[("name", "other")]),
            endpoint("ignition-server-abc", &[("name", "ignition-server"), ("x", "y")]),
        ];
        assert_eq!(
            t.pick(&endpoints),
            Some((PathBuf::from("/run/netns/ignition-server-abc"), 9090))
        );
        t.port = IntOrString::Int(8443);
        assert_eq!(t.pick(&endpoints).map(|(_, p)| p), Some(8443));
        t.port = IntOrString::String("grpc".into());
        assert_eq!(t.pick(&endpoints), None, "an unknown port name leads nowhere");
        t.selector.clear();
        t.port = IntOrString::Int(8443);
        assert_eq!(
            t.pick(&endpoints),
            None,
            "a Service without a selector selects no pod"
        );
        t.selector = BTreeMap::from([("name".to_owned(), "ignition-server".to_owned())]);
        t.namespace = "elsewhere".into();
        assert_eq!(t.pick(&endpoints), None, "only pods of the Service's namespace");
    }
}
