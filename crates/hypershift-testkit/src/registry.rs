//! The distribution registry on 127.0.0.1 with TLS and htpasswd auth: as a child process (the
//! fast tiers), or, with the `testcontainers` feature, as a container of the `test-registry`
//! image `cargo xtask images` builds from the same Debian binary, started by testcontainers
//! through podman's Docker-compatible socket (`DOCKER_HOST`; `cargo xtask test` serves one).

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::faults::refusing_address;
use crate::tls::TestCa;
use hypershift_releaseinfo::{OciConfig, PullSecret};

/// Where Debian's `docker-registry` package puts the binary.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry; stopped (and its storage removed) when dropped.
#[derive(Debug)]
pub struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// The CA that signed its serving certificate (PEM).
    pub ca_pem: String,
    pub username: String,
    pub password: String,
    /// The CA, kept to sign a [`TestRegistry::sibling`]'s certificate.
    ca: std::sync::Arc<TestCa>,
    dir: PathBuf,
    server: Server,
}

/// How the registry runs.
#[derive(Debug)]
enum Server {
    Process(Child),
    /// Removed when dropped (testcontainers).
    #[cfg(feature = "testcontainers")]
    Container(Box<testcontainers::ContainerAsync<testcontainers::GenericImage>>),
}

/// The container image of [`TestRegistry::start_in_container`] (`cargo xtask images` builds it).
#[cfg(feature = "testcontainers")]
pub const REGISTRY_IMAGE: (&str, &str) = ("localhost/test-registry", "dev");

impl TestRegistry {
    /// Starts a registry with TLS and basic auth.
    ///
    /// # Panics
    /// When `/usr/bin/docker-registry` is missing (the message says how to install it) or the
    /// registry does not come up.
    pub fn start() -> Self {
        Self::start_signed_by(std::sync::Arc::new(TestCa::new("hypershift-rs test registry CA")))
    }

    /// Another registry of the same site: its serving certificate from this one's CA (so what
    /// trusts one trusts both), its own port, storage and credentials entry.
    ///
    /// # Panics
    /// As [`TestRegistry::start`].
    #[must_use]
    pub fn sibling(&self) -> Self {
        Self::start_signed_by(std::sync::Arc::clone(&self.ca))
    }

    fn running(
        host: String,
        ca: std::sync::Arc<TestCa>,
        (username, password): (String, String),
        dir: PathBuf,
        server: Server,
    ) -> Self {
        Self {
            host,
            ca_pem: ca.ca_pem.clone(),
            ca,
            username,
            password,
            dir,
            server,
        }
    }

    /// A fresh directory with the serving key pair `ca` signs, the htpasswd file and the storage
    /// directory; the credentials.
    fn prepare(ca: &TestCa) -> (PathBuf, String, String) {
        let dir = unique_dir();
        std::fs::create_dir_all(dir.join("data")).expect("create the registry's directory");
        let (cert, key) = ca.issue(&["127.0.0.1", "localhost"]);
        std::fs::write(dir.join("tls.crt"), cert).expect("write the certificate");
        std::fs::write(dir.join("tls.key"), key).expect("write the key");
        let (username, password) = ("mirror-user".to_owned(), format!("pw-{}", std::process::id()));
        // The registry only accepts bcrypt entries; a low cost keeps tests fast.
        let hash = bcrypt::hash(&password, 4).expect("bcrypt hash");
        std::fs::write(dir.join("htpasswd"), format!("{username}:{hash}\n")).expect("write htpasswd");
        (dir, username, password)
    }

    fn start_signed_by(ca: std::sync::Arc<TestCa>) -> Self {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: the registry tests need Debian's docker-registry package \
             (run `cargo xtask setup` as root, or `apt-get install -y docker-registry`)"
        );
        let (dir, username, password) = Self::prepare(&ca);

