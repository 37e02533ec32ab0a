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

use hypershift_testkit::cluster as kit;
use hypershift_testkit::{BinaryProcess, SOURCE_COMPONENTS, SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

const NS: &str = "clusters-example";
const WITHIN: Duration = Duration::from_mins(1);
const SELECTOR: &str = "app.kubernetes.io/managed-by=control-plane-operator";
/// The components' workloads (the catalogs' Deployments come on top).
const COMPONENTS: usize = 9;
/// The release is 4.99.0: catalogs are looked for from v4.22 (the cap) down.
const CATALOG_TAGS: &[(&str, &[&str])] = &[
    ("certified-operator-index", &["v4.22"]),
    // Only an older version: found by stepping back.
    ("community-operator-index", &["v4.20"]),
    ("redhat-marketplace-index", &["v4.22"]),
    ("redhat-operator-index", &["v4.21", "v4.22"]),
];

fn is_catalog(name: &str) -> bool {
    name.ends_with("-catalog")
}

struct Env {
    registry: TestRegistry,
    release: SyntheticRelease,
    cluster: DevCluster,
    dir: tempfile::TempDir,
    operator: Option<BinaryProcess>,
}

/// The hash of the set the operator builds from that env and no overrides (the env carries
/// every mirror for digests and tags alike).
fn effective_hash(host: &str) -> String {
    let env = SyntheticRelease::image_overrides_env(host);
    hypershift_mirrors::contract::MirrorCarriers::receive(Some(&env), &["=".to_owned()])
        .unwrap()
        .merged_mirror_set()
        .unwrap()
        .content_hash()
        .to_owned()
}

impl Env {
    async fn new(release_image: &str) -> Self {
        Self::with(release_image, CATALOG_TAGS, false).await
    }

    /// A registry with `catalogs` (index repository, tags) under its catalog mirror; with
    /// `image_streams`, the management cluster serves image.openshift.io/v1 ImageStreams.
    async fn with(release_image: &str, catalogs: &[(&str, &[&str])], image_streams: bool) -> Self {
        hypershift_releaseinfo::install_crypto_provider();
        let registry = TestRegistry::start();
        let release = SyntheticRelease::new("4.99.0");
        release.push(&registry).await.unwrap();
        for (repository, tags) in catalogs {
            hypershift_testkit::push_catalog(&registry, repository, tags)
                .await
                .unwrap();
        }
        let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
        let client = cluster.client();
        kit::create_crd(&client, kit::HCP_CRD).await.unwrap();
        if image_streams {
            kit::create_crd(&client, kit::IMAGE_STREAM_CRD).await.unwrap();
        }
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
            "metadata": {"name": "example", "namespace": NS, "annotations": {
                // As the hypershift-operator copies it from the HostedCluster: the default
                // catalog registry is the registry's catalog mirror (never registry.redhat.io).
                "hypershift.openshift.io/olm-catalogs-is-registry-overrides": hypershift_testkit::catalog_overrides(&registry.host),
            }},
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
        let env = SyntheticRelease::image_overrides_env(&self.registry.host);
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

    /// A fresh scenario with the operator started and its four catalog Deployments rendered.
    async fn with_catalogs_rendered() -> (Self, BTreeMap<String, (Vec<String>, String)>) {
        let mut env = Self::new("").await;
        env.start("=");
        let catalogs = env
            .eventually("four catalog Deployments", || async {
                let w = catalog_workloads(&env).await;
                (w.len() == 4).then_some(w)
            })
            .await;
        (env, catalogs)
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
        .eventually("every component and catalog", || async {
            let w = env.workloads().await;
            (w.len() == COMPONENTS + 4).then_some(w)
        })
        .await;
    // Pod images are the release's own names (CRI-O applies the management mirrors), the CVO's
    // the release pinned by digest.
    for (name, (images, _)) in workloads.iter().filter(|(n, _)| !is_catalog(n)) {
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
    // Its Role (the hypershift-operator renders it from the contract) is namespaced: every
    // request stays in its namespace and is granted.
    let made: Vec<_> = env
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.client == "control-plane-operator")
        .collect();
    assert!(!made.is_empty());
    for r in &made {
        assert!(
            !r.cluster_wide
                && hypershift_support::contract::role_allows(
                    hypershift_support::contract::CONTROL_PLANE_OPERATOR_RULES,
                    &r.group,
                    &r.resource,
                    &r.verb
                ),
            "outside its Role: {r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_re_render_only_what_the_carriers_change() {
    let mut env = Env::new("").await;
    env.start("=");
    env.eventually("every component and catalog", || async {
        let w = env.workloads().await;
        (w.len() == COMPONENTS + 4).then_some(())
    })
    .await;
    env.eventually("the first status", || async {
        env.condition("ReconciliationSucceeded").await
    })
    .await;

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

    // A restart with new `--registry-overrides`: every image, init containers too, rewritten;
    // nothing else churns (the catalog Services, the HostedControlPlane's spec).
    let client = env.cluster.client();
    let services = || async {
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(client.clone(), NS)
            .list(&ListParams::default().labels(SELECTOR))
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.name_any(), s.resource_version()))
            .collect::<Vec<_>>()
    };
    let services_before = services().await;
    assert_eq!(services_before.len(), 4);
    let hcp_generation = Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
        .get("example")
        .await
        .unwrap()
        .metadata
        .generation;
    let target = SyntheticRelease::mirror_components_repo(&env.registry.host);
    env.start(&format!("{SOURCE_COMPONENTS}={target}"));
    let after = env
        .eventually("the components re-rendered", || async {
            let w = env.workloads().await;
            w.iter()
                .filter(|(name, _)| *name != "cluster-version-operator" && !is_catalog(name))
                .all(|(_, (images, _))| images.iter().all(|i| i.starts_with(&target)))
                .then_some(w)
        })
        .await;
    assert_eq!(after.len(), COMPONENTS + 4);
    assert_eq!(services().await, services_before, "the Services churned");
    assert_eq!(
        Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
            .get("example")
            .await
            .unwrap()
            .metadata
            .generation,
        hcp_generation
    );
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

/// The catalog Deployments: name → (every image, resourceVersion).
async fn catalog_workloads(env: &Env) -> BTreeMap<String, (Vec<String>, String)> {
    env.workloads()
        .await
        .into_iter()
        .filter(|(n, _)| is_catalog(n))
        .collect()
}

async fn annotate(env: &Env, annotations: serde_json::Value) {
    Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
        .patch(
            "example",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_image_stream_api_catalogs_run_by_digest() {
    use control_plane_operator::catalogs::CATALOGS;
    let (env, catalogs) = Env::with_catalogs_rendered().await;
    let mirror = hypershift_testkit::catalog_mirror(&env.registry.host);
    for (catalog, (repository, tags)) in CATALOGS.iter().zip(CATALOG_TAGS) {
        // The newest version there is at or below v4.22, by digest (the tag dropped).
        let newest = tags.iter().max().unwrap();
        let digest = hypershift_testkit::catalog_image(repository, newest).digest;
        let expected = format!("{mirror}/{repository}@{digest}");
        let images = &catalogs[&catalog.deployment()].0;
        assert_eq!(images[1..], [expected.clone(), expected], "{}", catalog.name);
    }
    let services: Vec<String> =
        Api::<k8s_openapi::api::core::v1::Service>::namespaced(env.cluster.client(), NS)
            .list(&ListParams::default().labels(SELECTOR))
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name_any())
            .collect();
    assert_eq!(
        services,
        [
            "certified-operators",
            "community-operators",
            "redhat-marketplace",
            "redhat-operators"
        ]
    );
    let (_, reason, _) = env
        .eventually("ValidOLMCatalogConfiguration", || async {
            env.condition("ValidOLMCatalogConfiguration").await
        })
        .await;
    assert_eq!(reason, "ImageStreamAPIUnavailable");
    let (status, _, message) = env.condition("OLMCatalogImagesResolved").await.unwrap();
    assert_eq!(status, "True", "{message}");
    assert!(
        message.contains(&format!(
            "community-operators from {mirror}/community-operator-index:v4.20"
        )),
        "stepped back two minors: {message}"
    );
    // Nothing runs the catalogs here: they say so.
    assert_eq!(
        env.condition("OLMCatalogsAvailable").await.unwrap().1,
        "WaitingForAvailable"
    );

    // The default sources disabled: no catalog; enabled again: all four back.
    let configure = |disabled: bool| {
        let hcps = Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS);
        async move {
            hcps.patch(
                "example",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"configuration": {"operatorhub": {"disableAllDefaultSources": disabled}}}})),
            )
            .await
            .unwrap();
        }
    };
    configure(true).await;
    env.eventually("the catalogs gone", || async {
        catalog_workloads(&env).await.is_empty().then_some(())
    })
    .await;
    env.eventually("DefaultSourcesDisabled", || async {
        env.condition("ValidOLMCatalogConfiguration")
            .await
            .filter(|c| c.1 == "DefaultSourcesDisabled")
    })
    .await;
    configure(false).await;
    env.eventually("the catalogs back", || async {
        (catalog_workloads(&env).await.len() == 4).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_annotations_pin_all_four_by_digest_and_bad_ones_change_nothing() {
    use control_plane_operator::catalogs::CATALOGS;
    let (mut env, catalogs) = Env::with_catalogs_rendered().await;
    let mirror = hypershift_testkit::catalog_mirror(&env.registry.host);

    // Three of the four annotations: a False condition naming the missing one, nothing changed.
    let pinned = |c: &control_plane_operator::catalogs::Catalog| {
        format!(
            "{mirror}/{}@{}",
            c.repository,
            hypershift_testkit::catalog_image(c.repository, "v4.22").digest
        )
    };
    let three: serde_json::Map<String, serde_json::Value> = CATALOGS[..3]
        .iter()
        .map(|c| (c.annotation.to_owned(), pinned(c).into()))
        .collect();
    annotate(&env, three.into()).await;
    let (_, reason, message) = env
        .eventually("ValidOLMCatalogConfiguration=False", || async {
            env.condition("ValidOLMCatalogConfiguration")
                .await
                .filter(|c| c.0 == "False")
        })
        .await;
    assert_eq!(reason, "InvalidCatalogImageAnnotations");
    assert!(
        message.contains("hypershift.openshift.io/redhat-operators-catalog-image"),
        "{message}"
    );
    assert_eq!(catalog_workloads(&env).await, catalogs, "nothing half-applied");
    assert_eq!(
        env.condition("ReconciliationSucceeded").await.unwrap().0,
        "True",
        "the rest of the control plane reconciles"
    );

    // A tag instead of a digest: named too.
    annotate(
        &env,
        serde_json::json!({CATALOGS[3].annotation: format!("{mirror}/redhat-operator-index:v4.22")}),
    )
    .await;
    env.eventually("the tag named", || async {
        env.condition("ValidOLMCatalogConfiguration")
            .await
            .filter(|c| c.2.contains("by digest") && c.2.contains(CATALOGS[3].annotation))
    })
    .await;
    assert_eq!(catalog_workloads(&env).await, catalogs);

    // All four by digest: the Deployments run exactly those.
    annotate(
        &env,
        serde_json::json!({CATALOGS[3].annotation: pinned(&CATALOGS[3])}),
    )
    .await;
    env.eventually("the pinned images", || async {
        let w = catalog_workloads(&env).await;
        CATALOGS
            .iter()
            .all(|c| w.get(&c.deployment()).is_some_and(|(i, _)| i[2] == pinned(c)))
            .then_some(())
    })
    .await;
    assert_eq!(
        env.condition("ValidOLMCatalogConfiguration").await.unwrap().1,
        "CatalogImageAnnotations"
    );

    // A malformed overrides annotation: named; the catalogs stay.
    let before = catalog_workloads(&env).await;
    annotate(
        &env,
        serde_json::json!({"hypershift.openshift.io/olm-catalogs-is-registry-overrides": "registry.redhat.io/redhat"}),
    )
    .await;
    let (_, _, message) = env
        .eventually("InvalidRegistryOverridesAnnotation", || async {
            env.condition("ValidOLMCatalogConfiguration")
                .await
                .filter(|c| c.1 == "InvalidRegistryOverridesAnnotation")
        })
        .await;
    assert!(message.contains("\"registry.redhat.io/redhat\""), "{message}");
    assert_eq!(catalog_workloads(&env).await, before);

    assert!(env.operator.as_mut().unwrap().running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_image_stream_api_catalogs_come_through_it_and_a_missing_one_is_named() {
    let present: Vec<(&str, &[&str])> = CATALOG_TAGS
        .iter()
        .copied()
        .filter(|(r, _)| *r != "redhat-marketplace-index")
        .collect();
    let mut env = Env::with("", &present, true).await;
    env.start("=");
    let streams = Api::<hypershift_api::openshift::ImageStream>::namespaced(env.cluster.client(), NS);
    let stream = env
        .eventually("the catalogs ImageStream", || async {
            streams.get_opt("catalogs").await.ok()?
        })
        .await;
    let mirror = hypershift_testkit::catalog_mirror(&env.registry.host);
    let tags: Vec<(String, String)> = stream
        .spec
        .tags
        .iter()
        .map(|t| (t.name.clone(), t.from.clone().unwrap().name))
        .collect();
    assert_eq!(
        tags,
        [
            (
                "certified-operators".to_owned(),
                format!("{mirror}/certified-operator-index:v4.22")
            ),
            (
                "community-operators".to_owned(),
                format!("{mirror}/community-operator-index:v4.20")
            ),
            (
                "redhat-operators".to_owned(),
                format!("{mirror}/redhat-operator-index:v4.22")
            ),
        ]
    );
    let catalogs = env
        .eventually("three catalog Deployments", || async {
            let w = catalog_workloads(&env).await;
            (w.len() == 3).then_some(w)
        })
        .await;
    for (name, (images, _)) in &catalogs {
        assert!(
            images[2].starts_with("catalogs:"),
            "{name}: the trigger's placeholder: {images:?}"
        );
    }
    let (status, reason, message) = env
        .eventually("OLMCatalogImagesResolved", || async {
            env.condition("OLMCatalogImagesResolved").await
        })
        .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CatalogImageNotFound")
    );
    assert!(
        message.contains("redhat-marketplace") && message.contains("redhat-marketplace-index:v4.19"),
        "every version tried is named: {message}"
    );
    assert_eq!(
        env.condition("ValidOLMCatalogConfiguration").await.unwrap().1,
        "ImageStream"
    );
    // Not a failure of the control plane.
    assert_eq!(env.condition("ReconciliationSucceeded").await.unwrap().0, "True");
    assert_eq!(env.workloads().await.len(), COMPONENTS + 3);
    // Guest placement: no catalog object in the management cluster.
    Api::<HostedControlPlane>::namespaced(env.cluster.client(), NS)
        .patch(
            "example",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"olmCatalogPlacement": "guest"}})),
        )
        .await
        .unwrap();
    env.eventually("the catalogs gone", || async {
        let services = Api::<k8s_openapi::api::core::v1::Service>::namespaced(env.cluster.client(), NS)
            .list(&ListParams::default().labels(SELECTOR))
            .await
            .ok()?;
        let stream = streams.get_opt("catalogs").await.ok()?;
        (catalog_workloads(&env).await.is_empty() && services.items.is_empty() && stream.is_none())
            .then_some(())
    })
    .await;
    assert_eq!(env.workloads().await.len(), COMPONENTS);
}

