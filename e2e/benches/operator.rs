//! The hypershift-operator at scale, as a release-built process against devcluster and the real
//! registry (PRODUCT.md's targets):
//!
//! - **rendering**: HostedClusters created in batches until every one is fully rendered
//!   (`ReconciliationSucceeded=True`: namespace, pull secret, RBAC, HostedControlPlane, both
//!   Deployments, Service, certificates); clusters/s of the batches ending at 50, 500 and 2,000,
//!   and the rate at 2,000 against the rate at 50 (flat per-cluster cost means a ratio near 1);
//! - **mirror-change propagation**: the IDMS edited (a new mirror first) with 1,000
//!   HostedClusters; the time from the edit until each of the 2,000 Deployments carries the new
//!   mirror, over a few edits; p50/p99/max against the same measurement with one HostedCluster
//!   (the baseline, in the same run);
//! - **idle RSS** of the operator process at rest with 0, 1, 1,000 and 2,000 HostedClusters.
//!
//! Not criterion: one run is a long scenario. `cargo xtask bench operator` builds the operator
//! in release, runs this and records the table (written to `$OPERATOR_BENCH_OUT`) in
//! `docs/benchmarks.md`. Everything listens on 127.0.0.1.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "report figures: counts and sizes far below 2^52, percentile ranks of short lists"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use devcluster::{DevCluster, DevClusterOptions};
use e2e::flagship;
use futures::{StreamExt as _, TryStreamExt as _};
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_testkit::faults::refusing_address;
use hypershift_testkit::{OperatorProcess, cluster as kit};
use hypershift_testkit::{SyntheticRelease, TestRegistry};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, ResourceExt as _};

/// Propagation rounds (IDMS edits) with one HostedCluster, the baseline.
const BASELINE_ROUNDS: usize = 5;
/// HostedClusters in the propagation measurement (PRODUCT.md).
const PROPAGATION_CLUSTERS: usize = 1_000;
/// Rounds with `PROPAGATION_CLUSTERS`: fewer than the baseline's, since each one reconciles every
/// HostedCluster and then waits for rest, and the whole run should take a few minutes on 2 cores.
const PROPAGATION_ROUNDS: usize = 3;
/// Rendering batches `(from, to, measured)`: the measured ones end at 50, 500 and 2,000
/// (PRODUCT.md), the others fill in between. The first HostedCluster is created alone before.
const RENDER_BATCHES: [(usize, usize, bool); 5] = [
    (1, 50, true),
    (50, 450, false),
    (450, 500, true),
    (500, 1_950, false),
    (1_950, 2_000, true),
];
/// Flat per-cluster cost: the rate of the last measured batch at least this share of the first's.
const FLAT_BAR: f64 = 0.8;
/// Mirror-change propagation: p99 under this with `PROPAGATION_CLUSTERS`.
const P99_TARGET: Duration = Duration::from_secs(2);
/// Idle RSS of each binary (PRODUCT.md): under 40 MiB, and the HO under 64 MiB at 2,000.
const RSS_TARGET: u64 = 40 << 20;
const RSS_TARGET_AT_SCALE: u64 = 64 << 20;
/// The HostedClusters the last rendering batch ends at, and `RSS_TARGET_AT_SCALE` applies to.
const SCALE: usize = RENDER_BATCHES[RENDER_BATCHES.len() - 1].1;
/// How long each wait may take before the bench fails.
const WITHIN: Duration = Duration::from_mins(5);
/// The operator's Deployments per HostedCluster.
const DEPLOYMENTS: [&str; 2] = ["control-plane-operator", "ignition-server"];

