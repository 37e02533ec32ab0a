//! Conformance with kube-rs as the client: CRUD, errors, lists, watches, the runtime's watcher
//! and Controller, server-side apply, status, finalizers, garbage collection, CRD lifecycle and
//! discovery, auth.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::controller::Action;
use kube::runtime::{Controller, WatchStreamExt as _, watcher};
use kube::{Client, Resource as _, ResourceExt};
use serde_json::json;

use crate::common::{Widget, WidgetSpec, cluster, cluster_with, eventually, install_widget_crd, namespace};

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let data: BTreeMap<String, String> = data.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let mut c = ConfigMap::default();
    c.metadata.name = Some(name.into());
    c.data = Some(data);
    c
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_get_replace_round_trip_sets_identity_and_bumps_resource_version() {
    let c = cluster().await;
    namespace(&c.client(), "crud").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "crud");
    let created = api
        .create(&PostParams::default(), &cm("one", &[("a", "1")]))
        .await
        .unwrap();
    assert!(
        created.uid().is_some_and(|u| u.len() == 36),
        "uid: {:?}",
        created.uid()
    );
    assert!(created.creation_timestamp().is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();

    let mut got = api.get("one").await.unwrap();
    assert_eq!(got.uid(), created.uid());
    got.data.as_mut().unwrap().insert("b".into(), "2".into());
    let replaced = api.replace("one", &PostParams::default(), &got).await.unwrap();
    let rv2: u64 = replaced.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    assert_eq!(replaced.data.unwrap()["b"], "2");
}

#[tokio::test]
async fn generate_name_gets_a_five_character_suffix() {
    let c = cluster().await;
    namespace(&c.client(), "gen").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "gen");
    let mut body = cm("", &[]);
    body.metadata.name = None;
    body.metadata.generate_name = Some("token-".into());
    let made = api.create(&PostParams::default(), &body).await.unwrap();
    let name = made.name_any();
    assert!(
        name.starts_with("token-") && name.len() == "token-".len() + 5,
        "{name}"
    );
}

