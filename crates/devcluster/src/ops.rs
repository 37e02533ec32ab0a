//! The verbs' semantics, independent of HTTP: create, update, patch (merge, JSON, strategic,
//! apply), delete, and the internal writes garbage collection needs. Every function works on the
//! locked [`State`], so a read-modify-write is atomic.
//!
//! What they keep, as the API server does:
//! - identity and system fields (`uid`, `creationTimestamp`, `generation`, `deletionTimestamp`,
//!   `resourceVersion`) are the server's; clients cannot change them;
//! - `resourceVersion` in a body is a precondition (409 `Conflict` when stale);
//! - with a `/status` subresource, writes to the object ignore `status` and writes to `/status`
//!   change only `status`;
//! - `generation` is 1 at creation and grows when anything but metadata (and status, when it is a
//!   subresource) changes;
//! - a write that changes nothing stores nothing and produces no event;
//! - deletion with finalizers (or of a namespace, or in the foreground) only sets
//!   `deletionTimestamp`; the object goes when the last finalizer does; finalizers cannot be added
//!   once it is set;
//! - the namespace of a namespaced object must exist and not be terminating;
//! - a few kind-specific rules: Secret `stringData` folds into `data`; Namespaces get the
//!   `kubernetes` finalizer, `status.phase` and the `kubernetes.io/metadata.name` label;
//!   workloads default `spec.replicas` to 1; a CRD registers its type (and status
//!   `Established`), and removing it removes every instance.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::managed::{self, Writer};
use crate::meta::{self, NameRule};
use crate::patch;
use crate::resources::{self, ResourceType};
use crate::store::{ObjRef, State};

/// The finalizer foreground deletion uses.
pub const FOREGROUND: &str = "foregroundDeletion";
const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_PLURAL: &str = "customresourcedefinitions";

/// Which part of an object a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    /// The object itself.
    Main,
    /// `/status`.
    Status,
}

impl Sub {
    fn name(self) -> &'static str {
        match self {
            Sub::Main => "",
            Sub::Status => "status",
        }
    }
}

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: compute and answer, store nothing.
    pub dry_run: bool,
    /// The manager recorded in `managedFields` (`fieldManager`, or derived from the user agent).
    pub manager: String,
    /// Whether `fieldManager` was given explicitly (server-side apply requires it).
    pub explicit_manager: bool,
    /// `force` (server-side apply).
    pub force: bool,
}

/// Patch content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

