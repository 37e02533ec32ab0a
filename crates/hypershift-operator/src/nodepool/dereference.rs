//! Step 1: reads everything a NodePool refers to. Client calls, the clock and randomness only
//! here: "now" and a fresh token candidate are read once, and the pure steps decide whether to
//! use them.

use std::sync::Arc;

use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::names;
use hypershift_api::node_pool::NodePool;
use hypershift_support::contract::keys;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::{Api, ResourceExt as _};

use super::error::{Error, read};
use crate::context::Context;

/// Everything a NodePool refers to, as found. `Debug` shows no Secret's data and no token.
#[derive(Clone)]
pub struct Dereferenced {
    pub node_pool: Arc<NodePool>,
    /// Its HostedCluster, if it exists.
    pub hosted_cluster: Option<HostedCluster>,
    /// The control-plane namespace (`<namespace>-<clusterName>`).
    pub control_plane_namespace: String,
    /// `tls.crt` of the ignition server's CA Secret, if there.
    pub ignition_ca: Option<Vec<u8>>,
    /// `.dockerconfigjson` of the control plane's `pull-secret` (what the ignition server uses).
    pub pull_secret: Option<Vec<u8>>,
    /// `ca-bundle.crt` of the control plane's `user-ca-bundle`, if there.
    pub trust_bundle: Option<String>,
    /// `spec.config`: each ConfigMap by name, or `None` when it does not exist.
    pub config_maps: Vec<(String, Option<ConfigMap>)>,
    /// This NodePool's token Secrets in the control-plane namespace.
    pub tokens: Vec<Secret>,
    /// This NodePool's user-data Secrets in the control-plane namespace.
    pub user_data: Vec<Secret>,
    pub now: Timestamp,
    /// A new token, used if the NodePool needs one (first time, or rotation due).
    pub fresh_token: String,
}

impl std::fmt::Debug for Dereferenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |s: &[Secret]| s.iter().map(kube::ResourceExt::name_any).collect::<Vec<_>>();
        f.debug_struct("Dereferenced")
            .field("node_pool", &self.node_pool.metadata.name)
            .field("control_plane_namespace", &self.control_plane_namespace)
            .field("tokens", &names(&self.tokens))
            .field("user_data", &names(&self.user_data))
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// Reads what `np` refers to.
pub async fn dereference(ctx: &Context, np: Arc<NodePool>) -> Result<Dereferenced, Error> {
    let namespace = np.namespace().unwrap_or_default();
    let cluster = np.spec.cluster_name.clone();
    let hosted_cluster = Api::<HostedCluster>::namespaced(ctx.client.clone(), &namespace)
        .get_opt(&cluster)
        .await
        .map_err(read(format!("hostedcluster {namespace}/{cluster}")))?;
    let cp = names::control_plane_namespace(&namespace, &cluster);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &cp);
    let key = |secret: Option<Secret>, key: &str| secret?.data?.remove(key).map(|b| b.0);
    let get = |name: &'static str| {
        let secrets = secrets.clone();
        let cp = cp.clone();
        async move {
            secrets
                .get_opt(name)
                .await
                .map_err(read(format!("secret {cp}/{name}")))
        }
    };
    let ignition_ca = key(get(names::IGNITION_SERVER_CA).await?, "tls.crt");
    let pull_secret = key(get(names::PULL_SECRET).await?, names::DOCKER_CONFIG_JSON_KEY);
    let trust_bundle = Api::<ConfigMap>::namespaced(ctx.client.clone(), &cp)
        .get_opt(names::USER_CA_BUNDLE)
        .await
        .map_err(read(format!("configmap {cp}/{}", names::USER_CA_BUNDLE)))?
        .and_then(|cm| cm.data?.remove(names::REGISTRY_CA_BUNDLE_KEY));
    let config_maps = read_config_maps(ctx, &namespace, &np).await?;
    let (tokens, user_data) = read_own_secrets(&secrets, &cp, &np).await?;
    Ok(Dereferenced {
        node_pool: np,
        hosted_cluster,
        control_plane_namespace: cp,
        ignition_ca,
        pull_secret,
        trust_bundle,
        config_maps,
        tokens,
        user_data,
        now: Timestamp::now(),
        fresh_token: uuid::Uuid::new_v4().to_string(),
    })
}

async fn read_config_maps(
    ctx: &Context,
    namespace: &str,
    np: &NodePool,
) -> Result<Vec<(String, Option<ConfigMap>)>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let mut out = Vec::new();
    for reference in &np.spec.config {
        let found = api
            .get_opt(&reference.name)
            .await
            .map_err(read(format!("configmap {namespace}/{}", reference.name)))?;
        out.push((reference.name.clone(), found));
    }
    Ok(out)
}

/// The token and user-data Secrets labelled with the NodePool's name and annotated with it.
async fn read_own_secrets(
    secrets: &Api<Secret>,
    cp: &str,
    np: &NodePool,
) -> Result<(Vec<Secret>, Vec<Secret>), Error> {
    let owner = super::owner(np);
    let selector = format!("{}={}", keys::NODE_POOL_LABEL, np.name_any());
    let mine: Vec<Secret> = secrets
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(read(format!("the secrets of nodepool {owner} in {cp}")))?
        .into_iter()
        .filter(|s| s.annotations().get(keys::NODE_POOL_ANNOTATION) == Some(&owner))
        .collect();
    Ok(mine
        .into_iter()
        .partition(|s| s.annotations().contains_key(keys::IGNITION_CONFIG_ANNOTATION)))
}
