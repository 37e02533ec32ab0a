//! The operator's ClusterRole (`hypershift_operator::rbac::RULES`, rendered into
//! `deploy/hypershift-operator/`) against what the operator really calls: devcluster records
//! every distinct request by client (`User-Agent`), and a scenario that walks the operator's paths
//! (leader election, every mirror kind, a HostedCluster with a NodePool and a trust bundle, an
//! IDMS edit, deletion) must need nothing the role lacks. A verb the code starts using without a
//! rule fails here. Needs `/usr/bin/docker-registry` (`cargo xtask setup`).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

#[allow(
    unused_imports,
    reason = "the support module is shared by several test binaries; each uses a part"
)]
mod support;

use std::time::Duration;

use hypershift_api::conditions;
use hypershift_operator::rbac;
use hypershift_testkit::cluster::{ICSP_CRD, IDMS_CRD, ITMS_CRD};
use hypershift_testkit::{SOURCE_RELEASE, SyntheticRelease};
use kube::api::{Api, DeleteParams};
use support::Env;

const WITHIN: Duration = Duration::from_mins(1);

/// Leader election, every mirror kind and the Route API, a HostedCluster with a trust bundle and
/// a NodePool, an invalid mirror entry (a condition and an Event), a lease renewal, a mirror
/// edit, deletion.
async fn walk_the_operators_paths() -> Env {
    let mut env = Env::new(&[
        ICSP_CRD,
        IDMS_CRD,
        ITMS_CRD,
        "openshift/route.openshift.io_routes.yaml",
    ])
    .await;
    env.apply_yaml(&SyntheticRelease::idms_yaml(
        "release-mirror",
        &env.registry.host,
        true,
    ))
    .await;
    env.start_operator(&[]);
    let bundle = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: user-ca\n  namespace: clusters\ndata:\n  ca-bundle.crt: |\n";
    let ca = env.registry.ca_pem.lines().fold(String::new(), |mut out, l| {
        out.push_str("    ");
        out.push_str(l);
        out.push('\n');
        out
    });
    env.apply_yaml(&format!("{bundle}{ca}")).await;
    let hc = env
        .hosted_cluster_yaml("example", &env.release.source_reference())
        .replace(
            "  pullSecret:\n",
            "  additionalTrustBundle:\n    name: user-ca\n  pullSecret:\n",
        );
    env.apply_yaml(&hc).await;
    env.apply_yaml(&hypershift_testkit::cluster::node_pool_yaml(
        "workers",
        "example",
        &env.release.source_reference(),
    ))
    .await;
    env.eventually("ReconciliationSucceeded=True", WITHIN, || async {
        env.condition("example", conditions::RECONCILIATION_SUCCEEDED)
            .await
            .filter(|(s, _, _)| s == "True")
    })
    .await;
    env.eventually("the NodePool's token Secret", WITHIN, || async {
        let secrets =
            Api::<k8s_openapi::api::core::v1::Secret>::namespaced(env.client.clone(), "clusters-example")
                .list(
                    &kube::api::ListParams::default().labels("hypershift.openshift.io/nodepool-name=workers"),
                )
                .await
                .ok()?;
        (!secrets.items.is_empty()).then_some(())
    })
    .await;
    // An invalid mirror entry (a condition and an Event), a mirror edit, a lease renewal, then the
    // HostedCluster deleted (its finalizer, the namespace).
    env.apply_yaml(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: typo\nspec:\n  imageDigestMirrors:\n  - source: 'quay.invalid/Not Valid'\n    mirrors: [mirror.invalid/x]\n",
    )
    .await;
    env.eventually("ValidManagementMirrors=False", WITHIN, || async {
        env.condition("example", conditions::VALID_MANAGEMENT_MIRRORS)
            .await
            .filter(|(s, _, _)| s == "False")
    })
    .await;
    env.eventually("an Event about it", WITHIN, || async {
        let events = Api::<k8s_openapi::api::events::v1::Event>::all(env.client.clone())
            .list(&kube::api::ListParams::default())
            .await
            .ok()?;
        (!events.items.is_empty()).then_some(())
    })
    .await;
    // The default lease renews every 2 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    env.apply_yaml(&format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: extra\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors: [{}]\n",
        SyntheticRelease::mirror_release_repo(&env.registry.host)
    ))
    .await;
    let hcs: Api<hypershift_api::hosted_cluster::HostedCluster> =
        Api::namespaced(env.client.clone(), "clusters");
    hcs.delete("example", &DeleteParams::default()).await.unwrap();
    env.eventually("the HostedCluster to go", WITHIN, || async {
        hcs.get_opt("example").await.ok()?.is_none().then_some(())
    })
    .await;

    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_allows_every_request_the_operator_makes() {
    let mut env = walk_the_operators_paths().await;
    let made: Vec<_> = env
        .cluster
        .requests()
        .into_iter()
        .filter(|r| r.client == "hypershift-operator")
        .collect();
    assert!(made.len() > 20, "the operator's requests were recorded: {made:?}");
    let missing: Vec<String> = made
        .iter()
        .filter(|r| !rbac::allows(&r.group, &r.resource, &r.verb))
        .map(|r| format!("{} {}/{}", r.verb, r.group, r.resource))
        .collect();
    assert!(
        missing.is_empty(),
        "the operator called what hypershift_operator::rbac::RULES does not grant (add a rule, then `cargo xtask codegen`):\n  {}",
        missing.join("\n  ")
    );
    // Least privilege: every rule's resource is one the scenario used.
    let unused: Vec<String> = rbac::RULES
        .iter()
        .flat_map(|rule| {
            rule.groups
                .iter()
                .flat_map(move |g| rule.resources.iter().map(move |r| (*g, *r)))
        })
        .filter(|(g, r)| !made.iter().any(|m| m.group == *g && m.resource == *r))
        .filter(|(g, r)| !rbac::GRANTED_NOT_EXERCISED.contains(&(*g, *r)))
        .map(|(g, r)| format!("{g}/{r}"))
        .collect();
    assert!(
        unused.is_empty(),
        "rules this scenario never needed (remove them, or list them in GRANTED_NOT_EXERCISED with the reason): {unused:?}\nmade: {made:#?}"
    );
    assert!(env.operator_running());
}
