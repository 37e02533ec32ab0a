//! `cargo xtask demo [--once] [--processes]`: the flagship scenario, shown step by step.
//!
//! Interactive (default): everything stays up until Ctrl-C, with a kubeconfig to look around.
//! `--once`: runs every step and exits 0 only if each succeeded.
//! Every pod is a container pulled through the mirrors (devcluster's kubelet; `cargo xtask images`
//! builds the images first); `--processes`: the operators as processes instead, and no component
//! runs (faster, no podman).

use std::io::Write as _;
use std::time::Duration;

use e2e::flagship::{self, Operator, Progress, Runtime};

struct Printer;

impl Progress for Printer {
    fn step(&mut self, n: usize, what: &str) {
        let _ = writeln!(std::io::stdout(), "[{n}/9] {what} ...");
    }
    fn done(&mut self, detail: &str, took: Duration) {
        let _ = writeln!(
            std::io::stdout(),
            "      ok ({:.1} s): {detail}",
            took.as_secs_f64()
        );
    }
    fn line(&mut self, text: &str) {
        let _ = writeln!(std::io::stdout(), "    {text}");
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = args.iter().find(|a| *a != "--once" && *a != "--processes") {
        let _ = writeln!(
            std::io::stderr(),
            "demo: unknown option {unknown:?} (--once, --processes)"
        );
        return std::process::ExitCode::from(2);
    }
    let once = args.iter().any(|a| a == "--once");
    let runtime = if args.iter().any(|a| a == "--processes") {
        Runtime::Processes
    } else {
        Runtime::Containers
    };
    match Box::pin(run(once, runtime)).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "demo failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(once: bool, runtime: Runtime) -> anyhow::Result<()> {
    let mut p = Printer;
    let mut f = flagship::start(&mut p, runtime).await?;
    let mut out = std::io::stdout();
    writeln!(out, "\n{}", f.report().await?)?;
    if runtime == Runtime::Containers {
        writeln!(
            out,
            "Every pod is a container pulled through the mirror (kubectl get pods -A):\n{}",
            indent(&f.pods()?)
        )?;
    }
    let node = f.boot_node(&mut p).await?;
    writeln!(
        out,
        "\nThe node received payload {}; its /etc/containers/registries.conf:\n{}\nIt pulled {}\n  through the mirror {} (by digest; the same image by tag was refused: the rule is digest-only).\n",
        node.payload_digest,
        node.registries_conf
            .trim_end()
            .lines()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        node.pulled,
        node.mirror,
    )?;
    let latency = f.edit_mirrors(&mut p).await?;
    writeln!(
        out,
        "\nMirror change propagated to both Deployments in {} ms.\n",
        latency.as_millis()
    )?;
    writeln!(out, "{}", f.report().await?)?;
    let shown = f.pin_catalogs(&mut p).await?;
    if runtime == Runtime::Containers {
        writeln!(
            out,
            "\nAfter the edit and the pinned catalogs (kubectl get pods -A):\n{}",
            indent(&f.pods()?)
        )?;
    }
    writeln!(
        out,
        "\nThe HostedCluster named the missing catalog annotation:\n  {shown}\n"
    )?;
    if once {
        f.shutdown().await;
        writeln!(out, "demo --once: every step succeeded")?;
        return Ok(());
    }
    let operator = match &f.operator {
        Operator::Process(process) => format!(
            "curl -s http://{}/metrics | grep hostedcluster_",
            process.admin_addr
        ),
        Operator::Pod { .. } => format!(
            "kubectl get pods -A\n  kubectl logs -n {} deploy/hypershift-operator\n  kubectl describe pod -n {} etcd-0",
            flagship::OPERATOR_NAMESPACE,
            flagship::CONTROL_PLANE
        ),
    };
    writeln!(
        out,
        "Look around (Ctrl-C to stop):\n  export KUBECONFIG={}\n  kubectl get hostedclusters,nodepools -A\n  kubectl get deployment -n {} control-plane-operator -o yaml\n  kubectl get imagedigestmirrorsets -o yaml\n  {operator}\n  hypershift release info {} -f <(kubectl get imagedigestmirrorsets -o yaml) --ca-bundle {} --pull-secret <(kubectl get secret -n clusters pull-secret -o jsonpath='{{.data.\\.dockerconfigjson}}' | base64 -d)",
        f.cluster.kubeconfig_path().display(),
        flagship::CONTROL_PLANE,
        f.release.source_reference(),
        f.cluster.state_dir().join("demo/registry-ca.pem").display(),
    )?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    writeln!(out, "stopping")?;
    f.shutdown().await;
    Ok(())
}

/// Each line of `text` indented under a step.
fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
