//! Field ownership: `metadata.managedFields` and server-side apply.
//!
//! A field set is the set of paths a manager owns: leaves (scalars, atomic lists, empty maps) and
//! the items of keyed or set lists (`k:{"name":"x"}`, `v:"x"`). It is stored in the `FieldsV1`
//! JSON format the API server uses, so kube-rs and kubectl read it as usual.
//!
//! [`apply`] implements server-side apply on a JSON object:
//! 1. the applied configuration's field set is computed with the type's [`ListRules`];
//! 2. a field also owned by another manager whose value would change is a conflict, unless
//!    `force` moves it to the applier;
//! 3. the configuration is merged in (maps by key, keyed lists by key, set lists by value,
//!    everything else replaced);
//! 4. fields the applier owned before but no longer applies are removed, unless another manager
//!    still owns them (or something below them).
//!
//! [`record_update`] gives an updater (PUT, merge/JSON/strategic patches) ownership of what it
//! changed and takes it from everyone else, as the API server does. Callers strip system fields
//! and the part of the object that the request cannot touch (status or spec) before calling.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::resources::{ListKind, ListRules};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pe {
    /// A map field: `f:name`.
    Field(String),
    /// A keyed list item, by the canonical JSON of its key fields: `k:{"name":"x"}`.
    Key(String),
    /// A set list item, by its canonical JSON value: `v:"x"`.
    Val(String),
}

/// A path from the object root.
pub type Path = Vec<Pe>;
/// A set of owned paths.
pub type FieldSet = BTreeSet<Path>;

fn join(dotted: &str, field: &str) -> String {
    if dotted.is_empty() {
        field.to_owned()
    } else {
        format!("{dotted}.{field}")
    }
}

/// The canonical key of a list item (`None` when it lacks every key field or is not an object).
fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let obj = item.as_object()?;
    let mut k = Map::new();
    for key in keys {
        if let Some(v) = obj.get(key) {
            k.insert(key.clone(), v.clone());
        }
    }
    (!k.is_empty()).then(|| Value::Object(k).to_string())
}

/// The field set of an object: every path it sets (nulls set nothing).
pub fn field_set(v: &Value, rules: &ListRules) -> FieldSet {
    let mut out = FieldSet::new();
    walk(v, &mut Vec::new(), "", rules, &mut out);
    out
}

fn walk(v: &Value, path: &mut Path, dotted: &str, rules: &ListRules, out: &mut FieldSet) {
    match v {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                path.push(Pe::Field(k.clone()));
                walk(child, path, &join(dotted, k), rules, out);
                path.pop();
            }
        }
        Value::Array(items) => match rules.get(dotted) {
            ListKind::Map(keys) if items.iter().all(|i| item_key(i, &keys).is_some()) => {
                for item in items {
                    let Some(key) = item_key(item, &keys) else {
                        continue;
                    };
                    path.push(Pe::Key(key));
                    out.insert(path.clone());
                    if let Value::Object(fields) = item {
                        for (k, child) in fields {
                            path.push(Pe::Field(k.clone()));
                            walk(child, path, &join(dotted, k), rules, out);
                            path.pop();
                        }
                    }
                    path.pop();
                }
            }
            ListKind::Set => {
                for item in items {
                    path.push(Pe::Val(item.to_string()));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        },
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// Leaves with their values (list items map to `None`: only their presence counts).
fn leaves<'a>(v: &'a Value, rules: &ListRules) -> BTreeMap<Path, Option<&'a Value>> {
    field_set(v, rules)
        .into_iter()
        .map(|p| {
            let value = match p.last() {
                Some(Pe::Key(_) | Pe::Val(_)) => None,
                _ => value_at(v, &p),
            };
            (p, value)
        })
        .collect()
}

/// The value at a path, if present.
pub fn value_at<'a>(mut v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    for pe in path {
        v = match pe {
            Pe::Field(f) => v.as_object()?.get(f)?,
            Pe::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                v.as_array()?
                    .iter()
                    .find(|item| key.iter().all(|(kf, kv)| item.get(kf) == Some(kv)))?
            }
            Pe::Val(x) => {
                let want: Value = serde_json::from_str(x).ok()?;
                v.as_array()?.iter().find(|item| **item == want)?
            }
        };
    }
    Some(v)
}

