//! The flagship scenario (PRODUCT.md), step by step; `cargo xtask demo` runs it.
//!
//! ```text
//!  1 registry: TLS + htpasswd on 127.0.0.1, release 4.99.0 pushed in oc-mirror v2's layout
//!  2 devcluster: a local Kubernetes API
//!  3 CRDs, namespaces, pull secret, the IDMS oc-mirror writes
//!  4 hypershift-operator as a process
//!  5 a HostedCluster whose release lives under quay.invalid, and a NodePool
//!  6 wait: the release resolved through the mirror, both Deployments rendered, the ignition-server
//!    run by devcluster's runner from its Deployment, the NodePool's payload generated
//!  7 a node boots: the real Ignition client fetches the payload with the user-data pointer config,
//!    skopeo pulls a release component by its quay.invalid name through the node's registries.conf
//!  8 edit the IDMS (a dead mirror first): both Deployments follow, no restart; latency measured
//! ```
//!
//! Everything listens on 127.0.0.1; the "public" registry is under `.invalid` and is never
//! contacted (the IDMS says `NeverContactSource`). The ignition-server, as the runner runs it,
//! binds its Deployment's ports (9090 HTTPS, 8081 admin), and the control-plane-operator its admin port 8080: one flagship at a time per machine
//! (nextest runs the tests that start one in the `flagship` group, one at a time).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use devcluster::{DevCluster, DevClusterOptions};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::openshift::ImageDigestMirrorSet;
use hypershift_testkit::containers::NodeRuntime;
use hypershift_testkit::faults::refusing_address;
use hypershift_testkit::ignition;
use hypershift_testkit::{SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt as _};

use crate::binary;
use hypershift_testkit::{OperatorProcess, cluster as kit};

/// The control-plane namespace of `clusters/example`.
pub const CONTROL_PLANE: &str = "clusters-example";
const WITHIN: Duration = Duration::from_mins(2);
/// The ignition-server's HTTPS port as its Deployment says (and so its NodePort here).
pub const IGNITION_PORT: u16 = 9090;
/// The image the operator renders into the ignition-server Deployment: the runner runs our
/// `ignition-server` binary for it (it is named, never pulled).
pub const IGNITION_SERVER_IMAGE: &str = "quay.invalid/hypershift/ignition-server:latest";
/// The control-plane-operator image the HostedCluster's annotation names: the runner runs our
/// `control-plane-operator` binary for it (the release's own `hypershift` component shares its
/// repository with every other component, so the runner could not tell them apart).
pub const CONTROL_PLANE_OPERATOR_IMAGE: &str = "quay.invalid/hypershift/control-plane-operator:latest";
/// The components the control-plane-operator renders as Deployments (etcd, the ninth, is a
/// StatefulSet).
pub const COMPONENT_DEPLOYMENTS: usize = 8;

/// A running flagship environment. Dropping it stops everything; [`Flagship::shutdown`] does so
/// in order.
pub struct Flagship {
    pub registry: TestRegistry,
    pub release: SyntheticRelease,
    pub cluster: DevCluster,
    pub client: Client,
    pub operator: OperatorProcess,
}

impl std::fmt::Debug for Flagship {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flagship")
            .field("registry", &self.registry.host)
            .finish_non_exhaustive()
    }
}

/// Where progress goes (the demo prints it; tests keep it).
pub trait Progress {
    fn step(&mut self, n: usize, what: &str);
    fn done(&mut self, detail: &str, took: Duration);
    fn line(&mut self, text: &str);
}

/// The catalog indexes mirrored at `<registry>/redhat` (the HostedCluster's
/// `olm-catalogs-is-registry-overrides` points `registry.redhat.io/redhat` there). Release 4.99
/// looks for v4.22 first; community-operators is mirrored one minor older only, so the
/// control-plane-operator steps back to find it.
const CATALOG_INDEXES: &[(&str, &str)] = &[
    ("certified-operator-index", "v4.22"),
    ("community-operator-index", "v4.21"),
    ("redhat-marketplace-index", "v4.22"),
    ("redhat-operator-index", "v4.22"),
];