#[tokio::test]
async fn stale_replace_is_a_409_conflict_and_lease_updates_use_it() {
    let c = cluster().await;
    let api: Api<Lease> = Api::namespaced(c.client(), "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let first = api.create(&PostParams::default(), &lease).await.unwrap();
    let mut winner = first.clone();
    winner.spec.as_mut().unwrap().holder_identity = Some("b".into());
    api.replace("leader", &PostParams::default(), &winner)
        .await
        .unwrap();
    let mut loser = first;
    loser.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let (code, reason, message) = api_error(
        api.replace("leader", &PostParams::default(), &loser)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(message.contains("the object has been modified"), "{message}");
    let now = api.get("leader").await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("b"));
}

#[tokio::test]
async fn errors_are_status_bodies_with_reasons() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let (code, reason, message) = api_error(api.get("absent").await.unwrap_err());
    assert_eq!((code, reason.as_str()), (404, "NotFound"));
    assert_eq!(message, "configmaps \"absent\" not found");

    api.create(&PostParams::default(), &cm("dup", &[])).await.unwrap();
    let (code, reason, _) = api_error(
        api.create(&PostParams::default(), &cm("dup", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    let (code, reason, message) = api_error(
        api.create(&PostParams::default(), &cm("Not_Valid", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(message.contains("metadata.name"), "{message}");

    let missing_ns: Api<ConfigMap> = Api::namespaced(c.client(), "nowhere");
    let (code, _, message) = api_error(
        missing_ns
            .create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );

    let (code, reason, message) = api_error(
        api.list(&ListParams::default().labels("a in b"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    assert!(message.contains("unable to parse requirement"), "{message}");

    let bad_patch = Patch::Json::<()>(
        serde_json::from_value(json!([{"op": "test", "path": "/data/x", "value": "1"}])).unwrap(),
    );
    let (code, _, _) = api_error(
        api.patch("dup", &PatchParams::default(), &bad_patch)
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);

    let (code, reason, message) = api_error(
        api.patch("dup", &PatchParams::default(), &Patch::Apply(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{message}");
}

#[tokio::test]
async fn list_pages_with_limit_and_continue_and_filters_by_labels_and_fields() {
    let c = cluster().await;
    namespace(&c.client(), "pages").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "pages");
    for i in 0..7 {
        let mut o = cm(&format!("c{i}"), &[]);
        o.metadata.labels = Some(
            [(
                "parity".to_owned(),
                if i % 2 == 0 { "even" } else { "odd" }.to_owned(),
            )]
            .into(),
        );
        api.create(&PostParams::default(), &o).await.unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = token.take() {
            lp = lp.continue_token(&t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(ResourceExt::name_any));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);

    let odd = api
        .list(&ListParams::default().labels("parity=odd"))
        .await
        .unwrap();
    assert_eq!(odd.items.len(), 3);
    let not_even = api
        .list(&ListParams::default().labels("parity notin (even)"))
        .await
        .unwrap();
    assert_eq!(not_even.items.len(), 3);
    let one = api
        .list(&ListParams::default().fields("metadata.name=c4"))
        .await
        .unwrap();
    assert_eq!(
        one.items.iter().map(ResourceExt::name_any).collect::<Vec<_>>(),
        ["c4"]
    );
    let all_ns: Api<ConfigMap> = Api::all(c.client());
    assert_eq!(
        all_ns
            .list(&ListParams::default().fields("metadata.namespace=pages"))
            .await
            .unwrap()
            .items
            .len(),
        7
    );
}

#[tokio::test]
async fn watch_from_a_resource_version_streams_changes_in_order_and_bookmarks() {
    let c = cluster_with(|o| o.bookmark_interval = Duration::from_millis(200)).await;
    namespace(&c.client(), "w").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "w");
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().timeout(20), &start)
        .await
        .unwrap();
    let mut stream = stream.boxed();
    api.create(&PostParams::default(), &cm("a", &[("k", "1")]))
        .await
        .unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    let mut bookmark = None;
    while seen.len() < 3 || bookmark.is_none() {
        match stream.try_next().await.unwrap().expect("stream stays open") {
            WatchEvent::Added(o) => seen.push(("ADDED", o.data.unwrap()["k"].clone())),
            WatchEvent::Modified(o) => seen.push(("MODIFIED", o.data.unwrap()["k"].clone())),
            WatchEvent::Deleted(o) => seen.push(("DELETED", o.data.unwrap()["k"].clone())),
            WatchEvent::Bookmark(b) => bookmark = Some(b.metadata.resource_version),
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            ("ADDED", "1".to_owned()),
            ("MODIFIED", "2".to_owned()),
            ("DELETED", "2".to_owned())
        ]
    );
    let b: u64 = bookmark.unwrap().parse().unwrap();
    assert!(b > start.parse::<u64>().unwrap());
}

#[tokio::test]
async fn watch_from_a_version_older_than_the_history_gets_410_expired() {
    let c = cluster_with(|o| o.event_history = 16).await;
    namespace(&c.client(), "old").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "old");
    for i in 0..40 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), "2")
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message.starts_with("too old resource version: 2"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    assert!(
        stream.try_next().await.unwrap().is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn label_selected_watch_sees_objects_leave_and_enter_the_selection() {
    let c = cluster().await;
    namespace(&c.client(), "sel").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "sel");
    let mut stream = api
        .watch(&WatchParams::default().labels("team=a").timeout(20), "0")
        .await
        .unwrap()
        .boxed();
    let mut o = cm("x", &[]);
    o.metadata.labels = Some([("team".to_owned(), "a".to_owned())].into());
    api.create(&PostParams::default(), &o).await.unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "b"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match stream.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "DELETED", "ADDED"]);
}

/// The watcher's view of a namespace (name → value of data key `v`), applied from its events.
async fn drive_watcher(
    stream: &mut (impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin),
    state: &mut BTreeMap<String, String>,
    inits: &mut usize,
    until: impl Fn(&BTreeMap<String, String>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut pending_init: Option<BTreeMap<String, String>> = None;
    while !until(state) {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("watcher delivers before the deadline")
            .expect("watcher stream does not end");
        match next {
            Ok(watcher::Event::Init) => {
                *inits += 1;
                pending_init = Some(BTreeMap::new());
            }
            Ok(watcher::Event::InitApply(o)) => {
                let v = o
                    .data
                    .as_ref()
                    .and_then(|d| d.get("v"))
                    .cloned()
                    .unwrap_or_default();
                pending_init
                    .get_or_insert_with(BTreeMap::new)
                    .insert(o.name_any(), v);
            }
            Ok(watcher::Event::InitDone) => *state = pending_init.take().unwrap_or_default(),
            Ok(watcher::Event::Apply(o)) => {
                let v = o
                    .data
                    .as_ref()
                    .and_then(|d| d.get("v"))
                    .cloned()
                    .unwrap_or_default();
                state.insert(o.name_any(), v);
            }
            Ok(watcher::Event::Delete(o)) => {
                state.remove(&o.name_any());
            }
            // Errors are retried by the backoff, as in an operator.
            Err(_) => {}
        }
    }
}

#[tokio::test]
async fn watcher_resumes_across_watch_timeouts_and_relists_after_410() {
    let c = cluster_with(|o| o.event_history = 16).await;
    namespace(&c.client(), "resume").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "resume");
    api.create(&PostParams::default(), &cm("seed", &[("v", "0")]))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().timeout(1))
        .default_backoff()
        .boxed();
    let mut state = BTreeMap::new();
    let mut inits = 0;
    drive_watcher(&mut stream, &mut state, &mut inits, |s| s.contains_key("seed")).await;
    assert_eq!(inits, 1);

    // Across several 1-second watch timeouts, every change arrives exactly in order.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        api.create(&PostParams::default(), &cm(&format!("slow{i}"), &[("v", "1")]))
            .await
            .unwrap();
        drive_watcher(&mut stream, &mut state, &mut inits, |s| {
            s.contains_key(&format!("slow{i}"))
        })
        .await;
    }
    assert_eq!(
        inits, 1,
        "timeouts resume the watch from the last version, without relisting"
    );

    // Stop reading until the server has ended the watch, then make more changes than the
    // history keeps: the resumed watch gets 410 and the watcher relists.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for i in 0..40 {
        api.create(&PostParams::default(), &cm(&format!("burst{i}"), &[("v", "2")]))
            .await
            .unwrap();
    }
    api.delete("seed", &DeleteParams::default()).await.unwrap();
    drive_watcher(&mut stream, &mut state, &mut inits, |s| {
        s.len() == 43 && !s.contains_key("seed")
    })
    .await;
    assert_eq!(inits, 2, "a 410 makes the watcher relist once");
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let c = cluster().await;
    namespace(&c.client(), "stream").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "stream");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), &[("v", "1")]))
            .await
            .unwrap();
    }
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists())
        .default_backoff()
        .boxed();
    let mut state = BTreeMap::new();
    let mut inits = 0;
    drive_watcher(&mut stream, &mut state, &mut inits, |s| s.len() == 3).await;
    api.create(&PostParams::default(), &cm("later", &[("v", "2")]))
        .await
        .unwrap();
    drive_watcher(&mut stream, &mut state, &mut inits, |s| s.contains_key("later")).await;
    assert_eq!(inits, 1);
}

