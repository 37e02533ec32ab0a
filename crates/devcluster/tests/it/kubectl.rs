//! Conformance with `kubectl` as an outside client: apply, get, watch, patch, delete, CRDs,
//! server-side apply, and the documented protobuf limit.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::common::{cluster, kubectl, kubectl_ok, kubectl_run, workspace_root};

const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: quay.invalid/shop/web:1
        args: ["--port=8080"]
        env:
        - {name: MODE, value: "a"}
      - name: sidecar
        image: quay.invalid/shop/sidecar:1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_yaml_patch_and_delete_round_trip() {
    let c = cluster().await;
    let out = kubectl_ok(&c, &["apply", "-f", "-"], Some(APP)).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "namespace/shop created",
            "configmap/settings created",
            "deployment.apps/web created"
        ]
    );
    let again = kubectl_ok(&c, &["apply", "-f", "-"], Some(APP)).await;
    assert!(again.contains("deployment.apps/web unchanged"), "{again}");

    // A changed env value goes through kubectl's strategic merge patch; the sidecar survives.
    let changed = APP.replace(r#"value: "a""#, r#"value: "b""#);
    let out = kubectl_ok(&c, &["apply", "-f", "-"], Some(&changed)).await;
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let yaml = kubectl_ok(
        &c,
        &["get", "deployment", "web", "-n", "shop", "-o", "yaml"],
        None,
    )
    .await;
    let d: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["env"][0]["value"], "b");
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string());

    // Dropping the sidecar from the file removes it (kubectl computes the deletion).
    let one = changed.replace(
        "      - name: sidecar\n        image: quay.invalid/shop/sidecar:1\n",
        "",
    );
    kubectl_ok(&c, &["apply", "-f", "-"], Some(&one)).await;
    let names = kubectl_ok(
        &c,
        &[
            "get",
            "deploy",
            "web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name}",
        ],
        None,
    )
    .await;
    assert_eq!(names, "web");

    kubectl_ok(
        &c,
        &[
            "patch",
            "configmap",
            "settings",
            "-n",
            "shop",
            "--type",
            "merge",
            "-p",
            r#"{"data":{"size":"xl"}}"#,
        ],
        None,
    )
    .await;
    let data = kubectl_ok(
        &c,
        &["get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data}"],
        None,
    )
    .await;
    assert_eq!(data, r#"{"color":"blue","size":"xl"}"#);

    let table = kubectl_ok(&c, &["get", "configmaps", "-n", "shop"], None).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "AGE"]);
    assert!(table.lines().nth(1).unwrap().starts_with("settings "), "{table}");

    let out = kubectl_ok(&c, &["delete", "namespace", "shop"], None).await;
    assert_eq!(out.trim(), "namespace \"shop\" deleted");
    let gone = kubectl_run(&c, &["get", "namespace", "shop"], None).await;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("namespaces \"shop\" not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_a_line_per_change() {
    let c = cluster().await;
    kubectl_ok(
        &c,
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n"),
    )
    .await;
    let mut watch = kubectl(&c);
    watch
        .args(["get", "configmaps", "-w", "--request-timeout=0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = watch.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("kubectl prints within 30 s")
            .unwrap()
            .expect("kubectl keeps watching")
    };
    let header = next().await;
    assert!(header.starts_with("NAME"), "{header}");
    assert!(next().await.starts_with("first "));
    kubectl_ok(
        &c,
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second}\n"),
    )
    .await;
    assert!(next().await.starts_with("second "));
    kubectl_ok(&c, &["delete", "configmap", "first"], None).await;
    assert!(next().await.starts_with("first "), "the deletion is printed too");
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_from_deploy_apply_and_their_instances_are_served_and_printed() {
    let c = cluster().await;
    let crds = workspace_root().join("deploy/crds/openshift");
    kubectl_ok(&c, &["apply", "-f", crds.to_str().unwrap()], None).await;
    let resources = kubectl_ok(
        &c,
        &["api-resources", "--api-group=config.openshift.io", "-o", "name"],
        None,
    )
    .await;
    assert_eq!(
        resources.lines().collect::<Vec<_>>(),
        [
            "imagedigestmirrorsets.config.openshift.io",
            "imagetagmirrorsets.config.openshift.io"
        ]
    );
    let idms = r"
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: release
spec:
  imageDigestMirrors:
  - source: quay.invalid/openshift-release-dev/ocp-release
    mirrors: [127.0.0.1:5000/openshift/release-images]
";
    assert_eq!(
        kubectl_ok(&c, &["apply", "-f", "-"], Some(idms)).await.trim(),
        "imagedigestmirrorset.config.openshift.io/release created"
    );
    // Custom resources take JSON merge patches from `kubectl apply`.
    let changed = idms.replace("release-images]", "release-images, 127.0.0.2:5000/other]");
    assert!(
        kubectl_ok(&c, &["apply", "-f", "-"], Some(&changed))
            .await
            .contains("configured")
    );
    let mirrors = kubectl_ok(
        &c,
        &[
            "get",
            "imagedigestmirrorsets",
            "release",
            "-o",
            "jsonpath={.spec.imageDigestMirrors[0].mirrors}",
        ],
        None,
    )
    .await;
    assert_eq!(
        mirrors,
        r#"["127.0.0.1:5000/openshift/release-images","127.0.0.2:5000/other"]"#
    );
    kubectl_ok(
        &c,
        &["delete", "crd", "imagedigestmirrorsets.config.openshift.io"],
        None,
    )
    .await;
    let after = kubectl_ok(
        &c,
        &["api-resources", "--api-group=config.openshift.io", "-o", "name"],
        None,
    )
    .await;
    assert_eq!(after.trim(), "imagetagmirrorsets.config.openshift.io");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_from_kubectl_reports_conflicts_between_managers() {
    let c = cluster().await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {k: one}\n";
    kubectl_ok(
        &c,
        &["apply", "--server-side", "--field-manager=alice", "-f", "-"],
        Some(cm),
    )
    .await;
    let conflict = kubectl_run(
        &c,
        &["apply", "--server-side", "--field-manager=bob", "-f", "-"],
        Some(&cm.replace("one", "two")),
    )
    .await;
    assert!(!conflict.status.success());
    let err = String::from_utf8_lossy(&conflict.stderr);
    assert!(err.contains("conflict") && err.contains("alice"), "{err}");
    kubectl_ok(
        &c,
        &[
            "apply",
            "--server-side",
            "--field-manager=bob",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&cm.replace("one", "two")),
    )
    .await;
    assert_eq!(
        kubectl_ok(&c, &["get", "cm", "shared", "-o", "jsonpath={.data.k}"], None).await,
        "two"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imperative_creates_send_protobuf_decoded_for_core_kinds_and_415_for_others() {
    let c = cluster().await;
    assert_eq!(
        kubectl_ok(&c, &["create", "namespace", "imperative"], None)
            .await
            .trim(),
        "namespace/imperative created"
    );
    kubectl_ok(
        &c,
        &[
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=hunter2",
            "-n",
            "imperative",
        ],
        None,
    )
    .await;
    let password = kubectl_ok(
        &c,
        &[
            "get",
            "secret",
            "creds",
            "-n",
            "imperative",
            "-o",
            "jsonpath={.data.password}",
        ],
        None,
    )
    .await;
    assert_eq!(password, "aHVudGVyMg==");
    kubectl_ok(
        &c,
        &[
            "create",
            "configmap",
            "settings",
            "--from-literal=color=blue",
            "-n",
            "imperative",
        ],
        None,
    )
    .await;
    let color = kubectl_ok(
        &c,
        &[
            "get",
            "cm",
            "settings",
            "-n",
            "imperative",
            "-o",
            "jsonpath={.data.color}",
        ],
        None,
    )
    .await;
    assert_eq!(color, "blue");
    kubectl_ok(
        &c,
        &["create", "serviceaccount", "robot", "-n", "imperative"],
        None,
    )
    .await;

    // Deployments are not decoded from protobuf: a 415 that names the limit.
    let out = kubectl_run(
        &c,
        &[
            "create",
            "deployment",
            "web",
            "--image=quay.invalid/x/web:1",
            "-n",
            "imperative",
        ],
        None,
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "decodes protobuf bodies only for Namespace, Secret, ConfigMap, ServiceAccount (got Deployment)"
        ),
        "{err}"
    );
}

const POD: &str = r"
apiVersion: v1
kind: Namespace
metadata:
  name: logs
---
apiVersion: v1
kind: Pod
metadata:
  name: two
  namespace: logs
spec:
  containers:
  - {name: main, image: quay.invalid/x/main:1}
  - {name: side, image: quay.invalid/x/side:1}
";

/// `kubectl logs` through the `pods/log` subresource: the errors a real API server gives for a
/// pod with two containers and for one not started, then what the kubelet wrote (here written
/// by the test where the kubelet writes; the kubelet itself is covered by the container tier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_reads_the_pods_log_subresource() {
    let c = cluster().await;
    kubectl_ok(&c, &["apply", "-f", "-"], Some(POD)).await;
    // kubectl picks the first container itself; the API server asks for one.
    let out = kubectl_run(&c, &["logs", "-n", "logs", "two"], None).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(r#"container "main" in pod "two" is waiting to start: ContainerCreating"#),
        "{err}"
    );
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(c.client(), "logs");
    let err = pods
        .logs("two", &kube::api::LogParams::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a container name must be specified for pod two, choose one of: [main side]"),
        "{err}"
    );
    let out = kubectl_run(&c, &["logs", "-n", "logs", "two", "-c", "nope"], None).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("container nope is not valid for pod two"));
    let dir = c.state_dir().join("kubelet/logs/logs/two");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.log"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(dir.join("main.previous.log"), "before the restart\n").unwrap();
    let all = kubectl_ok(&c, &["logs", "-n", "logs", "two", "-c", "main"], None).await;
    assert_eq!(all, "one\ntwo\nthree\n");
    let tail = kubectl_ok(&c, &["logs", "-n", "logs", "two", "-c", "main", "--tail=1"], None).await;
    assert_eq!(tail, "three\n");
    let previous = kubectl_ok(
        &c,
        &["logs", "-n", "logs", "two", "-c", "main", "--previous"],
        None,
    )
    .await;
    assert_eq!(previous, "before the restart\n");
}
