//! The hypershift-operator as a real process against devcluster and the real registry
//! (TLS + htpasswd), with the synthetic release 4.99.0 mirrored in oc-mirror v2's layout.
//! Needs `/usr/bin/docker-registry` (`cargo xtask setup`); fails loudly without it.
//!
//! Waits are liveness bounds (`eventually`), never timing assertions.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

mod support;

use std::time::Duration;

use hypershift_api::conditions;
use hypershift_api::openshift::ImageDigestMirrorSet;
use hypershift_support::contract::{PayloadStatus, TokenSecret};
use hypershift_testkit::cluster as kit;
use hypershift_testkit::faults::StallingProxy;
use hypershift_testkit::metric;
use hypershift_testkit::{SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use support::{Env, ICSP_CRD, IDMS_CRD, ITMS_CRD, deployment_args, deployment_env};

const WITHIN: Duration = Duration::from_mins(1);
const CP: &str = "clusters-example";

async fn ready(env: &Env, name: &str) {
    for type_ in [
        conditions::RECONCILIATION_SUCCEEDED,
        conditions::VALID_RELEASE_IMAGE,
        conditions::RELEASE_IMAGE_RESOLVED,
    ] {
        env.eventually(&format!("{type_}=True on {name}"), WITHIN, || async {
            env.condition(name, type_).await.filter(|(s, _, _)| s == "True")
        })
        .await;
    }
}

/// Reconciling again renders byte-identical objects: nothing is written, nothing rolls.
async fn assert_reconciling_again_changes_nothing(env: &Env) {
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), CP);
    let versions = |list: Vec<Deployment>| {
        list.into_iter()
            .map(|d| d.metadata.resource_version.unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let before = versions(deployments.list(&ListParams::default()).await.unwrap().items);
    let done = completed_reconciles(&env.metrics().await);
    let hcs: Api<hypershift_api::hosted_cluster::HostedCluster> =
        Api::namespaced(env.client.clone(), "clusters");
    hcs.patch(
        "example",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"touched": "yes"}}})),
    )
    .await
    .unwrap();
    env.eventually("another completed reconcile", WITHIN, || async {
        (completed_reconciles(&env.metrics().await) > done).then_some(())
    })
    .await;
    assert_eq!(
        versions(deployments.list(&ListParams::default()).await.unwrap().items),
        before,
        "no churn"
    );
}

/// The NodePool `workers`' Secrets in the control-plane namespace: `(token Secrets, user-data Secrets)`.
async fn node_pool_secrets(env: &Env) -> (Vec<Secret>, Vec<Secret>) {
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), CP);
    secrets
        .list(&ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"))
        .await
        .unwrap()
        .items
        .into_iter()
        .partition(|s| {
            s.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("token-"))
        })
}

/// A NodePool gets its token and user-data Secrets, both in the control-plane namespace (as
/// upstream).
async fn assert_node_pool_gets_token_and_user_data(env: &Env) -> (Secret, Secret) {
    env.node_pool("workers", "example").await;
    let (token, user_data) = env
        .eventually("the token and user-data Secrets", WITHIN, || async {
            let (mut tokens, mut user_data) = node_pool_secrets(env).await;
            Some((tokens.pop()?, user_data.pop()?))
        })
        .await;
    let parsed = TokenSecret::from_secret(&token).unwrap();
    assert_eq!(parsed.release, env.release.source_reference());
    assert_eq!(parsed.node_pool, "clusters/workers");
    let pointer: serde_json::Value =
        serde_json::from_slice(&user_data.data.as_ref().unwrap()["value"].0).unwrap();
    assert_eq!(
        pointer["ignition"]["config"]["merge"][0]["source"],
        "https://127.0.0.1:30443/ignition"
    );
    (token, user_data)
}

/// Reconciles that finished (the duration histogram's count).
fn completed_reconciles(metrics: &str) -> f64 {
    metric(metrics, "hostedcluster_reconcile_duration_seconds_count").unwrap_or(0.0)
}