/// Removes the value at a path (a map field or a list item); absent paths are ignored.
pub fn remove_at(v: &mut Value, path: &[Pe]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut parent = v;
    for pe in parent_path {
        let next = match pe {
            Pe::Field(f) => parent.as_object_mut().and_then(|m| m.get_mut(f)),
            Pe::Key(k) => {
                let Ok(key) = serde_json::from_str::<Map<String, Value>>(k) else {
                    return;
                };
                parent.as_array_mut().and_then(|a| {
                    a.iter_mut()
                        .find(|item| key.iter().all(|(kf, kv)| item.get(kf) == Some(kv)))
                })
            }
            Pe::Val(x) => {
                let Ok(want) = serde_json::from_str::<Value>(x) else {
                    return;
                };
                parent
                    .as_array_mut()
                    .and_then(|a| a.iter_mut().find(|item| **item == want))
            }
        };
        let Some(next) = next else { return };
        parent = next;
    }
    match last {
        Pe::Field(f) => {
            if let Some(m) = parent.as_object_mut() {
                m.remove(f);
            }
        }
        Pe::Key(k) => {
            if let (Ok(key), Some(a)) = (
                serde_json::from_str::<Map<String, Value>>(k),
                parent.as_array_mut(),
            ) {
                a.retain(|item| !key.iter().all(|(kf, kv)| item.get(kf) == Some(kv)));
            }
        }
        Pe::Val(x) => {
            if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(x), parent.as_array_mut()) {
                a.retain(|item| *item != want);
            }
        }
    }
}

/// Merges an applied configuration into a live object (see the module docs).
pub fn merge(live: &mut Value, applied: &Value, rules: &ListRules, dotted: &str) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            for (k, av) in a {
                if av.is_null() {
                    l.remove(k);
                    continue;
                }
                let child = join(dotted, k);
                match l.get_mut(k) {
                    Some(lv) => merge(lv, av, rules, &child),
                    None => {
                        l.insert(k.clone(), without_nulls(av));
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => match rules.get(dotted) {
            ListKind::Map(keys) if a.iter().chain(l.iter()).all(|i| item_key(i, &keys).is_some()) => {
                for item in a {
                    let key = item_key(item, &keys);
                    match l.iter_mut().find(|li| item_key(li, &keys) == key) {
                        Some(li) => merge(li, item, rules, dotted),
                        None => l.push(without_nulls(item)),
                    }
                }
            }
            ListKind::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            _ => l.clone_from(a),
        },
        (l, a) => *l = without_nulls(a),
    }
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `manager`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// `apiVersion` the manager used.
    pub api_version: String,
    /// `time`.
    pub time: String,
    /// `subresource` (`""` or `status`).
    pub subresource: String,
    /// `fieldsV1`.
    pub fields: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

/// Reads `metadata.managedFields` (malformed entries are dropped).
pub fn read_entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    Some(Entry {
                        manager: e["manager"].as_str()?.to_owned(),
                        operation: e["operation"].as_str()?.to_owned(),
                        api_version: e["apiVersion"].as_str().unwrap_or_default().to_owned(),
                        time: e["time"].as_str().unwrap_or_default().to_owned(),
                        subresource: e["subresource"].as_str().unwrap_or_default().to_owned(),
                        fields: from_fields_v1(&e["fieldsV1"]),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `metadata.managedFields`, dropping entries that own nothing.
pub fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    let meta = crate::meta::metadata_mut(obj);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

fn pe_string(pe: &Pe) -> String {
    match pe {
        Pe::Field(f) => format!("f:{f}"),
        Pe::Key(k) => format!("k:{k}"),
        Pe::Val(v) => format!("v:{v}"),
    }
}

/// A field set in `FieldsV1` form.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node {
        member: bool,
        children: BTreeMap<String, Node>,
    }
    fn render(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), json!({}));
        }
        for (k, c) in &n.children {
            m.insert(k.clone(), render(c));
        }
        Value::Object(m)
    }
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for pe in path {
            node = node.children.entry(pe_string(pe)).or_default();
        }
        node.member = true;
    }
    render(&root)
}

/// A field set from `FieldsV1` form (unknown prefixes, such as list indexes, are skipped).
pub fn from_fields_v1(v: &Value) -> FieldSet {
    fn go(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() && !path.is_empty() {
            out.insert(path.clone());
            return;
        }
        for (k, child) in m {
            if k == "." {
                out.insert(path.clone());
                continue;
            }
            let pe = if let Some(f) = k.strip_prefix("f:") {
                Pe::Field(f.to_owned())
            } else if let Some(key) = k.strip_prefix("k:") {
                Pe::Key(key.to_owned())
            } else if let Some(val) = k.strip_prefix("v:") {
                Pe::Val(val.to_owned())
            } else {
                continue;
            };
            path.push(pe);
            go(child, path, out);
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), &mut out);
    out
}

