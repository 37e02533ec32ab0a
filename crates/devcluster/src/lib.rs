//! devcluster: a local Kubernetes API server and a runner of our own binaries, for tests and the
//! demo. **Test/dev infrastructure, not a production API server**: everything lives in memory,
//! there is no admission, RBAC or schema validation, and one process serves one "cluster".
//!
//! What it is for: running the operators as real processes, with kube-rs watchers and
//! controllers and `kubectl`, against an API that keeps the Kubernetes REST conventions they
//! rely on (see `docs/devcluster.md` for the exact list and the deliberate gaps).
//!
//! ```text
//! DevCluster::start(options)
//!   ├─ store      objects + resourceVersion + event log (store.rs), types (resources.rs)
//!   ├─ http       REST routing, bodies, Status errors (http.rs) → ops.rs verbs, watch.rs, discovery.rs
//!   ├─ gc         ownerReference GC, foreground deletion, namespace teardown (gc.rs)
//!   ├─ server     TLS (tls.rs) + HTTP/1.1 and HTTP/2 accept loop (server.rs), bearer token
//!   ├─ kubeconfig written for clients; a kube::Client built from it
//!   └─ runner     optional: runs our binaries for Deployments (runner/)
//! ```
//!
//! In a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), devcluster::StartError> {
//! let cluster = devcluster::DevCluster::start(devcluster::DevClusterOptions::default()).await?;
//! let client = cluster.client(); // a kube::Client, configured from cluster.kubeconfig_path()
//! # drop(client);
//! cluster.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod discovery;
mod error;
mod gc;
mod http;
mod managed;
mod meta;
mod ops;
mod patch;
mod protobuf;
mod resources;
mod selector;
mod server;
mod store;
mod table;
mod tls;
mod watch;

pub mod cli;
pub mod runner;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use tokio::sync::watch as tokio_watch;
use tokio::task::JoinHandle;

pub use error::{ApiError, StartError};
pub use http::AuditEntry;
pub use runner::kubelet::{Kubelet, KubeletOptions, Node};
pub use runner::{Runner, RunnerOptions};

/// How clients authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No authentication.
    None,
    /// A bearer token chosen at random at start (the default).
    #[default]
    RandomToken,
    /// This bearer token.
    Token(String),
}

/// How to start a devcluster.
#[derive(Debug, Clone)]
pub struct DevClusterOptions {
    /// Listen address; must be loopback in tests. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Serve HTTPS with a generated CA (default) or plain HTTP.
    pub tls: bool,
    /// Bearer-token authentication.
    pub auth: Auth,
    /// Where the CA, the kubeconfig and the runner's files go; a temporary directory (removed on
    /// shutdown) when `None`.
    pub state_dir: Option<PathBuf>,
    /// Where to write the kubeconfig; `<state_dir>/kubeconfig` when `None`.
    pub kubeconfig: Option<PathBuf>,
    /// How many change events to keep for watches to resume from (older: `410 Gone`).
    pub event_history: usize,
    /// Bookmark interval for watches that allow bookmarks.
    pub bookmark_interval: Duration,
    /// Watch length when the client sets no `timeoutSeconds`.
    pub default_watch_timeout: Duration,
    /// Run our binaries for Deployments, if set.
    pub runner: Option<RunnerOptions>,
    /// Run every Deployment and StatefulSet as Pods of real containers (the container runtime),
    /// if set; with `runner` too, the workloads the runner runs are left to it.
    pub kubelet: Option<KubeletOptions>,
}

impl Default for DevClusterOptions {
    fn default() -> Self {
        let settings = http::Settings::default();
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            auth: Auth::RandomToken,
            state_dir: None,
            kubeconfig: None,
            event_history: 100_000,
            bookmark_interval: settings.bookmark_interval,
            default_watch_timeout: settings.default_watch_timeout,
            runner: None,
            kubelet: None,
        }
    }
}

