//! The REST surface: routes Kubernetes API paths to the verbs in [`crate::ops`], the watch
//! streams in [`crate::watch`] and the documents in [`crate::discovery`]; decodes bodies (JSON,
//! YAML, the patch types, protobuf for a few built-ins) and encodes answers (JSON, YAML, `Table`).
//!
//! Every failure is a Kubernetes `Status` body with its reason; bearer-token auth (when enabled)
//! guards every path except `/healthz`, `/livez`, `/readyz` and `/version`. Requests are logged
//! at debug level by method, path and status, never with bodies or headers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use tracing::debug;

use crate::discovery;
use crate::error::ApiError;
use crate::meta;
use crate::ops::{self, DeleteOptions, Deleted, PatchKind, Propagation, Sub, WriteOptions};
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::Store;
use crate::table;
use crate::watch::{self, WatchRequest};

/// Server behaviour knobs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often watches with `allowWatchBookmarks` get a bookmark.
    pub bookmark_interval: Duration,
    /// Watch length when the client gives no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Largest accepted request body (the API server's is 3 MiB).
    pub max_body: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(2),
            default_watch_timeout: Duration::from_mins(30),
            max_body: 3 * 1024 * 1024,
        }
    }
}

/// Shared state of the HTTP layer.
#[derive(Debug)]
pub struct App {
    /// The objects.
    pub store: Arc<Store>,
    /// Required bearer token, if auth is on.
    pub token: Option<String>,
    /// Knobs.
    pub settings: Settings,
    /// `host:port` clients reach us at (for `/api`).
    pub server_address: String,
    /// Every distinct resource request made, by client (see [`Audit`]).
    pub audit: Arc<Audit>,
    /// Where the kubelet writes container logs (`<ns>/<pod>/<container>[.previous].log`), served
    /// by `pods/{name}/log`.
    pub pod_logs: std::path::PathBuf,
}

/// One kind of resource request, as RBAC sees it: who (the `User-Agent`'s product, e.g.
/// `hypershift-operator`), the verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
/// `delete`), the API group, the resource (`deployments`, `hostedclusters/status`), and whether
/// it was cluster-wide (no namespace in the path).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditEntry {
    pub client: String,
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub cluster_wide: bool,
}

/// The distinct resource requests served (bounded by the API's shape: clients × verbs ×
/// resources), for tests that derive or check RBAC from what a binary really called.
#[derive(Debug, Default)]
pub struct Audit {
    seen: std::sync::Mutex<std::collections::BTreeSet<AuditEntry>>,
}

impl Audit {
    fn record(&self, entry: AuditEntry) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(entry);
    }

    /// What has been requested so far, sorted.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// The router: one fallback handler, since API paths are dynamic.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app)
}

