//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for.
//!
//! Columns are `Name`, a CRD's `additionalPrinterColumns` (simple dotted JSON paths only; others
//! print empty) and `Age`. Each row carries the object's metadata as a `PartialObjectMetadata`
//! (or the whole object with `includeObject=Object`, which callers pass as `full`).

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// A table of `objects`.
pub fn table(rt: &ResourceType, objects: &[&Value], rv: &str, cont: Option<&str>) -> Value {
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": columns(rt),
        "rows": objects.iter().map(|o| row(rt, o)).collect::<Vec<_>>(),
    });
    if let Some(c) = cont {
        t["metadata"]["continue"] = json!(c);
    }
    t
}

/// The columns the API server prints for a built-in kind besides `Name` and `Age`:
/// (name, description), and each object's cells for them.
fn builtin_columns(rt: &ResourceType) -> &'static [(&'static str, &'static str)] {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => &[
            (
                "Ready",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            ("Status", "The aggregate status of the containers in this pod."),
            (
                "Restarts",
                "The number of times the containers in this pod have been restarted.",
            ),
        ],
        ("apps", "Deployment") => &[
            ("Ready", "Number of the pod with ready state"),
            (
                "Up-to-date",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            (
                "Available",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
        ],
        ("apps", "StatefulSet") => &[("Ready", "Number of the pod with ready state")],
        _ => &[],
    }
}

fn builtin_cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => {
            let statuses = o["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
            vec![
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts),
            ]
        }
        ("apps", "Deployment") => {
            let s = &o["status"];
            vec![
                json!(format!(
                    "{}/{}",
                    int(&s["readyReplicas"]),
                    int(&o["spec"]["replicas"])
                )),
                json!(int(&s["updatedReplicas"])),
                json!(int(&s["availableReplicas"])),
            ]
        }
        ("apps", "StatefulSet") => vec![json!(format!(
            "{}/{}",
            int(&o["status"]["readyReplicas"]),
            int(&o["spec"]["replicas"])
        ))],
        _ => Vec::new(),
    }
}

/// kubectl's STATUS column for a pod: `Terminating`, `Init:N/M`, `Init:<reason>`, a waiting or
/// terminated container's reason, else the phase.
fn pod_status(o: &Value) -> String {
    if o["metadata"]["deletionTimestamp"].is_string() {
        return "Terminating".into();
    }
    let mut reason = o["status"]["reason"]
        .as_str()
        .or_else(|| o["status"]["phase"].as_str())
        .unwrap_or("Pending")
        .to_owned();
    let inits = o["status"]["initContainerStatuses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, c) in inits.iter().enumerate() {
        let state = &c["state"];
        if state["terminated"]["exitCode"] == 0 {
            continue;
        }
        return if state["terminated"].is_object() {
            format!(
                "Init:{}",
                state["terminated"]["reason"].as_str().unwrap_or("Error")
            )
        } else if let Some(w) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{w}")
        } else {
            format!("Init:{i}/{}", inits.len())
        };
    }
    for c in o["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
    {
        if let Some(w) = c["state"]["waiting"]["reason"].as_str().filter(|r| !r.is_empty()) {
            w.clone_into(&mut reason);
        } else if let Some(t) = c["state"]["terminated"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            t.clone_into(&mut reason);
        }
    }
    reason
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    for (name, description) in builtin_columns(rt) {
        cols.push(
            json!({"name": name, "type": "string", "format": "", "description": description, "priority": 0}),
        );
    }
    for (name, kind, _) in &rt.printer_columns {
        if name != "Age" {
            cols.push(json!({"name": name, "type": kind, "format": "", "description": "", "priority": 0}));
        }
    }
    cols.push(json!({"name": "Age", "type": "string", "format": "", "description": "Time since creation.", "priority": 0}));
    cols
}

fn row(rt: &ResourceType, o: &Value) -> Value {
    let mut cells = vec![o["metadata"]["name"].clone()];
    cells.extend(builtin_cells(rt, o));
    for (name, _, path) in &rt.printer_columns {
        if name == "Age" {
            continue;
        }
        let mut v = o;
        for part in path.trim_start_matches('.').split('.') {
            v = &v[part];
        }
        cells.push(match v {
            Value::Null => json!("<none>"),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => v.clone(),
            other => json!(other.to_string()),
        });
    }
    cells.push(json!(age(o["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default())));
    json!({
        "cells": cells,
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
    })
}

/// The age of a timestamp in kubectl's short form (`42s`, `5m3s`, `2d`).
fn age(created: &str) -> String {
    let Ok(t) = created.parse::<jiff::Timestamp>() else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    human_duration(secs)
}

/// kubectl's `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    if secs < 120 {
        format!("{secs}s")
    } else if m < 10 {
        if secs % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", secs % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else {
        format!("{}y", d / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn human_duration_matches_kubectl_forms() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(303), "5m3s");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(4 * 3600 + 60), "4h1m");
        assert_eq!(human_duration(3 * 86_400), "3d");
    }

    #[test]
    fn table_rows_carry_name_and_partial_metadata() {
        let rt = Registry::new().get("", "configmaps").unwrap();
        let o = json!({"metadata": {"name": "c", "creationTimestamp": "2020-01-01T00:00:00Z"}});
        let t = table(&rt, &[&o], "5", None);
        assert_eq!(t["rows"][0]["cells"][0], "c");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn pods_print_ready_status_and_restarts_as_kubectl_shows_them() {
        let rt = Registry::new().get("", "pods").unwrap();
        let pulling = json!({"metadata": {"name": "etcd-0"},
            "spec": {"containers": [{"name": "etcd"}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "etcd", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}}}]}});
        let t = table(&rt, &[&pulling], "5", None);
        assert_eq!(t["rows"][0]["cells"][1], "0/1");
        assert_eq!(t["rows"][0]["cells"][2], "ImagePullBackOff");
        let init = json!({"metadata": {"name": "cvo"},
            "spec": {"containers": [{"name": "cvo"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "state": {"running": {}}}]}});
        assert_eq!(pod_status(&init), "Init:1/2");
        let running = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "c", "ready": true, "restartCount": 2, "state": {"running": {}}}]}});
        let t = table(&rt, &[&running], "5", None);
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "1/1", "Running", 2, t["rows"][0]["cells"][4]])
        );
    }
}
