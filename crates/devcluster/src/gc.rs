//! The background controllers of the server: ownerReference garbage collection and namespace
//! deletion, driven by the store's event log.
//!
//! - An object all of whose owners are gone (by uid) is deleted (respecting its finalizers);
//!   references to gone owners are dropped when some owner remains.
//! - An owner in foreground deletion (finalizer `foregroundDeletion`) has its dependents deleted;
//!   the finalizer goes when no dependent is left.
//! - A terminating namespace has everything in it deleted; its `kubernetes` finalizer goes (and
//!   the namespace with it) when it is empty.
//!
//! If the collector falls behind the event log it rescans every object, so nothing is missed.

use std::sync::Arc;

use tracing::debug;

use crate::meta;
use crate::ops::{self, DeleteOptions, FOREGROUND};
use crate::store::{Event, EventType, ObjRef, State, Store};

/// Runs until the store is dropped.
pub async fn run(store: Arc<Store>) {
    let mut rx = store.subscribe();
    let mut last = 0;
    loop {
        rx.borrow_and_update();
        match store.read(|st| st.events_since(last, 1000)) {
            Ok(events) if events.is_empty() => {
                if rx.changed().await.is_err() {
                    return;
                }
            }
            Ok(events) => {
                last = events.last().map_or(last, |e| e.rv);
                store.write(|st| {
                    for e in &events {
                        handle(st, e);
                    }
                });
            }
            Err(_) => {
                debug!("garbage collector fell behind the event log; rescanning");
                last = store.read(State::rv);
                store.write(full_scan);
            }
        }
    }
}

fn handle(st: &mut State, e: &Event) {
    let obj = &e.object;
    let r = ObjRef::new(&e.group, &e.plural, meta::namespace(obj), meta::name(obj));
    match e.etype {
        EventType::Deleted => {
            for d in st.dependents_of(meta::uid(obj)) {
                collect_if_orphaned(st, &d);
            }
            for owner in meta::owner_uids(obj) {
                if let Some(o) = st.by_uid(&owner).cloned() {
                    check_foreground(st, &o);
                }
            }
            let ns = meta::namespace(obj);
            if !ns.is_empty() {
                check_namespace(st, ns);
            }
        }
        EventType::Added | EventType::Modified => {
            if !meta::owner_uids(obj).is_empty() {
                collect_if_orphaned(st, &r);
            }
            if meta::is_deleting(obj) {
                check_foreground(st, &r);
                if e.group.is_empty() && e.plural == "namespaces" {
                    check_namespace(st, meta::name(obj));
                }
            }
        }
    }
}

fn full_scan(st: &mut State) {
    for r in st.all_refs() {
        collect_if_orphaned(st, &r);
        check_foreground(st, &r);
        if r.group.is_empty() && r.plural == "namespaces" {
            check_namespace(st, &r.name);
        }
    }
}

/// Deletes (background) an object by reference; gone types are removed directly.
fn delete_ref(st: &mut State, r: &ObjRef) {
    match st.registry.get(&r.group, &r.plural) {
        Some(rt) => {
            if let Err(e) = ops::delete(st, &rt, &r.namespace, &r.name, &DeleteOptions::default()) {
                debug!(object = %r.name, error = %e, "garbage collector could not delete");
            }
        }
        None => {
            st.remove(r);
        }
    }
}

fn collect_if_orphaned(st: &mut State, r: &ObjRef) {
    let Some(obj) = st.get(r).cloned() else { return };
    let owners = meta::owner_uids(&obj);
    if owners.is_empty() {
        return;
    }
    let alive = owners.iter().filter(|u| st.by_uid(u).is_some()).count();
    if alive == 0 {
        if !meta::is_deleting(&obj) {
            debug!(group = %r.group, resource = %r.plural, namespace = %r.namespace, name = %r.name, "collecting object whose owners are gone");
            delete_ref(st, r);
        }
    } else if alive < owners.len() {
        let mut new = (*obj).clone();
        if let Some(serde_json::Value::Array(refs)) = new["metadata"].get_mut("ownerReferences") {
            refs.retain(|o| o["uid"].as_str().is_some_and(|u| st.by_uid(u).is_some()));
        }
        st.put(r, new);
    }
}