type Query = BTreeMap<String, String>;

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = match dispatch(&app, req).await {
        Ok(r) => r,
        Err(e) => status_response(&e),
    };
    debug!(%method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(app: &App, headers: &HeaderMap) -> bool {
    let Some(token) = &app.token else { return true };
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

/// `Status` error response.
pub fn status_response(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(code, &e.to_status())
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

fn bytes_response(code: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = (code, body).into_response();
    if let Ok(ct) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

/// How to encode an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
    Table,
    /// `PartialObjectMetadata(List)` (what kube-rs' `get_metadata`, `list_metadata` and metadata
    /// watchers ask for).
    Metadata,
}

fn response_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    for range in accept.split(',') {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        let media = params.first().copied().unwrap_or_default();
        let is_table = params.contains(&"as=Table");
        let is_metadata =
            params.contains(&"as=PartialObjectMetadata") || params.contains(&"as=PartialObjectMetadataList");
        let meta_group =
            params.contains(&"g=meta.k8s.io") && (params.contains(&"v=v1") || params.contains(&"v=v1beta1"));
        match media {
            "application/json" if is_metadata && meta_group => return Ok(Format::Metadata),
            "application/json"
                if is_table
                    && params.contains(&"g=meta.k8s.io")
                    && (params.contains(&"v=v1") || params.contains(&"v=v1beta1")) =>
            {
                return Ok(Format::Table);
            }
            "application/json" if params.iter().any(|p| p.starts_with("as=")) => {}
            "application/json" | "*/*" | "application/*" | "" => return Ok(Format::Json),
            "application/yaml" => return Ok(Format::Yaml),
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadata(List);v=v1;g=meta.k8s.io (asked for {accept})"
    )))
}

fn encode(code: StatusCode, v: &Value, fmt: Format) -> Response {
    match fmt {
        Format::Yaml => match serde_saphyr::to_string(v) {
            Ok(y) => bytes_response(code, "application/yaml", y.into_bytes()),
            Err(e) => status_response(&ApiError::internal(format!("cannot encode YAML: {e}"))),
        },
        Format::Json | Format::Table => json_response(code, v),
        Format::Metadata => json_response(code, &watch::partial_metadata(v)),
    }
}

fn text(code: StatusCode, body: &str) -> Response {
    bytes_response(code, "text/plain; charset=utf-8", body.as_bytes().to_vec())
}

async fn dispatch(app: &Arc<App>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["healthz" | "livez" | "readyz"] => return Ok(text(StatusCode::OK, "ok")),
        ["version"] => return Ok(json_response(StatusCode::OK, &discovery::version())),
        _ => {}
    }
    if !authorized(app, &parts.headers) {
        return Err(ApiError::unauthorized());
    }
    let query = parse_query(parts.uri.query())?;
    let body = axum::body::to_bytes(body, app.settings.max_body)
        .await
        .map_err(|_| ApiError::too_large(app.settings.max_body))?;
    let method = parts.method;
    let headers = parts.headers;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let call = Call {
        app,
        method: &method,
        headers: &headers,
        query: &query,
        body: &body,
    };
    match segments.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => call.resource("", "v1", rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => call.resource(group, version, rest),
        _ => {
            let doc = discovery_route(app, &segments, &accept)?;
            if method == Method::GET {
                Ok(doc)
            } else {
                Err(ApiError::method_not_allowed(format!(
                    "{method} is not supported on {path}"
                )))
            }
        }
    }
}

/// The documents of the non-resource paths: discovery and OpenAPI.
fn discovery_route(app: &App, segments: &[&str], accept: &str) -> Result<Response, ApiError> {
    let found = |doc: Option<Value>| {
        doc.map(|d| json_response(StatusCode::OK, &d))
            .ok_or_else(ApiError::no_such_resource)
    };
    let aggregated = discovery::wants_aggregated(accept);
    match segments {
        [] => Ok(json_response(
            StatusCode::OK,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2", "/readyz", "/version"]}),
        )),
        ["openapi", "v2"] if accept.contains("protobuf") => Ok(bytes_response(
            StatusCode::OK,
            // The exact media type has an `@`, which Go's mime parser (in client-go) rejects.
            "application/octet-stream",
            discovery::openapi_v2_protobuf(),
        )),
        ["openapi", "v2"] => Ok(json_response(StatusCode::OK, &discovery::openapi_v2_json())),
        ["api" | "apis"] if aggregated.is_some() => {
            let v = aggregated.unwrap_or("v2");
            let core = segments == ["api"];
            let doc = app
                .store
                .read(|st| discovery::aggregated(&st.registry, core, &format!("apidiscovery.k8s.io/{v}")));
            Ok(aggregated_response(&doc, v))
        }
        ["api"] => Ok(json_response(
            StatusCode::OK,
            &discovery::core_versions(&app.server_address),
        )),
        ["apis"] => Ok(json_response(
            StatusCode::OK,
            &app.store.read(|st| discovery::group_list(&st.registry)),
        )),
        ["api", "v1"] => found(
            app.store
                .read(|st| discovery::resource_list(&st.registry, "", "v1")),
        ),
        ["apis", group] => found(app.store.read(|st| discovery::group(&st.registry, group))),
        ["apis", group, version] => found(
            app.store
                .read(|st| discovery::resource_list(&st.registry, group, version)),
        ),
        _ => Err(ApiError::no_such_resource()),
    }
}

fn aggregated_response(doc: &Value, version: &str) -> Response {
    bytes_response(
        StatusCode::OK,
        &format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"),
        serde_json::to_vec(doc).unwrap_or_default(),
    )
}

