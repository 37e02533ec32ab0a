//! The flagship on containers when the world changes (issue 10): with the hypershift-operator
//! installed by `kubectl apply -k` and every pod pulled through the mirror by devcluster's
//! kubelet,
//! - a component image leaves the mirror (and the node): its pod cannot pull it, and the
//!   **HostedCluster**'s conditions (copied by the operator from the HostedControlPlane) name
//!   the image and the runtime's message;
//! - it comes back: the pod converges and the condition clears;
//! - the IDMS moves to a new mirror host: the operator resolves the release there without a
//!   restart, the operators' Deployments follow, and the next pull goes to the new host (the old
//!   one has lost the image).
//!
//! Needs `cargo xtask images` and podman (`cargo xtask test` provides both); fails loudly without.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers too: a panic is the failure report"
)]

use std::time::Duration;

use e2e::flagship::{self, Progress, Runtime};

/// Progress kept for a failure report.
#[derive(Default)]
struct Kept(Vec<String>);

impl Progress for Kept {
    fn step(&mut self, n: usize, what: &str) {
        self.0.push(format!("[{n}] {what}"));
    }
    fn done(&mut self, detail: &str, took: Duration) {
        self.0.push(format!("  ok ({took:?}): {detail}"));
    }
    fn line(&mut self, text: &str) {
        self.0.push(text.to_owned());
    }
}

/// etcd-0's RESTARTS in `kubectl get pods -A`.
fn etcd_restarts(pods: &str) -> Option<u32> {
    pods.lines()
        .find(|l| l.split_whitespace().nth(1) == Some("etcd-0"))?
        .split_whitespace()
        .nth(4)?
        .parse()
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flagship_on_containers_names_a_lost_image_converges_and_follows_a_new_mirror_host() {
    let mut kept = Kept::default();
    // With a spare mirror host of the site, reachable from the pods from the start.
    let mut f = match flagship::start_with(&mut kept, Runtime::Containers, true).await {
        Ok(f) => f,
        Err(e) => panic!("{e:#}\n{}", kept.0.join("\n")),
    };
    let second = f.spare.take().unwrap();

    // The etcd image leaves the mirror and the node.
    let etcd = f.lose_component_image("etcd", &f.registry).unwrap();
    let lost = f.wait_condition("EtcdAvailable", "False", &etcd).await.unwrap();
    assert!(
        lost.contains("ErrImagePull") || lost.contains("ImagePullBackOff"),
        "{lost}"
    );
    assert!(lost.contains("manifest unknown"), "the runtime's message: {lost}");
    let available = f.wait_condition("Available", "False", &etcd).await.unwrap();
    eprintln!("EtcdAvailable=False: {lost}\nAvailable=False: {available}");

    // It comes back.
    f.release.push(&f.registry).await.unwrap();
    f.wait_condition("EtcdAvailable", "True", "").await.unwrap();

    // The IDMS moves to a new mirror host.
    f.release.push(&second).await.unwrap();
    f.move_mirror(&second).await.unwrap();
    let resolved = f
        .wait_condition("ReleaseImageResolved", "True", &second.host)
        .await
        .unwrap();
    eprintln!("ReleaseImageResolved=True: {resolved}");
    f.wait_settled().await.unwrap();
    let report = f.report().await.unwrap();
    assert!(
        report.contains(&format!(
            "OPENSHIFT_IMG_OVERRIDES=quay.invalid/openshift-release-dev/ocp-release={}/openshift/release-images",
            second.host
        )),
        "{report}"
    );
    // Only the new host has etcd now (the old mirror and the node lost it): the restart can
    // only have pulled it from there.
    let before = etcd_restarts(&f.pods().unwrap()).unwrap();
    f.lose_component_image("etcd", &f.registry).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_mins(2);
    loop {
        let pods = f.pods().unwrap();
        let row: Vec<&str> = pods
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("etcd-0"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        if row.get(2..4) == Some(&["1/1", "Running"][..]) && etcd_restarts(&pods).unwrap() > before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "etcd-0 did not come back from the new mirror host:\n{pods}\n{}",
            f.pod_logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    f.wait_condition("EtcdAvailable", "True", "").await.unwrap();
    assert_eq!(f.operator_trouble().await, None, "{}", f.operator_log());
    f.shutdown().await;
}