/// A running devcluster. Dropping it stops the server (and the runner's processes); prefer
/// [`DevCluster::shutdown`] to also wait for them.
pub struct DevCluster {
    base_url: String,
    kubeconfig: PathBuf,
    state_dir: PathBuf,
    token: Option<String>,
    ca_pem: Option<String>,
    client: kube::Client,
    config: kube::Config,
    stop: tokio_watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    gc: JoinHandle<()>,
    runner: Option<Runner>,
    kubelet: Option<Kubelet>,
    _temp: Option<tempfile::TempDir>,
    audit: Arc<http::Audit>,
}

/// The state directory asked for (created), or a fresh temporary one (kept alive by the guard).
fn state_dir(asked: Option<&Path>) -> Result<(PathBuf, Option<tempfile::TempDir>), StartError> {
    if let Some(d) = asked {
        std::fs::create_dir_all(d).map_err(|source| StartError::File {
            action: "create directory",
            path: d.to_path_buf(),
            source,
        })?;
        return Ok((d.to_path_buf(), None));
    }
    let t = tempfile::Builder::new()
        .prefix("devcluster-")
        .tempdir()
        .map_err(|source| StartError::File {
            action: "create directory",
            path: std::env::temp_dir(),
            source,
        })?;
    Ok((t.path().to_path_buf(), Some(t)))
}

/// The namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl DevCluster {
    /// Starts the server, writes the kubeconfig and (if asked) starts the runner.
    pub async fn start(options: DevClusterOptions) -> Result<Self, StartError> {
        let (state_dir, temp) = state_dir(options.state_dir.as_deref())?;
        let token = match &options.auth {
            Auth::None => None,
            Auth::RandomToken => Some(meta::random_token()),
            Auth::Token(t) => {
                if t.is_empty() || !t.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(StartError::BadToken);
                }
                Some(t.clone())
            }
        };
        let listener = tokio::net::TcpListener::bind(options.addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: options.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: options.addr,
            source,
        })?;
        let (pki, tls_config) = if options.tls {
            let pki = tls::load_or_create(&state_dir)?;
            let config = tls::server_config(&pki)?;
            (Some(pki), Some(config))
        } else {
            (None, None)
        };
        let store = Arc::new(store::Store::new(options.event_history));
        seed(&store);
        let gc = tokio::spawn(gc::run(Arc::clone(&store)));
        let audit = Arc::new(http::Audit::default());
        let app = Arc::new(http::App {
            audit: Arc::clone(&audit),
            store,
            token: token.clone(),
            settings: http::Settings {
                bookmark_interval: options.bookmark_interval,
                default_watch_timeout: options.default_watch_timeout,
                ..http::Settings::default()
            },
            server_address: addr.to_string(),
            pod_logs: state_dir.join("kubelet").join("logs"),
        });
        let (stop, stop_rx) = tokio_watch::channel(false);
        let server = tokio::spawn(server::serve(listener, http::router(app), tls_config, stop_rx));
        let scheme = if options.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let kubeconfig = options
            .kubeconfig
            .clone()
            .unwrap_or_else(|| state_dir.join("kubeconfig"));
        let ca_pem = pki.map(|p| p.ca_pem);
        write_kubeconfig(&kubeconfig, &base_url, ca_pem.as_deref(), token.as_deref())?;
        let config = client_config(&kubeconfig).await?;
        let client = kube::Client::try_from(config.clone()).map_err(StartError::Client)?;
        let mut cluster = Self {
            base_url,
            kubeconfig,
            state_dir,
            token,
            ca_pem,
            client,
            config,
            stop,
            server: Some(server),
            gc,
            runner: None,
            kubelet: None,
            _temp: temp,
            audit,
        };
        if let Some(kubelet_options) = options.kubelet {
            cluster.start_kubelet(kubelet_options, options.runner.as_ref(), addr.port())?;
        }
        if let Some(runner_options) = options.runner {
            cluster.runner = Some(Runner::start(
                cluster.client.clone(),
                &cluster.kubeconfig,
                &cluster.state_dir.join("runner"),
                runner_options,
            )?);
        }
        Ok(cluster)
    }

    /// Starts the kubelet; the process runner's workloads (if any) are left to it.
    fn start_kubelet(
        &mut self,
        mut options: KubeletOptions,
        runner: Option<&RunnerOptions>,
        port: u16,
    ) -> Result<(), StartError> {
        if let Some(r) = runner {
            options.process_binaries.clone_from(&r.binaries);
        }
        let api = runner::kubelet::ApiAccess {
            port,
            token: self.token.clone(),
            ca_pem: self.ca_pem.clone(),
        };
        self.kubelet = Some(Kubelet::start(
            self.client.clone(),
            api,
            &self.state_dir.join("kubelet"),
            options,
        )?);
        Ok(())
    }

    /// `https://127.0.0.1:PORT` (or `http://…` without TLS).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every distinct resource request served so far (client, verb, group, resource): what a
    /// binary really called, for RBAC derived from the code rather than listed by hand.
    pub fn requests(&self) -> Vec<AuditEntry> {
        self.audit.entries()
    }

    /// The kubeconfig written for clients.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The state directory (CA, kubeconfig, runner files and logs).
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A kube client configured from the kubeconfig (cheap to clone).
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The client configuration read back from the kubeconfig.
    pub fn kube_config(&self) -> kube::Config {
        self.config.clone()
    }

    /// The bearer token clients must send, if auth is on.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The CA certificate (PEM) clients must trust, with TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The runner, if started.
    pub fn runner(&self) -> Option<&Runner> {
        self.runner.as_ref()
    }

    /// The kubelet (container runtime), if started.
    pub fn kubelet(&self) -> Option<&Kubelet> {
        self.kubelet.as_ref()
    }

    /// Stops the runner's processes and the kubelet's pods (gracefully), then the server.
    pub async fn shutdown(mut self) {
        if let Some(kubelet) = self.kubelet.take() {
            kubelet.shutdown().await;
        }
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl std::fmt::Debug for DevCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of debug output.
        f.debug_struct("DevCluster")
            .field("base_url", &self.base_url)
            .field("kubeconfig", &self.kubeconfig)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for DevCluster {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = &self.server {
            server.abort();
        }
        self.gc.abort();
    }
}

