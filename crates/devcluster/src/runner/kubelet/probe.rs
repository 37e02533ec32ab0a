//! Probes, run from inside the pod's network namespace as a kubelet runs them against the pod:
//! `httpGet` (HTTP: a GET, any status 200–399 succeeds; HTTPS: see below), `tcpSocket` (a
//! connect), `exec` (`podman exec`, exit 0), `grpc` (a connect: the gRPC health protocol is not
//! spoken). HTTPS and gRPC are therefore checked only as far as a listening port; docs/devcluster.md
//! says so. Named ports resolve through the container's `ports`.

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Node;
use crate::runner::netns::PodNetwork;

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Action {
    Http { port: u16, path: String, https: bool },
    Tcp { port: u16 },
    Grpc { port: u16 },
    Exec { command: Vec<String> },
}

/// A probe with its timing (seconds, with the API's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Check {
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

fn port(container: &Container, p: &IntOrString) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("port {n} is out of range")),
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name.as_str()))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("no container port named {name:?}")),
    }
}

fn secs(v: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(v.and_then(|s| u64::try_from(s).ok()).unwrap_or(default))
}

/// The probe's action and timing; `Err` when it names no port the container has.
pub(super) fn check(container: &Container, probe: &Probe) -> Result<Check, String> {
    let action = if let Some(h) = &probe.http_get {
        Action::Http {
            port: port(container, &h.port)?,
            path: h
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into()),
            https: h.scheme.as_deref() == Some("HTTPS"),
        }
    } else if let Some(t) = &probe.tcp_socket {
        Action::Tcp {
            port: port(container, &t.port)?,
        }
    } else if let Some(g) = &probe.grpc {
        Action::Grpc {
            port: u16::try_from(g.port).map_err(|_| format!("port {} is out of range", g.port))?,
        }
    } else if let Some(e) = &probe.exec {
        Action::Exec {
            command: e.command.clone().unwrap_or_default(),
        }
    } else {
        return Err("the probe has no action".into());
    };
    let threshold = |v: Option<i32>, d: u32| {
        v.and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .unwrap_or(d)
    };
    Ok(Check {
        action,
        initial_delay: secs(probe.initial_delay_seconds, 0),
        period: secs(probe.period_seconds, 10).max(Duration::from_secs(1)),
        timeout: secs(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
        failure_threshold: threshold(probe.failure_threshold, 3),
        success_threshold: threshold(probe.success_threshold, 1),
    })
}

/// Runs the probe once; `Err` says why it failed (in the kubelet's words where it has them).
pub(super) async fn run(
    check: &Check,
    network: &Arc<PodNetwork>,
    node: &Node,
    container: &str,
) -> Result<(), String> {
    match &check.action {
        Action::Exec { command } => {
            let mut c = node.async_command();
            c.arg("exec").arg(container).args(command);
            let out = tokio::time::timeout(check.timeout, c.output())
                .await
                .map_err(|_| format!("command timed out after {:?}", check.timeout))?
                .map_err(|e| format!("cannot run podman exec: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "command {command:?} exited with {}: {}",
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stdout).trim()
                ))
            }
        }
        action => {
            let action = action.clone();
            let network = Arc::clone(network);
            let timeout = check.timeout;
            tokio::task::spawn_blocking(move || socket_probe(&action, &network, timeout))
                .await
                .map_err(|e| format!("the probe task failed: {e}"))?
        }
    }
}

fn socket_probe(action: &Action, network: &PodNetwork, timeout: Duration) -> Result<(), String> {
    let (port, http_path) = match action {
        Action::Http {
            port,
            path,
            https: false,
        } => (*port, Some(path.as_str())),
        Action::Http {
            port, https: true, ..
        }
        | Action::Tcp { port }
        | Action::Grpc { port } => (*port, None),
        Action::Exec { .. } => return Ok(()),
    };
    let refused = |e: String| format!("dial tcp 127.0.0.1:{port}: connect: {e}");
    let mut stream = network.connect(port).map_err(refused)?;
    let Some(path) = http_path else {
        return Ok(());
    };
    let io = |e: std::io::Error| format!("Get \"http://127.0.0.1:{port}{path}\": {e}");
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"http://127.0.0.1:{port}{path}\": malformed HTTP response"))?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_ports_and_defaults_resolve_as_the_api_defines_them() {
        let c: Container = serde_json::from_value(serde_json::json!({
            "name": "operator",
            "ports": [{"name": "admin", "containerPort": 9440}],
        }))
        .unwrap();
        let p: Probe = serde_json::from_value(
            serde_json::json!({"httpGet": {"path": "/readyz", "port": "admin"}, "periodSeconds": 5}),
        )
        .unwrap();
        let got = check(&c, &p).unwrap();
        assert_eq!(
            got.action,
            Action::Http {
                port: 9440,
                path: "/readyz".into(),
                https: false
            }
        );
        assert_eq!(got.period, Duration::from_secs(5));
        assert_eq!(got.failure_threshold, 3);
        let bad: Probe =
            serde_json::from_value(serde_json::json!({"tcpSocket": {"port": "metrics"}})).unwrap();
        assert_eq!(
            check(&c, &bad).unwrap_err(),
            "no container port named \"metrics\""
        );
    }
}
