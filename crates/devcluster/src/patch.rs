//! The non-apply patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic
//! merge patch.
//!
//! Strategic merge patch follows the API server for what kubectl and controllers send: maps merge
//! by key, `null` deletes, lists with a merge key (from [`ListRules`]: `containers` by `name`,
//! `env` by `name`, `ports` by `containerPort`, `volumes` by `name`, `status.conditions` by
//! `type`, …) merge item by item, set lists (`finalizers`) take the union, other lists are
//! replaced; the directives `$patch: replace|delete|merge`, `$retainKeys`,
//! `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>` are honoured. Only built-in
//! kinds accept it (a custom resource answers 415, as the API server does).

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::resources::{ListKind, ListRules};

/// Applies a JSON merge patch.
pub fn merge_patch(original: &Value, patch: &Value) -> Value {
    let mut out = original.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// Applies a JSON patch; a failing operation is a 422 naming it.
pub fn json_patch(original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    let mut out = original.clone();
    // Operations apply one at a time so that a `test` for `null` at a path that does not exist
    // succeeds, as on a real API server (kube-runtime's finalizer helper sends exactly that
    // before adding the first finalizer). A failure returns an error, never a partial result.
    for op in ops.0 {
        if let json_patch::PatchOperation::Test(t) = &op
            && t.value.is_null()
            && out.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(&mut out, std::slice::from_ref(&op)).map_err(|e| {
            ApiError::unprocessable(format!(
                "the server rejected our request due to an error in our request: {e}"
            ))
        })?;
    }
    Ok(out)
}

/// Applies a strategic merge patch to a built-in object.
pub fn strategic_merge(original: &Value, patch: &Value, rules: &ListRules) -> Result<Value, ApiError> {
    let (Value::Object(orig), Value::Object(p)) = (original, patch) else {
        return Err(ApiError::bad_request(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let mut out = orig.clone();
    match merge_map(&mut out, p, rules, "")? {
        MapOutcome::Keep => Ok(Value::Object(out)),
        MapOutcome::Delete => Err(ApiError::bad_request(
            "a strategic merge patch cannot delete the whole object",
        )),
    }
}

enum MapOutcome {
    Keep,
    Delete,
}

fn join(dotted: &str, field: &str) -> String {
    if dotted.is_empty() {
        field.to_owned()
    } else {
        format!("{dotted}.{field}")
    }
}

fn merge_map(
    orig: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    rules: &ListRules,
    dotted: &str,
) -> Result<MapOutcome, ApiError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("delete") => return Ok(MapOutcome::Delete),
        Some("replace") => {
            *orig = match strip(&Value::Object(patch.clone())) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            return Ok(MapOutcome::Keep);
        }
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown patch directive {other:?}"
            )));
        }
    }
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (k, pv) in patch {
        if k == "$patch" || k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(order) = pv.as_array() {
                orders.push((field, order));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let doomed = pv.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(list)) = orig.get_mut(field) {
                list.retain(|v| !doomed.contains(v));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(ApiError::bad_request(format!("unknown patch directive {k:?}")));
        }
        let child = join(dotted, k);
        if pv.is_null() {
            orig.remove(k);
            continue;
        }
        match (orig.get_mut(k), pv) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                if let MapOutcome::Delete = merge_map(o, p, rules, &child)? {
                    orig.remove(k);
                }
            }
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, rules, &child)?,
            (_, Value::Object(p)) if p.get("$patch").and_then(Value::as_str) == Some("delete") => {
                orig.remove(k);
            }
            _ => {
                orig.insert(k.clone(), strip(pv));
            }
        }
    }
    for (field, order) in orders {
        let child = join(dotted, field);
        if let Some(Value::Array(list)) = orig.get_mut(field) {
            reorder(list, order, &rules.get(&child));
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        orig.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(MapOutcome::Keep)
}

fn merge_key(kind: &ListKind) -> Option<&str> {
    match kind {
        ListKind::Map(keys) => keys.first().map(String::as_str),
        _ => None,
    }
}

fn merge_list(
    orig: &mut Vec<Value>,
    patch: &[Value],
    rules: &ListRules,
    dotted: &str,
) -> Result<(), ApiError> {
    let kind = rules.get(dotted);
    if patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *orig = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip)
            .collect();
        return Ok(());
    }
    match (&kind, merge_key(&kind)) {
        (ListKind::Map(_), Some(key)) => {
            for item in patch {
                let Some(id) = item.get(key) else {
                    return Err(ApiError::bad_request(format!(
                        "map in list {dotted} lacks the merge key {key:?}"
                    )));
                };
                let pos = orig.iter().position(|o| o.get(key) == Some(id));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    orig.retain(|o| o.get(key) != Some(id));
                    continue;
                }
                match (pos, item) {
                    (Some(i), Value::Object(p)) => {
                        if let Value::Object(o) = &mut orig[i]
                            && let MapOutcome::Delete = merge_map(o, p, rules, dotted)?
                        {
                            orig.remove(i);
                        }
                    }
                    _ => orig.push(strip(item)),
                }
            }
        }
        (ListKind::Set, _) => {
            for item in patch {
                if !orig.contains(item) {
                    orig.push(item.clone());
                }
            }
        }
        _ => *orig = patch.iter().map(strip).collect(),
    }
    Ok(())
}

