//! The one way the operators write objects: server-side apply with a fixed field manager and
//! `force`, plus deletion of objects they no longer render (found by label).
//!
//! Builders decide content; this layer never does. Status writes live in each controller's
//! `status.rs`, not here.
//!
//! An applier can remember the `resourceVersion` of what it last wrote for the kinds a controller
//! watches ([`Applier::tracking`]), so that the watch can tell the controller's own writes from
//! everyone else's ([`Applier::is_own_write`]): an owned Deployment the reconcile just updated
//! must not start the same reconcile again, while one someone else changed (or the platform's
//! status update) must.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ClusterResourceScope, NamespaceResourceScope};
use kube::{Api, Client, Resource, ResourceExt as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why an apply failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} has no name")]
    NoName { kind: String },
    #[error("{kind} {name} has no namespace")]
    NoNamespace { kind: String, name: String },
    #[error("cannot apply {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        source: kube::Error,
    },
    #[error("cannot clean up {kind} objects: {source}")]
    Cleanup { kind: String, source: kube::Error },
}

impl ApplyError {
    /// A bounded label.
    pub fn category(&self) -> &'static str {
        "apply"
    }
}

/// Deletes `name`; a 404 (already gone) is no error. Returns whether it was there.
///
/// # Errors
/// Any other API error.
pub async fn delete_if_present<K>(
    api: &Api<K>,
    name: &str,
    params: &DeleteParams,
) -> Result<bool, kube::Error>
where
    K: Resource + DeserializeOwned + Clone + Debug,
{
    match api.delete(name, params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Server-side apply with one field manager.
#[derive(Clone)]
pub struct Applier {
    client: Client,
    params: PatchParams,
    /// Kinds whose writes are remembered.
    tracked: &'static [&'static str],
    /// (kind, namespace, name) → the `resourceVersion` our last write produced. Bounded by the
    /// objects of the tracked kinds the controller owns; entries go with deletions.
    written: Arc<Mutex<HashMap<ObjectKey, String>>>,
}

/// (kind, namespace, name) of an object the applier wrote.
type ObjectKey = (String, String, String);

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("field_manager", &self.params.field_manager)
            .finish_non_exhaustive()
    }
}

fn kind_of<K: Resource<DynamicType = ()>>() -> String {
    K::kind(&()).into_owned()
}

fn name_of<K: Resource<DynamicType = ()>>(obj: &K) -> Result<String, ApplyError> {
    obj.meta()
        .name
        .clone()
        .ok_or_else(|| ApplyError::NoName { kind: kind_of::<K>() })
}

impl Applier {
    /// An applier writing as `field_manager`, taking ownership of conflicting fields (`force`).
    pub fn new(client: Client, field_manager: &str) -> Self {
        Self {
            client,
            params: PatchParams::apply(field_manager).force(),
            tracked: &[],
            written: Arc::default(),
        }
    }

