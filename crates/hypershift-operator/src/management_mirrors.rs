//! The management cluster's mirrors: which mirror APIs exist, and what their objects say.
//!
//! ```text
//!  discovery at start ─┐
//!  CRD watch ──────────┼─► presence of ICSP / IDMS / ITMS ─► one watcher per present kind
//!                      │                                          │ Init…InitDone, Apply, Delete
//!                      ▼                                          ▼
//!                 aggregator: objects by kind and name ─► MirrorSetBuilder (sorted) ─► MirrorState
//!                      ├─► provider.set_mirrors(set)        (release lookups use it at once)
//!                      └─► watch channel                     (every HostedCluster is requeued)
//! ```
//!
//! A mirror API that appears or disappears later (its CRD created or deleted) is picked up
//! without a restart. The state is published only when the rule set or its problems change, and
//! only after every present kind has been listed once, so a starting operator never renders
//! control planes from a half-read mirror set (which would roll their pods twice).
//!
//! An invalid entry is left out of the set and reported three ways: in the state (every
//! HostedCluster's `ValidManagementMirrors` condition names the object and the field), in the
//! `management_mirrors_invalid_entries{kind}` gauge, and as a Warning Event on the mirror object
//! itself, once per new problem.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use hypershift_api::openshift::{ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet};
use hypershift_mirrors::{ManagementMirrors, MirrorSetBuilder};
use hypershift_releaseinfo::StandardProvider;
use hypershift_support::client::served;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::events::Recorder;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt as _};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// One of the three mirror kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MirrorKind {
    Icsp,
    Idms,
    Itms,
}

impl MirrorKind {
    const ALL: [Self; 3] = [Self::Icsp, Self::Idms, Self::Itms];

    /// The object kind, as written in YAML and Events.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Icsp => "ImageContentSourcePolicy",
            Self::Idms => "ImageDigestMirrorSet",
            Self::Itms => "ImageTagMirrorSet",
        }
    }

    /// `(group/version, plural)` as discovery lists it.
    fn api(self) -> (&'static str, &'static str) {
        match self {
            Self::Icsp => ("operator.openshift.io/v1alpha1", "imagecontentsourcepolicies"),
            Self::Idms => ("config.openshift.io/v1", "imagedigestmirrorsets"),
            Self::Itms => ("config.openshift.io/v1", "imagetagmirrorsets"),
        }
    }

    /// The CRD's name (`plural.group`).
    fn crd_name(self) -> String {
        let (gv, plural) = self.api();
        format!("{plural}.{}", gv.split('/').next().unwrap_or_default())
    }
}

/// Which mirror APIs the cluster serves (followed for the whole run), and whether it serves
/// Routes (detected once at start-up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per API, as discovery answers"
)]
pub struct Capabilities {
    pub icsp: bool,
    pub idms: bool,
    pub itms: bool,
    pub route: bool,
}

impl Capabilities {
    fn get(self, kind: MirrorKind) -> bool {
        match kind {
            MirrorKind::Icsp => self.icsp,
            MirrorKind::Idms => self.idms,
            MirrorKind::Itms => self.itms,
        }
    }

    fn set(&mut self, kind: MirrorKind, present: bool) {
        match kind {
            MirrorKind::Icsp => self.icsp = present,
            MirrorKind::Idms => self.idms = present,
            MirrorKind::Itms => self.itms = present,
        }
    }
}

/// One mirror object with invalid entries; they were left out of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorProblem {
    pub kind: MirrorKind,
    /// The object's name.
    pub name: String,
    /// Every invalid entry, naming the object and the field
    /// (`ImageDigestMirrorSet "x": spec.imageDigestMirrors[1].source: …`).
    pub message: String,
}

/// What the operator knows about the management mirrors.
#[derive(Debug, Clone)]
pub struct MirrorState {
    pub set: Arc<ManagementMirrors>,
    pub capabilities: Capabilities,
    /// Mirror objects with invalid entries, by kind and name.
    pub problems: Vec<MirrorProblem>,
    /// Every present kind has been listed at least once.
    pub synced: bool,
}