        // A free port can be taken between choosing and binding it: try a few.
        for _ in 0..5 {
            let host = refusing_address();
            std::fs::write(dir.join("config.yml"), config(&dir, &host)).expect("write the registry config");
            let log = std::fs::File::create(dir.join("registry.log")).expect("create the registry log");
            let mut child = Command::new(REGISTRY_BINARY)
                .arg("serve")
                .arg(dir.join("config.yml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            if wait_ready(&host, &mut child) {
                return Self::running(host, ca, (username, password), dir, Server::Process(child));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut log = String::new();
        let _ = std::fs::File::open(dir.join("registry.log")).and_then(|mut f| f.read_to_string(&mut log));
        panic!("docker-registry did not start on 127.0.0.1; its log:\n{log}");
    }

    /// [`TestRegistry::start`], the registry running as a container of [`REGISTRY_IMAGE`]
    /// started by testcontainers through the engine `DOCKER_HOST` names (podman's
    /// Docker-compatible socket here), on the host's network so it listens on 127.0.0.1 like the
    /// process; its directory is bind-mounted at the same path, and it runs as the image's
    /// non-root user.
    ///
    /// # Errors
    /// When no engine answers at `DOCKER_HOST` (the message says how to serve one) or the
    /// container does not start.
    #[cfg(feature = "testcontainers")]
    pub async fn start_in_container() -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        use testcontainers::core::{Mount, WaitFor};
        use testcontainers::runners::AsyncRunner as _;
        use testcontainers::{GenericImage, ImageExt as _};
        let Some(docker_host) = std::env::var_os("DOCKER_HOST") else {
            anyhow::bail!(
                "DOCKER_HOST is unset: the registry container needs an engine; `cargo xtask test` serves podman's \
                 Docker-compatible socket and sets it (by hand: `podman system service --time=0 unix:///PATH/podman.sock` \
                 with the project's store, docs/testing.md)"
            );
        };
        let ca = std::sync::Arc::new(TestCa::new("hypershift-rs test registry CA"));
        let (dir, username, password) = Self::prepare(&ca);
        // The image's user (65532) reads the files and writes the storage.
        for (path, mode) in [
            (dir.clone(), 0o755),
            (dir.join("data"), 0o777),
            (dir.join("tls.key"), 0o644),
            (dir.join("tls.crt"), 0o644),
            (dir.join("htpasswd"), 0o644),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
        let host = refusing_address();
        std::fs::write(dir.join("config.yml"), config(&dir, &host))?;
        let path = dir.display().to_string();
        let container = GenericImage::new(REGISTRY_IMAGE.0, REGISTRY_IMAGE.1)
            // Ready when it accepts connections, as the process (it logs nothing at `warn`).
            .with_wait_for(WaitFor::Nothing)
            // The host's network as a network *mode*: testcontainers' `with_network` would try to
            // create a network named `host`, which podman (unlike Docker) does not list.
            .with_host_config_modifier(|c| c.network_mode = Some("host".to_owned()))
            .with_mount(Mount::bind_mount(path.clone(), path.clone()))
            .with_cmd(["serve".to_owned(), format!("{path}/config.yml")])
            .start()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "starting the {}:{} container through {}: {e} (`cargo xtask images` builds the image)",
                    REGISTRY_IMAGE.0,
                    REGISTRY_IMAGE.1,
                    docker_host.to_string_lossy()
                )
            })?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&host).await.is_err() {
            if Instant::now() > deadline {
                anyhow::bail!(
                    "the registry container {} does not listen on {host} within 20 s",
                    container.id()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self::running(
            host,
            ca,
            (username, password),
            dir,
            Server::Container(Box::new(container)),
        ))
    }

    /// The container's id, when it runs as one.
    pub fn container_id(&self) -> Option<&str> {
        match &self.server {
            Server::Process(_) => None,
            #[cfg(feature = "testcontainers")]
            Server::Container(c) => Some(c.id()),
        }
    }

    /// A `.dockerconfigjson` holding this registry's credentials.
    pub fn pull_secret_json(&self) -> Vec<u8> {
        PullSecret::for_registry(&self.host, &self.username, &self.password)
    }

    /// The parsed pull secret.
    ///
    /// # Panics
    /// Never: the document is built here.
    pub fn pull_secret(&self) -> PullSecret {
        PullSecret::parse(&self.pull_secret_json()).expect("a pull secret we built")
    }

    /// OCI client settings that trust this registry's CA.
    pub fn oci_config(&self) -> OciConfig {
        OciConfig {
            extra_ca_pem: Some(self.ca_pem.clone().into_bytes()),
            ..OciConfig::default()
        }
    }

    /// An oci-client for pushing, trusting this registry's CA.
    pub fn push_client(&self) -> oci_client::Client {
        use oci_client::client::{Certificate, CertificateEncoding, ClientConfig};
        oci_client::Client::new(ClientConfig {
            extra_root_certificates: vec![Certificate {
                encoding: CertificateEncoding::Pem,
                data: self.ca_pem.clone().into_bytes(),
            }],
            ..ClientConfig::default()
        })
    }

    /// Credentials for pushing.
    pub fn auth(&self) -> oci_client::secrets::RegistryAuth {
        oci_client::secrets::RegistryAuth::Basic(self.username.clone(), self.password.clone())
    }

    /// The registry's own log (for failure dumps).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    #[allow(
        irrefutable_let_patterns,
        reason = "without the testcontainers feature every registry is a process"
    )]
    fn drop(&mut self) {
        if let Server::Process(child) = &mut self.server {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A container is removed by its own drop, after this.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(dir: &Path, host: &str) -> String {
    let d = dir.display();
    format!(
        "version: 0.1\n\
         log: {{level: warn, accesslog: {{disabled: true}}}}\n\
         storage:\n  filesystem: {{rootdirectory: {d}/data}}\n  delete: {{enabled: true}}\n\
         http:\n  addr: {host}\n  secret: hypershift-rs-test\n  tls: {{certificate: {d}/tls.crt, key: {d}/tls.key}}\n\
         auth:\n  htpasswd: {{realm: hypershift-rs-test, path: {d}/htpasswd}}\n"
    )
}

/// Waits until the registry accepts connections (it serves as soon as it listens), or exits.
fn wait_ready(host: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect(host).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn unique_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "hypershift-rs-registry-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}
