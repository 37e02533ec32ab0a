//! The ignition-server as a real process against devcluster and the real registry (TLS +
//! htpasswd) holding the synthetic release 4.99.0 in oc-mirror v2's layout. The token Secrets are
//! written through the typed contract, as the NodePool controller writes them; payloads are
//! fetched over HTTPS trusting only the test CA, and checked by `ignition-validate`.
//! Needs `/usr/bin/docker-registry` and Debian's `ignition` (`cargo xtask setup`); fails loudly
//! without them.
//!
//! Waits are liveness bounds, never timing assertions.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use devcluster::{DevCluster, DevClusterOptions};
use hypershift_mirrors::{ManagementMirrors, MirrorSetBuilder, parse_documents};
use hypershift_support::contract::{PayloadStatus, TokenSecret, hash_simple};
use hypershift_testkit::faults::refusing_address;
use hypershift_testkit::{
    BinaryProcess, SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestCa, TestRegistry,
};
use hypershift_testkit::{free_address, https_get, ignition, metric, push_image};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};

const NS: &str = "clusters-example";
const SECRET: &str = "token-workers-0a1b2c3d";
const WITHIN: Duration = Duration::from_mins(1);

struct Env {
    registry: TestRegistry,
    release: SyntheticRelease,
    cluster: DevCluster,
    ca: TestCa,
    dir: tempfile::TempDir,
    addr: String,
    server: Option<BinaryProcess>,
}

/// `OPENSHIFT_IMG_OVERRIDES` for mirror documents.
fn image_overrides(yaml: &str) -> String {
    let mut b = MirrorSetBuilder::new();
    for doc in parse_documents(yaml).unwrap() {
        b.add_document(&doc).unwrap();
    }
    let set: ManagementMirrors = b.build();
    set.to_image_overrides().to_env()
}

fn token_secret(
    release: &str,
    config: &str,
    pull_secret: &[u8],
    token: &str,
    old: Option<&str>,
) -> TokenSecret {
    TokenSecret {
        name: SECRET.into(),
        namespace: NS.into(),
        node_pool: "clusters/workers".into(),
        token: token.into(),
        old_token: old.map(str::to_owned),
        generated_at: "2026-12-01T00:00:00Z".parse().unwrap(),
        expires_at: None,
        release: release.into(),
        config: config.into(),
        config_hash: "0a1b2c3d".into(),
        pull_secret_hash: hash_simple(pull_secret),
        additional_trust_bundle_hash: hash_simple(b""),
        hc_configuration_hash: String::new(),
        upgrade_type: "Replace".into(),
    }
}