#[tokio::test]
async fn controller_reconciles_new_objects_owned_changes_and_gc_removes_owned_objects() {
    struct Ctx {
        client: Client,
        runs: AtomicUsize,
    }
    async fn reconcile(w: Arc<Widget>, ctx: Arc<Ctx>) -> Result<Action, kube::Error> {
        ctx.runs.fetch_add(1, Ordering::SeqCst);
        let ns = w.namespace().unwrap_or_default();
        let owner = w.controller_owner_ref(&()).expect("widget has a uid");
        let child = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{}-child", w.name_any()), "ownerReferences": [owner]},
            "data": {"size": w.spec.size.to_string()},
        });
        Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
            .patch(
                &format!("{}-child", w.name_any()),
                &PatchParams::apply("widget-controller").force(),
                &Patch::Apply(child),
            )
            .await?;
        Api::<Widget>::namespaced(ctx.client.clone(), &ns)
            .patch_status(
                &w.name_any(),
                &PatchParams::apply("widget-controller").force(),
                &Patch::Apply(json!({"apiVersion": "devcluster.test.invalid/v1", "kind": "Widget", "status": {"observed": w.spec.size}})),
            )
            .await?;
        Ok(Action::await_change())
    }
    fn error_policy(_: Arc<Widget>, _: &kube::Error, _: Arc<Ctx>) -> Action {
        Action::requeue(Duration::from_millis(200))
    }

    let c = cluster().await;
    let client = c.client();
    install_widget_crd(&client).await;
    namespace(&client, "ctl").await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "ctl");
    let children: Api<ConfigMap> = Api::namespaced(client.clone(), "ctl");
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        runs: AtomicUsize::new(0),
    });
    let controller = Controller::new(widgets.clone(), watcher::Config::default())
        .owns(children.clone(), watcher::Config::default())
        .run(reconcile, error_policy, Arc::clone(&ctx))
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    widgets
        .create(&PostParams::default(), &Widget::new("w1", WidgetSpec { size: 3 }))
        .await
        .unwrap();
    eventually("status.observed = 3", || async {
        let w = widgets.get("w1").await.ok()?;
        (w.status?.observed == 3).then_some(())
    })
    .await;
    let child = children.get("w1-child").await.unwrap();
    assert_eq!(child.data.unwrap()["size"], "3");

    // Someone edits the owned object: the owner is reconciled and the edit is undone.
    children
        .patch(
            "w1-child",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"size": "99"}})),
        )
        .await
        .unwrap();
    eventually("owned edit reverted", || async {
        let c = children.get("w1-child").await.ok()?;
        (c.data?["size"] == "3").then_some(())
    })
    .await;
    assert!(ctx.runs.load(Ordering::SeqCst) >= 2);

    // A spec change is reconciled too.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    eventually("status.observed = 5", || async {
        (widgets.get("w1").await.ok()?.status?.observed == 5).then_some(())
    })
    .await;
    assert_eq!(widgets.get("w1").await.unwrap().metadata.generation, Some(2));

    // Deleting the owner garbage-collects the child.
    widgets.delete("w1", &DeleteParams::default()).await.unwrap();
    eventually("child collected", || async {
        children.get_opt("w1-child").await.ok()?.is_none().then_some(())
    })
    .await;
    task.abort();
}

