//! The ignition-server's figures, each beside a baseline measured in the same run
//! (`cargo xtask bench ignition` writes them into docs/benchmarks.md):
//!
//! - cold payload: the first generation in a fresh server process (release lookup through the
//!   mirror, MCO image pull, render), from its `ign_server_payload_generation_seconds`; the
//!   baseline is a warm generation in the same process (another NodePool of the same release:
//!   the registry answers come from the provider's cache);
//! - cached payload over TLS with keep-alive: `wrk` against `/ignition` with a token, beside the
//!   same bytes as a plain static file served by the same stack (axum, hyper, rustls, our accept
//!   loop) in this process;
//! - idle RSS of the server once its payloads are generated.
//!
//! Real parts: the distribution registry (TLS + htpasswd) with the synthetic release, devcluster,
//! the ignition-server release binary. Everything on 127.0.0.1. Not criterion: one run is a
//! scenario with processes; it prints one `ignition_bench key=value…` line.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a bench program: a panic is its failure report"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use devcluster::{DevCluster, DevClusterOptions};
use hypershift_support::contract::{PayloadStatus, TokenSecret, hash_simple};
use hypershift_testkit::{
    BinaryProcess, SyntheticRelease, TestCa, TestRegistry, free_address, https_get, median, metric,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

const NS: &str = "clusters-bench";
const COLD_RUNS: usize = 5;
const WRK_SECONDS: u32 = 8;

fn token(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn token_secret(name: &str, node_pool: &str, release: &str, pull: &[u8], t: &str) -> Secret {
    TokenSecret {
        name: name.into(),
        namespace: NS.into(),
        node_pool: node_pool.into(),
        token: t.into(),
        old_token: None,
        generated_at: "2026-12-01T00:00:00Z".parse().unwrap(),
        expires_at: None,
        release: release.into(),
        config: String::new(),
        config_hash: "00000000".into(),
        pull_secret_hash: hash_simple(pull),
        additional_trust_bundle_hash: hash_simple(b""),
        hc_configuration_hash: String::new(),
        upgrade_type: "Replace".into(),
    }
    .to_secret("bench")
}

async fn wait_generated(api: &Api<Secret>, name: &str) {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        if let Ok(Some(s)) = api.get_opt(name).await
            && PayloadStatus::from_secret(&s).is_some_and(|p| p.is_generated())
        {
            return;
        }
        assert!(Instant::now() < deadline, "payload of {name} not generated");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(sum seconds, count)` of the generation histogram.
async fn generation(server: &BinaryProcess) -> (f64, f64) {
    let m = server.metrics().await.unwrap();
    (
        metric(&m, "ign_server_payload_generation_seconds_sum").unwrap_or(0.0),
        metric(&m, "ign_server_payload_generation_seconds_count").unwrap_or(0.0),
    )
}

/// Requests per second `wrk` reaches against `url` with `headers` (2 threads, 16 connections,
/// keep-alive).
fn wrk(url: &str, headers: &[String]) -> f64 {
    assert!(
        Path::new("/usr/bin/wrk").is_file(),
        "/usr/bin/wrk is missing: install Debian's wrk (`cargo xtask setup` does)"
    );
    let mut c = std::process::Command::new("/usr/bin/wrk");
    c.args(["-t2", "-c16", &format!("-d{WRK_SECONDS}s")]);
    for h in headers {
        c.args(["-H", h]);
    }
    let out = c.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in {text}"))
}

fn rss_mib(pid: u32) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a few MiB")]
    let bytes = hypershift_testkit::rss_bytes(pid).unwrap() as f64;
    bytes / (1024.0 * 1024.0)
}

/// Requests per second for `payload` as a static file, served by the same stack in this process.
async fn static_baseline(cert_file: &Path, key_file: &Path, payload: &[u8]) -> f64 {
    // The baseline: the same bytes as a static file, the same TLS and HTTP stack, in this process.
    let static_addr = free_address().unwrap();
    let listener = tokio::net::TcpListener::bind(&static_addr).await.unwrap();
    let tls = ignition_server::tls::server_config(
        ignition_server::tls::ReloadingCert::load(cert_file, key_file).unwrap(),
    );
    let body = axum::body::Bytes::from(payload.to_vec());
    let router = Router::new().route(
        "/static.json",
        get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let baseline_server = tokio::spawn(ignition_server::http::serve(listener, tls, router, 1024, stop_rx));
    let url = format!("https://{static_addr}/static.json");
    let baseline_rps = tokio::task::spawn_blocking(move || wrk(&url, &[])).await.unwrap();
    let _ = stop_tx.send(true);
    let _ = baseline_server.await;

    baseline_rps
}

/// The namespace and its pull secret; the namespace's Secrets.
async fn namespace(client: kube::Client, pull: &[u8]) -> Api<Secret> {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    let pull_secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "pull-secret"},
        "stringData": {".dockerconfigjson": String::from_utf8(pull.to_vec()).unwrap()},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &pull_secret)
        .await
        .unwrap();
    secrets
}

/// The serving certificate, its key and the registry's CA, as files.
fn files(dir: &Path, ca: &TestCa, registry: &TestRegistry) -> (PathBuf, PathBuf, PathBuf) {
    let (cert, key) = ca.issue(&["127.0.0.1"]);
    let paths = (
        dir.join("tls.crt"),
        dir.join("tls.key"),
        dir.join("registry-ca.pem"),
    );
    std::fs::write(&paths.0, cert).unwrap();
    std::fs::write(&paths.1, key).unwrap();
    std::fs::write(&paths.2, &registry.ca_pem).unwrap();
    paths
}

#[tokio::main]
async fn main() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release.push(&registry).await.unwrap();
    let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
    let client = cluster.client();
    let pull = registry.pull_secret_json();
    let secrets = namespace(client, &pull).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("bench");
    let (cert_file, key_file, registry_ca) = files(dir.path(), &ca, &registry);
    let env = SyntheticRelease::image_overrides_env(&registry.host);
    let source = release.source_reference();

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let mut last: Option<(BinaryProcess, String)> = None;
    for run in 0..COLD_RUNS {
        let addr = free_address().unwrap();
        let args = vec![
            "start".to_owned(),
            format!("--kubeconfig={}", cluster.kubeconfig_path().display()),
            format!("--namespace={NS}"),
            format!("--addr={addr}"),
            format!("--cert-file={}", cert_file.display()),
            format!("--key-file={}", key_file.display()),
            format!("--registry-ca-bundle={}", registry_ca.display()),
        ];
        // The previous server stops before the next one reads the Secrets.
        drop(last.take());
        for s in secrets.list(&ListParams::default()).await.unwrap() {
            let name = s.metadata.name.unwrap_or_default();
            if name.starts_with("token-") {
                secrets.delete(&name, &DeleteParams::default()).await.unwrap();
            }
        }
        let server = BinaryProcess::spawn(
            Path::new(env!("CARGO_BIN_EXE_ignition-server")),
            &args,
            &[("OPENSHIFT_IMG_OVERRIDES", &env)],
            &dir.path().join(format!("server-{run}.log")),
        )
        .unwrap();
        let cold_name = format!("token-a-{run}");
        secrets
            .create(
                &PostParams::default(),
                &token_secret(&cold_name, "clusters-bench/a", &source, &pull, &token(run)),
            )
            .await
            .unwrap();
        wait_generated(&secrets, &cold_name).await;
        let (sum, count) = generation(&server).await;
        assert!((count - 1.0).abs() < 0.5, "one generation expected, got {count}");
        cold.push(sum * 1000.0);
        let warm_name = format!("token-b-{run}");
        secrets
            .create(
                &PostParams::default(),
                &token_secret(&warm_name, "clusters-bench/b", &source, &pull, &token(100 + run)),
            )
            .await
            .unwrap();
        wait_generated(&secrets, &warm_name).await;
        let (sum2, _) = generation(&server).await;
        warm.push((sum2 - sum) * 1000.0);
        last = Some((server, addr));
    }
    let (server, addr) = last.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = rss_mib(server.pid());

    let t = token(COLD_RUNS - 1);
    let auth = format!(
        "Authorization: Bearer {}",
        base64::engine::general_purpose::STANDARD.encode(&t)
    );
    let (status, _, payload) = https_get(
        &addr,
        ca.ca_pem.as_bytes(),
        "127.0.0.1",
        "/ignition",
        &[("Authorization", &auth["Authorization: ".len()..])],
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    let url = format!("https://{addr}/ignition");
    let headers = [auth, "NodePool: clusters-bench/a".to_owned()];
    let rps = tokio::task::spawn_blocking(move || wrk(&url, &headers))
        .await
        .unwrap();
    drop(server);

    let baseline_rps = static_baseline(&cert_file, &key_file, &payload).await;

    println!(
        "ignition_bench cold_median_ms={:.1} cold_max_ms={:.1} warm_median_ms={:.1} cold_runs={COLD_RUNS} rps={rps:.0} baseline_rps={baseline_rps:.0} payload_bytes={} rss_mib={rss:.1} wrk_seconds={WRK_SECONDS}",
        median(cold.clone()),
        cold.iter().copied().fold(0.0, f64::max),
        median(warm),
        payload.len(),
    );
    cluster.shutdown().await;
}
