//! Watch streams: newline-delimited `WatchEvent` JSON over a chunked response, as the API server
//! sends them.
//!
//! Semantics:
//! - `resourceVersion` unset or `0`: synthetic `ADDED` events for every matching object first,
//!   then changes; with `sendInitialEvents=true` a `BOOKMARK` annotated
//!   `k8s.io/initial-events-end: "true"` marks the end of those.
//! - `resourceVersion=N`: changes after N; if N is older than the kept history, one `ERROR` event
//!   with a `410 Expired` Status, then the stream ends (clients re-list).
//! - label and field selectors apply to both the old and new state of a change: an object that
//!   stops matching is sent as `DELETED`, one that starts matching as `ADDED`.
//! - `allowWatchBookmarks=true`: a `BOOKMARK` with the latest version seen every bookmark interval.
//! - the stream ends after `timeoutSeconds` (or the server's default), when the type goes away
//!   (its CRD was deleted), or when the client disconnects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::meta;
use crate::resources::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType, Store};

/// Everything a watch request asks for.
#[derive(Debug)]
pub struct WatchRequest {
    /// The type watched.
    pub rt: Arc<ResourceType>,
    /// The version requested (objects are sent in it).
    pub version: String,
    /// Only this namespace, if set.
    pub namespace: Option<String>,
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion` as given.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// When to end the stream.
    pub timeout: Duration,
    /// How often to send bookmarks.
    pub bookmark_interval: Duration,
}

/// What a watch or a read returns for each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The object itself.
    Full,
    /// A `Table` row.
    Table,
    /// `meta.k8s.io/v1` `PartialObjectMetadata` (kube-rs' metadata reads and watchers).
    Metadata,
}

/// The `PartialObjectMetadata` of an object.
pub fn partial_metadata(o: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"]})
}

struct Watch {
    store: Arc<Store>,
    req: WatchRequest,
    api_version: String,
    rx: watch::Receiver<u64>,
    next: u64,
    pending: Option<Bytes>,
    deadline: Instant,
    bookmark_at: Option<Instant>,
    done: bool,
    /// What each event carries: the object, a `Table` row (kubectl `get -w`; column definitions go
    /// with the first row only), or the object's metadata (`PartialObjectMetadata`).
    view: View,
    sent_columns: bool,
}

/// Starts a watch; the stream yields one chunk per batch of events.
pub fn start(
    store: &Arc<Store>,
    req: WatchRequest,
    view: View,
) -> Result<impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static, ApiError> {
    let from = match req.resource_version.as_deref() {
        None | Some("" | "0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}")))?,
        ),
    };
    let api_version = req.rt.api_version(&req.version);
    let mut w = Watch {
        rx: store.subscribe(),
        store: Arc::clone(store),
        api_version,
        next: 0,
        pending: None,
        deadline: Instant::now() + req.timeout,
        bookmark_at: req.bookmarks.then(|| Instant::now() + req.bookmark_interval),
        done: false,
        view,
        sent_columns: false,
        req,
    };
    w.rx.borrow_and_update();
    if let Some(rv) = from {
        let oldest = store.read(crate::store::State::oldest_resumable);
        if rv < oldest {
            let e = ApiError::expired(format!("too old resource version: {rv} ({oldest})"));
            w.pending = Some(Bytes::from(line(
                "ERROR",
                &serde_json::to_vec(&e.to_status()).unwrap_or_default(),
            )));
            w.done = true;
        }
        w.next = rv;
    } else {
        {
            let (rv, objects) = store.read(|st| {
                let objects: Vec<Arc<Value>> = st
                    .list(
                        &w.req.rt.group,
                        &w.req.rt.plural,
                        w.req.namespace.as_deref(),
                        None,
                    )
                    .filter(|o| w.matches(o))
                    .cloned()
                    .collect();
                (st.rv(), objects)
            });
            let mut buf = Vec::new();
            for o in &objects {
                let encoded = w.encode_object(o);
                buf.extend_from_slice(&line("ADDED", &encoded));
            }
            if w.req.send_initial_events {
                buf.extend_from_slice(&w.bookmark(rv, true));
            }
            if !buf.is_empty() {
                w.pending = Some(Bytes::from(buf));
            }
            w.next = rv;
        }
    }
    Ok(futures::stream::unfold(w, |mut w| async move {
        w.next_chunk().await.map(|b| (Ok(b), w))
    }))
}

fn line(etype: &str, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(etype.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    out
}

impl Watch {
    fn matches(&self, o: &Value) -> bool {
        self.req
            .namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(o) == ns)
            && (self.req.labels.is_empty() || self.req.labels.matches(o))
            && (self.req.fields.is_empty() || self.req.fields.matches(o))
    }

    fn encode_object(&mut self, o: &Value) -> Vec<u8> {
        if self.view == View::Metadata {
            return serde_json::to_vec(&partial_metadata(o)).unwrap_or_default();
        }
        if self.view == View::Table {
            let mut t = crate::table::table(&self.req.rt, &[o], meta::resource_version(o), None);
            if self.sent_columns {
                t["columnDefinitions"] = json!([]);
            }
            self.sent_columns = true;
            return serde_json::to_vec(&t).unwrap_or_default();
        }
        if o["apiVersion"] == self.api_version.as_str() {
            serde_json::to_vec(o).unwrap_or_default()
        } else {
            let mut c = o.clone();
            c["apiVersion"] = json!(self.api_version);
            serde_json::to_vec(&c).unwrap_or_default()
        }
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Vec<u8> {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.req.rt.kind, "apiVersion": self.api_version, "metadata": metadata});
        line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }

    fn encode_event(&mut self, e: &Event, buf: &mut Vec<u8>) {
        if e.group != self.req.rt.group || e.plural != self.req.rt.plural {
            return;
        }
        let now = self.matches(&e.object);
        let etype = match e.etype {
            EventType::Added if now => "ADDED",
            EventType::Deleted if now => "DELETED",
            EventType::Modified => {
                let was = e.previous.as_deref().is_some_and(|p| self.matches(p));
                match (was, now) {
                    (true, true) => "MODIFIED",
                    (true, false) => "DELETED",
                    (false, true) => "ADDED",
                    (false, false) => return,
                }
            }
            _ => return,
        };
        if self.view == View::Full && e.object["apiVersion"] == self.api_version.as_str() {
            buf.extend_from_slice(&line(etype, e.object_json()));
        } else {
            buf.extend_from_slice(&line(etype, &self.encode_object(&e.object)));
        }
    }

    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.take() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            self.rx.borrow_and_update();
            let (events, alive) = self.store.read(|st| {
                let alive = st
                    .registry
                    .get(&self.req.rt.group, &self.req.rt.plural)
                    .is_some_and(|t| t.serves(&self.req.version));
                (st.events_since(self.next, 1024), alive)
            });
            match events {
                Err(oldest) => {
                    let e = ApiError::expired(format!(
                        "too old resource version: {} ({})",
                        self.next,
                        oldest - 1
                    ));
                    self.pending = Some(Bytes::from(line(
                        "ERROR",
                        &serde_json::to_vec(&e.to_status()).unwrap_or_default(),
                    )));
                    self.done = true;
                    continue;
                }
                Ok(events) if !events.is_empty() => {
                    let mut buf = Vec::new();
                    for e in &events {
                        self.encode_event(e, &mut buf);
                    }
                    self.next = events.last().map_or(self.next, |e| e.rv);
                    if !buf.is_empty() {
                        self.pending = Some(Bytes::from(buf));
                    }
                    continue;
                }
                Ok(_) => {}
            }
            if !alive {
                self.done = true;
                continue;
            }
            let bookmark_at = self.bookmark_at;
            let bookmark = async move {
                match bookmark_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        self.done = true;
                    }
                }
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
                () = bookmark => {
                    self.pending = Some(Bytes::from(self.bookmark(self.next, false)));
                    self.bookmark_at = Some(Instant::now() + self.req.bookmark_interval);
                }
            }
        }
    }
}