#[tokio::test]
async fn server_side_apply_conflicts_without_force_removes_dropped_fields_and_force_takes_over() {
    let c = cluster().await;
    namespace(&c.client(), "ssa").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "ssa");
    let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"owner": "a"}},
        "data": {"shared": "1", "only-a": "x"}});
    let created = api
        .patch("cfg", &PatchParams::apply("manager-a"), &Patch::Apply(&first))
        .await
        .unwrap();
    assert_eq!(created.managed_fields().len(), 1);
    assert_eq!(created.managed_fields()[0].operation.as_deref(), Some("Apply"));

    let b = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"shared": "2"}});
    let (code, reason, message) = api_error(
        api.patch("cfg", &PatchParams::apply("manager-b"), &Patch::Apply(&b))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(
        message.contains("conflict with \"manager-a\"") && message.contains(".data.shared"),
        "{message}"
    );

    let forced = api
        .patch("cfg", &PatchParams::apply("manager-b").force(), &Patch::Apply(&b))
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["shared"], "2");

    // manager-a re-applies without `only-a` and without `shared` (now b's): only-a goes.
    let a2 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"owner": "a"}}, "data": {}});
    let after = api
        .patch("cfg", &PatchParams::apply("manager-a"), &Patch::Apply(&a2))
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.get("only-a"), None);
    assert_eq!(data["shared"], "2");

    // Re-applying the same configuration changes nothing, not even the resourceVersion.
    let again = api
        .patch("cfg", &PatchParams::apply("manager-a"), &Patch::Apply(&a2))
        .await
        .unwrap();
    assert_eq!(again.resource_version(), after.metadata.resource_version);
}

#[tokio::test]
async fn status_subresource_separates_spec_and_status_writes() {
    let c = cluster().await;
    namespace(&c.client(), "st").await;
    let api: Api<Deployment> = Api::namespaced(c.client(), "st");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "app"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "quay.invalid/x:1"}]}}},
        "status": {"replicas": 7}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert!(created.status.is_none(), "create drops status");
    assert_eq!(
        created.spec.as_ref().unwrap().replicas,
        Some(1),
        "replicas defaults to 1"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let s = api
        .patch_status(
            "app",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"replicas": 1, "availableReplicas": 1}, "spec": {"replicas": 4}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(s.status.as_ref().unwrap().available_replicas, Some(1));
    assert_eq!(
        s.spec.as_ref().unwrap().replicas,
        Some(1),
        "status writes ignore spec"
    );
    assert_eq!(
        s.metadata.generation,
        Some(1),
        "status writes keep the generation"
    );

    let m = api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}, "status": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(m.status.unwrap().replicas, Some(1), "object writes ignore status");
    assert_eq!(m.metadata.generation, Some(2));

    // Strategic merge keeps the other containers and merges env by name.
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "quay.invalid/side:1"}]}}}});
    let m = api
        .patch("app", &PatchParams::default(), &Patch::Strategic(smp))
        .await
        .unwrap();
    let names: Vec<String> = m
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["c", "side"]);
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed_and_cannot_be_added_meanwhile() {
    let c = cluster().await;
    namespace(&c.client(), "fin").await;
    let api: Api<Secret> = Api::namespaced(c.client(), "fin");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.invalid/cleanup"]},
        "stringData": {"password": "hunter2"}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(created.data.unwrap()["password"].0, b"hunter2");
    let deleted = api.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = deleted.left().expect("the object stays while finalizers remain");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let (code, _, message) = api_error(
        api.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"finalizers": ["example.invalid/cleanup", "example.invalid/more"]}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(message.contains("no new finalizers"), "{message}");
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("held").await.unwrap().is_none());
}

