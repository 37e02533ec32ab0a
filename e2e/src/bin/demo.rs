//! `cargo xtask demo [--once]`: the flagship scenario, shown step by step.
//!
//! Interactive (default): everything stays up until Ctrl-C, with a kubeconfig to look around.
//! `--once`: runs every step and exits 0 only if each succeeded.

use std::io::Write as _;
use std::time::Duration;

use e2e::flagship::{self, Progress};

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
    let once = std::env::args().skip(1).any(|a| a == "--once");
    match run(once).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "demo failed: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(once: bool) -> anyhow::Result<()> {
    let mut p = Printer;
    let mut f = flagship::start(&mut p).await?;
    let mut out = std::io::stdout();
    writeln!(out, "\n{}", f.report().await?)?;
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
    writeln!(
        out,
        "\nThe HostedCluster named the missing catalog annotation:\n  {shown}\n"
    )?;
    if once {
        f.shutdown().await;
        writeln!(out, "demo --once: every step succeeded")?;
        return Ok(());
    }
    writeln!(
        out,
        "Look around (Ctrl-C to stop):\n  export KUBECONFIG={}\n  kubectl get hostedclusters,nodepools -A\n  kubectl get deployment -n {} control-plane-operator -o yaml\n  kubectl get imagedigestmirrorsets -o yaml\n  curl -s http://{}/metrics | grep hostedcluster_\n  hypershift release info {} -f <(kubectl get imagedigestmirrorsets -o yaml) --ca-bundle {} --pull-secret <(kubectl get secret -n clusters pull-secret -o jsonpath='{{.data.\\.dockerconfigjson}}' | base64 -d)",
        f.cluster.kubeconfig_path().display(),
        flagship::CONTROL_PLANE,
        f.operator.admin_addr,
        f.release.source_reference(),
        f.cluster.state_dir().join("demo/registry-ca.pem").display(),
    )?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    writeln!(out, "stopping")?;
    f.shutdown().await;
    Ok(())
}