async fn env_of(env: &Env, deployment: &str) -> String {
    env.eventually(&format!("the {deployment} Deployment"), WITHIN, || {
        deployment_env(&env.client, CP, deployment, "OPENSHIFT_IMG_OVERRIDES")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idms_present_hosted_cluster_gets_both_deployments_with_the_exact_carriers() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;

    let host = &env.registry.host;
    // Sources sorted byte-wise (`ocp-release` < `ocp-v4.0-art-dev`).
    let expected = format!(
        "{SOURCE_RELEASE}={},{SOURCE_COMPONENTS}={}",
        SyntheticRelease::mirror_release_repo(host),
        SyntheticRelease::mirror_components_repo(host)
    );
    assert_eq!(env_of(&env, "control-plane-operator").await, expected);
    assert_eq!(env_of(&env, "ignition-server").await, expected);
    let cpo_args = deployment_args(&env.client, CP, "control-plane-operator")
        .await
        .unwrap();
    assert!(
        cpo_args.contains(&"--registry-overrides==".to_owned()),
        "{cpo_args:?}"
    );
    assert!(
        cpo_args.contains(&"--registry-ca-bundle=/etc/pki/registry-ca/ca-bundle.crt".to_owned()),
        "{cpo_args:?}"
    );
    let ign_args = deployment_args(&env.client, CP, "ignition-server").await.unwrap();
    let at = ign_args
        .iter()
        .position(|a| a == "--registry-overrides")
        .expect("the split flag");
    assert_eq!(ign_args[at + 1], "=");

    // Status names the mirror that served the release.
    let hc = env.hosted_cluster("example").await.unwrap();
    let status = hc.status.unwrap();
    let source = status.release_image_source.unwrap();
    assert!(
        source.via_mirror
            && source
                .pulled_from
                .starts_with(&SyntheticRelease::mirror_release_repo(host)),
        "{source:?}"
    );
    assert_eq!(source.digest, env.release.digest());
    assert_eq!(status.ignition_endpoint.as_deref(), Some("127.0.0.1:30443"));

    assert_reconciling_again_changes_nothing(&env).await;
    assert_node_pool_gets_token_and_user_data(&env).await;
    assert!(env.operator_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icsp_idms_and_itms_are_merged_deterministically() {
    let mut env = Env::new(&[ICSP_CRD, IDMS_CRD, ITMS_CRD]).await;
    let host = env.registry.host.clone();
    // Objects applied in an order unrelated to the merge order.
    env.apply_yaml(&format!(
        "apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: a-icsp\nspec:\n  repositoryDigestMirrors:\n  - source: {SOURCE_COMPONENTS}\n    mirrors:\n    - old.invalid/release\n    - {}\n",
        SyntheticRelease::mirror_components_repo(&host)
    ))
    .await;
    env.apply_yaml(&format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata:\n  name: tags\nspec:\n  imageTagMirrors:\n  - source: registry.invalid/ubi9\n    mirrors:\n    - {host}/ubi9\n"
    ))
    .await;
    env.apply_yaml(&SyntheticRelease::idms_yaml("z-release", &host, true))
        .await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    // Per source: IDMS mirrors first, then ICSP ones without the duplicate; sources sorted.
    let expected = format!(
        "{SOURCE_RELEASE}={rel},{SOURCE_COMPONENTS}={comp},{SOURCE_COMPONENTS}=old.invalid/release,registry.invalid/ubi9={host}/ubi9",
        comp = SyntheticRelease::mirror_components_repo(&host),
        rel = SyntheticRelease::mirror_release_repo(&host),
    );
    assert_eq!(env_of(&env, "control-plane-operator").await, expected);
    assert_eq!(env_of(&env, "ignition-server").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_the_idms_updates_both_deployments_without_a_restart() {
    let mut env = Env::with_release_mirror().await;
    let host = env.registry.host.clone();
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    let before = env_of(&env, "control-plane-operator").await;

    // Add a mirror in front of the healthy one.
    let idms: Api<ImageDigestMirrorSet> = Api::all(env.client.clone());
    let patch = serde_json::json!({"spec": {"imageDigestMirrors": [
        {"source": SOURCE_RELEASE, "mirrors": ["backup.invalid/release-images", SyntheticRelease::mirror_release_repo(&host)], "mirrorSourcePolicy": "NeverContactSource"},
        {"source": SOURCE_COMPONENTS, "mirrors": [SyntheticRelease::mirror_components_repo(&host)], "mirrorSourcePolicy": "NeverContactSource"},
    ]}});
    idms.patch("release-mirror", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    for deployment in ["control-plane-operator", "ignition-server"] {
        let updated = env
            .eventually(
                &format!("{deployment} to carry the new mirror"),
                WITHIN,
                || async {
                    deployment_env(&env.client, CP, deployment, "OPENSHIFT_IMG_OVERRIDES")
                        .await
                        .filter(|v| v.contains("backup.invalid"))
                },
            )
            .await;
        assert_ne!(updated, before);
        assert!(
            updated.contains(&format!(
                "{SOURCE_RELEASE}=backup.invalid/release-images,{SOURCE_RELEASE}={host}"
            )),
            "{updated}"
        );
    }
    assert!(env.operator_running(), "no restart was needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idms_crd_created_after_the_operator_started_is_picked_up() {
    let mut env = Env::new(&[]).await;
    env.start_operator(&["--leader-elect=false"]);
    // No mirror API yet: a release named by its mirror location still works.
    let direct = format!(
        "{}@{}",
        SyntheticRelease::mirror_release_repo(&env.registry.host),
        env.release.digest()
    );
    env.apply_yaml(&env.hosted_cluster_yaml("example", &direct)).await;
    ready(&env, "example").await;
    assert_eq!(env_of(&env, "control-plane-operator").await, "=");

    env.create_crd(IDMS_CRD).await;
    env.apply_yaml(&SyntheticRelease::idms_yaml("late", &env.registry.host, true))
        .await;
    env.eventually("the late IDMS in the carriers", WITHIN, || async {
        deployment_env(
            &env.client,
            CP,
            "control-plane-operator",
            "OPENSHIFT_IMG_OVERRIDES",
        )
        .await
        .filter(|v| v.contains(SOURCE_RELEASE))
    })
    .await;
    assert!(env.operator_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_set_false_conditions_and_wait_without_hot_looping() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("bad-image", "Quay.invalid/UPPER/case:1"))
        .await;
    let (_, reason, message) = env
        .eventually("ValidReleaseImage=False", WITHIN, || async {
            env.condition("bad-image", conditions::VALID_RELEASE_IMAGE)
                .await
                .filter(|(s, _, _)| s == "False")
        })
        .await;
    assert_eq!(reason, "InvalidImage");
    assert!(message.contains("Quay.invalid/UPPER/case:1"), "{message}");

    let missing_secret = env
        .hosted_cluster_yaml("no-secret", &env.release.source_reference())
        .replace("name: pull-secret", "name: nope");
    env.apply_yaml(&missing_secret).await;
    let (_, reason, _) = env
        .eventually("SecretNotFound", WITHIN, || async {
            env.condition("no-secret", conditions::VALID_RELEASE_IMAGE)
                .await
                .filter(|(s, _, _)| s == "False")
        })
        .await;
    assert_eq!(reason, "SecretNotFound");

    let bad_catalog = env.hosted_cluster_yaml("bad-catalog", &env.release.source_reference()).replace(
        "  annotations:\n",
        "  annotations:\n    hypershift.openshift.io/control-plane-operator-image: \"quay.invalid/CPO:Not A Tag\"\n",
    );
    env.apply_yaml(&bad_catalog).await;
    let (_, _, message) = env
        .eventually("ValidConfiguration=False", WITHIN, || async {
            env.condition("bad-catalog", conditions::VALID_CONFIGURATION)
                .await
                .filter(|(s, _, _)| s == "False")
        })
        .await;
    assert!(
        message.contains("hypershift.openshift.io/control-plane-operator-image"),
        "{message}"
    );

    // Nothing was rendered for them, and they are not retried in a loop.
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), "clusters-bad-image");
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .is_ok_and(|l| l.items.is_empty())
    );
    let runs = |text: &str| metric(text, "hostedcluster_reconcile_runs_total").unwrap_or(0.0);
    let first = runs(&env.metrics().await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = env.metrics().await;
    let second = runs(&metrics);
    assert!(
        second - first <= 3.0,
        "reconciles kept running without a change: {first} then {second}"
    );
    // Every reconcile of them asked to wait for a change: none scheduled a retry, however far
    // away (a regression to "retry every 15 s" shows up here at once, not after 15 s).
    let next = |n: &str| {
        metric(
            &metrics,
            &format!("hostedcluster_reconcile_next_total{{next=\"{n}\"}}"),
        )
    };
    assert!(next("await_change").unwrap_or(0.0) >= 3.0, "{metrics}");
    assert_eq!((next("requeue"), next("backoff")), (None, None), "{metrics}");

    // Status writes do not start reconciles, but an annotation change does: the fix is seen.
    let hcs: Api<hypershift_api::hosted_cluster::HostedCluster> =
        Api::namespaced(env.client.clone(), "clusters");
    hcs.patch(
        "bad-catalog",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
            "hypershift.openshift.io/control-plane-operator-image": null
        }}})),
    )
    .await
    .unwrap();
    env.eventually("ValidConfiguration=True after the fix", WITHIN, || async {
        env.condition("bad-catalog", conditions::VALID_CONFIGURATION)
            .await
            .filter(|(s, _, _)| s == "True")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_mid_reconcile_converges_after_a_restart() {
    let mut env = Env::with_release_mirror().await;
    // Without the HostedControlPlane API the pipeline stops deterministically half-way: the
    // namespace, RBAC and Secrets are written, the HostedControlPlane and the Deployments not.
    Api::<CustomResourceDefinition>::all(env.client.clone())
        .delete(
            "hostedcontrolplanes.hypershift.openshift.io",
            &DeleteParams::default(),
        )
        .await
        .unwrap();
    env.start_operator(&[]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    env.node_pool("workers", "example").await;
    let (_, _, message) = env
        .eventually("the reconcile to fail half-way", WITHIN, || async {
            env.condition("example", conditions::RECONCILIATION_SUCCEEDED)
                .await
                .filter(|(s, _, _)| s == "False")
        })
        .await;
    assert!(message.contains("HostedControlPlane"), "{message}");
    env.kill_operator();
    let deployments: Api<Deployment> = Api::namespaced(env.client.clone(), CP);
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "killed before the Deployments"
    );
    assert!(
        Api::<Secret>::namespaced(env.client.clone(), CP)
            .get_opt("pull-secret")
            .await
            .unwrap()
            .is_some(),
        "killed after the Secrets"
    );
    env.create_crd(support::HCP_CRD).await;
    env.start_operator(&[]);
    ready(&env, "example").await;
    env.eventually("the token and user-data Secrets", WITHIN, || async {
        let (tokens, user_data) = node_pool_secrets(&env).await;
        (!tokens.is_empty() && !user_data.is_empty()).then_some(())
    })
    .await;
    // Exactly one of everything.
    let names: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["control-plane-operator", "ignition-server"]);
    let (tokens, user_data) = node_pool_secrets(&env).await;
    assert_eq!(
        (tokens.len(), user_data.len()),
        (1, 1),
        "one token and one user-data Secret for the NodePool"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_hosted_cluster_removes_its_control_plane() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    let hcs: Api<hypershift_api::hosted_cluster::HostedCluster> =
        Api::namespaced(env.client.clone(), "clusters");
    assert_eq!(
        hcs.get("example").await.unwrap().metadata.finalizers.unwrap(),
        ["hypershift.openshift.io/finalizer"]
    );
    hcs.delete("example", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    env.eventually("the HostedCluster and its namespace to go", WITHIN, || async {
        let ns = Api::<k8s_openapi::api::core::v1::Namespace>::all(env.client.clone())
            .get_opt(CP)
            .await
            .ok()?;
        let hc = hcs.get_opt("example").await.ok()?;
        (ns.is_none() && hc.is_none()).then_some(())
    })
    .await;
}

/// A 3 s lease (renew deadline 2 s, retry 1 s): a standby takes over quickly.
const QUICK_LEASE: &[&str] = &[
    "--leader-elect-lease-seconds=3",
    "--leader-elect-renew-deadline-seconds=2",
    "--leader-elect-retry-period-seconds=1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_operator_takes_over_when_the_leader_dies() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(QUICK_LEASE);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.client.clone(), "hypershift");
    let holder = || async {
        leases
            .get_opt("hypershift-operator-lock")
            .await
            .ok()
            .flatten()?
            .spec?
            .holder_identity
    };
    let first = env.eventually("a leader", WITHIN, holder).await;
    // A second operator stands by while the first renews.
    let standby = Env::standby(&env, QUICK_LEASE);
    // Longer than the lease: the leader renews it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        holder().await.as_deref(),
        Some(first.as_str()),
        "the leader keeps its lease"
    );
    env.kill_operator();
    let second = env
        .eventually("a new leader", WITHIN, || async {
            holder().await.filter(|h| *h != first)
        })
        .await;
    assert_ne!(second, first);
    // The new leader does the work.
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    drop(standby);
}

/// A lease far longer than [`WITHIN`]: a standby can lead within it only if the leader released
/// the lease.
const LONG_LEASE: &[&str] = &[
    "--leader-elect-lease-seconds=300",
    "--leader-elect-renew-deadline-seconds=200",
    "--leader-elect-retry-period-seconds=1",
];

/// SIGTERM (a rollout replacing the pod, a drain) makes the leader hand its lease over before it
/// exits 0, so the standby leads at once instead of after the lease expires (upstream's
/// `LeaderElectionReleaseOnCancel`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_by_sigterm_hands_its_lease_over_at_once() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(LONG_LEASE);
    let leader = format!("-{}\"", env.operator.as_ref().unwrap().pid());
    env.eventually("the first operator to lead", WITHIN, || async {
        line_with(&env.operator_log(), &["leading identity=", &leader])
    })
    .await;
    let standby = Env::standby(&env, LONG_LEASE);
    let standby_id = format!("-{}\"", standby.pid());
    env.eventually("the standby to wait", WITHIN, || async {
        line_with(&env.operator_log(), &["waiting for leadership", &standby_id])
    })
    .await;
    let status = env.operator.as_mut().unwrap().terminate().unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "the leader did not exit 0 on SIGTERM: {status:?}\n{}",
        env.operator_log()
    );
    assert!(
        line_with(&env.operator_log(), &["released the lease"]).is_some(),
        "{}",
        env.operator_log()
    );
    env.eventually(
        "the standby to lead long before the lease expires",
        WITHIN,
        || async { line_with(&env.operator_log(), &["leading identity=", &standby_id]) },
    )
    .await;
    // The new leader does the work.
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    drop(standby);
}

/// A 6 s lease, renew deadline 4 s, retry 1 s: a stalled leader steps down 2 s before a standby
/// may take over.
const SHORT_LEASE: &[&str] = &[
    "--leader-elect-lease-seconds=6",
    "--leader-elect-renew-deadline-seconds=4",
    "--leader-elect-retry-period-seconds=1",
];

/// The index of the first line of `log` that contains every one of `parts`.
fn line_with(log: &str, parts: &[&str]) -> Option<usize> {
    log.lines().position(|l| parts.iter().all(|p| l.contains(p)))
}

/// The leader's API calls stall (a proxy in front of the API stops forwarding): it must step down
/// at its renew deadline and exit before a standby takes the expired lease, so two operators never
/// reconcile at once; the standby then does the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_api_calls_stall_exits_before_the_standby_leads() {
    let mut env = Env::with_release_mirror().await;
    let proxy = StallingProxy::start(kit::api_addr(&env.cluster).unwrap()).await;
    let via_proxy = kit::kubeconfig_via(&env.cluster, &proxy.https_url()).unwrap();
    env.start_operator_with_kubeconfig(&via_proxy, SHORT_LEASE);
    // Both operators append to one log; their identities end in their process ids.
    let leader = format!("-{}\"", env.operator.as_ref().unwrap().pid());
    env.eventually("the first operator to lead", WITHIN, || async {
        line_with(&env.operator_log(), &["leading identity=", &leader])
    })
    .await;
    // Its controllers run: start-up is over.
    env.apply_yaml(&env.hosted_cluster_yaml("before", &env.release.source_reference()))
        .await;
    ready(&env, "before").await;
    let standby = Env::standby(&env, SHORT_LEASE);
    let standby_id = format!("-{}\"", standby.pid());
    env.eventually("the standby to wait", WITHIN, || async {
        line_with(&env.operator_log(), &["waiting for leadership", &standby_id])
    })
    .await;

    proxy.stall();
    env.apply_yaml(&env.hosted_cluster_yaml("after", &env.release.source_reference()))
        .await;
    let standby_leads = env
        .eventually("the standby to lead", WITHIN, || async {
            line_with(&env.operator_log(), &["leading identity=", &standby_id])
        })
        .await;
    let log = env.operator_log();
    assert!(
        !env.operator_running(),
        "the stalled leader still runs while the standby leads: two leaders\n{log}"
    );
    let status = env.operator.as_mut().unwrap().exit_status().unwrap();
    assert!(!status.success(), "{status}");
    let stopped = line_with(
        &log,
        &["stopping: leadership lost: lease hypershift/hypershift-operator-lock: no renewal succeeded within the renew deadline (4s)"],
    )
    .unwrap_or_else(|| panic!("the leader's last line names the renew deadline\n{log}"));
    assert!(
        stopped < standby_leads,
        "the leader stops before the standby leads\n{log}"
    );
    // The new leader reconciles what was created after the stall.
    ready(&env, "after").await;
    drop(standby);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_bundle_config_map_created_later_unblocks_its_hosted_cluster() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    let hc = env
        .hosted_cluster_yaml("example", &env.release.source_reference())
        .replace(
            "  pullSecret:\n",
            "  additionalTrustBundle:\n    name: user-ca\n  pullSecret:\n",
        );
    env.apply_yaml(&hc).await;
    let (_, _, message) = env
        .eventually(
            "ValidConfiguration=False for the missing ConfigMap",
            WITHIN,
            || async {
                env.condition("example", conditions::VALID_CONFIGURATION)
                    .await
                    .filter(|(s, _, _)| s == "False")
            },
        )
        .await;
    assert!(message.contains("user-ca"), "{message}");
    // Nothing else changes: only the ConfigMap appearing can bring the HostedCluster back.
    let ca = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../hypershift-support/tests/data/ca.pem"
    ))
    .unwrap();
    env.apply_yaml(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: user-ca\n  namespace: clusters\ndata:\n  ca-bundle.crt: |\n{}",
        ca.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    ))
    .await;
    ready(&env, "example").await;
    let copy = env
        .eventually("the user-ca-bundle copy", WITHIN, || async {
            Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(env.client.clone(), CP)
                .get_opt("user-ca-bundle")
                .await
                .ok()?
        })
        .await;
    assert_eq!(copy.data.unwrap()["ca-bundle.crt"].trim(), ca.trim());
}