/// What the site mirrored: the release in oc-mirror v2's layout and the catalog indexes.
async fn push_mirror_content(registry: &TestRegistry, release: &SyntheticRelease) -> Result<()> {
    release
        .push(registry)
        .await
        .context("pushing the synthetic release")?;
    for (repository, tag) in CATALOG_INDEXES {
        hypershift_testkit::push_catalog(registry, repository, &[tag])
            .await
            .with_context(|| format!("pushing catalog {repository}:{tag}"))?;
    }
    Ok(())
}

/// Steps 1–6: everything up and the HostedCluster ready.
pub async fn start(p: &mut dyn Progress) -> Result<Flagship> {
    hypershift_releaseinfo::install_crypto_provider();
    let t = Instant::now();
    p.step(
        1,
        "registry with TLS and htpasswd, release 4.99.0 pushed in oc-mirror v2's layout, four OLM catalog indexes",
    );
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    push_mirror_content(&registry, &release).await?;
    p.done(
        &format!(
            "{} serves {} and {}",
            registry.host,
            SyntheticRelease::mirror_release_repo(&registry.host),
            SyntheticRelease::mirror_components_repo(&registry.host)
        ),
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(
        2,
        "devcluster (local Kubernetes API, TLS, token) with its runner for our operators' Deployments",
    );
    let cluster = start_cluster().await?;
    let client = cluster.client();
    p.done(
        &format!(
            "{} (kubeconfig {})",
            cluster.base_url(),
            cluster.kubeconfig_path().display()
        ),
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(3, "CRDs, namespaces, pull secret and the IDMS oc-mirror writes");
    seed(&client, &registry).await?;
    p.done(
        "IDMS release-mirror maps both quay.invalid repositories to the mirror (NeverContactSource)",
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(4, "hypershift-operator");
    let operator = OperatorProcess::spawn(
        &binary("hypershift-operator"),
        &cluster,
        &registry,
        &[&format!("--ignition-server-image={IGNITION_SERVER_IMAGE}")],
    )?;
    let mut flagship = Flagship {
        registry,
        release,
        cluster,
        client,
        operator,
    };
    p.done(
        &format!(
            "pid {}, admin http://{}/metrics, log {}",
            flagship.operator.pid(),
            flagship.operator.admin_addr,
            flagship.operator.log.display()
        ),
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(
        5,
        "HostedCluster clusters/example (release under quay.invalid) and NodePool clusters/workers",
    );
    let release_image = flagship.release.source_reference();
    flagship
        .apply(
            &kit::hosted_cluster_yaml_on("example", &release_image, &flagship.registry, IGNITION_PORT).replace(
                "  annotations:\n",
                &format!(
                    "  annotations:\n    hypershift.openshift.io/control-plane-operator-image: {CONTROL_PLANE_OPERATOR_IMAGE}\n"
                ),
            ),
        )
        .await?;
    flagship
        .apply(&kit::node_pool_yaml("workers", "example", &release_image))
        .await?;
    p.done(
        &format!("spec.release.image {}", flagship.release.source_reference()),
        t.elapsed(),
    );

    let t = Instant::now();
    p.step(
        6,
        "waiting: release lookup through the mirror, control plane, the ignition-server, the NodePool's payload",
    );
    flagship.wait_ready(p).await?;
    p.done("ready", t.elapsed());
    Ok(flagship)
}

/// Step 2: devcluster, with its runner running our `ignition-server` and `control-plane-operator`
/// binaries for their Deployments.
async fn start_cluster() -> Result<DevCluster> {
    DevCluster::start(DevClusterOptions {
        runner: Some(
            devcluster::RunnerOptions::default()
                .binary("ignition-server", binary("ignition-server"))
                .binary("control-plane-operator", binary("control-plane-operator")),
        ),
        ..DevClusterOptions::default()
    })
    .await
    .context("starting devcluster")
}

/// Step 3: the CRDs ([`kit::seed`] and the IDMS one), namespaces, pull secret
/// (`clusters/pull-secret`) and the IDMS `release-mirror`.
///
/// # Errors
/// When the API refuses an object.
pub async fn seed(client: &Client, registry: &TestRegistry) -> Result<()> {
    kit::seed(client, registry, &[kit::IDMS_CRD]).await?;
    let idms: ImageDigestMirrorSet = serde_saphyr::from_str(&SyntheticRelease::idms_yaml(
        "release-mirror",
        &registry.host,
        true,
    ))?;
    Api::<ImageDigestMirrorSet>::all(client.clone())
        .create(&PostParams::default(), &idms)
        .await?;
    Ok(())
}

impl Flagship {
    async fn apply(&self, yaml: &str) -> Result<()> {
        kit::apply_yaml(&self.client, "demo", yaml).await
    }

    /// Whether the operator process still runs.
    pub fn operator_running(&mut self) -> bool {
        self.operator.running()
    }

    /// The operator's log so far.
    pub fn operator_log(&self) -> String {
        self.operator.log_text()
    }

    async fn eventually<T, F, Fut>(&mut self, what: &str, mut check: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + WITHIN;
        loop {
            if let Some(v) = check().await {
                return Ok(v);
            }
            if !self.operator_running() {
                bail!(
                    "the hypershift-operator exited while waiting for {what}; its log:\n{}",
                    self.operator_log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out waiting for {what}; the operator's log:\n{}",
                    self.operator_log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn condition(client: &Client, type_: &str) -> Option<(String, String)> {
        let hc = Api::<HostedCluster>::namespaced(client.clone(), "clusters")
            .get_opt("example")
            .await
            .ok()??;
        let c = hc.status?.conditions.into_iter().find(|c| c.type_ == type_)?;
        Some((c.status, c.message))
    }

    async fn wait_ready(&mut self, p: &mut dyn Progress) -> Result<()> {
        let client = self.client.clone();
        self.wait_true(
            p,
            &[
                "ReleaseImageResolved",
                "ValidReleaseImage",
                "ValidConfiguration",
                "ReconciliationSucceeded",
                "IgnitionEndpointAvailable",
            ],
        )
        .await?;
        let c = client.clone();
        self.eventually("the NodePool's Secrets", || {
            let c = c.clone();
            async move {
                // Token and user data, both in the control-plane namespace (as upstream).
                let l = Api::<Secret>::namespaced(c, CONTROL_PLANE)
                    .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
                    .await
                    .ok()?;
                (l.items.len() >= 2).then_some(())
            }
        })
        .await?;
        let c = client.clone();
        let message = self
            .eventually("the NodePool's ValidGeneratedPayload=True", || {
                let c = c.clone();
                async move {
                    let np = Api::<hypershift_api::node_pool::NodePool>::namespaced(c, "clusters")
                        .get_opt("workers")
                        .await
                        .ok()??;
                    let cond = np
                        .status?
                        .conditions
                        .into_iter()
                        .find(|c| c.type_ == "ValidGeneratedPayload")?;
                    (cond.status == "True").then_some(cond.message)
                }
            })
            .await?;
        p.line(&format!("  NodePool ValidGeneratedPayload=True: {message}"));
        let c = client.clone();
        let message = self
            .eventually(
                "the control-plane-operator's components and ValidReleaseInfo=True",
                || {
                    let c = c.clone();
                    async move {
                        let hcp =
                            Api::<hypershift_api::hosted_control_plane::HostedControlPlane>::namespaced(
                                c.clone(),
                                CONTROL_PLANE,
                            )
                            .get_opt("example")
                            .await
                            .ok()??;
                        let cond = hcp
                            .status?
                            .conditions
                            .into_iter()
                            .find(|c| c.type_ == "ValidReleaseInfo")?;
                        let rendered = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
                            .list(
                                &ListParams::default()
                                    .labels("app.kubernetes.io/managed-by=control-plane-operator"),
                            )
                            .await
                            .ok()?;
                        (cond.status == "True" && rendered.items.len() >= COMPONENT_DEPLOYMENTS)
                            .then_some(cond.message)
                    }
                },
            )
            .await?;
        p.line(&format!("  HostedControlPlane ValidReleaseInfo=True: {message}"));
        // The control plane's OLM conditions, as the HostedCluster shows them.
        self.wait_true(p, &["ValidOLMCatalogConfiguration", "OLMCatalogImagesResolved"])
            .await
    }

    /// Waits for each of the HostedCluster's conditions `types` to be True, printing each.
    async fn wait_true(&mut self, p: &mut dyn Progress, types: &[&'static str]) -> Result<()> {
        for type_ in types {
            let c = self.client.clone();
            let message = self
                .eventually(&format!("{type_}=True"), || {
                    let c = c.clone();
                    async move {
                        Self::condition(&c, type_)
                            .await
                            .filter(|(s, _)| s == "True")
                            .map(|(_, m)| m)
                    }
                })
                .await?;
            p.line(&format!("  {type_}=True: {message}"));
        }
        Ok(())
    }

    /// Step 7: a node boots with the real Ignition client from the user-data Secret the operator
    /// rendered, then its container runtime (skopeo, containers/image) pulls a release component by
    /// its `quay.invalid` name through the registries.conf and pull secret the payload wrote.
    pub async fn boot_node(&mut self, p: &mut dyn Progress) -> Result<NodeBoot> {
        let t = Instant::now();
        p.step(
            7,
            "a node boots: the real Ignition client, the user-data pointer config, the ignition-server",
        );
        let secrets = Api::<Secret>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
            .await?;
        let user_data = secrets
            .items
            .into_iter()
            .find(|s| s.name_any().starts_with("user-data-"))
            .and_then(|s| s.data?.remove("value"))
            .context("the NodePool's user-data Secret has no value")?
            .0;
        let dir = self.cluster.state_dir().join("node");
        let boot = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || ignition::boot(&user_data, &dir)).await??
        };
        ignition::validate(&boot.fetched, &dir)?;
        let registries_conf = String::from_utf8(boot.file("/etc/containers/registries.conf")?)?;
        boot.file("/var/lib/kubelet/config.json")?;
        let cli = self.release.component_source("cli");
        let written = String::from_utf8(boot.file("/etc/hypershift/cli-image")?)?;
        if written != cli {
            bail!("the payload names the cli image {written:?}, the release {cli:?}");
        }
        let certs = dir.join("certs.d");
        std::fs::create_dir_all(&certs)?;
        std::fs::write(certs.join("ca.crt"), &self.registry.ca_pem)?;
        let runtime = NodeRuntime {
            registries_conf: boot.root.join("etc/containers/registries.conf"),
            auth_file: boot.root.join("var/lib/kubelet/config.json"),
            cert_dir: certs,
            home: dir.join("home"),
        };
        let pulled = runtime.pull(&cli, &dir.join("pulled-cli"))?;
        if !pulled.status.success() {
            bail!(
                "the node could not pull {cli} through its registries.conf:\n{}\n{registries_conf}",
                String::from_utf8_lossy(&pulled.stderr)
            );
        }
        // The same image by tag: the data-plane rule is digest-only, so its mirror must not
        // serve it. (A copy of the file blocks the source, so that the refused pull cannot
        // fall back to looking up quay.invalid.)
        let tag = format!("{SOURCE_COMPONENTS}:{}-cli", self.release.tag());
        let location = format!("location = \"{SOURCE_COMPONENTS}\"\n");
        let blocked_conf = dir.join("registries-blocked.conf");
        std::fs::write(
            &blocked_conf,
            registries_conf.replace(&location, &format!("{location}blocked = true\n")),
        )?;
        let by_tag = NodeRuntime {
            registries_conf: blocked_conf,
            ..runtime
        }
        .pull(&tag, &dir.join("pulled-by-tag"))?;
        let refusal = String::from_utf8_lossy(&by_tag.stderr);
        if by_tag.status.success() || !refusal.contains("blocked") {
            bail!(
                "a tag pull of {tag} was not refused as blocked (its mirror is digest-only): {refusal}\n{registries_conf}"
            );
        }
        let digest = hypershift_mirrors::sha256_digest(&boot.fetched);
        p.done(
            &format!(
                "payload {digest} ({} bytes) passed ignition-validate; {cli} pulled through the mirror; a tag pull refused",
                boot.fetched.len()
            ),
            t.elapsed(),
        );
        Ok(NodeBoot {
            payload_digest: digest,
            registries_conf,
            pulled: cli,
            mirror: SyntheticRelease::mirror_components_repo(&self.registry.host),
        })
    }

    /// What the control-plane-operator rendered: each component's images and where a management
    /// node's CRI-O pulls each from (the management mirrors, node semantics: `hypershift mirrors
    /// explain`'s logic), and the HostedControlPlane's conditions.
    async fn report_control_plane(&self, out: &mut String) -> Result<()> {
        let mut builder = hypershift_mirrors::MirrorSetBuilder::new();
        for idms in Api::<ImageDigestMirrorSet>::all(self.client.clone())
            .list(&ListParams::default())
            .await?
        {
            builder.add_idms(&idms)?;
        }
        let mirrors: hypershift_mirrors::ManagementMirrors = builder.build();
        let selector = ListParams::default().labels("app.kubernetes.io/managed-by=control-plane-operator");
        let mut workloads: Vec<(String, k8s_openapi::api::core::v1::PodSpec)> = Vec::new();
        for d in Api::<Deployment>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&selector)
            .await?
        {
            workloads.push((
                format!("Deployment {}", d.name_any()),
                d.spec.and_then(|s| s.template.spec).unwrap_or_default(),
            ));
        }
        for s in
            Api::<k8s_openapi::api::apps::v1::StatefulSet>::namespaced(self.client.clone(), CONTROL_PLANE)
                .list(&selector)
                .await?
        {
            workloads.push((
                format!("StatefulSet {}", s.name_any()),
                s.spec.and_then(|s| s.template.spec).unwrap_or_default(),
            ));
        }
        writeln!(
            out,
            "Control plane components (control-plane-operator), each image and where a management node pulls it from:"
        )?;
        for (name, pod) in &workloads {
            writeln!(out, "  {name}")?;
            for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
                let image = c.image.clone().unwrap_or_default();
                let from = hypershift_mirrors::ImageRef::parse(&image).map_or_else(
                    |e| format!("(not a reference: {e})"),
                    |r| {
                        mirrors
                            .resolve_with(&r, hypershift_mirrors::MatchMode::Node)
                            .candidates
                            .first()
                            .cloned()
                            .unwrap_or_default()
                    },
                );
                writeln!(out, "    {} {image}\n      ← {from}", c.name)?;
            }
        }
        let services: Vec<String> =
            Api::<k8s_openapi::api::core::v1::Service>::namespaced(self.client.clone(), CONTROL_PLANE)
                .list(&selector)
                .await?
                .into_iter()
                .map(|s| s.name_any())
                .collect();
        writeln!(
            out,
            "OLM catalogs (management placement): Services {} on gRPC port 50051, Deployments above (*-catalog)",
            services.join(", ")
        )?;
        let hcp = Api::<hypershift_api::hosted_control_plane::HostedControlPlane>::namespaced(
            self.client.clone(),
            CONTROL_PLANE,
        )
        .get("example")
        .await?;
        writeln!(out, "Conditions of HostedControlPlane {CONTROL_PLANE}/example:")?;
        for c in hcp.status.unwrap_or_default().conditions {
            writeln!(
                out,
                "  {:<36} {:<5} {:<22} {}",
                c.type_, c.status, c.reason, c.message
            )?;
        }
        Ok(())
    }

    /// What the operator did, as text.
    pub async fn report(&self) -> Result<String> {
        let mut out = String::new();
        let hc = Api::<HostedCluster>::namespaced(self.client.clone(), "clusters")
            .get("example")
            .await?;
        let status = hc.status.unwrap_or_default();
        if let Some(s) = &status.release_image_source {
            writeln!(
                out,
                "Release image {}\n  served by {} ({})\n  digest {}\n  management mirrors {}",
                s.image,
                s.pulled_from,
                if s.via_mirror { "a mirror" } else { "the source" },
                s.digest,
                s.mirror_set_hash
            )?;
        }
        writeln!(out, "Conditions of clusters/example:")?;
        for c in &status.conditions {
            writeln!(
                out,
                "  {:<28} {:<5} {:<24} {}",
                c.type_, c.status, c.reason, c.message
            )?;
        }
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), CONTROL_PLANE);
        for name in ["control-plane-operator", "ignition-server"] {
            let d = deployments.get(name).await?;
            let c = d
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|s| s.containers.into_iter().next())
                .context("a container")?;
            writeln!(
                out,
                "Deployment {CONTROL_PLANE}/{name}\n  image {}\n  args {}",
                c.image.unwrap_or_default(),
                c.args.unwrap_or_default().join(" ")
            )?;
            for e in c.env.unwrap_or_default() {
                writeln!(out, "  env {}={}", e.name, e.value.unwrap_or_default())?;
            }
        }
        self.report_control_plane(&mut out).await?;
        writeln!(out, "NodePool clusters/workers")?;
        for s in Api::<Secret>::namespaced(self.client.clone(), CONTROL_PLANE)
            .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
            .await?
        {
            let what = if s.name_any().starts_with("token-") {
                "token"
            } else {
                "user data"
            };
            writeln!(out, "  {what} Secret {CONTROL_PLANE}/{}", s.name_any())?;
        }
        Ok(out)
    }

    /// Step 8: puts a dead mirror first in the IDMS; returns how long until both Deployments
    /// carried it, and checks the release still resolves through the healthy mirror.
    pub async fn edit_mirrors(&mut self, p: &mut dyn Progress) -> Result<Duration> {
        p.step(8, "editing the IDMS: a dead mirror first, the healthy one second");
        let dead = format!("{}/openshift/release-images", refusing_address());
        let t = Instant::now();
        put_mirror_first(&self.client, &self.registry, &dead).await?;
        let client = self.client.clone();
        let dead_host = dead.split('/').next().unwrap_or_default().to_owned();
        for name in ["control-plane-operator", "ignition-server"] {
            let (c, dead_host) = (client.clone(), dead_host.clone());
            self.eventually(&format!("{name} to carry the new mirror"), || {
                let (c, dead_host) = (c.clone(), dead_host.clone());
                async move {
                    let d = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
                        .get_opt(name)
                        .await
                        .ok()??;
                    let env = d.spec?.template.spec?.containers.into_iter().next()?.env?;
                    env.into_iter()
                        .any(|e| e.value.is_some_and(|v| v.contains(&dead_host)))
                        .then_some(())
                }
            })
            .await?;
        }
        let latency = t.elapsed();
        let c = client.clone();
        let message = self
            .eventually("the release to resolve again after the edit", || {
                let c = c.clone();
                async move {
                    let (status, message) = Self::condition(&c, "ReleaseImageResolved").await?;
                    (status == "True").then_some(message)
                }
            })
            .await?;
        if !self.operator_running() {
            bail!("the operator restarted or died");
        }
        p.done(
            &format!("both Deployments carry the dead mirror first, {message}; no restart"),
            latency,
        );
        Ok(latency)
    }

    /// Step 9: the catalog images pinned on the HostedCluster, first with one annotation
    /// missing (the HostedCluster says which, and no catalog object changes), then all four (the
    /// catalog Deployments run exactly those). Returns the message the HostedCluster showed.
    pub async fn pin_catalogs(&mut self, p: &mut dyn Progress) -> Result<String> {
        use control_plane_operator::catalogs::CATALOGS;
        p.step(
            9,
            "pinning the OLM catalog images on the HostedCluster: three annotations, then four",
        );
        let t = Instant::now();
        let host = self.registry.host.clone();
        let pinned = |c: &control_plane_operator::catalogs::Catalog| pinned_catalog_image(&host, c);
        let hcs = Api::<HostedCluster>::namespaced(self.client.clone(), "clusters");
        let annotate = |annotations: serde_json::Map<String, serde_json::Value>| {
            let hcs = hcs.clone();
            async move {
                hcs.patch(
                    "example",
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"annotations": annotations}})),
                )
                .await
            }
        };
        let before = catalog_deployments(self.client.clone())
            .await
            .context("listing the catalogs")?;
        annotate(
            CATALOGS[..3]
                .iter()
                .map(|c| (c.annotation.to_owned(), pinned(c).into()))
                .collect(),
        )
        .await?;
        let c = self.client.clone();
        let shown = self
            .eventually("the HostedCluster's ValidOLMCatalogConfiguration=False", || {
                let c = c.clone();
                async move {
                    Self::condition(&c, "ValidOLMCatalogConfiguration")
                        .await
                        .filter(|(s, m)| s == "False" && m.contains(CATALOGS[3].annotation))
                        .map(|(_, m)| m)
                }
            })
            .await?;
        p.line(&format!("  ValidOLMCatalogConfiguration=False: {shown}"));
        if catalog_deployments(self.client.clone()).await.as_ref() != Some(&before) {
            bail!("an incomplete set of catalog annotations changed the catalog Deployments");
        }
        annotate(std::iter::once((CATALOGS[3].annotation.to_owned(), pinned(&CATALOGS[3]).into())).collect())
            .await?;
        let c = self.client.clone();
        self.eventually("the catalog Deployments to run the pinned images", || {
            let c = c.clone();
            let wanted: Vec<(String, String)> = CATALOGS
                .iter()
                .map(|cat| (cat.deployment(), pinned(cat)))
                .collect();
            async move {
                let now = catalog_deployments(c.clone()).await?;
                let ok = wanted
                    .iter()
                    .all(|(name, image)| now.iter().any(|(n, i, _)| n == name && i == image));
                let (status, _) = Self::condition(&c, "ValidOLMCatalogConfiguration").await?;
                (ok && status == "True").then_some(())
            }
        })
        .await?;
        p.done(
            "the missing annotation was named on the HostedCluster with nothing changed; all four pinned, no ImageStream",
            t.elapsed(),
        );
        Ok(shown)
    }

    /// Stops the operator, the cluster and the registry.
    pub async fn shutdown(self) {
        drop(self.operator);
        self.cluster.shutdown().await;
    }
}

