//! The runner as the e2e will use it: Deployments whose image names a configured binary run as
//! real processes (here `/bin/sh`, mapped from images named `probe`), with args, env, mounted
//! Secrets/ConfigMaps, KUBECONFIG, restarts and status.

use std::time::Duration;

use devcluster::{DevCluster, RunnerOptions};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::common::{cluster_with, eventually, namespace};

async fn runner_cluster() -> DevCluster {
    cluster_with(|o| {
        o.runner = Some(RunnerOptions {
            termination_grace: Duration::from_secs(5),
            max_backoff: Duration::from_secs(2),
            ..RunnerOptions::default().binary("probe", "/bin/sh")
        });
    })
    .await
}

/// A Deployment running `sh -c SCRIPT` from an image named `probe`, with env from a Secret and a
/// ConfigMap, and the ConfigMap mounted.
fn probe(name: &str, image: &str, script: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{
                        "name": "main",
                        "image": image,
                        "command": ["/bin/sh"],
                        "args": ["-c", script],
                        "env": [
                            {"name": "MODE", "value": "fast"},
                            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                            {"name": "GREETING_FILE", "value": "/etc/probe/config/greeting"}
                        ],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/probe/config"}]
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "probe-config"}}]
                }
            }
        }
    }))
    .unwrap()
}

