//! Our built binaries as real processes: where they are, a free loopback port for their admin
//! listener, their log, and their `/metrics` page.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result};
use devcluster::DevCluster;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::TestRegistry;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The path of a built binary of this workspace (debug profile).
///
/// # Panics
/// When the binary has not been built: the message says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`; `cargo xtask test` does)",
        path.display()
    );
    path
}

/// `127.0.0.1:PORT`, free at the moment.
///
/// # Errors
/// When no loopback port can be bound.
pub fn free_address() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}

/// The resident set (`VmRSS`) of process `pid`, in bytes.
///
/// # Errors
/// When `/proc/<pid>/status` cannot be read or has no `VmRSS` line.
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/{pid}/status"))
}

/// The median of `values` (the mean of the middle two for an even count; 0 when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

/// The value of the unlabelled sample `name` in a Prometheus text exposition.
pub fn metric(exposition: &str, name: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// One of our binaries running with its own admin port; killed when dropped.
#[derive(Debug)]
pub struct BinaryProcess {
    child: Child,
    /// Its stderr; appended to, so that successive processes of one scenario can share it.
    pub log: PathBuf,
    /// Its admin listener (`/metrics`, `/healthz`).
    pub admin_addr: String,
}

impl BinaryProcess {
    /// Starts `binary args… --admin-addr=<free port>`, stderr appended to `log`, with `env` added
    /// to the inherited environment.
    ///
    /// # Errors
    /// When the log cannot be opened or the process cannot start.
    pub fn spawn(binary: &Path, args: &[String], env: &[(&str, &str)], log: &Path) -> Result<Self> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let admin_addr = free_address()?;
        let child = Command::new(binary)
            .args(args)
            .arg(format!("--admin-addr={admin_addr}"))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            log: log.to_owned(),
            admin_addr,
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (what a kubelet sends to stop a pod) and waits up to 30 s for it to exit;
    /// how it ended, or `None` if it is still running.
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn terminate(&mut self) -> Result<Option<std::process::ExitStatus>> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill -TERM")?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(None)
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// How it ended, once it has.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the admin port: the whole HTTP/1.0 response (status line, headers, body).
    ///
    /// # Errors
    /// When the admin port does not answer.
    pub async fn admin_get(&self, path: &str) -> Result<String> {
        let mut stream = tokio::net::TcpStream::connect(&self.admin_addr)
            .await
            .with_context(|| format!("connecting to the admin port {}", self.admin_addr))?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.admin_addr).as_bytes())
            .await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        Ok(out)
    }

    /// Its `/metrics` page.
    ///
    /// # Errors
    /// When the admin port does not answer.
    pub async fn metrics(&self) -> Result<String> {
        self.admin_get("/metrics").await
    }
}

impl Drop for BinaryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The log every [`OperatorProcess`] of `cluster` appends to.
pub fn operator_log(cluster: &DevCluster) -> PathBuf {
    cluster.state_dir().join("operator/hypershift-operator.log")
}

/// A hypershift-operator process against a devcluster, trusting the registry's CA.
#[derive(Debug)]
pub struct OperatorProcess(pub BinaryProcess);

impl std::ops::Deref for OperatorProcess {
    type Target = BinaryProcess;

    fn deref(&self) -> &BinaryProcess {
        &self.0
    }
}

impl std::ops::DerefMut for OperatorProcess {
    fn deref_mut(&mut self) -> &mut BinaryProcess {
        &mut self.0
    }
}

impl OperatorProcess {
    /// Starts `binary run` with the cluster's kubeconfig, the registry's CA, its own admin port
    /// and `extra` flags; its files go under `<state dir>/operator/`.
    ///
    /// # Errors
    /// When the files cannot be written or the process cannot start.
    pub fn spawn(
        binary: &Path,
        cluster: &DevCluster,
        registry: &TestRegistry,
        extra: &[&str],
    ) -> Result<Self> {
        Self::spawn_with_kubeconfig(binary, cluster, cluster.kubeconfig_path(), registry, extra)
    }

    /// [`OperatorProcess::spawn`] with another kubeconfig for the same cluster (for example one
    /// through a [`crate::faults::StallingProxy`], from [`crate::cluster::kubeconfig_via`]).
    ///
    /// # Errors
    /// When the files cannot be written or the process cannot start.
    pub fn spawn_with_kubeconfig(
        binary: &Path,
        cluster: &DevCluster,
        kubeconfig: &Path,
        registry: &TestRegistry,
        extra: &[&str],
    ) -> Result<Self> {
        let dir = cluster.state_dir().join("operator");
        std::fs::create_dir_all(&dir)?;
        let ca = dir.join("registry-ca.pem");
        std::fs::write(&ca, &registry.ca_pem)?;
        let mut args = vec![
            "run".to_owned(),
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--registry-ca-bundle={}", ca.display()),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        BinaryProcess::spawn(binary, &args, &[], &operator_log(cluster)).map(Self)
    }
}