fn check_foreground(st: &mut State, owner: &ObjRef) {
    let Some(obj) = st.get(owner).cloned() else { return };
    if !meta::is_deleting(&obj) || !meta::finalizers(&obj).iter().any(|f| f == FOREGROUND) {
        return;
    }
    let dependents = st.dependents_of(meta::uid(&obj));
    if dependents.is_empty() {
        ops::drop_finalizer(st, owner, FOREGROUND, false);
        return;
    }
    for d in dependents {
        if st.get(&d).is_some_and(|o| !meta::is_deleting(o)) {
            delete_ref(st, &d);
        }
    }
    if st.dependents_of(meta::uid(&obj)).is_empty() {
        ops::drop_finalizer(st, owner, FOREGROUND, false);
    }
}

fn check_namespace(st: &mut State, ns: &str) {
    let r = ObjRef::new("", "namespaces", "", ns);
    let Some(obj) = st.get(&r).cloned() else { return };
    if !meta::is_deleting(&obj) {
        return;
    }
    for content in st.in_namespace(ns) {
        if st.get(&content).is_some_and(|o| !meta::is_deleting(o)) {
            delete_ref(st, &content);
        }
    }
    if st.in_namespace(ns).is_empty() {
        ops::drop_finalizer(st, &r, "kubernetes", true);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::ops::{WriteOptions, create};

    fn opts() -> WriteOptions {
        WriteOptions {
            manager: "test".into(),
            explicit_manager: true,
            ..WriteOptions::default()
        }
    }

    fn make(st: &mut State, plural: &str, ns: Option<&str>, body: Value) -> Arc<Value> {
        let rt = st.registry.get("", plural).unwrap();
        create(st, &rt, "v1", ns, body, &opts()).unwrap()
    }

    fn drain(store: &Store) {
        // Run the collector over everything logged so far, the way `run` does.
        let mut last = 0;
        loop {
            let events = store.read(|st| st.events_since(last, 1000)).unwrap();
            if events.is_empty() {
                return;
            }
            last = events.last().unwrap().rv;
            store.write(|st| events.iter().for_each(|e| handle(st, e)));
        }
    }

    #[test]
    fn dependents_of_a_deleted_owner_are_collected() {
        let store = Store::new(1000);
        store.write(|st| {
            make(
                st,
                "namespaces",
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
            );
            let owner = make(
                st,
                "configmaps",
                Some("ns"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}),
            );
            make(
                st,
                "secrets",
                Some("ns"),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "dep", "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": meta::uid(&owner)}]}}),
            );
            let rt = st.registry.get("", "configmaps").unwrap();
            ops::delete(st, &rt, "ns", "owner", &DeleteOptions::default()).unwrap();
        });
        drain(&store);
        assert!(store.read(|st| st.get(&ObjRef::new("", "secrets", "ns", "dep")).is_none()));
    }

    #[test]
    fn terminating_namespace_empties_then_goes() {
        let store = Store::new(1000);
        store.write(|st| {
            make(
                st,
                "namespaces",
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
            );
            make(
                st,
                "configmaps",
                Some("ns"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            );
            let rt = st.registry.get("", "namespaces").unwrap();
            let d = ops::delete(st, &rt, "", "ns", &DeleteOptions::default()).unwrap();
            assert!(matches!(d, ops::Deleted::Pending(_)));
        });
        drain(&store);
        assert!(store.read(|st| st.get(&ObjRef::new("", "configmaps", "ns", "c")).is_none()));
        assert!(store.read(|st| st.get(&ObjRef::new("", "namespaces", "", "ns")).is_none()));
    }
}
