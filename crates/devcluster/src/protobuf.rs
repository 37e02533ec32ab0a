//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl's imperative
//! commands send them (`kubectl create namespace|secret|configmap|serviceaccount`).
//!
//! Decoded: the `k8s\0` envelope (`runtime.Unknown`: type meta and raw bytes) and, inside it,
//! Namespace, Secret, ConfigMap and ServiceAccount with the `ObjectMeta` fields a client sets
//! (`name`, `generateName`, `namespace`, `labels`, `annotations`, `finalizers`) and their own
//! data fields (Secret `data`, `stringData`, `type`, `immutable`; ConfigMap `data`,
//! `binaryData`, `immutable`; ServiceAccount `automountServiceAccountToken`). Any other kind,
//! and any malformed body, is answered `415` or `400` with a message naming the limit; answers
//! are JSON, which those clients accept. Field numbers are those of `k8s.io/api`'s
//! `generated.proto`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::resources::ResourceType;

/// The kinds decoded.
const KINDS: &[&str] = &["Namespace", "Secret", "ConfigMap", "ServiceAccount"];

fn bad(why: &str) -> ApiError {
    ApiError::bad_request(format!("cannot decode the protobuf body: {why}"))
}

/// One protobuf field value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| bad("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ApiError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad("length too large"))?;
                if len > self.buf.len() {
                    return Err(bad("truncated field"));
                }
                let (bytes, rest) = self.buf.split_at(len);
                self.buf = rest;
                Wire::Bytes(bytes)
            }
            1 => {
                self.skip(8)?;
                Wire::Varint(0)
            }
            5 => {
                self.skip(4)?;
                Wire::Varint(0)
            }
            other => return Err(bad(&format!("unsupported wire type {other}"))),
        };
        Ok(Some((key >> 3, value)))
    }

    fn skip(&mut self, n: usize) -> Result<(), ApiError> {
        if n > self.buf.len() {
            return Err(bad("truncated fixed-width field"));
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

/// Visits every field of a message.
fn fields<'a>(
    msg: &'a [u8],
    mut f: impl FnMut(u64, Wire<'a>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let mut r = Reader { buf: msg };
    while let Some((n, v)) = r.next()? {
        f(n, v)?;
    }
    Ok(())
}

fn string(v: &Wire<'_>) -> Result<String, ApiError> {
    match v {
        Wire::Bytes(b) => String::from_utf8(b.to_vec()).map_err(|_| bad("a string field is not UTF-8")),
        Wire::Varint(_) => Err(bad("expected a string field")),
    }
}

fn bytes<'a>(v: &Wire<'a>) -> Result<&'a [u8], ApiError> {
    match v {
        Wire::Bytes(b) => Ok(b),
        Wire::Varint(_) => Err(bad("expected a length-delimited field")),
    }
}

/// A `map<string, …>` entry: key (1) and value (2) as raw bytes.
fn map_entry(entry: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let (mut k, mut v) = (String::new(), Vec::new());
    fields(entry, |n, w| {
        match n {
            1 => k = string(&w)?,
            2 => v = bytes(&w)?.to_vec(),
            _ => {}
        }
        Ok(())
    })?;
    Ok((k, v))
}

fn utf8(v: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(v).map_err(|_| bad("a string map value is not UTF-8"))
}

fn object_meta(msg: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    let mut finalizers = Vec::new();
    fields(msg, |n, w| {
        match n {
            1 => insert_nonempty(&mut m, "name", string(&w)?),
            2 => insert_nonempty(&mut m, "generateName", string(&w)?),
            3 => insert_nonempty(&mut m, "namespace", string(&w)?),
            11 => {
                let (k, v) = map_entry(bytes(&w)?)?;
                labels.insert(k, utf8(v)?);
            }
            12 => {
                let (k, v) = map_entry(bytes(&w)?)?;
                annotations.insert(k, utf8(v)?);
            }
            14 => finalizers.push(string(&w)?),
            // uid, resourceVersion, timestamps, generation, owner references, managed fields:
            // server-set or not sent by the imperative commands.
            _ => {}
        }
        Ok(())
    })?;
    if !labels.is_empty() {
        m.insert("labels".into(), json!(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), json!(annotations));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), json!(finalizers));
    }
    Ok(Value::Object(m))
}

fn insert_nonempty(m: &mut Map<String, Value>, key: &str, v: String) {
    if !v.is_empty() {
        m.insert(key.into(), Value::String(v));
    }
}