fn bearer(token: &str) -> String {
    format!(
        "Bearer {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

impl Env {
    /// Registry (with the release pushed when `push`), devcluster, the namespace and its pull
    /// secret, a serving certificate for 127.0.0.1. The server is not started yet.
    async fn new(push: bool) -> Self {
        hypershift_releaseinfo::install_crypto_provider();
        let registry = TestRegistry::start();
        let release = SyntheticRelease::new("4.99.0");
        if push {
            release.push(&registry).await.unwrap();
        }
        let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
        let client = cluster.client();
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let pull: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pull-secret", "namespace": NS},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": String::from_utf8(registry.pull_secret_json()).unwrap()},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client, NS)
            .create(&PostParams::default(), &pull)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("ignition-root-ca");
        let (cert, key) = ca.issue(&["127.0.0.1"]);
        std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), key).unwrap();
        std::fs::write(dir.path().join("registry-ca.pem"), &registry.ca_pem).unwrap();
        Self {
            registry,
            release,
            cluster,
            ca,
            dir,
            addr: free_address().unwrap(),
            server: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the server with `OPENSHIFT_IMG_OVERRIDES=env` and `extra` flags.
    fn start(&mut self, env: &str, extra: &[&str]) {
        let mut args = vec![
            "start".to_owned(),
            format!("--kubeconfig={}", self.cluster.kubeconfig_path().display()),
            format!("--namespace={NS}"),
            format!("--addr={}", self.addr),
            format!("--cert-file={}", self.path("tls.crt").display()),
            format!("--key-file={}", self.path("tls.key").display()),
            format!("--registry-ca-bundle={}", self.path("registry-ca.pem").display()),
            "--registry-timeout-seconds=3".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        self.server = Some(
            BinaryProcess::spawn(
                std::path::Path::new(env!("CARGO_BIN_EXE_ignition-server")),
                &args,
                &[("OPENSHIFT_IMG_OVERRIDES", env), ("RUST_LOG", "info")],
                &self.path("ignition-server.log"),
            )
            .unwrap(),
        );
    }

    fn server(&self) -> &BinaryProcess {
        self.server.as_ref().unwrap()
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client(), NS)
    }

    async fn put_token(&self, t: &TokenSecret) {
        let secret = t.to_secret("hypershift-operator");
        let api = self.secrets();
        match api.get_opt(SECRET).await.unwrap() {
            None => {
                api.create(&PostParams::default(), &secret).await.unwrap();
            }
            Some(current) => {
                let mut next = secret;
                next.metadata.resource_version = current.metadata.resource_version;
                // Keep what the ignition server reported, as the operator's apply does.
                let mut data = current.data.unwrap_or_default();
                data.extend(next.data.take().unwrap_or_default());
                next.data = Some(data);
                api.replace(SECRET, &PostParams::default(), &next).await.unwrap();
            }
        }
    }

    async fn status(&self) -> Option<PayloadStatus> {
        PayloadStatus::from_secret(&self.secrets().get_opt(SECRET).await.ok()??)
    }

    async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n--- ignition-server log\n{}\n--- registry log\n{}",
                self.server
                    .as_ref()
                    .map(BinaryProcess::log_text)
                    .unwrap_or_default(),
                self.registry.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn reason(&self, reason: &str) -> PayloadStatus {
        self.eventually(&format!("reason {reason}"), || async {
            self.status().await.filter(|s| s.reason == reason)
        })
        .await
    }

    async fn get(&self, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let (status, _, body) = https_get(
            &self.addr,
            self.ca.ca_pem.as_bytes(),
            "127.0.0.1",
            "/ignition",
            headers,
        )
        .await
        .unwrap();
        (status, body)
    }

    /// The payload for `token`, once served.
    async fn payload(&self, token: &str) -> Vec<u8> {
        let auth = bearer(token);
        self.eventually("the payload", || async {
            let headers = [("Authorization", auth.as_str()), ("NodePool", "clusters/workers")];
            // Not listening yet (just started) counts as not served yet.
            let (status, _, body) = https_get(
                &self.addr,
                self.ca.ca_pem.as_bytes(),
                "127.0.0.1",
                "/ignition",
                &headers,
            )
            .await
            .ok()?;
            (status == 200).then_some(body)
        })
        .await
    }

    /// The token Secret of [`TOKEN`] for the release, with no config documents.
    async fn put_plain_token(&self) {
        let pull = self.registry.pull_secret_json();
        self.put_token(&token_secret(
            &self.release.source_reference(),
            "",
            &pull,
            TOKEN,
            None,
        ))
        .await;
    }

    /// Every request the server made is one its Role (the hypershift-operator renders it from
    /// the contract) grants, in its namespace.
    fn assert_within_its_role(&self) {
        let made: Vec<_> = self
            .cluster
            .requests()
            .into_iter()
            .filter(|r| r.client == "ignition-server")
            .collect();
        assert!(!made.is_empty(), "the server's requests were recorded");
        let denied: Vec<String> = made
            .iter()
            .filter(|r| {
                r.cluster_wide
                    || !hypershift_support::contract::role_allows(
                        hypershift_support::contract::IGNITION_SERVER_RULES,
                        &r.group,
                        &r.resource,
                        &r.verb,
                    )
            })
            .map(|r| {
                format!(
                    "{} {}/{} (cluster-wide: {})",
                    r.verb, r.group, r.resource, r.cluster_wide
                )
            })
            .collect();
        assert!(
            denied.is_empty(),
            "the ignition-server called what its Role (IGNITION_SERVER_RULES) does not grant: {denied:?}"
        );
    }

    fn release_mirror_yaml(&self) -> String {
        SyntheticRelease::idms_yaml("release-mirror", &self.registry.host, true)
    }
}