#[tokio::main]
async fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing to parse.
    hypershift_releaseinfo::install_crypto_provider();
    let operator_binary = operator_binary()?;
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release.push(&registry).await.context("pushing the release")?;
    let mut report = Report::default();
    let started = Instant::now();

    eprintln!("operator bench: propagation with 1 and {PROPAGATION_CLUSTERS} HostedClusters");
    {
        let mut env = Env::start(&operator_binary, &registry, &release).await?;
        report.rss.push((0, env.idle_rss().await?));
        env.create_batch(0, 1).await?;
        report.rss.push((1, env.idle_rss().await?));
        let baseline = env.propagation(1, BASELINE_ROUNDS).await?;
        report.propagation.push(baseline);
        let took = env.create_batch(1, PROPAGATION_CLUSTERS).await?;
        eprintln!("  1..{PROPAGATION_CLUSTERS} rendered in {took:?}");
        report.rss.push((PROPAGATION_CLUSTERS, env.idle_rss().await?));
        let at_scale = env.propagation(PROPAGATION_CLUSTERS, PROPAGATION_ROUNDS).await?;
        report.propagation.push(at_scale);
        env.shutdown().await;
    }
    eprintln!("  {:?} so far", started.elapsed());

    eprintln!("operator bench: rendering {SCALE} HostedClusters in batches");
    {
        let mut env = Env::start(&operator_binary, &registry, &release).await?;
        // The first HostedCluster pays for the first release lookup and connections.
        env.create_batch(0, 1).await?;
        for (from, to, measured) in RENDER_BATCHES {
            // Each batch starts from rest: the previous batch's follow-up reconciles are done.
            env.settle().await?;
            let (op0, me0) = (cpu_seconds(env.operator.pid()), cpu_seconds(std::process::id()));
            let r0 = env.reconciles().await?;
            let took = env.create_batch(from, to).await?;
            let batch = Batch {
                from,
                to,
                took,
                operator_cpu: cpu_seconds(env.operator.pid()) - op0,
                other_cpu: cpu_seconds(std::process::id()) - me0,
                reconciles: env.reconciles().await? - r0,
            };
            eprintln!("  {batch:?}");
            if measured {
                report.batches.push(batch);
            }
        }
        report.rss.push((SCALE, env.idle_rss().await?));
        env.shutdown().await;
    }
    report.took = started.elapsed();
    eprintln!("  {:?} in all", report.took);

    let table = report.render();
    std::io::Write::write_all(&mut std::io::stdout(), table.as_bytes())?;
    if let Some(out) = std::env::var_os("OPERATOR_BENCH_OUT") {
        std::fs::write(&out, &table).context("writing $OPERATOR_BENCH_OUT")?;
    }
    Ok(())
}

/// The release-built operator: `$HYPERSHIFT_OPERATOR`, or `target/release/hypershift-operator`.
fn operator_binary() -> Result<PathBuf> {
    let path = std::env::var_os("HYPERSHIFT_OPERATOR").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(
                    || hypershift_testkit::workspace_root().join("target"),
                    PathBuf::from,
                )
                .join("release/hypershift-operator")
        },
        PathBuf::from,
    );
    if !path.is_file() {
        bail!(
            "{} is missing: `cargo build --release -p hypershift-operator` first (`cargo xtask bench operator` does)",
            path.display()
        );
    }
    Ok(path)
}

/// One devcluster with the operator and trackers fed by watches.
struct Env<'a> {
    registry: &'a TestRegistry,
    release: &'a SyntheticRelease,
    cluster: DevCluster,
    client: Client,
    operator: OperatorProcess,
    /// HostedCluster name → when it was first seen rendered.
    rendered: Arc<Mutex<HashMap<String, Instant>>>,
    /// The marker a Deployment must carry, and `namespace/name` → when it was first seen to.
    carried: Arc<Mutex<(String, HashMap<String, Instant>)>>,
    round: usize,
}