#[tokio::test]
async fn foreground_deletion_waits_for_dependents_and_orphan_keeps_them() {
    let c = cluster().await;
    namespace(&c.client(), "gc").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.client(), "gc");
    let owner = cms
        .create(&PostParams::default(), &cm("owner", &[]))
        .await
        .unwrap();
    let oref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap(), "blockOwnerDeletion": true}]);
    let mut dep: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "dep", "ownerReferences": oref, "finalizers": ["example.invalid/slow"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();

    let r = cms.delete("owner", &DeleteParams::foreground()).await.unwrap();
    assert!(r.is_left(), "foreground deletion leaves the owner in place");
    let owner_now = cms.get("owner").await.unwrap();
    assert!(owner_now.finalizers().iter().any(|f| f == "foregroundDeletion"));
    eventually("dependent marked for deletion", || async {
        cms.get("dep").await.ok()?.metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    assert!(
        cms.get_opt("owner").await.unwrap().is_some(),
        "owner waits for the dependent"
    );
    cms.patch(
        "dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("owner gone after its dependent", || async {
        cms.get_opt("owner").await.ok()?.is_none().then_some(())
    })
    .await;

    let owner2 = cms
        .create(&PostParams::default(), &cm("owner2", &[]))
        .await
        .unwrap();
    dep = serde_json::from_value(json!({"metadata": {"name": "dep2", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner2.uid().unwrap()}]}}))
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("dep2").await.unwrap();
    assert!(
        kept.owner_references().is_empty(),
        "orphaned dependents lose the reference and stay"
    );
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_contents_then_the_namespace() {
    let c = cluster().await;
    let client = c.client();
    namespace(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(&PostParams::default(), &cm("a", &[])).await.unwrap();
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.delete("doomed", &DeleteParams::default()).await.unwrap();
    eventually("namespace gone", || async {
        nss.get_opt("doomed").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(cms.list(&ListParams::default()).await.unwrap().items.is_empty());
}

fn crd_from_file(path: &str) -> CustomResourceDefinition {
    let text =
        std::fs::read_to_string(crate::common::workspace_root().join(path)).expect("CRD file is readable");
    serde_saphyr::from_str(&text).expect("CRD file parses")
}

#[tokio::test]
async fn crd_creation_and_deletion_show_in_discovery_at_once_and_instances_are_served() {
    let c = cluster().await;
    let client = c.client();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let has = |d: &Discovery, group: &str, plural: &str| {
        d.get(group)
            .is_some_and(|g| g.recommended_resources().iter().any(|(r, _)| r.plural == plural))
    };
    let before = Discovery::new(client.clone()).run().await.unwrap();
    assert!(!has(&before, "config.openshift.io", "imagedigestmirrorsets"));

    for file in [
        "deploy/crds/openshift/config.openshift.io_imagedigestmirrorsets.yaml",
        "deploy/crds/openshift/config.openshift.io_imagetagmirrorsets.yaml",
        "deploy/crds/openshift/operator.openshift.io_imagecontentsourcepolicies.yaml",
    ] {
        let created = crds
            .create(&PostParams::default(), &crd_from_file(file))
            .await
            .unwrap();
        let established = created
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"));
        assert!(established, "{file} is established at once");
    }
    let legacy = Discovery::new(client.clone()).run().await.unwrap();
    let aggregated = Discovery::new(client.clone()).run_aggregated().await.unwrap();
    for d in [&legacy, &aggregated] {
        assert!(has(d, "config.openshift.io", "imagedigestmirrorsets"));
        assert!(has(d, "config.openshift.io", "imagetagmirrorsets"));
        assert!(has(d, "operator.openshift.io", "imagecontentsourcepolicies"));
    }

    let ar = ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("config.openshift.io", "v1", "ImageDigestMirrorSet"),
        "imagedigestmirrorsets",
    );
    let idms: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "config.openshift.io/v1", "kind": "ImageDigestMirrorSet",
        "metadata": {"name": "release"},
        "spec": {"imageDigestMirrors": [{"source": "quay.invalid/openshift-release-dev", "mirrors": ["127.0.0.1:5000/openshift"]}]}
    }))
    .unwrap();
    idms.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(idms.list(&ListParams::default()).await.unwrap().items.len(), 1);
    let (code, _, message) = api_error(
        idms.patch(
            "release",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 415, "strategic merge is for built-ins only: {message}");

    crds.delete(
        "imagedigestmirrorsets.config.openshift.io",
        &DeleteParams::default(),
    )
    .await
    .unwrap();
    let after = Discovery::new(client.clone()).run().await.unwrap();
    assert!(!has(&after, "config.openshift.io", "imagedigestmirrorsets"));
    assert!(
        has(&after, "config.openshift.io", "imagetagmirrorsets"),
        "the group stays while ITMS remains"
    );
    let (code, _, _) = api_error(idms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(code, 404);

    // Re-creating the CRD starts with no instances: they went with the old definition.
    crds.create(
        &PostParams::default(),
        &crd_from_file("deploy/crds/openshift/config.openshift.io_imagedigestmirrorsets.yaml"),
    )
    .await
    .unwrap();
    assert!(idms.list(&ListParams::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn watch_of_a_custom_resource_ends_when_its_crd_is_deleted() {
    let c = cluster().await;
    let client = c.client();
    install_widget_crd(&client).await;
    namespace(&client, "gone").await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), "gone");
    widgets
        .create(&PostParams::default(), &Widget::new("w", WidgetSpec { size: 1 }))
        .await
        .unwrap();
    let mut stream = widgets
        .watch(&WatchParams::default().timeout(30), "0")
        .await
        .unwrap()
        .boxed();
    assert!(matches!(
        stream.try_next().await.unwrap(),
        Some(WatchEvent::Added(_))
    ));
    Api::<CustomResourceDefinition>::all(client.clone())
        .delete("widgets.devcluster.test.invalid", &DeleteParams::default())
        .await
        .unwrap();
    let mut rest = Vec::new();
    while let Some(e) = stream.try_next().await.unwrap() {
        rest.push(format!("{e:?}"));
    }
    assert_eq!(
        rest,
        ["Deleted event"],
        "instances are deleted, then the stream ends"
    );
}

#[tokio::test]
async fn requests_without_the_bearer_token_are_unauthorized() {
    let c = cluster().await;
    let mut config = c.kube_config();
    config.auth_info.token = None;
    let anonymous = Client::try_from(config).unwrap();
    let (code, reason, _) = api_error(
        Api::<ConfigMap>::all(anonymous.clone())
            .list(&ListParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (401, "Unauthorized"));
    // /version stays open, as on a real cluster.
    let v = anonymous.apiserver_version().await.unwrap();
    assert_eq!((v.major.as_str(), v.minor.as_str()), ("1", "33"));
}

#[tokio::test]
async fn events_published_by_the_kube_recorder_are_stored() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let c = cluster().await;
    let client = c.client();
    let cm_obj = Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm("subject", &[]))
        .await
        .unwrap();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "devcluster-test".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&event, &cm_obj.object_ref(&())).await.unwrap();
    recorder.publish(&event, &cm_obj.object_ref(&())).await.unwrap();
    let events = Api::<K8sEvent>::namespaced(client, "default")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(
        events.items.len(),
        1,
        "the repeat becomes a series on the same event"
    );
    assert_eq!(events.items[0].reason.as_deref(), Some("Reconciled"));
}

