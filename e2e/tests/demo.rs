//! The flagship scenario as CI runs it: `demo --once` must succeed end to end (registry with TLS
//! and htpasswd, devcluster, the hypershift-operator as a process, a HostedCluster whose release
//! lives under quay.invalid, the ignition-server run from its Deployment, a node booted by the real
//! Ignition client pulling through the mirror, an IDMS edit, the OLM catalog images pinned on the
//! HostedCluster).

use std::process::Command;

use e2e::binary;

#[test]
fn demo_once_runs_every_step() {
    let out = Command::new(binary("demo"))
        .arg("--once")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "[9/9]",
        "OLMCatalogImagesResolved=True: certified-operators from",
        "community-operator-index:v4.21",
        "ValidOLMCatalogConfiguration=False: catalog images are set for 3 of 4 catalogs",
        "passed ignition-validate",
        "The node received payload sha256:",
        "HostedControlPlane ValidReleaseInfo=True",
        "Control plane components (control-plane-operator)",
        "EtcdAvailable                        False WaitingForAvailable",
        "pull-from-mirror = \"digest-only\"",
        "(a mirror)",
        "OPENSHIFT_IMG_OVERRIDES=quay.invalid/openshift-release-dev/ocp-release=",
        "--registry-overrides==",
        "every step succeeded",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}