fn display_path(p: &[Pe]) -> String {
    let mut s = String::new();
    for pe in p {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k) => {
                s.push('[');
                s.push_str(k);
                s.push(']');
            }
            Pe::Val(v) => {
                s.push_str("[=");
                s.push_str(v);
                s.push(']');
            }
        }
    }
    s
}

/// Whether anyone in `entries` (other than the entry at `skip`) owns `p` or a path below it.
fn owned_by_others(entries: &[Entry], skip: Option<usize>, p: &Path) -> bool {
    entries.iter().enumerate().any(|(i, e)| {
        Some(i) != skip
            && e.fields
                .range(p.clone()..)
                .next()
                .is_some_and(|q| q.starts_with(p))
    })
}

/// Who writes, for the `managedFields` entry.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force` (apply only).
    pub force: bool,
    /// The `apiVersion` of the request.
    pub api_version: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
    /// The time to record.
    pub now: &'a str,
}

/// Server-side apply of `applied` (system fields already stripped) onto `live` (the whole
/// object, with its `managedFields`); returns the new object, or the conflicts.
pub fn apply(live: &Value, applied: &Value, rules: &ListRules, req: Writer<'_>) -> Result<Value, Vec<Cause>> {
    let mut entries = read_entries(live);
    let new_set = field_set(applied, rules);
    let mine = entries
        .iter()
        .position(|e| e.is(req.manager, "Apply", req.subresource));
    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == mine {
            continue;
        }
        for p in e.fields.intersection(&new_set) {
            if matches!(p.last(), Some(Pe::Key(_) | Pe::Val(_))) {
                continue;
            }
            if value_at(live, p) != value_at(applied, p) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(conflicts
                .iter()
                .map(|(i, p)| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!(
                        "conflict with \"{}\" using {}",
                        entries[*i].manager, entries[*i].api_version
                    ),
                    field: display_path(p),
                })
                .collect());
        }
        for (i, p) in &conflicts {
            entries[*i].fields.remove(p);
        }
    }
    let mut out = live.clone();
    merge(&mut out, applied, rules, "");
    let old_mine = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();
    let mut removed: Vec<&Path> = old_mine.difference(&new_set).collect();
    // Shallowest first: a list item goes as a whole before its key fields could be removed
    // from under it (which would make it unfindable).
    removed.sort_by_key(|p| p.len());
    for p in removed {
        if !owned_by_others(&entries, mine, p)
            && !new_set
                .range(p.clone()..)
                .next()
                .is_some_and(|q| q.starts_with(p))
        {
            remove_at(&mut out, p);
        }
    }
    let entry = Entry {
        manager: req.manager.to_owned(),
        operation: "Apply".into(),
        api_version: req.api_version.to_owned(),
        time: req.now.to_owned(),
        subresource: req.subresource.to_owned(),
        fields: new_set,
    };
    match mine {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    write_entries(&mut out, &entries);
    Ok(out)
}