fn parse_query(q: Option<&str>) -> Result<Query, ApiError> {
    let Some(q) = q else { return Ok(Query::new()) };
    let pairs: Vec<(String, String)> = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| ApiError::bad_request("malformed query string"))?,
    )
    .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?
    .0;
    Ok(pairs.into_iter().collect())
}

fn flag(q: &Query, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

struct Call<'a> {
    app: &'a Arc<App>,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: &'a Query,
    body: &'a Bytes,
}

/// Parsed `…/namespaces/{ns}/{plural}/{name}/{sub}`.
struct Target<'a> {
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    sub: Option<&'a str>,
}

fn parse_rest<'a>(group: &str, rest: &[&'a str]) -> Result<Target<'a>, ApiError> {
    let t = |namespace, plural, name, sub| Target {
        namespace,
        plural,
        name,
        sub,
    };
    Ok(match rest {
        // `namespaces/{name}/status` is the namespace's subresource, not a resource in it.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            t(None, "namespaces", Some(*name), Some(*sub))
        }
        ["namespaces", ns, plural] => t(Some(*ns), plural, None, None),
        ["namespaces", ns, plural, name] => t(Some(*ns), plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => t(Some(*ns), plural, Some(*name), Some(*sub)),
        [plural] => t(None, plural, None, None),
        [plural, name] => t(None, plural, Some(*name), None),
        [plural, name, sub] => t(None, plural, Some(*name), Some(*sub)),
        _ => return Err(ApiError::no_such_resource()),
    })
}

