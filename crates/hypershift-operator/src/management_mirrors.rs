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

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt as _;
use hypershift_api::openshift::{ImageContentSourcePolicy, ImageDigestMirrorSet, ImageTagMirrorSet};
use hypershift_mirrors::{ManagementMirrors, MirrorSetBuilder};
use hypershift_releaseinfo::StandardProvider;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt as _};
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

/// Which mirror APIs the cluster serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub icsp: bool,
    pub idms: bool,
    pub itms: bool,
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

/// What the operator knows about the management mirrors.
#[derive(Debug, Clone)]
pub struct MirrorState {
    pub set: Arc<ManagementMirrors>,
    pub capabilities: Capabilities,
    /// Invalid entries of mirror objects (each names the object and the field); they are left
    /// out of the set.
    pub problems: Vec<String>,
    /// Every present kind has been listed at least once.
    pub synced: bool,
}

/// Asks discovery which mirror APIs exist (HyperShift's capability check).
pub async fn detect(client: &Client) -> Result<Capabilities, kube::Error> {
    let mut caps = Capabilities::default();
    for kind in MirrorKind::ALL {
        let (gv, plural) = kind.api();
        let present = match client.list_api_group_resources(gv).await {
            Ok(list) => list.resources.iter().any(|r| r.name == plural),
            Err(kube::Error::Api(e)) if e.code == 404 => false,
            Err(e) => return Err(e),
        };
        caps.set(kind, present);
    }
    Ok(caps)
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
    tokio::spawn(aggregate(initial, presence, changes_rx, state_tx, provider));
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
            for p in &problems {
                warn!(problem = %p, "invalid mirror entry ignored");
            }
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

/// The merged set and the invalid entries (objects as JSON, sorted by kind and name by the builder).
fn build(
    objects: &BTreeMap<MirrorKind, BTreeMap<String, serde_json::Value>>,
) -> (ManagementMirrors, Vec<String>) {
    let mut builder = MirrorSetBuilder::new();
    let mut problems = Vec::new();
    for (kind, by_name) in objects {
        for value in by_name.values() {
            let result = match kind {
                MirrorKind::Icsp => typed::<ImageContentSourcePolicy>(value).map(|o| builder.add_icsp(&o)),
                MirrorKind::Idms => typed::<ImageDigestMirrorSet>(value).map(|o| builder.add_idms(&o)),
                MirrorKind::Itms => typed::<ImageTagMirrorSet>(value).map(|o| builder.add_itms(&o)),
            };
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => problems.push(e.to_string()),
                Err(e) => problems.push(e),
            }
        }
    }
    (builder.build(), problems)
}

fn typed<K: DeserializeOwned>(value: &serde_json::Value) -> Result<K, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("unreadable mirror object: {e}"))
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