/// Records a non-apply write: `old_view`/`new_view` are the parts of the object the request
/// could change (system fields stripped); ownership goes into `target`'s `managedFields`, which
/// holds the stored entries when called.
pub fn record_update(
    old_view: Option<&Value>,
    new_view: &Value,
    target: &mut Value,
    rules: &ListRules,
    w: Writer<'_>,
) {
    let (manager, api_version, subresource, now) = (w.manager, w.api_version, w.subresource, w.now);
    let mut entries = read_entries(target);
    let before = old_view.map(|o| leaves(o, rules)).unwrap_or_default();
    let after = leaves(new_view, rules);
    let changed: FieldSet = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed: FieldSet = before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect();
    if changed.is_empty() && removed.is_empty() && old_view.is_some() {
        write_entries(target, &entries);
        return;
    }
    let mine = entries.iter().position(|e| e.is(manager, "Update", subresource));
    for (i, e) in entries.iter_mut().enumerate() {
        e.fields.retain(|p| !removed.contains(p));
        if Some(i) != mine {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    match mine {
        Some(i) => {
            entries[i].fields.extend(changed);
            now.clone_into(&mut entries[i].time);
            api_version.clone_into(&mut entries[i].api_version);
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: "Update".into(),
            api_version: api_version.to_owned(),
            time: now.to_owned(),
            subresource: subresource.to_owned(),
            fields: changed,
        }),
    }
    write_entries(target, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    fn deploy_rules() -> ListRules {
        Registry::new().get("apps", "deployments").unwrap().lists.clone()
    }

    fn req(manager: &str, force: bool) -> Writer<'_> {
        Writer {
            manager,
            force,
            api_version: "apps/v1",
            subresource: "",
            now: "2026-01-01T00:00:00Z",
        }
    }

    #[test]
    fn fields_v1_round_trips_keyed_items_and_leaves() {
        let obj = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "x", "args": ["--v"]}]}}}, "metadata": {"finalizers": ["f"]}});
        let set = field_set(&obj, &deploy_rules());
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"a\"}"]["."],
            json!({})
        );
        assert_eq!(v1["f:metadata"]["f:finalizers"]["v:\"f\""], json!({}));
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_by_another_manager_with_a_different_value_conflicts_unless_forced() {
        let rules = deploy_rules();
        let a = apply(
            &json!({}),
            &json!({"spec": {"replicas": 1}}),
            &rules,
            req("a", false),
        )
        .unwrap();
        let err = apply(&a, &json!({"spec": {"replicas": 2}}), &rules, req("b", false)).unwrap_err();
        assert_eq!(err[0].field, ".spec.replicas");
        assert_eq!(err[0].message, "conflict with \"a\" using apps/v1");
        let forced = apply(&a, &json!({"spec": {"replicas": 2}}), &rules, req("b", true)).unwrap();
        assert_eq!(forced["spec"]["replicas"], 2);
        let entries = read_entries(&forced);
        assert_eq!(entries.len(), 1, "a lost its only field: {entries:?}");
        assert_eq!(entries[0].manager, "b");
    }

    #[test]
    fn same_value_from_two_managers_is_shared_without_conflict() {
        let rules = deploy_rules();
        let a = apply(
            &json!({}),
            &json!({"spec": {"replicas": 1}}),
            &rules,
            req("a", false),
        )
        .unwrap();
        let b = apply(&a, &json!({"spec": {"replicas": 1}}), &rules, req("b", false)).unwrap();
        assert_eq!(read_entries(&b).len(), 2);
        // a stops applying replicas: b still owns it, so it stays.
        let a2 = apply(&b, &json!({"spec": {"paused": false}}), &rules, req("a", false)).unwrap();
        assert_eq!(a2["spec"]["replicas"], 1);
    }

    #[test]
    fn fields_a_manager_stops_applying_are_removed() {
        let rules = deploy_rules();
        let first = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"template": {"spec": {
            "containers": [{"name": "c1", "image": "i1"}, {"name": "c2", "image": "i2"}]}}}});
        let o = apply(&json!({}), &first, &rules, req("m", false)).unwrap();
        let second = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"template": {"spec": {
            "containers": [{"name": "c2", "image": "i3"}]}}}});
        let o = apply(&o, &second, &rules, req("m", false)).unwrap();
        assert_eq!(o["metadata"]["labels"], json!({"a": "1"}));
        assert_eq!(
            o["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c2", "image": "i3"}])
        );
    }

    #[test]
    fn keyed_list_items_merge_by_key_across_managers() {
        let rules = deploy_rules();
        let one = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let two = json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "y"}]}}}});
        let o = apply(&json!({}), &one, &rules, req("m1", false)).unwrap();
        let o = apply(&o, &two, &rules, req("m2", false)).unwrap();
        let names: Vec<_> = o["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn update_takes_ownership_of_changed_fields_from_appliers() {
        let rules = deploy_rules();
        let mut o = apply(
            &json!({}),
            &json!({"spec": {"replicas": 1}}),
            &rules,
            req("a", false),
        )
        .unwrap();
        let old_view = json!({"spec": {"replicas": 1}});
        let new_view = json!({"spec": {"replicas": 3}});
        o["spec"]["replicas"] = json!(3);
        let w = Writer {
            manager: "kubectl-scale",
            force: false,
            api_version: "apps/v1",
            subresource: "",
            now: "t",
        };
        record_update(Some(&old_view), &new_view, &mut o, &rules, w);
        let entries = read_entries(&o);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "kubectl-scale");
        // Now a re-apply by a with the old value conflicts.
        assert!(apply(&o, &json!({"spec": {"replicas": 1}}), &rules, req("a", false)).is_err());
    }

    #[test]
    fn null_in_an_applied_configuration_removes_the_field() {
        let mut live = json!({"data": {"a": "1", "b": "2"}});
        merge(
            &mut live,
            &json!({"data": {"a": null}}),
            &ListRules::default(),
            "",
        );
        assert_eq!(live, json!({"data": {"b": "2"}}));
    }
}