impl<'a> Env<'a> {
    async fn start(
        binary: &std::path::Path,
        registry: &'a TestRegistry,
        release: &'a SyntheticRelease,
    ) -> Result<Self> {
        let cluster = DevCluster::start(DevClusterOptions::default()).await?;
        let client = cluster.client();
        flagship::seed(&client, registry).await?;
        // Info-level logs of 500 reconciles would measure the terminal, not the operator.
        let operator = OperatorProcess::spawn(binary, &cluster, registry, &["--log-level=warn"])?;
        let mut env = Self {
            registry,
            release,
            cluster,
            client,
            operator,
            rendered: Arc::default(),
            carried: Arc::default(),
            round: 0,
        };
        env.track();
        // Its admin port answers once it has started.
        let deadline = Instant::now() + WITHIN;
        while env.operator.metrics().await.is_err() {
            env.check("the operator's admin port", deadline)?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(env)
    }

    /// Watches HostedClusters and the operator's Deployments, noting when each reaches the state
    /// measured.
    fn track(&self) {
        let rendered = Arc::clone(&self.rendered);
        let hcs = watcher(
            Api::<HostedCluster>::all(self.client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .applied_objects();
        tokio::spawn(async move {
            let mut hcs = std::pin::pin!(hcs);
            while let Ok(Some(hc)) = hcs.try_next().await {
                let ok = hc.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "ReconciliationSucceeded" && c.status == "True")
                });
                if ok {
                    let mut r = rendered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    r.entry(hc.name_any()).or_insert_with(Instant::now);
                }
            }
        });
        let carried = Arc::clone(&self.carried);
        let deployments = watcher(
            Api::<Deployment>::all(self.client.clone()),
            watcher::Config::default().labels("app.kubernetes.io/managed-by=hypershift-operator"),
        )
        .default_backoff()
        .applied_objects();
        tokio::spawn(async move {
            let mut deployments = std::pin::pin!(deployments);
            while let Ok(Some(d)) = deployments.try_next().await {
                let now = Instant::now();
                let env = serde_json::to_string(&d.spec.as_ref().map(|s| &s.template)).unwrap_or_default();
                let mut c = carried.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if !c.0.is_empty() && env.contains(&c.0) {
                    let key = format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any());
                    c.1.entry(key).or_insert(now);
                }
            }
        });
    }

    /// Creates `hc-<from>`…`hc-<to - 1>` and waits until all are rendered; the time it took.
    async fn create_batch(&mut self, from: usize, to: usize) -> Result<Duration> {
        let names: Vec<String> = (from..to).map(|i| format!("hc-{i:03}")).collect();
        let api = Api::<HostedCluster>::namespaced(self.client.clone(), "clusters");
        let release_image = self.release.source_reference();
        let t = Instant::now();
        futures::stream::iter(names.iter().map(|name| {
            let api = api.clone();
            let yaml = kit::hosted_cluster_yaml(name, &release_image, self.registry);
            async move {
                let hc: HostedCluster = serde_saphyr::from_str(&yaml)?;
                api.create(&PostParams::default(), &hc).await?;
                anyhow::Ok(())
            }
        }))
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
        let rendered = Arc::clone(&self.rendered);
        self.wait(&format!("HostedClusters {from}..{to} rendered"), || {
            let r = rendered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            names.iter().all(|n| r.contains_key(n))
        })
        .await?;
        let took = {
            let r = self
                .rendered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            names
                .iter()
                .filter_map(|n| r.get(n))
                .max()
                .map_or(Duration::ZERO, |last| *last - t)
        };
        // Every one really has both Deployments.
        let deployments = Api::<Deployment>::all(self.client.clone())
            .list(
                &kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=hypershift-operator"),
            )
            .await?;
        if deployments.items.len() != to * DEPLOYMENTS.len() {
            bail!(
                "{} Deployments for {to} HostedClusters, expected {}",
                deployments.items.len(),
                to * DEPLOYMENTS.len()
            );
        }
        Ok(took)
    }

    /// `rounds` IDMS edits with `clusters` HostedClusters: each Deployment's latency from the
    /// edit until it carries the new mirror, and what the edits cost until the operator was at
    /// rest again.
    async fn propagation(&mut self, clusters: usize, rounds: usize) -> Result<Propagation> {
        let dead = refusing_address();
        let mut latencies = Vec::new();
        let (op0, me0) = (cpu_seconds(self.operator.pid()), cpu_seconds(std::process::id()));
        let r0 = self.reconciles().await?;
        for _ in 0..rounds {
            self.round += 1;
            let mirror = format!("{dead}/bench-round-{}/release-images", self.round);
            {
                let mut c = self
                    .carried
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                c.0.clone_from(&mirror);
                c.1.clear();
            }
            let t = Instant::now();
            flagship::put_mirror_first(&self.client, self.registry, &mirror).await?;
            let carried = Arc::clone(&self.carried);
            let expected = clusters * DEPLOYMENTS.len();
            self.wait(&format!("{expected} Deployments to carry {mirror}"), || {
                carried
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .1
                    .len()
                    >= expected
            })
            .await?;
            latencies.extend(self.carried_since(t));
            // The next edit starts from rest.
            self.settle().await?;
        }
        Ok(Propagation {
            clusters,
            rounds,
            latencies,
            operator_cpu: cpu_seconds(self.operator.pid()) - op0,
            other_cpu: cpu_seconds(std::process::id()) - me0,
            reconciles: self.reconciles().await? - r0,
        })
    }

    /// Each Deployment's latency from `t` until it carried the current marker.
    fn carried_since(&self, t: Instant) -> Vec<Duration> {
        let c = self
            .carried
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.1.values().map(|at| *at - t).collect()
    }

    /// Waits until the operator has started no reconcile for a second.
    async fn settle(&mut self) -> Result<()> {
        let deadline = Instant::now() + WITHIN;
        let mut last = self.reconciles().await?;
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < Duration::from_secs(1) {
            self.check("the operator to come to rest", deadline)?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.reconciles().await?;
            if now.to_bits() != last.to_bits() {
                last = now;
                quiet_since = Instant::now();
            }
        }
        Ok(())
    }

    /// The HostedCluster reconciles the operator has started.
    async fn reconciles(&self) -> Result<f64> {
        let metrics = self.operator.metrics().await?;
        // Absent until the first reconcile.
        Ok(hypershift_testkit::metric(&metrics, "hostedcluster_reconcile_runs_total").unwrap_or(0.0))
    }

    /// The operator's resident set after it has been idle for a few seconds.
    async fn idle_rss(&mut self) -> Result<u64> {
        self.settle().await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        if !self.operator.running() {
            bail!("the operator exited; its log:\n{}", self.operator.log_text());
        }
        hypershift_testkit::rss_bytes(self.operator.pid())
    }

    async fn wait(&mut self, what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + WITHIN;
        while !done() {
            self.check(what, deadline)?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Fails when the operator has exited or `deadline` has passed while waiting for `what`.
    fn check(&mut self, what: &str, deadline: Instant) -> Result<()> {
        if !self.operator.running() {
            bail!(
                "the operator exited while waiting for {what}; its log:\n{}",
                self.operator.log_text()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for {what}; the operator's log:\n{}",
                self.operator.log_text()
            );
        }
        Ok(())
    }

    async fn shutdown(self) {
        drop(self.operator);
        self.cluster.shutdown().await;
    }
}

#[derive(Default)]
struct Report {
    /// HostedClusters and the operator's idle RSS with them.
    rss: Vec<(usize, u64)>,
    /// The first is the one-cluster baseline.
    propagation: Vec<Propagation>,
    batches: Vec<Batch>,
    /// The whole scenario, both devclusters included.
    took: Duration,
}

/// IDMS edits with a number of HostedClusters.
struct Propagation {
    clusters: usize,
    /// IDMS edits.
    rounds: usize,
    /// Every Deployment's time from an edit until it carried the new mirror, over all edits.
    latencies: Vec<Duration>,
    /// CPU seconds of the operator over all edits, each until it was at rest again.
    operator_cpu: f64,
    /// The same for this process (devcluster and the bench's watches).
    other_cpu: f64,
    reconciles: f64,
}

impl Propagation {
    /// HostedClusters times edits: the per-cluster, per-edit divisor.
    fn cluster_edits(&self) -> f64 {
        (self.clusters * self.rounds) as f64
    }
}

/// One batch of HostedClusters created and rendered.
#[derive(Debug)]
struct Batch {
    from: usize,
    to: usize,
    took: Duration,
    /// CPU seconds of the operator during the batch.
    operator_cpu: f64,
    /// CPU seconds of this process (devcluster and the bench's watches).
    other_cpu: f64,
    reconciles: f64,
}

impl Batch {
    fn clusters(&self) -> f64 {
        (self.to - self.from) as f64
    }

    fn rate(&self) -> f64 {
        self.clusters() / self.took.as_secs_f64()
    }
}

impl Report {
    fn render(&self) -> String {
        let mut s = String::new();
        self.render_batches(&mut s);
        self.render_propagation(&mut s);
        self.render_rss(&mut s);
        let _ = writeln!(
            s,
            "\nThe whole run (two devclusters, {} HostedClusters created) took {:.0} s.",
            PROPAGATION_CLUSTERS + SCALE,
            self.took.as_secs_f64()
        );
        s
    }

    fn render_batches(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "**Rendering** (with N HostedClusters already rendered, the next ones are created at once; the batch ends when the last reports `ReconciliationSucceeded=True`, i.e. namespace, pull secret, RBAC, HostedControlPlane, both Deployments, Service and certificates applied):\n"
        );
        let _ = writeln!(
            s,
            "| HostedClusters after the batch | created in the batch | took | clusters/s | operator CPU per cluster | devcluster and bench watches, CPU per cluster | reconciles per cluster |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for b in &self.batches {
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} ms | {:.0} | {:.1} ms | {:.1} ms | {:.1} |",
                b.to,
                b.to - b.from,
                b.took.as_secs_f64() * 1e3,
                b.rate(),
                b.operator_cpu * 1e3 / b.clusters(),
                b.other_cpu * 1e3 / b.clusters(),
                b.reconciles / b.clusters()
            );
        }
        if let (Some(first), Some(last)) = (self.batches.first(), self.batches.last()) {
            let ratio = last.rate() / first.rate();
            let verdict = if ratio >= FLAT_BAR {
                "flat: this meets the target"
            } else {
                "NOT flat: this MISSES the target"
            };
            let _ = writeln!(
                s,
                "\nRate at {} against the rate at {} (the baseline): **{ratio:.2}×**; per-cluster cost is {verdict} (the bar: at least {FLAT_BAR}×).\n",
                last.to, first.to
            );
        }
    }

    fn render_propagation(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "**Mirror-change propagation** (each IDMS edit puts a new mirror first; each Deployment's time from the edit until it carries the new mirror):\n"
        );
        let _ = writeln!(
            s,
            "| HostedClusters | IDMS edits | Deployments measured | p50 | p99 | max | operator CPU per cluster and edit | devcluster and bench watches, CPU per cluster and edit | reconciles per cluster and edit |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for (i, p) in self.propagation.iter().enumerate() {
            let l = &p.latencies;
            let _ = writeln!(
                s,
                "| {}{} | {} | {} | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} |",
                p.clusters,
                if i == 0 { " (baseline)" } else { "" },
                p.rounds,
                l.len(),
                ms(percentile(l, 0.50)),
                ms(percentile(l, 0.99)),
                ms(percentile(l, 1.0)),
                p.operator_cpu * 1e3 / p.cluster_edits(),
                p.other_cpu * 1e3 / p.cluster_edits(),
                p.reconciles / p.cluster_edits()
            );
        }
        if let (Some(baseline), Some(at_scale)) = (self.propagation.first(), self.propagation.last()) {
            let p99 = percentile(&at_scale.latencies, 0.99);
            let verdict = if p99 < P99_TARGET { "meets" } else { "MISSES" };
            let _ = writeln!(
                s,
                "\np99 with {} HostedClusters: **{}**, {:.1}× the one-cluster baseline; this {verdict} the target of under {} s.\n",
                at_scale.clusters,
                ms(p99),
                p99.as_secs_f64() / percentile(&baseline.latencies, 0.99).as_secs_f64(),
                P99_TARGET.as_secs()
            );
        }
    }

    fn render_rss(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "**Idle RSS** of the operator (at rest: no reconcile started for the last 4 s):\n"
        );
        let _ = writeln!(s, "| HostedClusters | RSS | bound | |");
        let _ = writeln!(s, "|---|---|---|---|");
        let mut missed = Vec::new();
        for (n, rss) in &self.rss {
            let bound = if *n >= SCALE {
                RSS_TARGET_AT_SCALE
            } else {
                RSS_TARGET
            };
            let verdict = if *rss < bound { "meets" } else { "MISSES" };
            if *rss >= bound {
                missed.push(*n);
            }
            let _ = writeln!(s, "| {n} | {} | {} | {verdict} |", mib(*rss), mib(bound));
        }
        let verdict = if missed.is_empty() {
            "this meets the target".to_owned()
        } else {
            format!(
                "this MISSES the target with {} HostedClusters",
                missed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            s,
            "\nIdle RSS under {} MiB, and under {} MiB at {SCALE} HostedClusters: {verdict}.",
            RSS_TARGET >> 20,
            RSS_TARGET_AT_SCALE >> 20
        );
        let level = |n: usize| self.rss.iter().find(|(m, _)| *m == n).map(|(_, r)| *r);
        // Both in the propagation run's process, so the difference is the HostedClusters'.
        if let (Some(one), Some(many)) = (level(1), level(PROPAGATION_CLUSTERS)) {
            let per_cluster = many.saturating_sub(one) as f64 / (PROPAGATION_CLUSTERS - 1) as f64 / 1024.0;
            let _ = writeln!(
                s,
                "Each HostedCluster beyond the first adds about {per_cluster:.0} KiB (1 to {PROPAGATION_CLUSTERS}, one process)."
            );
        }
    }
}

/// CPU time (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat(5); here 0-based after the command: 11, 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