async fn inputs(c: &DevCluster, ns: &str) {
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}))
            .unwrap();
    Api::<Secret>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "probe-config"}, "data": {"greeting": "hello from a configmap"}}),
    )
    .unwrap();
    Api::<ConfigMap>::namespaced(c.client(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
}

async fn log_contains(c: &DevCluster, ns: &str, name: &str, needle: &str) -> String {
    let runner = c.runner().expect("runner started");
    eventually(&format!("log of {ns}/{name} contains {needle:?}"), || async {
        let logs = runner.logs(ns, name);
        logs.contains(needle).then_some(logs)
    })
    .await
}

async fn status(c: &DevCluster, ns: &str, name: &str) -> Value {
    let d = Api::<Deployment>::namespaced(c.client(), ns)
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(d.status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_of_a_configured_image_runs_with_args_env_files_and_kubeconfig() {
    let c = runner_cluster().await;
    namespace(&c.client(), "run").await;
    inputs(&c, "run").await;
    let script = "echo mode=$MODE password=$PASSWORD; cat /etc/probe/config/greeting; echo; cat $GREETING_FILE; echo; \
                  echo kubeconfig=$KUBECONFIG; exec sleep 300";
    Api::<Deployment>::namespaced(c.client(), "run")
        .create(
            &PostParams::default(),
            &probe("probe", "quay.invalid/test/probe:1.0", script),
        )
        .await
        .unwrap();
    let logs = log_contains(&c, "run", "probe", "kubeconfig=").await;
    assert!(logs.contains("mode=fast password=hunter2"), "{logs}");
    assert_eq!(
        logs.matches("hello from a configmap").count(),
        2,
        "mounted file read by path in args and env: {logs}"
    );
    assert!(
        logs.contains(&format!("kubeconfig={}", c.kubeconfig_path().display())),
        "{logs}"
    );
    eventually("deployment available", || async {
        let s = status(&c, "run", "probe").await;
        (s["availableReplicas"] == 1 && s["observedGeneration"] == 1).then_some(())
    })
    .await;
    let s = status(&c, "run", "probe").await;
    assert_eq!(s["conditions"][0]["type"], "Available");
    assert_eq!(s["conditions"][0]["status"], "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_template_change_restarts_the_process_and_deletion_stops_it() {
    let c = runner_cluster().await;
    namespace(&c.client(), "restart").await;
    inputs(&c, "restart").await;
    let api: Api<Deployment> = Api::namespaced(c.client(), "restart");
    api.create(
        &PostParams::default(),
        &probe(
            "p",
            "quay.invalid/test/probe:1",
            "echo pid=$$ mode=$MODE; exec sleep 300",
        ),
    )
    .await
    .unwrap();
    let logs = log_contains(&c, "restart", "p", "mode=fast").await;
    let first_pid: u32 = logs
        .split("pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{first_pid}")).exists());

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "MODE", "value": "slow"}]}]}}}});
    api.patch("p", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let logs = log_contains(&c, "restart", "p", "mode=slow").await;
    assert!(
        logs.contains("process exited"),
        "the old process was stopped first: {logs}"
    );
    eventually("first process gone", || async {
        (!std::path::Path::new(&format!("/proc/{first_pid}")).exists()).then_some(())
    })
    .await;
    eventually("status observes generation 2", || async {
        (status(&c, "restart", "p").await["observedGeneration"] == 2).then_some(())
    })
    .await;

    let logs = c.runner().unwrap().logs("restart", "p");
    let second_pid: u32 = logs
        .rsplit("pid=")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    api.delete("p", &DeleteParams::default()).await.unwrap();
    eventually("second process gone after deletion", || async {
        (!std::path::Path::new(&format!("/proc/{second_pid}")).exists()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_waits_for_a_missing_secret_and_starts_when_it_appears() {
    let c = runner_cluster().await;
    namespace(&c.client(), "wait").await;
    Api::<Deployment>::namespaced(c.client(), "wait")
        .create(
            &PostParams::default(),
            &probe("p", "quay.invalid/test/probe:1", "echo started; exec sleep 300"),
        )
        .await
        .unwrap();
    let message = eventually("unavailable with a reason", || async {
        let s = status(&c, "wait", "p").await;
        let m = s["conditions"][0]["message"].as_str()?.to_owned();
        (s["conditions"][0]["status"] == "False").then_some(m)
    })
    .await;
    assert!(message.contains("not found"), "{message}");
    assert!(
        c.runner().unwrap().logs("wait", "p").is_empty(),
        "nothing ran yet"
    );
    inputs(&c, "wait").await;
    log_contains(&c, "wait", "p", "started").await;
    eventually("available", || async {
        (status(&c, "wait", "p").await["availableReplicas"] == 1).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_process_is_restarted_and_reported_unavailable() {
    let c = runner_cluster().await;
    namespace(&c.client(), "crash").await;
    inputs(&c, "crash").await;
    Api::<Deployment>::namespaced(c.client(), "crash")
        .create(
            &PostParams::default(),
            &probe("p", "quay.invalid/test/probe:1", "echo attempt; exit 3"),
        )
        .await
        .unwrap();
    let logs = eventually("three attempts", || async {
        let logs = c.runner().unwrap().logs("crash", "p");
        (logs.matches("attempt").count() >= 3).then_some(logs)
    })
    .await;
    assert!(logs.contains("exit status: 3"), "{logs}");
    // Each restart is briefly available (the process runs), so the status is read between
    // attempts: after an exit it must say why.
    let s = eventually("the Deployment reported unavailable", || async {
        let s = status(&c, "crash", "p").await;
        (s["conditions"][0]["status"] == "False").then_some(s)
    })
    .await;
    assert!(
        s["conditions"][0]["message"].as_str().unwrap().contains("exited"),
        "{s}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_of_other_images_are_left_alone() {
    let c = runner_cluster().await;
    namespace(&c.client(), "other").await;
    inputs(&c, "other").await;
    let api: Api<Deployment> = Api::namespaced(c.client(), "other");
    api.create(
        &PostParams::default(),
        &probe("theirs", "quay.invalid/openshift/kube-apiserver:1", "exit 0"),
    )
    .await
    .unwrap();
    // A deployment of ours created after it is running: by then the runner has seen both.
    api.create(
        &PostParams::default(),
        &probe("ours", "quay.invalid/test/probe:1", "echo mine; exec sleep 300"),
    )
    .await
    .unwrap();
    log_contains(&c, "other", "ours", "mine").await;
    eventually("ours available", || async {
        (status(&c, "other", "ours").await["availableReplicas"] == 1).then_some(())
    })
    .await;
    assert_eq!(
        status(&c, "other", "theirs").await,
        Value::Null,
        "status untouched"
    );
    assert!(c.runner().unwrap().logs("other", "theirs").is_empty());
}