/// `propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are collected after the owner is gone.
    Background,
    /// The owner waits (finalizer `foregroundDeletion`) until its dependents are gone.
    Foreground,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy` (Background when absent).
    pub propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// Result of a delete.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// Removed; its last state.
    Gone(Arc<Value>),
    /// Still there with `deletionTimestamp` set, waiting for finalizers.
    Pending(Arc<Value>),
}

fn objref(rt: &ResourceType, namespace: &str, name: &str) -> ObjRef {
    ObjRef::new(
        &rt.group,
        &rt.plural,
        if rt.namespaced { namespace } else { "" },
        name,
    )
}

fn name_rule(rt: &ResourceType) -> NameRule {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces" | "services") => NameRule::Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

/// Checks `apiVersion` and `kind` of a body against the endpoint.
fn check_kind(rt: &ResourceType, version: &str, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    let want_av = rt.api_version(version);
    let kind = obj["kind"].as_str().unwrap_or_default();
    let av = obj["apiVersion"].as_str().unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in the request body (expected {})",
            rt.kind
        )));
    }
    if kind != rt.kind || (!av.is_empty() && av != want_av) {
        return Err(ApiError::bad_request(format!(
            "the body is {av}, Kind={kind} but this endpoint serves {want_av}, Kind={}",
            rt.kind
        )));
    }
    Ok(())
}

/// Strips what only the server may set, and what the request cannot touch, for ownership and
/// apply: system metadata always; `status` for the main resource when it is a subresource;
/// everything but `status` for `/status`.
pub fn view(rt: &ResourceType, sub: Sub, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        match sub {
            Sub::Main if rt.status => {
                m.remove("status");
            }
            Sub::Status => m.retain(|k, _| k == "status"),
            Sub::Main => {}
        }
        if let Some(Value::Object(md)) = m.get_mut("metadata") {
            for f in [
                "name",
                "namespace",
                "uid",
                "resourceVersion",
                "generation",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "selfLink",
            ] {
                md.remove(f);
            }
            if md.is_empty() {
                m.remove("metadata");
            }
        }
    }
    v
}

/// Finalizers that still hold the object: `metadata.finalizers`, plus a namespace's
/// `spec.finalizers`.
pub fn pending_finalizers(obj: &Value) -> Vec<String> {
    let mut f = meta::finalizers(obj);
    if obj["kind"] == "Namespace" && obj["apiVersion"] == "v1" {
        f.extend(meta::string_list(&obj["spec"]["finalizers"]));
    }
    f
}

fn namespace_ready(st: &State, ns: &str) -> Result<(), ApiError> {
    match st.get(&ObjRef::new("", "namespaces", "", ns)) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if meta::is_deleting(n) => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))),
        Some(_) => Ok(()),
    }
}

/// One object in the requested version.
pub fn get(st: &State, rt: &ResourceType, namespace: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    st.get(&objref(rt, namespace, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

/// Creates an object (POST to the collection).
pub fn create(
    st: &mut State,
    rt: &Arc<ResourceType>,
    version: &str,
    namespace: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
) -> Result<Arc<Value>, ApiError> {
    check_kind(rt, version, &obj)?;
    let ns = resolve_namespace(rt, namespace, &obj)?;
    let md = meta::metadata_mut(&mut obj);
    md.remove("managedFields");
    let view_new = view(rt, Sub::Main, &obj);
    let mut obj = obj;
    managed::record_update(
        None,
        &view_new,
        &mut obj,
        &rt.lists,
        Writer {
            manager: &opts.manager,
            force: false,
            api_version: &rt.api_version(version),
            subresource: "",
            now: &meta::now(),
        },
    );
    insert_new(st, rt, &ns, obj, opts.dry_run)
}

fn resolve_namespace(rt: &ResourceType, url_ns: Option<&str>, obj: &Value) -> Result<String, ApiError> {
    let body_ns = meta::namespace(obj);
    if !rt.namespaced {
        return Ok(String::new());
    }
    let Some(url_ns) = url_ns else {
        return Err(ApiError::bad_request(format!(
            "{} is namespaced: use /namespaces/{{namespace}}/{} to create it",
            rt.kind, rt.plural
        )));
    };
    if !body_ns.is_empty() && body_ns != url_ns {
        return Err(ApiError::bad_request(format!(
            "the namespace of the provided object ({body_ns}) does not match the namespace sent on the request ({url_ns})"
        )));
    }
    Ok(url_ns.to_owned())
}

/// Stores a new object: names it, stamps identity, checks the namespace, runs kind rules.
fn insert_new(
    st: &mut State,
    rt: &Arc<ResourceType>,
    ns: &str,
    mut obj: Value,
    dry_run: bool,
) -> Result<Arc<Value>, ApiError> {
    let mut name = meta::name(&obj).to_owned();
    if name.is_empty() {
        let prefix = obj["metadata"]["generateName"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !prefix.is_empty() {
            for _ in 0..8 {
                let candidate = format!("{prefix}{}", meta::random_suffix());
                if st.get(&objref(rt, ns, &candidate)).is_none() {
                    name = candidate;
                    break;
                }
            }
        }
    }
    if let Err(why) = meta::validate_name(&name, name_rule(rt)) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            "metadata.name",
            &why,
        ));
    }
    if rt.namespaced {
        namespace_ready(st, ns)?;
    }
    let r = objref(rt, ns, &name);
    if st.get(&r).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
    }
    obj["apiVersion"] = json!(rt.api_version(rt.storage_version()));
    let md = meta::metadata_mut(&mut obj);
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generation",
    ] {
        md.remove(f);
    }
    md.insert("name".into(), json!(name));
    if rt.namespaced {
        md.insert("namespace".into(), json!(ns));
    } else {
        md.remove("namespace");
    }
    md.insert("uid".into(), json!(meta::new_uid()));
    md.insert("creationTimestamp".into(), json!(meta::now()));
    if rt.generation {
        md.insert("generation".into(), json!(1));
    }
    if rt.status
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    let crd_type = kind_rules(st, rt, None, &mut obj)?;
    if dry_run {
        return Ok(Arc::new(obj));
    }
    let stored = st.put(&r, obj);
    if let Some(t) = crd_type {
        st.registry.register_crd(t)?;
    }
    Ok(stored)
}

/// Replaces an object (PUT).
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's inputs, each from the request"
)]
pub fn update(
    st: &mut State,
    rt: &Arc<ResourceType>,
    version: &str,
    namespace: &str,
    name: &str,
    sub: Sub,
    body: Value,
    opts: &WriteOptions,
) -> Result<Arc<Value>, ApiError> {
    check_kind(rt, version, &body)?;
    let body_name = meta::name(&body);
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    if rt.namespaced {
        resolve_namespace(rt, Some(namespace), &body)?;
    }
    let r = objref(rt, namespace, name);
    let old = st
        .get(&r)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let rv = meta::resource_version(&body);
    if !rv.is_empty() && rv != meta::resource_version(&old) {
        return Err(ApiError::stale(&rt.group, &rt.plural, name));
    }
    let new = split_sub(rt, sub, &old, body);
    finish_update(st, rt, version, &r, &old, new, sub, opts, false)
}

/// Takes from `new` only the part `sub` may change; the rest comes from `old`.
fn split_sub(rt: &ResourceType, sub: Sub, old: &Value, new: Value) -> Value {
    match sub {
        Sub::Main if rt.status => {
            let mut n = new;
            if let Some(m) = n.as_object_mut() {
                match old.get("status") {
                    Some(s) => m.insert("status".into(), s.clone()),
                    None => m.remove("status"),
                };
            }
            n
        }
        Sub::Main => new,
        Sub::Status => {
            let mut n = old.clone();
            if let Some(m) = n.as_object_mut() {
                match new.get("status") {
                    Some(s) if !s.is_null() => m.insert("status".into(), s.clone()),
                    _ => m.remove("status"),
                };
            }
            n
        }
    }
}

/// Whether the parts of an object that `generation` tracks differ.
fn spec_changed(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    let strip = |o: &Value| {
        let mut v = o.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            if rt.status {
                m.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

/// An object without what changes on every write (`resourceVersion`, managed-fields times).
fn comparable(o: &Value) -> Value {
    let mut v = o.clone();
    if let Some(Value::Object(md)) = v.get_mut("metadata") {
        md.remove("resourceVersion");
        if let Some(Value::Array(entries)) = md.get_mut("managedFields") {
            for e in entries {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
    }
    v
}

#[allow(clippy::too_many_arguments, reason = "shared tail of update, patch and apply")]
fn finish_update(
    st: &mut State,
    rt: &Arc<ResourceType>,
    version: &str,
    r: &ObjRef,
    old: &Arc<Value>,
    mut new: Value,
    sub: Sub,
    opts: &WriteOptions,
    ownership_done: bool,
) -> Result<Arc<Value>, ApiError> {
    if !new.is_object() {
        return Err(ApiError::bad_request("the patched object is not a JSON object"));
    }
    new["apiVersion"] = old["apiVersion"].clone();
    new["kind"] = old["kind"].clone();
    {
        let old_md = old["metadata"].as_object().cloned().unwrap_or_default();
        let md = meta::metadata_mut(&mut new);
        let mut keep = vec![
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ];
        if !ownership_done {
            keep.push("managedFields");
        }
        for f in keep {
            match old_md.get(f) {
                Some(v) => md.insert(f.into(), v.clone()),
                None => md.remove(f),
            };
        }
        md.remove("resourceVersion");
        md.remove("selfLink");
    }
    if meta::is_deleting(old) {
        let before = meta::finalizers(old);
        if let Some(added) = meta::finalizers(&new).into_iter().find(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &r.name,
                "metadata.finalizers",
                &format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers [\"{added}\"]"
                ),
            ));
        }
    }
    let crd_type = kind_rules(st, rt, Some(old), &mut new)?;
    if !ownership_done {
        managed::record_update(
            Some(&view(rt, sub, old)),
            &view(rt, sub, &new),
            &mut new,
            &rt.lists,
            Writer {
                manager: &opts.manager,
                force: false,
                api_version: &rt.api_version(version),
                subresource: sub.name(),
                now: &meta::now(),
            },
        );
    }
    if rt.generation && spec_changed(rt, old, &new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        meta::metadata_mut(&mut new).insert("generation".into(), json!(g));
    }
    if comparable(old) == comparable(&new) {
        return Ok(Arc::clone(old));
    }
    if opts.dry_run {
        return Ok(Arc::new(new));
    }
    if meta::is_deleting(&new) && pending_finalizers(&new).is_empty() {
        st.put(r, new);
        return Ok(remove_object(st, r).unwrap_or_else(|| Arc::clone(old)));
    }
    let stored = st.put(r, new);
    if let Some(t) = crd_type {
        st.registry.register_crd(t)?;
    }
    Ok(stored)
}

/// Patches an object; returns it and whether it was created (apply only).
#[allow(
    clippy::too_many_arguments,
    reason = "the verb's inputs, each from the request"
)]
pub fn patch(
    st: &mut State,
    rt: &Arc<ResourceType>,
    version: &str,
    namespace: &str,
    name: &str,
    sub: Sub,
    kind: PatchKind,
    body: &Value,
    opts: &WriteOptions,
) -> Result<(Arc<Value>, bool), ApiError> {
    let r = objref(rt, namespace, name);
    if kind == PatchKind::Apply {
        return apply(st, rt, version, &r, sub, body, opts);
    }
    let old = st
        .get(&r)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let mut current = (*old).clone();
    current["apiVersion"] = json!(rt.api_version(version));
    let patched = match kind {
        PatchKind::Merge => {
            if !body.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            patch::merge_patch(&current, body)
        }
        PatchKind::Json => patch::json_patch(&current, body)?,
        PatchKind::Strategic => {
            if !rt.builtin {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (strategic merge patch is not supported for the custom resource {})",
                    rt.qualified()
                )));
            }
            patch::strategic_merge(&current, body, &rt.lists)?
        }
        PatchKind::Apply => unreachable!("handled above"),
    };
    let rv = meta::resource_version(&patched);
    if !rv.is_empty() && rv != meta::resource_version(&old) {
        return Err(ApiError::stale(&rt.group, &rt.plural, name));
    }
    let patched_name = meta::name(&patched);
    if patched_name != name {
        return Err(ApiError::bad_request(format!(
            "the patch changes metadata.name from {name:?} to {patched_name:?}"
        )));
    }
    let uid = meta::uid(&patched);
    if !uid.is_empty() && uid != meta::uid(&old) {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            "the UID in the patch does not match the object",
        ));
    }
    let new = split_sub(rt, sub, &old, patched);
    Ok((
        finish_update(st, rt, version, &r, &old, new, sub, opts, false)?,
        false,
    ))
}

fn apply(
    st: &mut State,
    rt: &Arc<ResourceType>,
    version: &str,
    r: &ObjRef,
    sub: Sub,
    body: &Value,
    opts: &WriteOptions,
) -> Result<(Arc<Value>, bool), ApiError> {
    if !opts.explicit_manager || opts.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH requests with the apply content type require the fieldManager query parameter",
        ));
    }
    check_kind(rt, version, body)?;
    let body_name = meta::name(body);
    if !body_name.is_empty() && body_name != r.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            r.name
        )));
    }
    if rt.namespaced {
        resolve_namespace(rt, Some(&r.namespace), body)?;
    }
    let old = st.get(r).cloned();
    let rv = meta::resource_version(body);
    if !rv.is_empty() && old.as_ref().is_none_or(|o| meta::resource_version(o) != rv) {
        return Err(ApiError::stale(&rt.group, &rt.plural, &r.name));
    }
    let applied = view(rt, sub, body);
    let base = match &old {
        Some(o) => (**o).clone(),
        None if sub == Sub::Status => {
            return Err(ApiError::not_found(&rt.group, &rt.plural, &r.name));
        }
        None => json!({"apiVersion": rt.api_version(version), "kind": rt.kind, "metadata": {"name": r.name}}),
    };
    let writer = Writer {
        manager: &opts.manager,
        force: opts.force,
        api_version: &rt.api_version(version),
        subresource: sub.name(),
        now: &meta::now(),
    };
    let new = managed::apply(&base, &applied, &rt.lists, writer)
        .map_err(|causes| ApiError::apply_conflicts(&rt.group, &rt.plural, &r.name, causes))?;
    match old {
        None => Ok((insert_new(st, rt, &r.namespace, new, opts.dry_run)?, true)),
        Some(old) => {
            let new = split_sub(rt, sub, &old, new);
            Ok((
                finish_update(st, rt, version, r, &old, new, sub, opts, true)?,
                false,
            ))
        }
    }
}

/// Deletes an object (see the module docs for finalizers and propagation).
pub fn delete(
    st: &mut State,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Deleted, ApiError> {
    let r = objref(rt, namespace, name);
    let old = st
        .get(&r)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    if let Some(uid) = &opts.uid
        && uid != meta::uid(&old)
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(&old)
            ),
        ));
    }
    if let Some(rv) = &opts.resource_version
        && rv != meta::resource_version(&old)
    {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta::resource_version(&old)
            ),
        ));
    }
    if opts.dry_run {
        return Ok(if pending_finalizers(&old).is_empty() {
            Deleted::Gone(old)
        } else {
            Deleted::Pending(old)
        });
    }
    let policy = opts.propagation.unwrap_or(Propagation::Background);
    if policy == Propagation::Orphan {
        orphan_dependents(st, meta::uid(&old));
    }
    let mut new = (*old).clone();
    let mut finalizers = meta::finalizers(&new);
    if policy == Propagation::Foreground
        && !finalizers.iter().any(|f| f == FOREGROUND)
        && !st.dependents_of(meta::uid(&old)).is_empty()
    {
        finalizers.push(FOREGROUND.to_owned());
        meta::metadata_mut(&mut new).insert("finalizers".into(), json!(finalizers));
    }
    if pending_finalizers(&new).is_empty() {
        return Ok(Deleted::Gone(remove_object(st, &r).unwrap_or(old)));
    }
    if !meta::is_deleting(&new) {
        let md = meta::metadata_mut(&mut new);
        md.insert("deletionTimestamp".into(), json!(meta::now()));
        md.insert("deletionGracePeriodSeconds".into(), json!(0));
        if rt.generation {
            let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
            md.insert("generation".into(), json!(g));
        }
        if rt.group.is_empty() && rt.plural == "namespaces" {
            new["status"]["phase"] = json!("Terminating");
        }
    }
    if comparable(&old) == comparable(&new) {
        return Ok(Deleted::Pending(old));
    }
    Ok(Deleted::Pending(st.put(&r, new)))
}

/// Removes an object for good; removing a CRD removes its instances and its type.
pub fn remove_object(st: &mut State, r: &ObjRef) -> Option<Arc<Value>> {
    let last = st.remove(r)?;
    if r.group == CRD_GROUP && r.plural == CRD_PLURAL {
        let group = last["spec"]["group"].as_str().unwrap_or_default().to_owned();
        let plural = last["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let instances: Vec<ObjRef> = st
            .list(&group, &plural, None, None)
            .map(|o| ObjRef::new(&group, &plural, meta::namespace(o), meta::name(o)))
            .collect();
        for i in instances {
            st.remove(&i);
        }
        st.registry.unregister(&group, &plural);
    }
    Some(last)
}

/// Removes references to `owner_uid` from every dependent.
pub fn orphan_dependents(st: &mut State, owner_uid: &str) {
    for d in st.dependents_of(owner_uid) {
        let Some(obj) = st.get(&d).cloned() else { continue };
        let mut new = (*obj).clone();
        if let Some(Value::Array(refs)) = new["metadata"].get_mut("ownerReferences") {
            refs.retain(|o| o["uid"] != owner_uid);
            if refs.is_empty() {
                meta::metadata_mut(&mut new).remove("ownerReferences");
            }
        }
        st.put(&d, new);
    }
}

/// Removes one finalizer from a stored object (garbage collection, namespaces); the object
/// goes if nothing else holds it.
pub fn drop_finalizer(st: &mut State, r: &ObjRef, finalizer: &str, from_spec: bool) {
    let Some(obj) = st.get(r).cloned() else { return };
    let mut new = (*obj).clone();
    let list = if from_spec {
        &mut new["spec"]["finalizers"]
    } else {
        &mut new["metadata"]["finalizers"]
    };
    let Value::Array(items) = list else { return };
    let before = items.len();
    items.retain(|f| f != finalizer);
    if items.len() == before {
        return;
    }
    if meta::is_deleting(&new) && pending_finalizers(&new).is_empty() {
        st.put(r, new);
        remove_object(st, r);
    } else {
        st.put(r, new);
    }
}

/// Kind-specific rules run on every write; a CRD returns the type to register after storing.
fn kind_rules(
    st: &State,
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
) -> Result<Option<ResourceType>, ApiError> {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "secrets") => {
            secret_rules(obj, old.is_none())?;
            Ok(None)
        }
        ("", "namespaces") => {
            let name = meta::name(obj).to_owned();
            if old.is_none() && !obj["spec"]["finalizers"].is_array() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            let phase = if meta::is_deleting(obj) {
                "Terminating"
            } else {
                "Active"
            };
            obj["status"]["phase"] = json!(phase);
            if !obj["metadata"]["labels"].is_object() {
                obj["metadata"]["labels"] = json!({});
            }
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            Ok(None)
        }
        ("apps", "deployments" | "statefulsets" | "replicasets") => {
            if obj["spec"].is_object() && obj["spec"].get("replicas").is_none_or(Value::is_null) {
                obj["spec"]["replicas"] = json!(1);
            }
            Ok(None)
        }
        (CRD_GROUP, CRD_PLURAL) => crd_rules(st, old, obj).map(Some),
        _ => Ok(None),
    }
}

fn secret_rules(obj: &mut Value, creating: bool) -> Result<(), ApiError> {
    let name = meta::name(obj).to_owned();
    if let Some(Value::Object(string_data)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in string_data {
            let s = v.as_str().unwrap_or_default();
            obj["data"][&k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
        }
    }
    if let Some(data) = obj["data"].as_object() {
        for (k, v) in data {
            let ok = v
                .as_str()
                .is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !ok {
                return Err(ApiError::invalid(
                    "",
                    "Secret",
                    &name,
                    &format!("data[{k}]"),
                    "Invalid value: must be a base64-encoded string",
                ));
            }
        }
    }
    if creating && obj.get("type").is_none_or(Value::is_null) {
        obj["type"] = json!("Opaque");
    }
    Ok(())
}

fn crd_rules(st: &State, old: Option<&Value>, obj: &mut Value) -> Result<ResourceType, ApiError> {
    let t = resources::type_from_crd(obj)?;
    if let Some(old) = old
        && (old["spec"]["group"] != obj["spec"]["group"]
            || old["spec"]["names"]["plural"] != obj["spec"]["names"]["plural"])
    {
        return Err(ApiError::invalid(
            CRD_GROUP,
            "CustomResourceDefinition",
            meta::name(obj),
            "spec.group",
            "Invalid value: field is immutable (so is spec.names.plural)",
        ));
    }
    if st.registry.get(&t.group, &t.plural).is_some_and(|e| e.builtin) {
        return Err(ApiError::invalid(
            CRD_GROUP,
            "CustomResourceDefinition",
            meta::name(obj),
            "spec.group",
            "the group and plural name a built-in resource",
        ));
    }
    let mut stored: Vec<String> = old
        .map(|o| meta::string_list(&o["status"]["storedVersions"]))
        .unwrap_or_default();
    if !stored.iter().any(|v| v == t.storage_version()) {
        stored.push(t.storage_version().to_owned());
    }
    let now = meta::now();
    let condition = |kind: &str, reason: &str, message: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    obj["status"] = json!({
        "acceptedNames": {
            "plural": t.plural,
            "singular": t.singular,
            "kind": t.kind,
            "listKind": t.list_kind,
            "shortNames": t.short_names,
            "categories": t.categories,
        },
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    });
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn opts() -> WriteOptions {
        WriteOptions {
            manager: "test".into(),
            explicit_manager: true,
            ..WriteOptions::default()
        }
    }

    fn setup() -> (Store, Arc<ResourceType>, Arc<ResourceType>) {
        let store = Store::new(1000);
        let (ns_t, cm_t) = store.read(|st| {
            (
                st.registry.get("", "namespaces").unwrap(),
                st.registry.get("", "configmaps").unwrap(),
            )
        });
        store.write(|st| {
            create(
                st,
                &ns_t,
                "v1",
                None,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
                &opts(),
            )
            .unwrap();
        });
        (store, ns_t, cm_t)
    }

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
    }

    #[test]
    fn create_in_a_missing_namespace_is_not_found() {
        let (store, _, cm_t) = setup();
        let e = store
            .write(|st| create(st, &cm_t, "v1", Some("nope"), cm("c"), &opts()))
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (404, "namespaces \"nope\" not found")
        );
    }

    #[test]
    fn update_with_a_stale_resource_version_conflicts() {
        let (store, _, cm_t) = setup();
        store
            .write(|st| create(st, &cm_t, "v1", Some("ns"), cm("c"), &opts()))
            .unwrap();
        let mut body = cm("c");
        body["metadata"]["resourceVersion"] = json!("1");
        let e = store
            .write(|st| update(st, &cm_t, "v1", "ns", "c", Sub::Main, body, &opts()))
            .unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(e.reason, "Conflict");
    }

    #[test]
    fn no_op_update_keeps_the_resource_version() {
        let (store, _, cm_t) = setup();
        let created = store
            .write(|st| create(st, &cm_t, "v1", Some("ns"), cm("c"), &opts()))
            .unwrap();
        let again = store
            .write(|st| update(st, &cm_t, "v1", "ns", "c", Sub::Main, cm("c"), &opts()))
            .unwrap();
        assert_eq!(meta::resource_version(&created), meta::resource_version(&again));
    }

    #[test]
    fn delete_with_finalizers_waits_and_last_finalizer_removal_deletes() {
        let (store, _, cm_t) = setup();
        let mut body = cm("c");
        body["metadata"]["finalizers"] = json!(["example.invalid/hold"]);
        store
            .write(|st| create(st, &cm_t, "v1", Some("ns"), body, &opts()))
            .unwrap();
        let d = store
            .write(|st| delete(st, &cm_t, "ns", "c", &DeleteOptions::default()))
            .unwrap();
        let Deleted::Pending(obj) = d else {
            panic!("deleted at once")
        };
        assert!(meta::is_deleting(&obj));
        let mut add = (*obj).clone();
        add["metadata"]["finalizers"] = json!(["example.invalid/hold", "example.invalid/new"]);
        let e = store
            .write(|st| update(st, &cm_t, "v1", "ns", "c", Sub::Main, add, &opts()))
            .unwrap_err();
        assert_eq!(e.code, 422);
        let mut release = (*obj).clone();
        release["metadata"]["finalizers"] = json!([]);
        store
            .write(|st| update(st, &cm_t, "v1", "ns", "c", Sub::Main, release, &opts()))
            .unwrap();
        assert!(store.read(|st| get(st, &cm_t, "ns", "c")).is_err());
    }

    #[test]
    fn secret_string_data_folds_into_base64_data() {
        let (store, _, _) = setup();
        let t = store.read(|st| st.registry.get("", "secrets").unwrap());
        let body = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}});
        let s = store
            .write(|st| create(st, &t, "v1", Some("ns"), body, &opts()))
            .unwrap();
        assert_eq!(s["data"]["k"], "dg==");
        assert!(s.get("stringData").is_none());
        assert_eq!(s["type"], "Opaque");
    }

    #[test]
    fn status_writes_change_only_status_and_do_not_bump_generation() {
        let store = Store::new(100);
        let (ns_t, d_t) = store.read(|st| {
            (
                st.registry.get("", "namespaces").unwrap(),
                st.registry.get("apps", "deployments").unwrap(),
            )
        });
        store
            .write(|st| {
                create(
                    st,
                    &ns_t,
                    "v1",
                    None,
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}}),
                    &opts(),
                )
            })
            .unwrap();
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}, "status": {"replicas": 9}});
        let created = store
            .write(|st| create(st, &d_t, "v1", Some("ns"), d, &opts()))
            .unwrap();
        assert!(created.get("status").is_none(), "create drops status");
        let patch = json!({"spec": {"replicas": 5}, "status": {"replicas": 1}});
        let (after, _) = store
            .write(|st| {
                super::patch(
                    st,
                    &d_t,
                    "v1",
                    "ns",
                    "d",
                    Sub::Status,
                    PatchKind::Merge,
                    &patch,
                    &opts(),
                )
            })
            .unwrap();
        assert_eq!(after["spec"]["replicas"], 1);
        assert_eq!(after["status"]["replicas"], 1);
        assert_eq!(after["metadata"]["generation"], 1);
    }
}
