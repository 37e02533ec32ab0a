//! In-memory storage: every object by (group, plural, namespace, name), one global
//! `resourceVersion` counter, and a bounded log of change events for watches.
//!
//! Contract:
//! - Each write (`put`, `remove`) takes the next `resourceVersion`, stamps it on the object and
//!   appends exactly one event, so event versions are contiguous and a watch can resume from any
//!   version still in the log; older versions are gone (the API's `410 Gone`).
//! - The type registry lives in the same state, so a CRD and its type change atomically.
//! - Indexes: uid → object, and owner uid → dependents (for garbage collection).
//! - Readers and writers take one mutex for short, non-blocking sections; waiting for changes
//!   goes through [`Store::subscribe`] (a `watch` channel carrying the latest version).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use serde_json::Value;
use tokio::sync::watch;

use crate::meta;
use crate::resources::Registry;

/// Identifies one object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjRef {
    /// API group.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace, `""` for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjRef {
    /// A reference from its parts.
    pub fn new(group: &str, plural: &str, namespace: &str, name: &str) -> Self {
        Self {
            group: group.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

/// One change, as kept in the log.
#[derive(Debug)]
pub struct Event {
    /// The version this change produced.
    pub rv: u64,
    /// API group of the object.
    pub group: String,
    /// Plural of the object's type.
    pub plural: String,
    /// What happened.
    pub etype: EventType,
    /// The object after the change (for deletions: its last state, with the deletion's version).
    pub object: Arc<Value>,
    /// The object before the change, for modifications (watches with selectors need it).
    pub previous: Option<Arc<Value>>,
    /// `object` serialised once, shared by every watch that sends it unchanged.
    encoded: OnceLock<Vec<u8>>,
}

impl Event {
    /// The object as JSON, serialised on first use.
    pub fn object_json(&self) -> &[u8] {
        self.encoded
            .get_or_init(|| serde_json::to_vec(&*self.object).unwrap_or_default())
    }
}

type Table = BTreeMap<(String, String), Arc<Value>>;

/// Everything behind the lock.
#[derive(Debug)]
pub struct State {
    rv: u64,
    /// The known types, built-in and from CRDs.
    pub registry: Registry,
    tables: BTreeMap<(String, String), Table>,
    log: VecDeque<Arc<Event>>,
    log_cap: usize,
    by_uid: BTreeMap<String, ObjRef>,
    dependents: BTreeMap<String, BTreeSet<ObjRef>>,
}

impl State {
    fn new(log_cap: usize) -> Self {
        Self {
            rv: 0,
            registry: Registry::new(),
            tables: BTreeMap::new(),
            log: VecDeque::new(),
            log_cap: log_cap.max(16),
            by_uid: BTreeMap::new(),
            dependents: BTreeMap::new(),
        }
    }

    /// The latest `resourceVersion`.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// One object.
    pub fn get(&self, r: &ObjRef) -> Option<&Arc<Value>> {
        self.tables
            .get(&(r.group.clone(), r.plural.clone()))?
            .get(&(r.namespace.clone(), r.name.clone()))
    }

    /// Objects of a type, in (namespace, name) order, optionally in one namespace, starting
    /// after `after` (exclusive).
    pub fn list<'a>(
        &'a self,
        group: &str,
        plural: &str,
        namespace: Option<&'a str>,
        after: Option<&(String, String)>,
    ) -> Box<dyn Iterator<Item = &'a Arc<Value>> + 'a> {
        let Some(table) = self.tables.get(&(group.to_owned(), plural.to_owned())) else {
            return Box::new(std::iter::empty());
        };
        let lower = match (after, namespace) {
            (Some(a), _) => std::ops::Bound::Excluded(a.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_owned(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let iter = table
            .range((lower, std::ops::Bound::Unbounded))
            .take_while(move |((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .map(|(_, v)| v);
        Box::new(iter)
    }

    /// Every object in a namespace, of every namespaced type.
    pub fn in_namespace(&self, namespace: &str) -> Vec<ObjRef> {
        let mut out = Vec::new();
        for ((group, plural), table) in &self.tables {
            let start = (namespace.to_owned(), String::new());
            for ((ns, name), _) in table.range(start..) {
                if ns != namespace {
                    break;
                }
                out.push(ObjRef::new(group, plural, ns, name));
            }
        }
        out
    }

    /// Every stored object's reference (for full garbage-collection scans).
    pub fn all_refs(&self) -> Vec<ObjRef> {
        self.tables
            .iter()
            .flat_map(|((g, p), t)| t.keys().map(move |(ns, n)| ObjRef::new(g, p, ns, n)))
            .collect()
    }

    /// The object with this uid.
    pub fn by_uid(&self, uid: &str) -> Option<&ObjRef> {
        self.by_uid.get(uid)
    }

    /// Objects listing `uid` among their owners.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjRef> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn index_remove(&mut self, r: &ObjRef, old: &Value) {
        self.by_uid.remove(meta::uid(old));
        for owner in meta::owner_uids(old) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(r);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    fn index_add(&mut self, r: &ObjRef, new: &Value) {
        self.by_uid.insert(meta::uid(new).to_owned(), r.clone());
        for owner in meta::owner_uids(new) {
            self.dependents.entry(owner).or_default().insert(r.clone());
        }
    }

    fn push_event(&mut self, event: Event) {
        self.log.push_back(Arc::new(event));
        while self.log.len() > self.log_cap {
            self.log.pop_front();
        }
    }

    /// Stores an object (create or replace), stamping the next `resourceVersion`.
    pub fn put(&mut self, r: &ObjRef, mut obj: Value) -> Arc<Value> {
        self.rv += 1;
        meta::metadata_mut(&mut obj).insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        let obj = Arc::new(obj);
        let table = self
            .tables
            .entry((r.group.clone(), r.plural.clone()))
            .or_default();
        let previous = table.insert((r.namespace.clone(), r.name.clone()), Arc::clone(&obj));
        if let Some(old) = &previous {
            self.index_remove(r, old);
        }
        self.index_add(r, &obj);
        let etype = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.push_event(Event {
            rv: self.rv,
            group: r.group.clone(),
            plural: r.plural.clone(),
            etype,
            object: Arc::clone(&obj),
            previous,
            encoded: OnceLock::new(),
        });
        obj
    }

    /// Removes an object; the returned last state carries the deletion's `resourceVersion`.
    pub fn remove(&mut self, r: &ObjRef) -> Option<Arc<Value>> {
        let table = self.tables.get_mut(&(r.group.clone(), r.plural.clone()))?;
        let old = table.remove(&(r.namespace.clone(), r.name.clone()))?;
        self.index_remove(r, &old);
        self.rv += 1;
        let mut last = (*old).clone();
        meta::metadata_mut(&mut last).insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        let last = Arc::new(last);
        self.push_event(Event {
            rv: self.rv,
            group: r.group.clone(),
            plural: r.plural.clone(),
            etype: EventType::Deleted,
            object: Arc::clone(&last),
            previous: Some(old),
            encoded: OnceLock::new(),
        });
        Some(last)
    }

    /// Events after version `after`, at most `max`; `Err(oldest)` when some were dropped.
    pub fn events_since(&self, after: u64, max: usize) -> Result<Vec<Arc<Event>>, u64> {
        if after >= self.rv {
            return Ok(Vec::new());
        }
        let Some(first) = self.log.front().map(|e| e.rv) else {
            return Err(self.rv + 1);
        };
        if after + 1 < first {
            return Err(first);
        }
        let start = usize::try_from(after + 1 - first).unwrap_or(usize::MAX);
        let end = start.saturating_add(max).min(self.log.len());
        Ok(self.log.range(start..end).cloned().collect())
    }

    /// The oldest version a watch can still resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.log.front().map_or(self.rv, |e| e.rv - 1)
    }
}

/// The shared store.
#[derive(Debug)]
pub struct Store {
    state: Mutex<State>,
    latest: watch::Sender<u64>,
}

impl Store {
    /// An empty store keeping the last `history` events for watches.
    pub fn new(history: usize) -> Self {
        Self {
            state: Mutex::new(State::new(history)),
            latest: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a bug elsewhere; the data is still consistent
        // enough to keep serving tests, so do not cascade the panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state, read-only.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.lock())
    }

    /// Runs `f` on the state and then wakes every waiting watch.
    pub fn write<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let (r, rv) = {
            let mut st = self.lock();
            let r = f(&mut st);
            (r, st.rv)
        };
        self.latest.send_if_modified(|v| {
            let changed = *v != rv;
            *v = rv;
            changed
        });
        r
    }

    /// A receiver that changes whenever a write produced new events.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cm(name: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")}})
    }

    #[test]
    fn writes_take_contiguous_versions_and_log_one_event_each() {
        let store = Store::new(100);
        let r = ObjRef::new("", "configmaps", "ns", "a");
        store.write(|st| {
            st.put(&r, cm("a"));
            st.put(&r, cm("a"));
            st.remove(&r);
        });
        let events = store.read(|st| st.events_since(0, 10)).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| (e.rv, e.etype)).collect();
        assert_eq!(
            kinds,
            [
                (1, EventType::Added),
                (2, EventType::Modified),
                (3, EventType::Deleted)
            ]
        );
        assert_eq!(meta::resource_version(&events[2].object), "3");
    }

    #[test]
    fn resuming_before_the_kept_history_reports_the_oldest_version() {
        let store = Store::new(16);
        store.write(|st| {
            for i in 0..40 {
                st.put(
                    &ObjRef::new("", "configmaps", "ns", &format!("c{i}")),
                    cm(&format!("c{i}")),
                );
            }
        });
        assert_eq!(store.read(|st| st.events_since(3, 10)).unwrap_err(), 25);
        assert_eq!(store.read(|st| st.events_since(24, 100)).unwrap().len(), 16);
        assert!(store.read(|st| st.events_since(40, 10)).unwrap().is_empty());
    }

    #[test]
    fn list_in_namespace_stops_at_the_namespace_boundary_and_honours_after() {
        let store = Store::new(100);
        store.write(|st| {
            for (ns, n) in [("a", "x"), ("b", "x"), ("b", "y"), ("c", "x")] {
                st.put(&ObjRef::new("", "configmaps", ns, n), cm(n));
            }
        });
        let names = |ns: Option<&str>, after: Option<(String, String)>| {
            store.read(|st| {
                st.list("", "configmaps", ns, after.as_ref())
                    .map(|o| o["metadata"]["resourceVersion"].as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names(Some("b"), None), ["2", "3"]);
        assert_eq!(names(Some("b"), Some(("b".into(), "x".into()))), ["3"]);
        assert_eq!(names(None, Some(("b".into(), "y".into()))), ["4"]);
    }

    #[test]
    fn dependents_index_follows_owner_references() {
        let store = Store::new(100);
        let r = ObjRef::new("", "configmaps", "ns", "child");
        let mut child = cm("child");
        child["metadata"]["ownerReferences"] = json!([{"uid": "owner-1"}]);
        store.write(|st| st.put(&r, child));
        assert_eq!(
            store.read(|st| st.dependents_of("owner-1")),
            std::slice::from_ref(&r)
        );
        store.write(|st| st.put(&r, cm("child")));
        assert!(store.read(|st| st.dependents_of("owner-1")).is_empty());
    }
}
