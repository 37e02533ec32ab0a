//! The one way the operators write objects: server-side apply with a fixed field manager and
//! `force`, plus deletion of objects they no longer render (found by label).
//!
//! Builders decide content; this layer never does. Status writes live in each controller's
//! `status.rs`, not here.

use std::fmt::Debug;

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
}

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
        }
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
        api.patch(&name, &self.params, &Patch::Apply(obj))
            .await
            .map_err(|source| ApplyError::Apply {
                kind: kind_of::<K>(),
                name,
                source,
            })
    }

    /// Deletes the namespaced `K` object `name` if it is there; returns whether it was.
    pub async fn delete<K>(&self, namespace: &str, name: &str) -> Result<bool, ApplyError>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + DeserializeOwned + Clone + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
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
