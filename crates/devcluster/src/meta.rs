//! Small helpers over `metadata` of objects held as JSON, plus the server's clock, uids and names.
//!
//! Objects are `serde_json::Value`s throughout the server (built-ins and custom resources alike),
//! so unknown fields survive every round trip.

use serde_json::Value;

/// `metadata.name`, or `""`.
pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

/// `metadata.namespace`, or `""`.
pub fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// `metadata.uid`, or `""`.
pub fn uid(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or_default()
}

/// `metadata.resourceVersion`, or `""`.
pub fn resource_version(o: &Value) -> &str {
    o["metadata"]["resourceVersion"].as_str().unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

/// `metadata.finalizers`.
pub fn finalizers(o: &Value) -> Vec<String> {
    string_list(&o["metadata"]["finalizers"])
}

/// The uids in `metadata.ownerReferences`.
pub fn owner_uids(o: &Value) -> Vec<String> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON array of strings as a `Vec` (other items are skipped).
pub fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// `metadata` as a mutable map, created when missing or not an object.
pub fn metadata_mut(o: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !o["metadata"].is_object() {
        o["metadata"] = Value::Object(serde_json::Map::new());
    }
    match &mut o["metadata"] {
        Value::Object(m) => m,
        _ => unreachable!("metadata was just made an object"),
    }
}

/// The current time as the API server writes it (RFC 3339, seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A new random uid.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The 5-character random suffix `generateName` gets (the API server's alphabet: no vowels, no
/// look-alike characters).
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4().as_bytes()[..5]
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

/// Random visible-ASCII secret of 32 hex characters (bearer tokens).
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Which name rules a kind follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (namespaces, services).
    Label,
    /// Any path segment (RBAC objects, whose names may hold `:`).
    PathSegment,
}

/// Checks a name; the error text is the API server's.
pub fn validate_name(name: &str, rule: NameRule) -> Result<(), String> {
    if name.is_empty() {
        return Err("Required value: name or generateName is required".into());
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    match rule {
        NameRule::PathSegment => {
            if name == "." || name == ".." || name.contains('/') || name.contains('%') {
                return Err(format!(
                    "Invalid value: {name:?}: may not be '.', '..' or contain '/' or '%'"
                ));
            }
        }
        NameRule::Subdomain | NameRule::Label => {
            let (max, dots) = if rule == NameRule::Label {
                (63, false)
            } else {
                (253, true)
            };
            let ok = name.len() <= max
                && name.starts_with(alnum)
                && name.ends_with(alnum)
                && name.chars().all(|c| alnum(c) || c == '-' || (dots && c == '.'));
            if !ok {
                return Err(format!(
                    "Invalid value: {name:?}: a lowercase RFC 1123 {} must consist of lower case alphanumeric characters, '-'{}, and must start and end with an alphanumeric character",
                    if dots { "subdomain" } else { "label" },
                    if dots { " or '.'" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subdomain_names_reject_upper_case_and_leading_dash() {
        assert!(validate_name("web-1.example", NameRule::Subdomain).is_ok());
        assert!(validate_name("Web", NameRule::Subdomain).is_err());
        assert!(validate_name("-web", NameRule::Subdomain).is_err());
        assert!(validate_name("a.b", NameRule::Label).is_err());
        assert!(validate_name("system:controller", NameRule::PathSegment).is_ok());
        assert!(validate_name("a/b", NameRule::PathSegment).is_err());
    }

    #[test]
    fn random_suffix_has_five_characters_from_the_alphabet() {
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }

    #[test]
    fn owner_uids_reads_every_reference() {
        let o = json!({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}});
        assert_eq!(owner_uids(&o), ["a", "b"]);
    }

    #[test]
    fn now_is_rfc3339_seconds_in_utc() {
        let t = now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}
