//! Label and field selectors, parsed from the query string and matched against JSON objects.
//!
//! Label selectors take the full syntax (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`,
//! `a`, `!a`). Field selectors take `path=value`, `path==value` and `path!=value` on any dotted
//! path of the object whose value is a string, number or boolean (the API server allows a fixed
//! set of fields per kind; we allow every such path). A parse error is a 400 `BadRequest`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query value.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in split_top_level(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            reqs.push(parse_requirement(part)?);
        }
        Ok(Self { reqs })
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.reqs.iter().all(|(key, op)| {
            let v = labels.get(key).and_then(Value::as_str);
            match op {
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(set) => v.is_some_and(|v| set.contains(v)),
                Op::NotIn(set) => v.is_none_or(|v| !set.contains(v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

fn bad(s: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {s:?}: {why}"))
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_requirement(part: &str) -> Result<(String, Op), ApiError> {
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        if !valid_key(key) {
            return Err(bad(part, "invalid label key"));
        }
        return Ok((key.to_owned(), Op::NotExists));
    }
    for (token, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = part.split_once(token) {
            let (k, v) = (k.trim(), v.trim());
            if !valid_key(k) {
                return Err(bad(part, "invalid label key"));
            }
            if !valid_value(v) {
                return Err(bad(part, "invalid label value"));
            }
            let op = if neg {
                Op::NotEq(v.into())
            } else {
                Op::Eq(v.into())
            };
            return Ok((k.to_owned(), op));
        }
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => {
            if !valid_key(key) {
                return Err(bad(part, "invalid label key"));
            }
            Ok(((*key).to_owned(), Op::Exists))
        }
        [key, rest] => {
            let rest = rest.trim_start();
            let (neg, set) = if let Some(s) = rest.strip_prefix("notin") {
                (true, s)
            } else if let Some(s) = rest.strip_prefix("in") {
                (false, s)
            } else {
                return Err(bad(part, "expected one of =, ==, !=, in, notin"));
            };
            let set = set.trim();
            let Some(inner) = set.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
                return Err(bad(part, "expected a parenthesised set of values"));
            };
            let values: BTreeSet<String> = inner
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if values.is_empty() || !values.iter().all(|v| valid_value(v)) || !valid_key(key) {
                return Err(bad(part, "invalid key or values"));
            }
            let op = if neg { Op::NotIn(values) } else { Op::In(values) };
            Ok(((*key).to_owned(), op))
        }
        _ => Err(bad(part, "empty requirement")),
    }
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query value.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, negate, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector {part:?}: expected field=value, field==value or field!=value"
                )));
            };
            let field = field.trim();
            if field.is_empty() || field.split('.').any(str::is_empty) {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector {part:?}: empty field path"
                )));
            }
            reqs.push((field.to_owned(), negate, value.trim().to_owned()));
        }
        Ok(Self { reqs })
    }

    /// Whether every requirement holds for the object.
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|(field, negate, want)| {
            let mut v = obj;
            for part in field.split('.') {
                v = &v[part];
            }
            let got = match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            // An absent field compares as the empty string, as in the API server.
            let equal = got.as_deref().unwrap_or("") == want;
            equal != *negate
        })
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(labels: &Value) -> Value {
        json!({"metadata": {"name": "a", "namespace": "ns1", "labels": labels}, "type": "Opaque"})
    }

    #[test]
    fn equality_and_inequality_requirements_match_labels() {
        let o = obj(&json!({"app": "web", "tier": "front"}));
        assert!(LabelSelector::parse("app=web").unwrap().matches(&o));
        assert!(LabelSelector::parse("app==web,tier=front").unwrap().matches(&o));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(&o));
        assert!(LabelSelector::parse("missing!=x").unwrap().matches(&o));
    }

    #[test]
    fn set_requirements_match_with_commas_inside_parentheses() {
        let o = obj(&json!({"env": "prod"}));
        assert!(LabelSelector::parse("env in (dev, prod)").unwrap().matches(&o));
        assert!(!LabelSelector::parse("env notin (prod),env").unwrap().matches(&o));
        assert!(LabelSelector::parse("other notin (x)").unwrap().matches(&o));
    }

    #[test]
    fn existence_requirements_match_presence_of_key() {
        let o = obj(&json!({"app.kubernetes.io/name": "x"}));
        assert!(
            LabelSelector::parse("app.kubernetes.io/name")
                .unwrap()
                .matches(&o)
        );
        assert!(
            !LabelSelector::parse("!app.kubernetes.io/name")
                .unwrap()
                .matches(&o)
        );
        assert!(LabelSelector::parse("!gone").unwrap().matches(&o));
    }

    #[test]
    fn malformed_label_selector_is_a_bad_request_naming_the_requirement() {
        for bad in ["a in x", "a in ()", "a b c", "a=b c", "=x"] {
            let e = LabelSelector::parse(bad).unwrap_err();
            assert_eq!(e.code, 400, "{bad}");
            assert!(
                e.message.contains("unable to parse requirement"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn field_selector_matches_dotted_paths_and_negation() {
        let o = obj(&json!({}));
        assert!(FieldSelector::parse("metadata.name=a").unwrap().matches(&o));
        assert!(
            FieldSelector::parse("metadata.namespace==ns1,type=Opaque")
                .unwrap()
                .matches(&o)
        );
        assert!(!FieldSelector::parse("metadata.name!=a").unwrap().matches(&o));
    }

    #[test]
    fn field_selector_without_operator_is_a_bad_request() {
        assert_eq!(FieldSelector::parse("metadata.name").unwrap_err().code, 400);
        assert_eq!(FieldSelector::parse("a..b=c").unwrap_err().code, 400);
    }
}