/// Orders `list` as `order` says (items named there first, in that order; others after).
fn reorder(list: &mut Vec<Value>, order: &[Value], kind: &ListKind) {
    let key = merge_key(kind);
    let rank = |item: &Value| {
        order.iter().position(|o| match key {
            Some(k) => o.get(k).is_some() && o.get(k) == item.get(k),
            None => o == item,
        })
    };
    let mut ranked: Vec<(usize, usize, Value)> = list
        .drain(..)
        .enumerate()
        .map(|(i, v)| (rank(&v).unwrap_or(usize::MAX), i, v))
        .collect();
    ranked.sort_by_key(|(r, i, _)| (*r, *i));
    list.extend(ranked.into_iter().map(|(_, _, v)| v));
}

/// A patch value inserted where the original has nothing: directives and nulls dropped.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::Registry;

    fn rules() -> ListRules {
        Registry::new().get("apps", "deployments").unwrap().lists.clone()
    }

    fn deployment() -> Value {
        json!({"metadata": {"name": "d", "labels": {"a": "1"}, "finalizers": ["x"]},
               "spec": {"replicas": 1, "template": {"spec": {"containers": [
                   {"name": "app", "image": "app:1", "args": ["--a"], "env": [{"name": "A", "value": "1"}]},
                   {"name": "side", "image": "side:1"}]}}}})
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "2"}]}]}}}});
        let out = strategic_merge(&deployment(), &patch, &rules()).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0]["image"], "app:2");
        assert_eq!(c[0]["args"], json!(["--a"]));
        assert_eq!(
            c[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(c[1]["name"], "side");
    }

    #[test]
    fn patch_delete_directive_removes_a_keyed_item_and_null_removes_a_field() {
        let patch = json!({"metadata": {"labels": {"a": null}}, "spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"}]}}}});
        let out = strategic_merge(&deployment(), &patch, &rules()).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn atomic_lists_are_replaced_and_finalizers_are_unioned() {
        let patch = json!({"metadata": {"finalizers": ["y"]}, "spec": {"template": {"spec": {"containers": [
            {"name": "app", "args": ["--b"]}]}}}});
        let out = strategic_merge(&deployment(), &patch, &rules()).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--b"])
        );
    }

    #[test]
    fn set_element_order_and_delete_from_primitive_list_are_honoured() {
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
            "spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                "containers": [{"name": "app", "image": "app:3"}]}}}});
        let out = strategic_merge(&deployment(), &patch, &rules()).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!([]));
        let names: Vec<_> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["side", "app"]);
    }

    #[test]
    fn retain_keys_drops_fields_not_listed() {
        let orig = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
        let out = strategic_merge(&orig, &patch, &rules()).unwrap();
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn unknown_directive_is_a_bad_request() {
        let e = strategic_merge(&deployment(), &json!({"$bogus": 1}), &rules()).unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn failing_json_patch_test_operation_is_unprocessable() {
        let e = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "test", "path": "/a", "value": 2}]),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        let ok = json_patch(
            &json!({"a": 1}),
            &json!([{"op": "replace", "path": "/a", "value": 2}]),
        )
        .unwrap();
        assert_eq!(ok, json!({"a": 2}));
    }
}
