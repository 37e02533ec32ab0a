//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! Not decoded: the answer is `415 UnsupportedMediaType` naming the limit. Clients that speak
//! JSON (kube-rs, `kubectl apply`, `kubectl create -f`) are unaffected.

use crate::error::ApiError;
use crate::resources::ResourceType;

/// Decodes a protobuf body into JSON.
pub fn decode(rt: &ResourceType, _body: &[u8]) -> Result<serde_json::Value, ApiError> {
    Err(ApiError::unsupported_media_type(format!(
        "devcluster does not decode protobuf bodies ({} sent as application/vnd.kubernetes.protobuf); send JSON or YAML",
        rt.kind
    )))
}
