//! The control-plane-operator's figures, each beside a baseline measured in the same run
//! (`cargo xtask bench cpo` writes them into docs/benchmarks.md):
//!
//! - cold render: one reconcile of a new HostedControlPlane by a fresh reconciler context (no
//!   registry answer cached): the release read through the mirror, the four OLM catalogs probed
//!   (one stepping back a minor), every workload, Service and ConfigMap created, the status
//!   written; the baseline is a warm re-render of the same HostedControlPlane by the same context
//!   (registry answers cached, every object unchanged);
//! - idle RSS of the release-built binary once it has rendered its HostedControlPlane.
//!
//! Real parts: the distribution registry (TLS + htpasswd) with the synthetic release and catalog
//! indexes, devcluster, the operator's own library and binary. Everything on 127.0.0.1. Not
//! criterion: a scenario with processes; it prints one `cpo_bench key=value…` line.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a bench program: a panic is its failure report"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use control_plane_operator::config::{Cli, Command, Config, Environment, OperatorConfig};
use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_support::metrics::ReconcileMetrics;
use hypershift_testkit::cluster as kit;
use hypershift_testkit::{BinaryProcess, SyntheticRelease, TestRegistry, median};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};

const COLD_RUNS: usize = 5;
const WARM_RUNS: usize = 20;
const CATALOGS: &[(&str, &str)] = &[
    ("certified-operator-index", "v4.22"),
    ("community-operator-index", "v4.21"),
    ("redhat-marketplace-index", "v4.22"),
    ("redhat-operator-index", "v4.22"),
];

/// A control-plane namespace with the pull secret and a HostedControlPlane of the release.
async fn control_plane(client: &kube::Client, ns: &str, registry: &TestRegistry, release: &str) {
    let namespace: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    let pull: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pull-secret", "namespace": ns},
        "stringData": {".dockerconfigjson": String::from_utf8(registry.pull_secret_json()).unwrap()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pull)
        .await
        .unwrap();
    let hcp: HostedControlPlane = serde_json::from_value(serde_json::json!({
        "apiVersion": "hypershift.openshift.io/v1beta1",
        "kind": "HostedControlPlane",
        "metadata": {"name": "example", "namespace": ns, "annotations": {
            "hypershift.openshift.io/olm-catalogs-is-registry-overrides": hypershift_testkit::catalog_overrides(&registry.host),
        }},
        "spec": {"releaseImage": release, "pullSecret": {"name": "pull-secret"},
                 "imageContentSources": [{"source": hypershift_testkit::SOURCE_COMPONENTS,
                                          "mirrors": [SyntheticRelease::mirror_components_repo(&registry.host)]}]},
    }))
    .unwrap();
    Api::<HostedControlPlane>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &hcp)
        .await
        .unwrap();
}

fn args(cluster: &DevCluster, ns: &str, ca: &Path) -> Vec<String> {
    vec![
        "run".to_owned(),
        format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
        format!("--namespace={ns}"),
        "--hosted-control-plane=example".to_owned(),
        format!("--registry-ca-bundle={}", ca.display()),
        "--leader-elect=false".to_owned(),
    ]
}

fn operator_config(args: &[String], env: &str) -> OperatorConfig {
    let all = std::iter::once("control-plane-operator".to_owned()).chain(args.iter().cloned());
    let Command::Run(flags) = Cli::try_parse_from(all).unwrap().command else {
        panic!("not run")
    };
    Config::load(&flags)
        .unwrap()
        .validate(&Environment {
            image_overrides: Some(env.to_owned()),
            namespace: None,
        })
        .unwrap()
}

async fn render(ctx: &control_plane_operator::hcp::Context, ns: &str) -> f64 {
    let hcp = Api::<HostedControlPlane>::namespaced(ctx.client.clone(), ns)
        .get("example")
        .await
        .unwrap();
    let t = Instant::now();
    control_plane_operator::hcp::reconcile_pipeline(Arc::new(hcp), ctx)
        .await
        .unwrap();
    t.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release.push(&registry).await.unwrap();
    for (repository, tag) in CATALOGS {
        hypershift_testkit::push_catalog(&registry, repository, &[tag])
            .await
            .unwrap();
    }
    let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    kit::create_crd(&client, kit::HCP_CRD).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("registry-ca.pem");
    std::fs::write(&ca, &registry.ca_pem).unwrap();
    let env = SyntheticRelease::image_overrides_env(&registry.host);

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for run in 0..COLD_RUNS {
        let ns = format!("clusters-bench-{run}");
        control_plane(&client, &ns, &registry, &release.source_reference()).await;
        let config = operator_config(&args(&cluster, &ns, &ca), &env);
        let metrics =
            ReconcileMetrics::register(&mut prometheus_client::registry::Registry::default(), "bench");
        // A fresh context: nothing cached.
        let ctx = control_plane_operator::context(&config, client.clone(), metrics)
            .await
            .unwrap();
        cold.push(render(&ctx, &ns).await);
        for _ in 0..WARM_RUNS / COLD_RUNS {
            warm.push(render(&ctx, &ns).await);
        }
    }

    // The binary, idle after rendering a control plane of its own.
    let ns = "clusters-bench-idle";
    control_plane(&client, ns, &registry, &release.source_reference()).await;
    let mut operator = BinaryProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_control-plane-operator")),
        &args(&cluster, ns, &ca),
        &[("OPENSHIFT_IMG_OVERRIDES", env.as_str())],
        &dir.path().join("cpo.log"),
    )
    .unwrap();
    let hcps = Api::<HostedControlPlane>::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let done = hcps
            .get("example")
            .await
            .ok()
            .and_then(|h| h.status)
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "ReconciliationSucceeded" && c.status == "True")
            });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline && operator.running(),
            "the operator did not render its control plane:\n{}",
            operator.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    #[allow(clippy::cast_precision_loss, reason = "a few MiB")]
    let rss = hypershift_testkit::rss_bytes(operator.pid()).unwrap() as f64 / (1024.0 * 1024.0);
    println!(
        "cpo_bench cold_median_ms={:.1} cold_max_ms={:.1} warm_median_ms={:.1} cold_runs={COLD_RUNS} warm_runs={} rss_mib={rss:.1}",
        median(cold.clone()),
        cold.iter().copied().fold(0.0, f64::max),
        median(warm.clone()),
        warm.len(),
    );
}