/// The payload's file at `path`, decoded.
fn file(payload: &[u8], path: &str) -> Option<String> {
    let config: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let source = config["storage"]["files"]
        .as_array()?
        .iter()
        .find(|f| f["path"] == path)?["contents"]["source"]
        .as_str()?
        .to_owned();
    let b64 = source.strip_prefix("data:;base64,")?;
    Some(String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap())
}

const TOKEN: &str = "1c9a4a0e-0c5b-4d4e-9a55-1f4f0b1e2d3c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_serves_the_machine_config_operator_image_and_the_payload_validates() {
    let mut env = Env::new(true).await;
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    let data_plane = SyntheticRelease::idms_yaml("cluster", &env.registry.host, true);
    let pull = env.registry.pull_secret_json();
    env.put_token(&token_secret(
        &env.release.source_reference(),
        &data_plane,
        &pull,
        TOKEN,
        None,
    ))
    .await;
    let status = env.reason("AsExpected").await;
    assert_eq!(status.message, "Payload generated successfully");
    let payload = env.payload(TOKEN).await;
    ignition::validate(&payload, &env.path("validate")).unwrap();
    // The templates, rendered from the MCO image the mirror served.
    let release_file = file(&payload, "/etc/hypershift/release").unwrap();
    assert!(release_file.contains("version=4.99.0"), "{release_file}");
    assert!(
        release_file.contains("nodePool=clusters/workers"),
        "{release_file}"
    );
    assert_eq!(
        file(&payload, "/etc/hypershift/cli-image").unwrap(),
        env.release.component_source("cli")
    );
    assert!(file(&payload, "/etc/hypershift/master-only").is_none());
    // The data-plane mirrors and the pull secret.
    let registries = file(&payload, "/etc/containers/registries.conf").unwrap();
    assert!(
        registries.contains(&SyntheticRelease::mirror_components_repo(&env.registry.host)),
        "{registries}"
    );
    assert_eq!(
        file(&payload, "/var/lib/kubelet/config.json").unwrap().as_bytes(),
        pull.as_slice()
    );
    // Byte-identical for the same inputs, across a restart of the server.
    env.server = None;
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    assert_eq!(env.payload(TOKEN).await, payload);
    let log = env.server().log_text();
    assert!(!log.contains(TOKEN), "the token reached the log");
    assert!(log.contains("payload generated"), "{log}");
    // Marked reached after a fetch (reported off the request path).
    env.eventually("the ignition-reached annotation", || async {
        let secret = env.secrets().get(SECRET).await.ok()?;
        (secret
            .metadata
            .annotations?
            .get("hypershift.openshift.io/ignition-reached")?
            == "True")
            .then_some(())
    })
    .await;
    env.assert_within_its_role();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_open_only_their_payload_rotation_keeps_the_old_one_deletion_evicts() {
    let mut env = Env::new(true).await;
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    let pull = env.registry.pull_secret_json();
    let source = env.release.source_reference();
    env.put_token(&token_secret(&source, "", &pull, TOKEN, None))
        .await;
    env.payload(TOKEN).await;
    for headers in [
        vec![],
        vec![("Authorization", "Bearer !!".to_owned())],
        vec![("Authorization", bearer("2b5e6c1a-0000-4000-8000-000000000000"))],
        vec![
            ("Authorization", bearer(TOKEN)),
            ("NodePool", "clusters/other".to_owned()),
        ],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = env.get(&h).await;
        assert_eq!(
            (status, body.as_slice()),
            (401, b"Unauthorized\n".as_slice()),
            "{headers:?}"
        );
    }
    // The NodePool controller rotates: both tokens open the payload, without regenerating it.
    let misses = |m: &str| metric(m, "ign_server_payload_cache_miss_total").unwrap_or(0.0);
    let before = misses(&env.server().metrics().await.unwrap());
    let new = "7d0c3b9e-5a1f-4c2e-8b6d-9e8f7a6b5c4d";
    env.put_token(&token_secret(&source, "", &pull, new, Some(TOKEN)))
        .await;
    env.payload(new).await;
    assert_eq!(env.payload(TOKEN).await, env.payload(new).await);
    assert!(
        (misses(&env.server().metrics().await.unwrap()) - before).abs() < 0.5,
        "regenerated on rotation"
    );
    // Outdated and past its expiry: nothing opens it.
    let mut expired = token_secret(&source, "", &pull, new, Some(TOKEN));
    expired.expires_at = Some("2026-01-01T00:00:00Z".parse().unwrap());
    env.put_token(&expired).await;
    env.eventually("the expired token to stop working", || async {
        (env.get(&[("Authorization", &bearer(new))]).await.0 == 401).then_some(())
    })
    .await;
    // A deleted Secret's tokens stop at once.
    env.put_token(&token_secret(&source, "", &pull, TOKEN, None))
        .await;
    env.payload(TOKEN).await;
    env.secrets()
        .delete(SECRET, &DeleteParams::default())
        .await
        .unwrap();
    env.eventually("the deleted Secret's token to stop working", || async {
        (env.get(&[("Authorization", &bearer(TOKEN))]).await.0 == 401).then_some(())
    })
    .await;
    let m = env.server().metrics().await.unwrap();
    assert_eq!(metric(&m, "ign_server_payload_cache"), Some(0.0), "{m}");
    env.assert_within_its_role();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_mirror_is_passed_over() {
    let mut env = Env::new(true).await;
    let dead = refusing_address();
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors: [{dead}/openshift/release-images, {}]\n    mirrorSourcePolicy: NeverContactSource\n  - source: {SOURCE_COMPONENTS}\n    mirrors: [{dead}/openshift/release, {}]\n    mirrorSourcePolicy: NeverContactSource\n",
        SyntheticRelease::mirror_release_repo(&env.registry.host),
        SyntheticRelease::mirror_components_repo(&env.registry.host),
    );
    env.start(&image_overrides(&yaml), &[]);
    env.put_plain_token().await;
    env.reason("AsExpected").await;
    ignition::validate(&env.payload(TOKEN).await, &env.path("validate")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_machine_config_operator_image_is_reported_and_the_server_stays_up() {
    let mut env = Env::new(false).await;
    // Only the release image: its components (the MCO image among them) are not mirrored yet.
    push_image(
        &env.registry.push_client(),
        &env.registry.auth(),
        &SyntheticRelease::mirror_release_repo(&env.registry.host),
        &env.release.release,
        None,
    )
    .await
    .unwrap();
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    env.put_plain_token().await;
    let status = env.reason("ReleaseLookupFailed").await;
    assert!(
        status.message.contains("machine-config-operator image"),
        "{}",
        status.message
    );
    assert!(!status.message.contains(TOKEN));
    let (code, _) = env.get(&[("Authorization", &bearer(TOKEN))]).await;
    assert_eq!(code, 401);
    assert!(
        env.server()
            .admin_get("/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.0 200")
    );
    let m = env.server().metrics().await.unwrap();
    assert!(
        m.contains("ign_server_payload_generation_failures_total{reason=\"ReleaseLookupFailed\"}"),
        "{m}"
    );
    // Mirrored later: the backoff retry generates it.
    env.release.push(&env.registry).await.unwrap();
    env.reason("AsExpected").await;
    env.payload(TOKEN).await;
    assert!(env.server.as_mut().unwrap().running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_machine_config_operator_image_behind_a_registry_override_only() {
    let mut env = Env::new(true).await;
    // The management mirrors cover the release repository only; the components are reached
    // through `--registry-overrides` alone.
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors: [{}]\n    mirrorSourcePolicy: NeverContactSource\n",
        SyntheticRelease::mirror_release_repo(&env.registry.host),
    );
    let flag = format!(
        "{SOURCE_COMPONENTS}={}",
        SyntheticRelease::mirror_components_repo(&env.registry.host)
    );
    env.start(&image_overrides(&yaml), &["--registry-overrides", &flag]);
    env.put_plain_token().await;
    env.reason("AsExpected").await;
    let payload = env.payload(TOKEN).await;
    // Placeholders name the image as the release does: the node's runtime applies its mirrors.
    assert_eq!(
        file(&payload, "/etc/hypershift/cli-image").unwrap(),
        env.release.component_source("cli")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_reported_without_a_hot_loop() {
    let mut env = Env::new(true).await;
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    let pull = env.registry.pull_secret_json();
    let source = env.release.source_reference();
    let bad_config =
        "kind: MachineConfig\nmetadata: {name: 99-new}\nspec:\n  config:\n    ignition: {version: 3.4.0}\n";
    env.put_token(&token_secret(&source, bad_config, &pull, TOKEN, None))
        .await;
    let status = env.reason("InvalidConfig").await;
    assert!(
        status.message.contains("MachineConfig \"99-new\""),
        "{}",
        status.message
    );
    // A pull secret that is not the one the token Secret names: waiting, not generating.
    let mut other = token_secret(&source, "", &pull, TOKEN, None);
    other.pull_secret_hash = hash_simple(b"another pull secret");
    env.put_token(&other).await;
    env.reason("InputsNotReady").await;
    let runs = |m: &str| metric(m, "tokensecret_reconcile_runs_total").unwrap_or(0.0);
    let before = runs(&env.server().metrics().await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = runs(&env.server().metrics().await.unwrap());
    assert!(
        after - before <= 1.0,
        "reconciled {} times while waiting",
        after - before
    );
    assert!(env.server.as_mut().unwrap().running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_certificate_is_picked_up_and_sigterm_stops_cleanly() {
    let mut env = Env::new(true).await;
    env.start(&image_overrides(&env.release_mirror_yaml()), &[]);
    let ok = |ca: String| {
        let addr = env.addr.clone();
        async move {
            https_get(&addr, ca.as_bytes(), "127.0.0.1", "/healthz", &[])
                .await
                .ok()
                .filter(|(s, _, _)| *s == 200)
        }
    };
    env.eventually("the server to answer", || ok(env.ca.ca_pem.clone()))
        .await;
    let rotated = TestCa::new("rotated-ca");
    let (cert, key) = rotated.issue(&["127.0.0.1"]);
    // As a Secret volume update does: both files change.
    std::fs::write(env.path("tls.key"), key).unwrap();
    std::fs::write(env.path("tls.crt"), cert).unwrap();
    env.eventually("the rotated certificate", || ok(rotated.ca_pem.clone()))
        .await;
    // Headers beyond the bound are refused.
    let big = "x".repeat(20 * 1024);
    let (status, _, _) = https_get(
        &env.addr,
        rotated.ca_pem.as_bytes(),
        "127.0.0.1",
        "/ignition",
        &[("X-Big", &big)],
    )
    .await
    .unwrap();
    assert_eq!(status, 431);
    let pid = env.server().pid();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + WITHIN;
    let status = loop {
        if let Some(s) = env.server.as_mut().unwrap().exit_status() {
            break s;
        }
        assert!(Instant::now() < deadline, "the server did not exit on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}\n{}", env.server().log_text());
}
