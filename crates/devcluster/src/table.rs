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

fn columns(rt: &ResourceType) -> Vec<Value> {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
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
}