/// The runnable synthetic release (`hypershift_testkit::images`) links, in each component image,
/// the commands the components table runs to the stand-in; a new row or command without its link
/// would render a pod that cannot start (the container tier would see it; this says why at once).
#[test]
fn every_command_the_table_runs_exists_in_its_runnable_image() {
    use control_plane_operator::components::{COMPONENTS, Image};
    use hypershift_testkit::images::{PAYLOAD, STANDIN_COMMANDS};
    // busybox's applets in the stand-in base image (deploy/images/standin.Containerfile).
    const SHELL: &[&str] = &["/bin/sh", "/bin/cp", "/bin/true"];
    for component in COMPONENTS {
        for row in component.containers() {
            let image = match row.image {
                Image::Component(name) => name,
                Image::ReleaseByDigest => PAYLOAD,
            };
            if image == "hypershift" {
                // Our own image: its binaries are under /usr/bin.
                assert!(row.command[0].starts_with("/usr/bin/"), "{}", row.name);
                continue;
            }
            let (_, linked) = STANDIN_COMMANDS
                .iter()
                .find(|(n, _)| *n == image)
                .unwrap_or_else(|| panic!("no runnable image for {image}"));
            let command = row.command[0];
            let found = SHELL.contains(&command)
                || linked.contains(&command)
                || linked.iter().any(|c| c.rsplit('/').next() == Some(command));
            assert!(
                found,
                "{}/{}: {command} is not in the {image} image",
                component.name, row.name
            );
        }
    }
}