fn seed(store: &store::Store) {
    store.write(|st| {
        let Some(rt) = st.registry.get("", "namespaces") else {
            return;
        };
        let opts = ops::WriteOptions {
            manager: "devcluster".into(),
            ..ops::WriteOptions::default()
        };
        for ns in INITIAL_NAMESPACES {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let _ = ops::create(st, &rt, "v1", None, body, &opts);
        }
    });
}

fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca_pem: Option<&str>,
    token: Option<&str>,
) -> Result<(), StartError> {
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] = json!(base64::engine::general_purpose::STANDARD.encode(ca));
    }
    let user = token.map_or_else(|| json!({}), |t| json!({"token": t}));
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "devcluster", "cluster": cluster}],
        "users": [{"name": "devcluster", "user": user}],
        "contexts": [{"name": "devcluster", "context": {"cluster": "devcluster", "user": "devcluster", "namespace": "default"}}],
        "current-context": "devcluster",
        "preferences": {},
    });
    let yaml = serde_saphyr::to_string(&doc)
        .map_err(|e| StartError::Tls(format!("cannot render the kubeconfig: {e}")))?;
    let file_err = |source| StartError::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(file_err)?;
    }
    // The kubeconfig holds the token: owner-only.
    tls::write_private(path, &yaml)
}

async fn client_config(kubeconfig: &Path) -> Result<kube::Config, StartError> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(StartError::Kubeconfig)?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(StartError::Kubeconfig)
}