#[tokio::test]
async fn dry_run_create_answers_without_storing() {
    let c = cluster().await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "default");
    let pp = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let answered = api.create(&pp, &cm("ghost", &[])).await.unwrap();
    assert_eq!(answered.name_any(), "ghost");
    assert!(api.get_opt("ghost").await.unwrap().is_none());
}

#[tokio::test]
async fn multi_version_custom_resources_are_served_in_every_served_version() {
    let c = cluster().await;
    let client = c.client();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.devcluster.test.invalid"},
        "spec": {"group": "devcluster.test.invalid", "scope": "Cluster",
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
            ]}
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let gvk = |v: &str| kube::core::GroupVersionKind::gvk("devcluster.test.invalid", v, "Gadget");
    let v1: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("v1"), "gadgets"),
    );
    let beta: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk("v1beta1"), "gadgets"),
    );
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "devcluster.test.invalid/v1", "kind": "Gadget",
        "metadata": {"name": "g"}, "spec": {"x": 1}}),
    )
    .unwrap();
    v1.create(&PostParams::default(), &obj).await.unwrap();
    let via_beta = beta.get("g").await.unwrap();
    assert_eq!(
        via_beta.types.unwrap().api_version,
        "devcluster.test.invalid/v1beta1"
    );
    assert_eq!(via_beta.data["spec"], json!({"x": 1}));
    let group = Discovery::new(client).run().await.unwrap();
    let g = group.get("devcluster.test.invalid").unwrap();
    assert_eq!(g.preferred_version_or_latest(), "v1");
}