    /// Remembers the result of every write of these kinds (the ones the controller watches), for
    /// [`Applier::is_own_write`].
    #[must_use]
    pub fn tracking(mut self, kinds: &'static [&'static str]) -> Self {
        self.tracked = kinds;
        self
    }

    /// Whether `obj`, as a watch delivers it, is exactly what this applier last wrote (same
    /// `resourceVersion`): an echo of our own write, not a change by anyone else.
    pub fn is_own_write<K: Resource<DynamicType = ()>>(&self, obj: &K) -> bool {
        let meta = obj.meta();
        let (Some(name), Some(rv)) = (&meta.name, &meta.resource_version) else {
            return false;
        };
        let key = (
            kind_of::<K>(),
            meta.namespace.clone().unwrap_or_default(),
            name.clone(),
        );
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .is_some_and(|ours| ours == rv)
    }

    fn remember<K: Resource<DynamicType = ()>>(&self, stored: &K) {
        let kind = kind_of::<K>();
        if !self.tracked.contains(&kind.as_str()) {
            return;
        }
        let meta = stored.meta();
        let key = (
            kind,
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        match &meta.resource_version {
            Some(rv) => {
                written.insert(key, rv.clone());
            }
            None => {
                written.remove(&key);
            }
        }
    }

    fn forget<K: Resource<DynamicType = ()>>(&self, namespace: &str, name: &str) {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(kind_of::<K>(), namespace.to_owned(), name.to_owned()));
    }

    /// Applies a namespaced object; returns it as stored.
    pub async fn apply<K>(&self, obj: &K) -> Result<K, ApplyError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let name = name_of(obj)?;
        let namespace = obj
            .meta()
            .namespace
            .clone()
            .ok_or_else(|| ApplyError::NoNamespace {
                kind: kind_of::<K>(),
                name: name.clone(),
            })?;
        self.patch(Api::namespaced(self.client.clone(), &namespace), name, obj)
            .await
    }

    /// Applies a cluster-scoped object; returns it as stored.
    pub async fn apply_cluster<K>(&self, obj: &K) -> Result<K, ApplyError>
    where
        K: Resource<DynamicType = (), Scope = ClusterResourceScope>
            + Serialize
            + DeserializeOwned
            + Clone
            + Debug,
    {
        let name = name_of(obj)?;
        self.patch(Api::all(self.client.clone()), name, obj).await
    }

    async fn patch<K>(&self, api: Api<K>, name: String, obj: &K) -> Result<K, ApplyError>
    where
        K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + Debug,
    {
        let stored = api
            .patch(&name, &self.params, &Patch::Apply(obj))
            .await
            .map_err(|source| ApplyError::Apply {
                kind: kind_of::<K>(),
                name,
                source,
            })?;
        self.remember(&stored);
        Ok(stored)
    }

    /// Deletes the namespaced `K` object `name` if it is there; returns whether it was.
    pub async fn delete<K>(&self, namespace: &str, name: &str) -> Result<bool, ApplyError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + DeserializeOwned + Clone + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        self.forget::<K>(namespace, name);
        delete_if_present(&api, name, &DeleteParams::background())
            .await
            .map_err(|source| ApplyError::Cleanup {
                kind: kind_of::<K>(),
                source,
            })
    }

    /// Deletes the `K` objects in `namespace` matching `selector` whose names are not in `keep`;
    /// returns the names deleted.
    pub async fn delete_orphans<K>(
        &self,
        namespace: &str,
        selector: &str,
        keep: &[&str],
    ) -> Result<Vec<String>, ApplyError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + DeserializeOwned + Clone + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let cleanup = |source| ApplyError::Cleanup {
            kind: kind_of::<K>(),
            source,
        };
        let existing = api
            .list_metadata(&ListParams::default().labels(selector))
            .await
            .map_err(cleanup)?;
        let mut deleted = Vec::new();
        for obj in existing {
            let name = obj.name_any();
            if keep.contains(&name.as_str()) {
                continue;
            }
            self.forget::<K>(namespace, &name);
            if delete_if_present(&api, &name, &DeleteParams::background())
                .await
                .map_err(cleanup)?
            {
                deleted.push(name);
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use devcluster::{DevCluster, DevClusterOptions};
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn config_map(value: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("owned".into()),
                namespace: Some("default".into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([("k".to_owned(), value.to_owned())])),
            ..ConfigMap::default()
        }
    }

    #[tokio::test]
    async fn only_the_echo_of_our_own_last_write_counts_as_ours() {
        hypershift_releaseinfo::install_crypto_provider();
        let cluster = DevCluster::start(DevClusterOptions::default()).await.unwrap();
        let client = cluster.client();
        let applier = Applier::new(client.clone(), "test-manager").tracking(&["ConfigMap"]);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

        let stored = applier.apply(&config_map("a")).await.unwrap();
        assert!(applier.is_own_write(&api.get("owned").await.unwrap()));
        assert!(applier.is_own_write(&stored));

        // Someone else's change is not ours, until we write again.
        api.patch(
            "owned",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"k": "edited"}})),
        )
        .await
        .unwrap();
        assert!(!applier.is_own_write(&api.get("owned").await.unwrap()));
        applier.apply(&config_map("a")).await.unwrap();
        assert!(applier.is_own_write(&api.get("owned").await.unwrap()));

        // Untracked kinds are never remembered, and a delete forgets.
        let untracked = Applier::new(client, "test-manager");
        assert!(!untracked.is_own_write(&untracked.apply(&config_map("b")).await.unwrap()));
        let last = applier.apply(&config_map("c")).await.unwrap();
        applier.delete::<ConfigMap>("default", "owned").await.unwrap();
        assert!(!applier.is_own_write(&last));
    }
}
