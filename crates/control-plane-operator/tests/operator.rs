//! The control-plane-operator as a real process against devcluster and the real registry (TLS +
//! htpasswd) holding the synthetic release 4.99.0 in oc-mirror v2's layout. The HostedControlPlane
//! and the carriers are what the hypershift-operator writes. Needs `/usr/bin/docker-registry`
//! (`cargo xtask setup`); fails loudly without it. Waits are liveness bounds, never timing
//! assertions.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_control_plane::HostedControlPlane;
use hypershift_mirrors::{ManagementMirrors, MirrorSetBuilder, parse_documents};
use hypershift_testkit::cluster as kit;
use hypershift_testkit::{BinaryProcess, SOURCE_COMPONENTS, SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

const NS: &str = "clusters-example";
const WITHIN: Duration = Duration::from_mins(1);
const SELECTOR: &str = "app.kubernetes.io/managed-by=control-plane-operator";

struct Env {
    registry: TestRegistry,
    release: SyntheticRelease,
    cluster: DevCluster,
    dir: tempfile::TempDir,
    operator: Option<BinaryProcess>,
}

fn mirrors(host: &str) -> ManagementMirrors {
    let mut b = MirrorSetBuilder::new();
    for doc in parse_documents(&SyntheticRelease::idms_yaml("release-mirror", host, true)).unwrap() {
        b.add_document(&doc).unwrap();
    }
    b.build()
}

/// The hash of the set the operator builds from that env and no overrides (the env carries
/// every mirror for digests and tags alike).
fn effective_hash(host: &str) -> String {
    let env = mirrors(host).to_image_overrides().to_env();
    hypershift_mirrors::contract::MirrorCarriers::receive(Some(&env), &["=".to_owned()])
        .unwrap()
        .merged_mirror_set()
        .unwrap()
        .content_hash()
        .to_owned()
}

impl Env {
    async fn new(release_image: &str) -> Self {
        hypershift_releaseinfo::install_crypto_provider();
        let registry = TestRegistry::start();
        let release = SyntheticRelease::new("4.99.0");
        release.push(&registry).await.unwrap();
        let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
        let client = cluster.client();
        kit::create_crd(&client, kit::HCP_CRD).await.unwrap();
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let pull: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pull-secret", "namespace": NS},
            "stringData": {".dockerconfigjson": String::from_utf8(registry.pull_secret_json()).unwrap()},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), NS)
            .create(&PostParams::default(), &pull)
            .await
            .unwrap();
        let image = if release_image.is_empty() {
            release.source_reference()
        } else {
            release_image.to_owned()
        };
        let hcp: HostedControlPlane = serde_json::from_value(serde_json::json!({
            "apiVersion": "hypershift.openshift.io/v1beta1",
            "kind": "HostedControlPlane",
            "metadata": {"name": "example", "namespace": NS},
            "spec": {"releaseImage": image, "pullSecret": {"name": "pull-secret"}},
        }))
        .unwrap();
        Api::<HostedControlPlane>::namespaced(client, NS)
            .create(&PostParams::default(), &hcp)
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry-ca.pem"), &registry.ca_pem).unwrap();
        Self {
            registry,
            release,
            cluster,
            dir,
            operator: None,
        }
    }

    fn start(&mut self, overrides: &str) {
        self.operator = None;
        let args = vec![
            "run".to_owned(),
            format!("--kubeconfig={}", self.cluster.kubeconfig_path().display()),
            format!("--namespace={NS}"),
            "--hosted-control-plane=example".to_owned(),
            format!("--registry-overrides={overrides}"),
            format!(
                "--registry-ca-bundle={}",
                self.dir.path().join("registry-ca.pem").display()
            ),
            "--registry-timeout-seconds=3".to_owned(),
            "--leader-elect=false".to_owned(),
        ];
        let env = mirrors(&self.registry.host).to_image_overrides().to_env();
        self.operator = Some(
            BinaryProcess::spawn(
                Path::new(env!("CARGO_BIN_EXE_control-plane-operator")),
                &args,
                &[("OPENSHIFT_IMG_OVERRIDES", env.as_str())],
                &self.dir.path().join("cpo.log"),
            )
            .unwrap(),
        );
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
                "timed out waiting for {what}\n--- control-plane-operator log\n{}",
                self.operator
                    .as_ref()
                    .map(BinaryProcess::log_text)
                    .unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Workload name → (every image of its pod spec, resourceVersion).
    async fn workloads(&self) -> BTreeMap<String, (Vec<String>, String)> {
        let client = self.cluster.client();
        let params = ListParams::default().labels(SELECTOR);
        let mut out = BTreeMap::new();
        let images = |spec: Option<k8s_openapi::api::core::v1::PodSpec>| {
            let spec = spec.unwrap_or_default();
            spec.init_containers
                .unwrap_or_default()
                .into_iter()
                .chain(spec.containers)
                .filter_map(|c| c.image)
                .collect::<Vec<_>>()
        };
        for d in Api::<Deployment>::namespaced(client.clone(), NS)
            .list(&params)
            .await
            .unwrap()
        {
            let rv = d.resource_version().unwrap_or_default();
            out.insert(d.name_any(), (images(d.spec.and_then(|s| s.template.spec)), rv));
        }
        for s in Api::<StatefulSet>::namespaced(client, NS)
            .list(&params)
            .await
            .unwrap()
        {
            let rv = s.resource_version().unwrap_or_default();
            out.insert(s.name_any(), (images(s.spec.and_then(|s| s.template.spec)), rv));
        }
        out
    }

    async fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        let hcp = Api::<HostedControlPlane>::namespaced(self.cluster.client(), NS)
            .get("example")
            .await
            .ok()?;
        let c = hcp.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_are_rendered_from_the_release_read_through_the_mirror() {
    let mut env = Env::new("").await;
    env.start("=");
    let workloads = env
        .eventually("every component", || async {
            let w = env.workloads().await;
            (w.len() == 9).then_some(w)
        })
        .await;
    // Pod images are the release's own names (CRI-O applies the management mirrors), the CVO's
    // the release pinned by digest.
    for (name, (images, _)) in &workloads {
        for image in images {
            assert!(
                image.starts_with("quay.invalid/openshift-release-dev/"),
                "{name}: {image}"
            );
        }
    }
    let cvo = &workloads["cluster-version-operator"].0;
    assert!(
        cvo.iter().all(|i| *i == env.release.source_reference()),
        "{cvo:?}"
    );
    assert_eq!(workloads["etcd"].0[1], env.release.component_source("etcd"));
    let (status, _, message) = env
        .eventually("ValidReleaseInfo=True", || async {
            env.condition("ValidReleaseInfo").await.filter(|c| c.0 == "True")
        })
        .await;
    assert_eq!(status, "True");
    assert!(message.contains("(a mirror)"), "{message}");
    // Nothing runs these images here: availability says so.
    let (status, reason, message) = env.condition("Available").await.unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "WaitingForAvailable"),
        "{message}"
    );
    assert_eq!(
        env.condition("EtcdAvailable").await.unwrap().1,
        "WaitingForAvailable"
    );
    let hcp = Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
        .get("example")
        .await
        .unwrap();
    let source = hcp.status.unwrap().release_image_source.unwrap();
    let hash = effective_hash(&env.registry.host);
    assert_eq!(source.mirror_set_hash, hash);
    assert!(source.via_mirror);
    let log = env.operator.as_ref().unwrap().log_text();
    assert!(log.contains(&hash), "the start-up line names the MirrorSet hash");

    // A restart with the same carriers changes nothing.
    let before = env.workloads().await;
    env.start("=");
    env.eventually("the restarted operator's reconcile", || async {
        let log = env.operator.as_ref().unwrap().log_text();
        (log.matches("effective mirrors").count() >= 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.workloads().await,
        before,
        "a restart with the same carriers churned"
    );

    // A restart with new `--registry-overrides`: every image, init containers too, rewritten.
    let target = SyntheticRelease::mirror_components_repo(&env.registry.host);
    env.start(&format!("{SOURCE_COMPONENTS}={target}"));
    let after = env
        .eventually("the components re-rendered", || async {
            let w = env.workloads().await;
            w.iter()
                .filter(|(name, _)| *name != "cluster-version-operator")
                .all(|(_, (images, _))| images.iter().all(|i| i.starts_with(&target)))
                .then_some(w)
        })
        .await;
    assert_eq!(after.len(), 9);
    assert_eq!(
        after["cluster-version-operator"].0,
        before["cluster-version-operator"].0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_no_mirror_serves_is_a_condition_not_a_crash_loop() {
    let mut env = Env::new("").await;
    let missing = format!("{}@sha256:{}", hypershift_testkit::SOURCE_RELEASE, "0".repeat(64));
    Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
        .patch(
            "example",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"releaseImage": missing}})),
        )
        .await
        .unwrap();
    env.start("=");
    let (_, reason, message) = env
        .eventually("ValidReleaseInfo=False", || async {
            env.condition("ValidReleaseInfo").await.filter(|c| c.0 == "False")
        })
        .await;
    assert_eq!(reason, "ReleaseLookupFailed", "{message}");
    assert!(
        env.workloads().await.is_empty(),
        "nothing is rendered from a release that was not read"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.operator.as_mut().unwrap().running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_mirrors_follow_image_content_sources_and_go_when_it_is_emptied() {
    let mut env = Env::new("").await;
    let hcps = Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS);
    let mirror = SyntheticRelease::mirror_components_repo(&env.registry.host);
    hcps.patch(
        "example",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"imageContentSources": [{"source": SOURCE_COMPONENTS, "mirrors": [mirror]}]}})),
    )
    .await
    .unwrap();
    env.start("=");
    let config_maps = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(env.cluster.client(), NS);
    let cm = env
        .eventually("the guest mirrors ConfigMap", || async {
            config_maps.get_opt("guest-image-mirrors").await.ok()?
        })
        .await;
    let data = cm.data.unwrap();
    assert!(data["mirror-sets.yaml"].contains(&mirror), "{data:?}");
    assert!(data["registries.conf"].contains(&mirror), "{data:?}");
    // The status is written after the objects.
    env.eventually("ValidDataPlaneMirrors=True", || async {
        env.condition("ValidDataPlaneMirrors")
            .await
            .filter(|c| c.0 == "True")
    })
    .await;
    // Emptying the field removes them (upstream kept them: OCPBUGS-34820).
    hcps.patch(
        "example",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"imageContentSources": []}})),
    )
    .await
    .unwrap();
    env.eventually("the guest mirrors ConfigMap to go", || async {
        config_maps
            .get_opt("guest-image-mirrors")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
