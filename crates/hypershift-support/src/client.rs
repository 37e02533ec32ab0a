//! Building a Kubernetes client the way HyperShift's binaries do.

use std::path::Path;

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("no Kubernetes configuration (not in a cluster, no $KUBECONFIG, no --kubeconfig): {0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("cannot build a Kubernetes client: {0}")]
    Build(#[from] kube::Error),
}

/// A client from `kubeconfig` if given, else in-cluster configuration, else `$KUBECONFIG`,
/// sending `User-Agent: <user_agent>` (`hypershift-operator/0.1.0`, as client-go names its
/// binary): the API server's audit, and devcluster's, tell the binaries apart by it.
pub async fn client(kubeconfig: Option<&Path>, user_agent: &str) -> Result<kube::Client, ClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let err = |source| ClientError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let file = kube::config::Kubeconfig::read_from(path).map_err(err)?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(err)?
        }
        None => kube::Config::infer().await?,
    };
    let mut config = config;
    if let Ok(value) = axum::http::HeaderValue::from_str(user_agent) {
        config.headers.push((axum::http::header::USER_AGENT, value));
    }
    Ok(kube::Client::try_from(config)?)
}

/// Whether the API server serves `plural` in `group_version` (`image.openshift.io/v1`,
/// `imagestreams`): a management-cluster capability, read once at start-up. A group the server
/// does not know is `false`; any other failure is an error.
pub async fn served(client: &kube::Client, group_version: &str, plural: &str) -> Result<bool, kube::Error> {
    match client.list_api_group_resources(group_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == plural)),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(e),
    }
}