/// Decodes a protobuf body into the JSON object it stands for.
pub fn decode(rt: &ResourceType, body: &[u8]) -> Result<Value, ApiError> {
    let unsupported = || {
        ApiError::unsupported_media_type(format!(
            "devcluster decodes protobuf bodies only for {} (got {}); send JSON or YAML, e.g. kubectl create -f / apply -f",
            KINDS.join(", "),
            rt.kind
        ))
    };
    if !rt.builtin || !rt.group.is_empty() || !KINDS.contains(&rt.kind.as_str()) {
        return Err(unsupported());
    }
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the k8s\\0 envelope prefix"))?;
    let (mut api_version, mut kind, mut raw, mut encoding) =
        (String::new(), String::new(), &[][..], String::new());
    fields(envelope, |n, w| {
        match n {
            1 => fields(bytes(&w)?, |n, w| {
                match n {
                    1 => api_version = string(&w)?,
                    2 => kind = string(&w)?,
                    _ => {}
                }
                Ok(())
            })?,
            2 => raw = bytes(&w)?,
            3 => encoding = string(&w)?,
            _ => {}
        }
        Ok(())
    })?;
    if !encoding.is_empty() {
        return Err(bad(&format!("content encoding {encoding:?} is not supported")));
    }
    if kind != rt.kind {
        return Err(unsupported());
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let (mut data, mut string_data, mut binary) = (Map::new(), Map::new(), Map::new());
    fields(raw, |n, w| {
        match (kind.as_str(), n) {
            (_, 1) => {
                obj.insert("metadata".into(), object_meta(bytes(&w)?)?);
            }
            ("Secret", 2) => {
                let (k, v) = map_entry(bytes(&w)?)?;
                data.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(v)));
            }
            ("Secret", 3) => {
                let t = string(&w)?;
                if !t.is_empty() {
                    obj.insert("type".into(), json!(t));
                }
            }
            ("Secret", 4) => {
                let (k, v) = map_entry(bytes(&w)?)?;
                string_data.insert(k, json!(utf8(v)?));
            }
            ("ConfigMap", 2) => {
                let (k, v) = map_entry(bytes(&w)?)?;
                data.insert(k, json!(utf8(v)?));
            }
            ("ConfigMap", 3) => {
                let (k, v) = map_entry(bytes(&w)?)?;
                binary.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(v)));
            }
            ("Secret", 5) | ("ConfigMap", 4) => {
                if let Wire::Varint(b) = w {
                    obj.insert("immutable".into(), json!(b != 0));
                }
            }
            ("ServiceAccount", 4) => {
                if let Wire::Varint(b) = w {
                    obj.insert("automountServiceAccountToken".into(), json!(b != 0));
                }
            }
            // Namespace spec/status, ServiceAccount secret lists: not sent by the imperative commands.
            _ => {}
        }
        Ok(())
    })?;
    for (key, m) in [
        ("data", data),
        ("stringData", string_data),
        ("binaryData", binary),
    ] {
        if !m.is_empty() {
            obj.insert(key.into(), Value::Object(m));
        }
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    /// The body `kubectl create secret generic s1 --from-literal=a=b -n default` sends
    /// (captured from kubectl 1.33 with `-v=9`).
    const SECRET: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0c, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x06, 0x53, 0x65, 0x63, 0x72, 0x65,
        0x74, 0x12, 0x25, 0x0a, 0x19, 0x0a, 0x02, 0x73, 0x31, 0x12, 0x00, 0x1a, 0x07, 0x64, 0x65, 0x66, 0x61,
        0x75, 0x6c, 0x74, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x06, 0x0a, 0x01,
        0x61, 0x12, 0x01, 0x62, 0x1a, 0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    #[test]
    fn kubectl_create_secret_body_decodes_to_the_json_object() {
        let rt = Registry::new().get("", "secrets").unwrap();
        let v = decode(&rt, SECRET).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "default"}, "data": {"a": "Yg=="}})
        );
    }

    #[test]
    fn truncated_body_is_a_bad_request() {
        let rt = Registry::new().get("", "secrets").unwrap();
        for cut in [5, 20, SECRET.len() - 9] {
            let e = decode(&rt, &SECRET[..cut]).unwrap_err();
            assert_eq!(e.code, 400, "cut at {cut}: {}", e.message);
        }
        assert_eq!(decode(&rt, b"not protobuf").unwrap_err().code, 400);
    }

    #[test]
    fn other_kinds_are_415_naming_the_decoded_kinds() {
        let rt = Registry::new().get("apps", "deployments").unwrap();
        let e = decode(&rt, SECRET).unwrap_err();
        assert_eq!(e.code, 415);
        assert!(
            e.message.contains("Namespace, Secret, ConfigMap, ServiceAccount"),
            "{}",
            e.message
        );
    }
}