/// A catalog's index as mirrored in step 1, by digest.
fn pinned_catalog_image(host: &str, c: &control_plane_operator::catalogs::Catalog) -> String {
    let tag = CATALOG_INDEXES
        .iter()
        .find(|(r, _)| *r == c.repository)
        .map_or("v4.22", |(_, t)| *t);
    format!(
        "{}/{}@{}",
        hypershift_testkit::catalog_mirror(host),
        c.repository,
        hypershift_testkit::catalog_image(c.repository, tag).digest
    )
}

/// The catalog Deployments: (name, the `registry` container's image, resourceVersion).
async fn catalog_deployments(c: Client) -> Option<Vec<(String, String, Option<String>)>> {
    let list = Api::<Deployment>::namespaced(c, CONTROL_PLANE)
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=control-plane-operator"))
        .await
        .ok()?;
    Some(
        list.items
            .into_iter()
            .filter(|d| d.name_any().ends_with("-catalog"))
            .map(|d| {
                let image = d
                    .spec
                    .and_then(|s| s.template.spec)
                    .and_then(|s| s.containers.into_iter().next())
                    .and_then(|c| c.image)
                    .unwrap_or_default();
                (
                    d.metadata.name.unwrap_or_default(),
                    image,
                    d.metadata.resource_version,
                )
            })
            .collect(),
    )
}

/// What the booted node got.
#[derive(Debug, Clone)]
pub struct NodeBoot {
    /// `sha256:` of the payload the Ignition client fetched.
    pub payload_digest: String,
    /// The `/etc/containers/registries.conf` it wrote.
    pub registries_conf: String,
    /// The component image pulled by its `quay.invalid` name.
    pub pulled: String,
    /// The mirror repository that served it.
    pub mirror: String,
}

/// Edits the IDMS `release-mirror` so that `mirror` comes before the registry's release
/// repository.
///
/// # Errors
/// When the API refuses the patch.
pub async fn put_mirror_first(client: &Client, registry: &TestRegistry, mirror: &str) -> Result<()> {
    let patch = serde_json::json!({"spec": {"imageDigestMirrors": [
        {"source": SOURCE_RELEASE, "mirrors": [mirror, SyntheticRelease::mirror_release_repo(&registry.host)], "mirrorSourcePolicy": "NeverContactSource"},
        {"source": SOURCE_COMPONENTS, "mirrors": [SyntheticRelease::mirror_components_repo(&registry.host)], "mirrorSourcePolicy": "NeverContactSource"},
    ]}});
    Api::<ImageDigestMirrorSet>::all(client.clone())
        .patch("release-mirror", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