/// kube-runtime's `finalizer` helper adds the first finalizer with a JSON patch that tests
/// `/metadata/finalizers` for `null` although the field is absent; a real API server accepts it.
#[tokio::test]
async fn kube_runtime_finalizer_helper_adds_and_removes_its_finalizer() {
    use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
    let c = cluster().await;
    namespace(&c.client(), "helper").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "helper");
    api.create(&PostParams::default(), &cm("guarded", &[("k", "v")]))
        .await
        .unwrap();
    let (applies, cleanups) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let run = |obj: Arc<ConfigMap>| {
        let (applies, cleanups, api) = (Arc::clone(&applies), Arc::clone(&cleanups), api.clone());
        async move {
            finalizer(&api, "example.invalid/guard", obj, |event| async move {
                match event {
                    FinalizerEvent::Apply(_) => applies.fetch_add(1, Ordering::SeqCst),
                    FinalizerEvent::Cleanup(_) => cleanups.fetch_add(1, Ordering::SeqCst),
                };
                Ok::<_, std::convert::Infallible>(Action::await_change())
            })
            .await
        }
    };
    // The first call only adds the finalizer; the second reconciles.
    run(Arc::new(api.get("guarded").await.unwrap())).await.unwrap();
    assert_eq!(
        api.get("guarded").await.unwrap().finalizers(),
        ["example.invalid/guard"]
    );
    assert_eq!(applies.load(Ordering::SeqCst), 0);
    run(Arc::new(api.get("guarded").await.unwrap())).await.unwrap();
    assert_eq!(applies.load(Ordering::SeqCst), 1);
    // Deleting leaves the object for the cleanup, which removes the finalizer.
    api.delete("guarded", &DeleteParams::default()).await.unwrap();
    run(Arc::new(api.get("guarded").await.unwrap())).await.unwrap();
    assert_eq!(cleanups.load(Ordering::SeqCst), 1);
    assert!(
        api.get_opt("guarded").await.unwrap().is_none(),
        "the object went with its last finalizer"
    );
    // A failing `test` still fails.
    api.create(&PostParams::default(), &cm("tested", &[("k", "v")]))
        .await
        .unwrap();
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/k", "value": "other"}])).unwrap();
    let (code, _, _) = api_error(
        api.patch("tested", &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 422);
}

/// kube-rs' metadata reads ask for `PartialObjectMetadata(List)`.
#[tokio::test]
async fn metadata_only_get_list_and_watch_return_partial_object_metadata() {
    let c = cluster().await;
    namespace(&c.client(), "meta").await;
    let api: Api<ConfigMap> = Api::namespaced(c.client(), "meta");
    api.create(&PostParams::default(), &cm("a", &[("big", &"x".repeat(1000))]))
        .await
        .unwrap();
    let one = api.get_metadata("a").await.unwrap();
    assert_eq!(one.metadata.name.as_deref(), Some("a"));
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("a"));
    let metadata: Api<kube::core::PartialObjectMeta<ConfigMap>> = Api::namespaced(c.client(), "meta");
    let mut events = watcher(metadata, watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("a"));
    api.create(&PostParams::default(), &cm("b", &[])).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("b"));
}
