//! Errors: [`ApiError`] is every failure the API answers with, rendered as the `Status` body, HTTP
//! code and `reason` a real API server would send; [`StartError`] is why a devcluster could not start.
//!
//! Messages follow the API server's wording (`deployments.apps "x" not found`) because clients and
//! people match on them.

use serde_json::{Value, json};

/// One `details.causes[]` entry of a `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `reason` of the cause, e.g. `FieldValueInvalid` or `FieldManagerConflict`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The offending field path, e.g. `metadata.name`.
    pub field: String,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// `details.name`.
    pub name: String,
    /// `details.group`.
    pub group: String,
    /// `details.kind` (the API server puts the resource's plural or kind here).
    pub kind: String,
    /// `details.causes`.
    pub causes: Vec<Cause>,
}

/// A failed API request: the HTTP code, the `Status` reason and message, and optional details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status code (also `Status.code`).
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`.
    pub reason: &'static str,
    /// `Status.message`.
    pub message: String,
    /// `Status.details` (boxed: errors travel in every `Result`).
    pub details: Option<Box<Details>>,
}

/// `secrets` or `deployments.apps`: how the API server names a resource in messages.
pub(crate) fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(Box::new(Details {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            causes: Vec::new(),
        }));
        self
    }

    fn with_causes(mut self, causes: Vec<Cause>) -> Self {
        self.details.get_or_insert_with(Box::default).causes = causes;
        self
    }

    /// 422 with a free-form message (e.g. a JSON patch that cannot apply).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// 404: the object does not exist.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// 404 for a path that names no resource the server knows.
    pub fn no_such_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    /// 409: create of a name that exists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, plural)),
        )
        .with_details(group, plural, name)
    }

    /// 409: optimistic concurrency failed (stale `resourceVersion` or a precondition).
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, plural)
            ),
        )
        .with_details(group, plural, name)
    }

    /// The standard "stale resourceVersion" conflict.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409: server-side apply found fields owned by other managers.
    pub fn apply_conflicts(group: &str, plural: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.message, c.field))
            .collect();
        Self::new(
            409,
            "Conflict",
            format!(
                "Apply failed with {} conflict{}: {}",
                causes.len(),
                if causes.len() == 1 { "" } else { "s" },
                list.join(", ")
            ),
        )
        .with_details(group, plural, name)
        .with_causes(causes)
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 422: the object fails validation; `field` and `why` say where and why.
    pub fn invalid(group: &str, kind: &str, name: &str, field: &str, why: &str) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {field}: {why}"),
        )
        .with_details(group, kind, name)
        .with_causes(vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: why.to_owned(),
            field: field.to_owned(),
        }])
    }

    /// 410: the requested `resourceVersion` is older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 405: the verb is not supported on this path.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415: a body encoding or patch type we do not speak.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    /// 406: no response encoding the client accepts.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// 401: missing or wrong bearer token.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403: the request is refused (e.g. creating in a terminating namespace).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// 413: the body exceeds the size limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 500: a bug or an IO failure on our side.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object for the body (or a watch `ERROR` event).
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut details = serde_json::Map::new();
            for (k, v) in [("name", &d.name), ("group", &d.group), ("kind", &d.kind)] {
                if !v.is_empty() || k == "group" {
                    details.insert(k.into(), json!(v));
                }
            }
            if !d.causes.is_empty() {
                let causes: Vec<Value> = d
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// Why [`crate::DevCluster::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing a file of the state directory or the kubeconfig failed.
    #[error("cannot {action} {path}")]
    File {
        /// What we tried (`write`, `read`, `create directory`).
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Generating or loading the CA and serving certificate failed.
    #[error("cannot prepare TLS: {0}")]
    Tls(String),
    /// The kube client for the kubeconfig could not be built.
    #[error("cannot build a client for the devcluster")]
    Client(#[source] kube::Error),
    /// The kubeconfig we wrote could not be read back.
    #[error("cannot load the kubeconfig we wrote")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    /// The bearer token given is not usable in a header.
    #[error("the bearer token must be non-empty visible ASCII without spaces")]
    BadToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_status_names_the_qualified_resource_and_details() {
        let s = ApiError::not_found("apps", "deployments", "web").to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn core_group_resources_are_named_without_a_dot() {
        let e = ApiError::already_exists("", "secrets", "pull-secret");
        assert_eq!(e.message, "secrets \"pull-secret\" already exists");
        assert_eq!(e.code, 409);
    }

    #[test]
    fn apply_conflicts_list_every_field_and_keep_causes() {
        let e = ApiError::apply_conflicts(
            "",
            "configmaps",
            "c",
            vec![Cause {
                reason: "FieldManagerConflict".into(),
                message: "conflict with \"a\"".into(),
                field: ".data.k".into(),
            }],
        );
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"a\": .data.k"
        );
        assert_eq!(e.to_status()["details"]["causes"][0]["field"], ".data.k");
    }
}