async fn tls_crt(env: &Env, secret: &str) -> Vec<u8> {
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), CP);
    secrets.get(secret).await.unwrap().data.unwrap()["tls.crt"]
        .0
        .clone()
}

/// `ValidGeneratedPayload` of NodePool `workers`.
async fn payload(env: &Env) -> Option<(String, String, String)> {
    let np = Api::<hypershift_api::node_pool::NodePool>::namespaced(env.client.clone(), "clusters")
        .get("workers")
        .await
        .ok()?;
    let c = np
        .status?
        .conditions
        .into_iter()
        .find(|c| c.type_ == conditions::VALID_GENERATED_PAYLOAD)?;
    Some((c.status, c.reason, c.message))
}

/// Whether rustls' verifier accepts the ignition serving certificate in `CP` for `name`.
async fn serving_cert_valid_for(env: &Env, name: &str) -> bool {
    hypershift_testkit::accepted_for(
        &tls_crt(env, "ignition-server-ca-cert").await,
        &tls_crt(env, "ignition-server-serving-cert").await,
        name,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ignition_endpoint_follows_the_node_port_strategy_and_the_certificate_names_it() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    let hc = env
        .hosted_cluster_yaml("example", &env.release.source_reference())
        .replace("address: 127.0.0.1", "address: 127.0.0.2");
    env.apply_yaml(&hc).await;
    ready(&env, "example").await;
    let endpoint = env
        .eventually("status.ignitionEndpoint", WITHIN, || async {
            env.hosted_cluster("example").await?.status?.ignition_endpoint
        })
        .await;
    assert_eq!(endpoint, "127.0.0.2:30443");
    let service = Api::<k8s_openapi::api::core::v1::Service>::namespaced(env.client.clone(), CP)
        .get("ignition-server")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(service.type_.as_deref(), Some("NodePort"));
    assert_eq!(service.ports.unwrap()[0].node_port, Some(30443));
    assert!(
        serving_cert_valid_for(&env, "127.0.0.2").await,
        "the published address is in the SANs"
    );
    assert!(serving_cert_valid_for(&env, "ignition-server.clusters-example.svc").await);
    assert!(!serving_cert_valid_for(&env, "127.0.0.1").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_pool_payload_is_valid_once_the_ignition_server_reports_it() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    let (token, _) = assert_node_pool_gets_token_and_user_data(&env).await;
    let (status, reason, _) = env
        .eventually("ValidGeneratedPayload", WITHIN, || payload(&env))
        .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("Unknown", "WaitingForIgnitionServer")
    );

    // What the ignition server does (its Role allows exactly this): a merge patch of the report.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), CP);
    let name = token.metadata.name.clone().unwrap();
    let report = |status: PayloadStatus| {
        let secrets = secrets.clone();
        let name = name.clone();
        async move {
            secrets
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(status.to_merge_patch()),
                )
                .await
                .unwrap();
        }
    };
    report(PayloadStatus::generated()).await;
    env.eventually("ValidGeneratedPayload=True", WITHIN, || async {
        payload(&env).await.filter(|(s, _, _)| s == "True")
    })
    .await;
    report(PayloadStatus {
        reason: "InvalidConfig".into(),
        message: "failed to decode and decompress config".into(),
    })
    .await;
    let (_, reason, message) = env
        .eventually("ValidGeneratedPayload=False", WITHIN, || async {
            payload(&env).await.filter(|(s, _, _)| s == "False")
        })
        .await;
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("InvalidConfig", "failed to decode and decompress config")
    );
    // The operator's own applies keep the ignition server's keys.
    let again = TokenSecret::from_secret(&secrets.get(&name).await.unwrap()).unwrap();
    assert_eq!(again.token, TokenSecret::from_secret(&token).unwrap().token);

    // A status write by someone else does not start a NodePool reconcile (nor would its own).
    let runs = |m: &str| metric(m, "nodepool_reconcile_runs_total").unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = runs(&env.metrics().await);
    Api::<hypershift_api::node_pool::NodePool>::namespaced(env.client.clone(), "clusters")
        .patch_status(
            "workers",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(
                    serde_json::json!([{"op": "add", "path": "/status/conditions/-", "value": {
                        "type": "ExternalCheck", "status": "True", "reason": "Fine", "message": "",
                        "lastTransitionTime": "2026-12-01T00:00:00Z"
                    }}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        runs(&env.metrics().await) <= before,
        "a status-only change started a reconcile"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_mirror_entry_is_a_condition_a_metric_and_an_event() {
    let mut env = Env::with_release_mirror().await;
    env.start_operator(&["--leader-elect=false"]);
    env.apply_yaml(&env.hosted_cluster_yaml("example", &env.release.source_reference()))
        .await;
    ready(&env, "example").await;
    env.apply_yaml(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: typo\nspec:\n  imageDigestMirrors:\n  - source: 'quay.invalid/Not Valid'\n    mirrors: [mirror.invalid/x]\n",
    )
    .await;
    let (_, reason, message) = env
        .eventually("ValidManagementMirrors=False", WITHIN, || async {
            env.condition("example", conditions::VALID_MANAGEMENT_MIRRORS)
                .await
                .filter(|(s, _, _)| s == "False")
        })
        .await;
    assert_eq!(reason, "InvalidMirrorEntries");
    assert!(
        message.contains("ImageDigestMirrorSet \"typo\": spec.imageDigestMirrors[0].source"),
        "{message}"
    );
    let metrics = env.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "management_mirrors_invalid_objects{kind=\"ImageDigestMirrorSet\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let event = env
        .eventually("a Warning Event on the IDMS", WITHIN, || async {
            Api::<k8s_openapi::api::events::v1::Event>::all(env.client.clone())
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("typo"))
        })
        .await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reason.as_deref(), Some("InvalidMirrorEntries"));
    assert_eq!(
        event.regarding.unwrap().kind.as_deref(),
        Some("ImageDigestMirrorSet")
    );
    // Fixed: the condition turns True again and the gauge drops.
    Api::<ImageDigestMirrorSet>::all(env.client.clone())
        .delete("typo", &DeleteParams::default())
        .await
        .unwrap();
    env.eventually("ValidManagementMirrors=True", WITHIN, || async {
        env.condition("example", conditions::VALID_MANAGEMENT_MIRRORS)
            .await
            .filter(|(s, _, _)| s == "True")
    })
    .await;
}