/// Asks discovery which mirror APIs exist (HyperShift's capability check), and whether Routes do.
pub async fn detect(client: &Client) -> Result<Capabilities, kube::Error> {
    let mut caps = Capabilities::default();
    for kind in MirrorKind::ALL {
        let (gv, plural) = kind.api();
        caps.set(kind, served(client, gv, plural).await?);
    }
    caps.route = served(client, "route.openshift.io/v1", "routes").await?;
    Ok(caps)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// `management_mirrors_invalid_entries{kind}`: mirror objects with invalid entries, by kind.
#[derive(Clone, Debug, Default)]
pub struct MirrorMetrics {
    invalid: Family<KindLabel, Gauge>,
}

impl MirrorMetrics {
    /// Registers the gauge.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.sub_registry_with_prefix("management_mirrors").register(
            "invalid_objects",
            "Management mirror objects with invalid entries (left out of the mirror set), by kind",
            m.invalid.clone(),
        );
        m
    }

    fn set(&self, problems: &[MirrorProblem]) {
        for kind in MirrorKind::ALL {
            let n = problems.iter().filter(|p| p.kind == kind).count();
            self.invalid
                .get_or_create(&KindLabel {
                    kind: kind.kind().to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Where invalid entries are reported besides the state.
#[derive(Clone)]
pub struct Reporting {
    pub recorder: Recorder,
    pub metrics: MirrorMetrics,
}

impl std::fmt::Debug for Reporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporting").finish_non_exhaustive()
    }
}

/// A change reported by a kind's watcher or the CRD watch.
#[derive(Debug)]
enum Change {
    Present(MirrorKind, bool),
    Listed(MirrorKind, BTreeMap<String, serde_json::Value>),
    Upsert(MirrorKind, String, serde_json::Value),
    Remove(MirrorKind, String),
}

/// Starts watching; returns the state channel. The provider's mirror set follows every change.
pub fn spawn(
    client: Client,
    initial: Capabilities,
    provider: Arc<StandardProvider>,
    reporting: Reporting,
) -> watch::Receiver<MirrorState> {
    let (state_tx, state_rx) = watch::channel(MirrorState {
        set: Arc::new(ManagementMirrors::default()),
        capabilities: initial,
        problems: Vec::new(),
        synced: !MirrorKind::ALL.iter().any(|k| initial.get(*k)),
    });
    let (changes_tx, changes_rx) = mpsc::channel(256);
    let mut presence = BTreeMap::new();
    for kind in MirrorKind::ALL {
        let (present_tx, present_rx) = watch::channel(initial.get(kind));
        presence.insert(kind, present_tx);
        let (client, tx) = (client.clone(), changes_tx.clone());
        tokio::spawn(async move {
            match kind {
                MirrorKind::Icsp => {
                    watch_kind::<ImageContentSourcePolicy>(client, kind, present_rx, tx).await;
                }
                MirrorKind::Idms => watch_kind::<ImageDigestMirrorSet>(client, kind, present_rx, tx).await,
                MirrorKind::Itms => watch_kind::<ImageTagMirrorSet>(client, kind, present_rx, tx).await,
            }
        });
    }
    tokio::spawn(watch_crds(client, changes_tx));
    tokio::spawn(aggregate(
        initial, presence, changes_rx, state_tx, provider, reporting,
    ));
    state_rx
}

/// Follows CRD creation and deletion for the three kinds.
async fn watch_crds(client: Client, tx: mpsc::Sender<Change>) {
    let names: BTreeMap<String, MirrorKind> = MirrorKind::ALL.iter().map(|k| (k.crd_name(), *k)).collect();
    let mut stream = watcher(
        Api::<CustomResourceDefinition>::all(client),
        watcher::Config::default(),
    )
    .default_backoff()
    .boxed();
    let mut listed = Vec::new();
    while let Some(event) = stream.next().await {
        let change = match event {
            Ok(Event::Init) => {
                listed.clear();
                continue;
            }
            Ok(Event::InitApply(crd)) => {
                listed.push(crd.name_any());
                continue;
            }
            Ok(Event::InitDone) => {
                for (name, kind) in &names {
                    if tx
                        .send(Change::Present(*kind, listed.contains(name)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                continue;
            }
            Ok(Event::Apply(crd)) => names.get(&crd.name_any()).map(|k| Change::Present(*k, true)),
            Ok(Event::Delete(crd)) => names.get(&crd.name_any()).map(|k| Change::Present(*k, false)),
            Err(e) => {
                warn!(error = %e, "watching CustomResourceDefinitions failed; mirror APIs created later need a restart until this recovers");
                continue;
            }
        };
        if let Some(change) = change
            && tx.send(change).await.is_err()
        {
            return;
        }
    }
}

/// Watches one kind while its API exists.
async fn watch_kind<K>(
    client: Client,
    kind: MirrorKind,
    mut present: watch::Receiver<bool>,
    tx: mpsc::Sender<Change>,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    loop {
        if present.wait_for(|p| *p).await.is_err() {
            return;
        }
        let mut stream = watcher(Api::<K>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .boxed();
        let mut listing = BTreeMap::new();
        loop {
            tokio::select! {
                changed = present.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if !*present.borrow() {
                        break;
                    }
                }
                event = stream.next() => {
                    let change = match event {
                        None => break,
                        Some(Ok(Event::Init)) => { listing.clear(); None }
                        Some(Ok(Event::InitApply(o))) => { listing.insert(o.name_any(), to_value(&o)); None }
                        Some(Ok(Event::InitDone)) => Some(Change::Listed(kind, std::mem::take(&mut listing))),
                        Some(Ok(Event::Apply(o))) => Some(Change::Upsert(kind, o.name_any(), to_value(&o))),
                        Some(Ok(Event::Delete(o))) => Some(Change::Remove(kind, o.name_any())),
                        Some(Err(e)) => {
                            warn!(kind = ?kind, error = %e, "watching mirror objects failed; retrying");
                            None
                        }
                    };
                    if let Some(change) = change && tx.send(change).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn to_value<K: serde::Serialize>(o: &K) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

/// Keeps every object, rebuilds the set on each change, publishes when it differs.
async fn aggregate(
    initial: Capabilities,
    presence: BTreeMap<MirrorKind, watch::Sender<bool>>,
    mut changes: mpsc::Receiver<Change>,
    state: watch::Sender<MirrorState>,
    provider: Arc<StandardProvider>,
    reporting: Reporting,
) {
    let mut capabilities = initial;
    let mut objects: BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let mut listed: BTreeMap<MirrorKind, bool> = BTreeMap::new();
    while let Some(change) = changes.recv().await {
        match change {
            Change::Present(kind, present) => {
                if capabilities.get(kind) != present {
                    info!(kind = ?kind, present, "mirror API availability changed");
                }
                capabilities.set(kind, present);
                if !present {
                    objects.remove(&kind);
                    listed.remove(&kind);
                }
                if let Some(tx) = presence.get(&kind) {
                    tx.send_replace(present);
                }
            }
            Change::Listed(kind, all) => {
                objects.insert(kind, all);
                listed.insert(kind, true);
            }
            Change::Upsert(kind, name, o) => {
                objects.entry(kind).or_default().insert(name, o);
            }
            Change::Remove(kind, name) => {
                objects.entry(kind).or_default().remove(&name);
            }
        }
        let synced = MirrorKind::ALL
            .iter()
            .all(|k| !capabilities.get(*k) || listed.get(k).copied().unwrap_or(false));
        let (set, problems) = build(&objects);
        let differs = {
            let current = state.borrow();
            current.set.content_hash() != set.content_hash()
                || current.problems != problems
                || current.synced != synced
                || current.capabilities != capabilities
        };
        if differs {
            info!(
                hash = set.content_hash(),
                rules = set.rules().len(),
                problems = problems.len(),
                synced,
                "management mirrors"
            );
            let previous = state.borrow().problems.clone();
            report(&reporting, &objects, &previous, &problems).await;
            provider.inner().set_mirrors(set.clone());
            state.send_replace(MirrorState {
                set: Arc::new(set),
                capabilities,
                problems,
                synced,
            });
        }
    }
}

/// Logs each problem, sets the gauge, and publishes a Warning Event on each object whose problem
/// is new or changed (an unchanged problem is not announced again on every rebuild).
async fn report(
    reporting: &Reporting,
    objects: &BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>>,
    previous: &[MirrorProblem],
    problems: &[MirrorProblem],
) {
    reporting.metrics.set(problems);
    for p in problems.iter().filter(|p| !previous.contains(p)) {
        warn!(kind = p.kind.kind(), name = p.name, problem = %p.message, "invalid mirror entries left out");
        if let Some(reference) = objects
            .get(&p.kind)
            .and_then(|o| o.get(&p.name))
            .map(|v| object_ref(p.kind, v))
        {
            hypershift_support::events::warn(
                &reporting.recorder,
                &reference,
                "InvalidMirrorEntries",
                &p.message,
            )
            .await;
        }
    }
}

/// The reference an Event about a mirror object needs (cluster-scoped: no namespace).
fn object_ref(kind: MirrorKind, value: &serde_json::Value) -> ObjectReference {
    let text = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    ObjectReference {
        api_version: Some(kind.api().0.to_owned()),
        kind: Some(kind.kind().to_owned()),
        name: text("/metadata/name"),
        uid: text("/metadata/uid"),
        resource_version: text("/metadata/resourceVersion"),
        ..ObjectReference::default()
    }
}

/// The merged set and the objects with invalid entries (objects as JSON, sorted by kind and name
/// by the builder).
pub fn build(
    objects: &BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>>,
) -> (ManagementMirrors, Vec<MirrorProblem>) {
    let mut builder = MirrorSetBuilder::new();
    let mut problems = Vec::new();
    for (kind, by_name) in objects {
        for (name, value) in by_name {
            let result = match kind {
                MirrorKind::Icsp => {
                    typed::<ImageContentSourcePolicy>(*kind, value).map(|o| builder.add_icsp(&o))
                }
                MirrorKind::Idms => typed::<ImageDigestMirrorSet>(*kind, value).map(|o| builder.add_idms(&o)),
                MirrorKind::Itms => typed::<ImageTagMirrorSet>(*kind, value).map(|o| builder.add_itms(&o)),
            };
            let message = match result {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.to_string(),
                Err(e) => format!("{} {name:?}: {e}", kind.kind()),
            };
            problems.push(MirrorProblem {
                kind: *kind,
                name: name.clone(),
                message,
            });
        }
    }
    (builder.build(), problems)
}

fn typed<K: DeserializeOwned>(kind: MirrorKind, value: &serde_json::Value) -> Result<K, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("not a valid {}: {e}", kind.kind()))
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    kube::runtime::watcher(api, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(docs: &[(MirrorKind, &str)]) -> BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>> {
        let mut out: BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
        for (kind, yaml) in docs {
            let value: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
            let name = value["metadata"]["name"].as_str().unwrap().to_owned();
            out.entry(*kind).or_default().insert(name, value);
        }
        out
    }

    const IDMS: &str = "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: release\nspec:\n  imageDigestMirrors:\n  - source: quay.invalid/ocp/release\n    mirrors: [mirror.invalid/release]\n  - source: 'Not A Source'\n    mirrors: [mirror.invalid/x]\n";
    const ICSP: &str = "apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: old\nspec:\n  repositoryDigestMirrors:\n  - source: quay.invalid/ocp/release\n    mirrors: [icsp.invalid/release]\n";
    const ITMS_UNREADABLE: &str = "apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata:\n  name: broken\nspec:\n  imageTagMirrors: 7\n";

    #[test]
    fn objects_of_every_kind_merge_and_each_invalid_one_is_named() {
        let (set, problems) = build(&objects(&[
            (MirrorKind::Idms, IDMS),
            (MirrorKind::Icsp, ICSP),
            (MirrorKind::Itms, ITMS_UNREADABLE),
        ]));
        let rule = set
            .rules()
            .iter()
            .find(|r| r.source.as_str() == "quay.invalid/ocp/release")
            .unwrap();
        let mirrors: Vec<&str> = rule.digest_mirrors.iter().map(|m| m.location.as_str()).collect();
        assert_eq!(
            mirrors,
            ["mirror.invalid/release", "icsp.invalid/release"],
            "IDMS before ICSP"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            (problems[0].kind, problems[0].name.as_str()),
            (MirrorKind::Idms, "release")
        );
        assert!(
            problems[0]
                .message
                .starts_with("ImageDigestMirrorSet \"release\": spec.imageDigestMirrors[1].source"),
            "{}",
            problems[0].message
        );
        assert_eq!(
            (problems[1].kind, problems[1].name.as_str()),
            (MirrorKind::Itms, "broken")
        );
        assert!(
            problems[1]
                .message
                .starts_with("ImageTagMirrorSet \"broken\": not a valid ImageTagMirrorSet")
        );
    }

    #[test]
    fn the_merge_does_not_depend_on_arrival_order() {
        let a = build(&objects(&[(MirrorKind::Idms, IDMS), (MirrorKind::Icsp, ICSP)]));
        let b = build(&objects(&[(MirrorKind::Icsp, ICSP), (MirrorKind::Idms, IDMS)]));
        assert_eq!(a.0.content_hash(), b.0.content_hash());
        assert_eq!(a.1, b.1);
        assert_eq!(
            build(&BTreeMap::new()).0.content_hash(),
            ManagementMirrors::default().content_hash()
        );
    }

    #[test]
    fn a_mirror_object_event_names_it() {
        let value: serde_json::Value = serde_saphyr::from_str(IDMS).unwrap();
        let r = object_ref(MirrorKind::Idms, &value);
        assert_eq!(r.kind.as_deref(), Some("ImageDigestMirrorSet"));
        assert_eq!(r.api_version.as_deref(), Some("config.openshift.io/v1"));
        assert_eq!((r.name.as_deref(), r.namespace), (Some("release"), None));
    }
}