impl Call<'_> {
    fn audit(&self, group: &str, plural: &str, sub: Option<&str>, named: bool, cluster_wide: bool) {
        let verb = match (self.method, named) {
            (&Method::GET, false) if flag(self.query, "watch") => "watch",
            (&Method::GET, false) => "list",
            (&Method::GET, true) => "get",
            (&Method::POST, _) => "create",
            (&Method::PUT, _) => "update",
            (&Method::PATCH, _) => "patch",
            (&Method::DELETE, false) => "deletecollection",
            (&Method::DELETE, true) => "delete",
            _ => return,
        };
        let client = self
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map_or("unknown", |ua| ua.split('/').next().unwrap_or(ua))
            .to_owned();
        self.app.audit.record(AuditEntry {
            client,
            verb: verb.to_owned(),
            group: group.to_owned(),
            resource: sub.map_or_else(|| plural.to_owned(), |s| format!("{plural}/{s}")),
            cluster_wide,
        });
    }

    fn resource(&self, group: &str, version: &str, rest: &[&str]) -> Result<Response, ApiError> {
        let target = parse_rest(group, rest)?;
        let rt = self
            .app
            .store
            .read(|st| st.registry.get_served(group, version, target.plural))
            .ok_or_else(ApiError::no_such_resource)?;
        if rt.namespaced && target.namespace.is_none() && target.name.is_some() {
            return Err(ApiError::no_such_resource());
        }
        if !rt.namespaced && target.namespace.is_some() {
            return Err(ApiError::no_such_resource());
        }
        if target.sub == Some("log") && group.is_empty() && rt.plural == "pods" {
            self.audit(group, &rt.plural, target.sub, true, false);
            return self.pod_log(
                &rt,
                target.namespace.unwrap_or_default(),
                target.name.unwrap_or_default(),
            );
        }
        let sub = match target.sub {
            None => Sub::Main,
            Some("status") if rt.status => Sub::Status,
            Some(_) => return Err(ApiError::no_such_resource()),
        };
        self.audit(
            group,
            &rt.plural,
            target.sub,
            target.name.is_some(),
            target.namespace.is_none(),
        );
        let ns = target.namespace.unwrap_or_default();
        match (self.method, target.name) {
            (&Method::GET, None) if flag(self.query, "watch") => self.watch(&rt, version, target.namespace),
            (&Method::GET, None) => self.list(&rt, version, target.namespace),
            (&Method::GET, Some(name)) => {
                let obj = self.app.store.read(|st| ops::get(st, &rt, ns, name))?;
                self.answer(StatusCode::OK, &rt, version, &obj)
            }
            (&Method::POST, None) => {
                let body = self.decode_body(&rt)?;
                let opts = self.write_options()?;
                let obj = self
                    .app
                    .store
                    .write(|st| ops::create(st, &rt, version, target.namespace, body, &opts))?;
                self.answer(StatusCode::CREATED, &rt, version, &obj)
            }
            (&Method::PUT, Some(name)) => {
                let body = self.decode_body(&rt)?;
                let opts = self.write_options()?;
                let obj = self
                    .app
                    .store
                    .write(|st| ops::update(st, &rt, version, ns, name, sub, body, &opts))?;
                self.answer(StatusCode::OK, &rt, version, &obj)
            }
            (&Method::PATCH, Some(name)) => {
                let (kind, body) = self.decode_patch()?;
                let opts = self.write_options()?;
                let (obj, created) = self
                    .app
                    .store
                    .write(|st| ops::patch(st, &rt, version, ns, name, sub, kind, &body, &opts))?;
                let code = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                self.answer(code, &rt, version, &obj)
            }
            (&Method::DELETE, Some(name)) if sub == Sub::Main => {
                let opts = self.delete_options()?;
                match self.app.store.write(|st| ops::delete(st, &rt, ns, name, &opts))? {
                    Deleted::Pending(obj) => self.answer(StatusCode::OK, &rt, version, &obj),
                    Deleted::Gone(obj) => Ok(json_response(
                        StatusCode::OK,
                        &json!({
                            "kind": "Status",
                            "apiVersion": "v1",
                            "metadata": {},
                            "status": "Success",
                            "details": {"name": name, "group": rt.group, "kind": rt.plural, "uid": meta::uid(&obj)},
                        }),
                    )),
                }
            }
            (&Method::DELETE, None) => self.delete_collection(&rt, version, target.namespace),
            _ => Err(ApiError::method_not_allowed(format!(
                "{} is not supported on this path",
                self.method
            ))),
        }
    }

    /// `GET pods/{name}/log`: the container's log as the kubelet wrote it (`container`,
    /// `previous`, `tailLines`, `limitBytes`; `follow` returns what there is and ends).
    fn pod_log(&self, rt: &ResourceType, ns: &str, name: &str) -> Result<Response, ApiError> {
        if self.method != Method::GET {
            return Err(ApiError::method_not_allowed(format!(
                "{} is not supported on pods/log",
                self.method
            )));
        }
        let pod = self.app.store.read(|st| ops::get(st, rt, ns, name))?;
        let names: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(pod["spec"]["initContainers"].as_array().into_iter().flatten())
            .filter_map(|c| c["name"].as_str())
            .collect();
        let container = match self.query.get("container") {
            Some(c) if names.contains(&c.as_str()) => c.clone(),
            Some(c) => {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            None => {
                let main: Vec<&str> = pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str())
                    .collect();
                let [only] = main.as_slice() else {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {name}, choose one of: [{}]",
                        main.join(" ")
                    )));
                };
                (*only).to_owned()
            }
        };
        let previous = flag(self.query, "previous");
        let file = self.app.pod_logs.join(ns).join(name).join(if previous {
            format!("{container}.previous.log")
        } else {
            format!("{container}.log")
        });
        let Ok(mut bytes) = std::fs::read(&file) else {
            if previous {
                return Err(ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                )));
            }
            let reason = ["containerStatuses", "initContainerStatuses"]
                .iter()
                .flat_map(|k| pod["status"][*k].as_array().into_iter().flatten())
                .find(|s| s["name"] == container.as_str())
                .and_then(|s| s["state"]["waiting"]["reason"].as_str())
                .unwrap_or("ContainerCreating")
                .to_owned();
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
            )));
        };
        if let Some(n) = self.query.get("tailLines").and_then(|n| n.parse::<usize>().ok()) {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            let mut tail = lines[start..].join("\n");
            if !tail.is_empty() {
                tail.push('\n');
            }
            bytes = tail.into_bytes();
        }
        if let Some(n) = self.query.get("limitBytes").and_then(|n| n.parse::<usize>().ok()) {
            bytes.truncate(n);
        }
        let mut r = Response::new(Body::from(bytes));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        Ok(r)
    }

    fn answer(
        &self,
        code: StatusCode,
        rt: &ResourceType,
        version: &str,
        obj: &Value,
    ) -> Result<Response, ApiError> {
        let fmt = response_format(self.headers)?;
        let av = rt.api_version(version);
        let converted;
        let obj = if obj["apiVersion"] == av.as_str() {
            obj
        } else {
            let mut c = obj.clone();
            c["apiVersion"] = json!(av);
            converted = c;
            &converted
        };
        if fmt == Format::Table {
            let rv = meta::resource_version(obj).to_owned();
            return Ok(json_response(code, &table::table(rt, &[obj], &rv, None)));
        }
        Ok(encode(code, obj, fmt))
    }

    fn content_type(&self) -> String {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    fn decode_body(&self, rt: &ResourceType) -> Result<Value, ApiError> {
        let ct = self.content_type();
        match ct.as_str() {
            "application/json" | "" => serde_json::from_slice(self.body)
                .map_err(|e| ApiError::bad_request(format!("cannot decode the JSON body: {e}"))),
            "application/yaml" => decode_yaml(self.body),
            "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(rt, self.body),
            other => Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format ({other}); accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (for Namespace, Secret, ConfigMap and ServiceAccount)"
            ))),
        }
    }

    fn decode_patch(&self) -> Result<(PatchKind, Value), ApiError> {
        let ct = self.content_type();
        let kind = match ct.as_str() {
            "application/merge-patch+json" => PatchKind::Merge,
            "application/json-patch+json" => PatchKind::Json,
            "application/strategic-merge-patch+json" => PatchKind::Strategic,
            "application/apply-patch+yaml" => PatchKind::Apply,
            other => {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format ({other}); accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml"
                )));
            }
        };
        let body = if kind == PatchKind::Apply {
            serde_json::from_slice(self.body).or_else(|_| decode_yaml(self.body))?
        } else {
            serde_json::from_slice(self.body)
                .map_err(|e| ApiError::bad_request(format!("cannot decode the patch: {e}")))?
        };
        Ok((kind, body))
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun").map(String::as_str) {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    fn write_options(&self) -> Result<WriteOptions, ApiError> {
        let explicit = self.query.get("fieldManager").filter(|m| !m.is_empty());
        let manager = match explicit {
            Some(m) => m.clone(),
            None => self
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.split('/').next().unwrap_or(ua).to_owned())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "unknown".into()),
        };
        let force = match self.query.get("force").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(ApiError::bad_request(format!("force: invalid value {other:?}"))),
        };
        Ok(WriteOptions {
            dry_run: self.dry_run()?,
            manager,
            explicit_manager: explicit.is_some(),
            force,
        })
    }

    fn delete_options(&self) -> Result<DeleteOptions, ApiError> {
        let body: Value = if self.body.is_empty() {
            json!({})
        } else {
            match self.content_type().as_str() {
                "application/yaml" => decode_yaml(self.body)?,
                "application/vnd.kubernetes.protobuf" => {
                    return Err(ApiError::unsupported_media_type(
                        "devcluster does not decode protobuf DeleteOptions; send them as JSON or as query parameters",
                    ));
                }
                _ => serde_json::from_slice(self.body)
                    .map_err(|e| ApiError::bad_request(format!("cannot decode DeleteOptions: {e}")))?,
            }
        };
        let policy = self
            .query
            .get("propagationPolicy")
            .cloned()
            .or_else(|| body["propagationPolicy"].as_str().map(str::to_owned));
        let orphan = self
            .query
            .get("orphanDependents")
            .map(|v| v == "true")
            .or_else(|| body["orphanDependents"].as_bool());
        let propagation = match (policy.as_deref(), orphan) {
            (Some("Background"), _) => Some(Propagation::Background),
            (Some("Foreground"), _) => Some(Propagation::Foreground),
            (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
            (None, _) => None,
            (Some(other), _) => {
                return Err(ApiError::bad_request(format!(
                    "propagationPolicy: Unsupported value: {other:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
                )));
            }
        };
        let dry_run = self.dry_run()?
            || body["dryRun"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "All"));
        Ok(DeleteOptions {
            propagation,
            uid: body["preconditions"]["uid"].as_str().map(str::to_owned),
            resource_version: body["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
            dry_run,
        })
    }

    fn selectors(&self) -> Result<(LabelSelector, FieldSelector), ApiError> {
        let labels = LabelSelector::parse(self.query.get("labelSelector").map_or("", String::as_str))?;
        let fields = FieldSelector::parse(self.query.get("fieldSelector").map_or("", String::as_str))?;
        Ok((labels, fields))
    }

    fn watch(
        &self,
        rt: &Arc<ResourceType>,
        version: &str,
        namespace: Option<&str>,
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors()?;
        let fmt = response_format(self.headers)?;
        let timeout = match self.query.get("timeoutSeconds") {
            Some(s) => Duration::from_secs(
                s.parse()
                    .map_err(|_| ApiError::bad_request(format!("timeoutSeconds: invalid value {s:?}")))?,
            ),
            None => self.app.settings.default_watch_timeout,
        };
        let req = WatchRequest {
            rt: Arc::clone(rt),
            version: version.to_owned(),
            namespace: namespace.map(str::to_owned),
            labels,
            fields,
            resource_version: self.query.get("resourceVersion").cloned(),
            bookmarks: flag(self.query, "allowWatchBookmarks"),
            send_initial_events: flag(self.query, "sendInitialEvents"),
            timeout,
            bookmark_interval: self.app.settings.bookmark_interval,
        };
        let view = match fmt {
            Format::Table => watch::View::Table,
            Format::Metadata => watch::View::Metadata,
            Format::Json | Format::Yaml => watch::View::Full,
        };
        let stream = watch::start(&self.app.store, req, view)?;
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(r)
    }

    fn list(
        &self,
        rt: &Arc<ResourceType>,
        version: &str,
        namespace: Option<&str>,
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors()?;
        let fmt = response_format(self.headers)?;
        let limit = match self.query.get("limit") {
            Some(s) => s
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("limit: invalid value {s:?}")))?,
            None => 0,
        };
        let token = match self.query.get("continue").filter(|c| !c.is_empty()) {
            Some(c) => Some(ContinueToken::decode(c)?),
            None => None,
        };
        let (rv, items, next) = self.app.store.read(|st| {
            let rv = token.as_ref().map_or(st.rv(), |t| t.rv);
            if token.as_ref().is_some_and(|t| t.rv < st.oldest_resumable()) {
                return Err(ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ));
            }
            let after = token.as_ref().map(|t| (t.namespace.clone(), t.name.clone()));
            let mut items: Vec<Arc<Value>> = Vec::new();
            let mut next = None;
            for o in st
                .list(&rt.group, &rt.plural, namespace, after.as_ref())
                .filter(|o| labels.matches(o) && fields.matches(o))
            {
                if limit > 0 && items.len() == limit {
                    next = items.last().map(|last| ContinueToken {
                        rv,
                        namespace: meta::namespace(last).to_owned(),
                        name: meta::name(last).to_owned(),
                    });
                    break;
                }
                items.push(Arc::clone(o));
            }
            Ok((rv, items, next))
        })?;
        let av = rt.api_version(version);
        let cont = next.map(|t| t.encode());
        if fmt == Format::Table {
            let refs: Vec<&Value> = items.iter().map(AsRef::as_ref).collect();
            return Ok(json_response(
                StatusCode::OK,
                &table::table(rt, &refs, &rv.to_string(), cont.as_deref()),
            ));
        }
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if let Some(c) = &cont {
            metadata["continue"] = json!(c);
        }
        if fmt == Format::Metadata {
            let items: Vec<Value> = items.iter().map(|o| watch::partial_metadata(o)).collect();
            let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items});
            return Ok(json_response(StatusCode::OK, &list));
        }
        if fmt == Format::Yaml {
            let items: Vec<Value> = items
                .iter()
                .map(|o| {
                    let mut c = (**o).clone();
                    c["apiVersion"] = json!(av);
                    c
                })
                .collect();
            let list = json!({"kind": rt.list_kind, "apiVersion": av, "metadata": metadata, "items": items});
            return Ok(encode(StatusCode::OK, &list, fmt));
        }
        // Hand-assembled so that 10,000 stored objects are serialised once, not cloned first.
        let mut out = Vec::with_capacity(items.len() * 512 + 128);
        out.extend_from_slice(b"{\"kind\":");
        out.extend_from_slice(&serde_json::to_vec(&rt.list_kind).unwrap_or_default());
        out.extend_from_slice(b",\"apiVersion\":");
        out.extend_from_slice(&serde_json::to_vec(&av).unwrap_or_default());
        out.extend_from_slice(b",\"metadata\":");
        out.extend_from_slice(&serde_json::to_vec(&metadata).unwrap_or_default());
        out.extend_from_slice(b",\"items\":[");
        for (i, o) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if o["apiVersion"] == av.as_str() {
                let _ = serde_json::to_writer(&mut out, o.as_ref());
            } else {
                let mut c = (**o).clone();
                c["apiVersion"] = json!(av);
                let _ = serde_json::to_writer(&mut out, &c);
            }
        }
        out.extend_from_slice(b"]}");
        Ok(bytes_response(StatusCode::OK, "application/json", out))
    }

    fn delete_collection(
        &self,
        rt: &Arc<ResourceType>,
        version: &str,
        namespace: Option<&str>,
    ) -> Result<Response, ApiError> {
        let (labels, fields) = self.selectors()?;
        let opts = self.delete_options()?;
        let gone = self.app.store.write(|st| {
            let names: Vec<(String, String)> = st
                .list(&rt.group, &rt.plural, namespace, None)
                .filter(|o| labels.matches(o) && fields.matches(o))
                .map(|o| (meta::namespace(o).to_owned(), meta::name(o).to_owned()))
                .collect();
            let mut out = Vec::new();
            for (ns, name) in names {
                match ops::delete(st, rt, &ns, &name, &opts)? {
                    Deleted::Gone(o) | Deleted::Pending(o) => out.push(o),
                }
            }
            Ok::<_, ApiError>(out)
        })?;
        let av = rt.api_version(version);
        let items: Vec<Value> = gone.iter().map(|o| (**o).clone()).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({"kind": rt.list_kind, "apiVersion": av, "metadata": {}, "items": items}),
        ))
    }
}

fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the YAML body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("cannot decode the YAML body: {e}")))
}

/// `continue`: the list's version and the last key returned, base64 JSON.
struct ContinueToken {
    rv: u64,
    namespace: String,
    name: String,
}

impl ContinueToken {
    fn encode(&self) -> String {
        let v = json!({"rv": self.rv, "ns": self.namespace, "name": self.name});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request(format!("continue key is not valid: {s:?}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        Ok(Self {
            rv: v["rv"].as_u64().ok_or_else(bad)?,
            namespace: v["ns"].as_str().ok_or_else(bad)?.to_owned(),
            name: v["name"].as_str().ok_or_else(bad)?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_header_asks_for_a_table() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
        );
        assert_eq!(response_format(&h).unwrap(), Format::Table);
    }

    #[test]
    fn protobuf_only_accept_is_not_acceptable() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf"),
        );
        assert_eq!(response_format(&h).unwrap_err().code, 406);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/vnd.kubernetes.protobuf, application/json"),
        );
        assert_eq!(response_format(&h).unwrap(), Format::Json);
    }

    #[test]
    fn namespace_status_path_is_the_namespace_subresource() {
        let t = parse_rest("", &["namespaces", "ns1", "status"]).unwrap();
        assert_eq!(
            (t.namespace, t.plural, t.name, t.sub),
            (None, "namespaces", Some("ns1"), Some("status"))
        );
        let t = parse_rest("", &["namespaces", "ns1", "secrets"]).unwrap();
        assert_eq!((t.namespace, t.plural, t.name), (Some("ns1"), "secrets", None));
    }

    #[test]
    fn continue_token_round_trips_and_rejects_garbage() {
        let t = ContinueToken {
            rv: 7,
            namespace: "a".into(),
            name: "b".into(),
        };
        let back = ContinueToken::decode(&t.encode()).unwrap();
        assert_eq!(
            (back.rv, back.namespace.as_str(), back.name.as_str()),
            (7, "a", "b")
        );
        assert_eq!(ContinueToken::decode("%%%").err().unwrap().code, 400);
    }

    #[test]
    fn token_comparison_requires_exact_match() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
