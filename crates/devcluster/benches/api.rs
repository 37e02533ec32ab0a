//! devcluster performance sanity: 10,000 objects listed and watched through kube-rs over TLS,
//! against an in-process baseline of the encode/decode work any client must pay anyway.
//!
//! Writes a Markdown section to `$DEVCLUSTER_BENCH_OUT` (default
//! `target/devcluster-bench.md`); `cargo xtask bench` puts it into `docs/benchmarks.md`.
//! Traffic stays on 127.0.0.1.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use devcluster::{DevCluster, DevClusterOptions};
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, ObjectList, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const OBJECTS: usize = 10_000;
const LIST_RUNS: usize = 15;
const WATCHERS: usize = 50;
const UPDATES: usize = 1_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A ConfigMap about the size of the Secrets/ConfigMaps the operators render (~1 KiB).
fn object(i: usize) -> ConfigMap {
    let data: serde_json::Map<String, serde_json::Value> = (0..8)
        .map(|k| (format!("key-{k}"), json!(format!("{i:08}-{}", "x".repeat(100)))))
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": format!("object-{i:05}"), "labels": {"app.kubernetes.io/managed-by": "bench", "shard": (i % 10).to_string()}},
        "data": data,
    }))
    .expect("a ConfigMap")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cluster = DevCluster::start(DevClusterOptions::default()).await?;
    let client = cluster.client();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "bench"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "bench");
    let create_time = create_objects(&api).await?;
    let lists = list_times(&api).await?;
    let mut fanout = Vec::new();
    for watchers in [1, WATCHERS] {
        fanout.push(watch_fanout(&api, watchers).await?);
    }
    cluster.shutdown().await;
    let out = std::env::var_os("DEVCLUSTER_BENCH_OUT").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/devcluster-bench.md"),
        std::path::PathBuf::from,
    );
    std::fs::write(&out, report(create_time, lists, &fanout))?;
    Ok(())
}

/// Creates 10,000 objects, 16 requests in flight.
async fn create_objects(api: &Api<ConfigMap>) -> anyhow::Result<Duration> {
    let started = Instant::now();
    futures::stream::iter((0..OBJECTS).map(|i| {
        let api = api.clone();
        async move { api.create(&PostParams::default(), &object(i)).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<_>>()
    .await?;
    Ok(started.elapsed())
}

/// Medians of: one full list, a list in pages of 500 (as kube-rs' watcher does), and the
/// baseline (JSON encode + decode of the same list in process: no HTTP, TLS or server).
async fn list_times(api: &Api<ConfigMap>) -> anyhow::Result<(Duration, Duration, Duration)> {
    let mut full = Vec::new();
    let mut list: Option<ObjectList<ConfigMap>> = None;
    for _ in 0..LIST_RUNS {
        let t = Instant::now();
        let l = api.list(&ListParams::default()).await?;
        full.push(t.elapsed());
        assert_eq!(l.items.len(), OBJECTS);
        list = Some(l);
    }
    let mut paged = Vec::new();
    for _ in 0..LIST_RUNS {
        let t = Instant::now();
        let mut token: Option<String> = None;
        let mut n = 0;
        loop {
            let mut lp = ListParams::default().limit(500);
            if let Some(tk) = &token {
                lp = lp.continue_token(tk);
            }
            let page = api.list(&lp).await?;
            n += page.items.len();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => token = Some(c),
                None => break,
            }
        }
        paged.push(t.elapsed());
        assert_eq!(n, OBJECTS);
    }
    let list = list.ok_or_else(|| anyhow::anyhow!("no list"))?;
    let mut baseline = Vec::new();
    for _ in 0..LIST_RUNS {
        let t = Instant::now();
        let bytes = serde_json::to_vec(&list)?;
        let back: ObjectList<ConfigMap> = serde_json::from_slice(&bytes)?;
        baseline.push(t.elapsed());
        assert_eq!(back.items.len(), OBJECTS);
    }
    Ok((median(full), median(paged), median(baseline)))
}

/// `watchers` watches from the current version; 1,000 updates one at a time; returns the total
/// time and the p50/p99 of "update request sent → event arrived at a watcher" (what a controller
/// waits between another client's write and its own reaction).
async fn watch_fanout(
    api: &Api<ConfigMap>,
    watchers: usize,
) -> anyhow::Result<(usize, Duration, Duration, Duration)> {
    let rv = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut streams = Vec::new();
    for _ in 0..watchers {
        streams.push(
            api.watch(&WatchParams::default().timeout(290), &rv)
                .await?
                .boxed(),
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let mut tasks = Vec::new();
    for mut s in streams {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = 0;
            while seen < UPDATES {
                match s.try_next().await {
                    Ok(Some(WatchEvent::Modified(o))) => {
                        let i: usize = o
                            .data
                            .as_ref()
                            .and_then(|d| d.get("seq"))
                            // "run:index": each run's writes change the objects (no-op writes send no event).
                            .and_then(|s| s.split(':').nth(1))
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        let _ = tx.send((i, Instant::now()));
                        seen += 1;
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
        }));
    }
    drop(tx);
    let mut sent = Vec::with_capacity(UPDATES);
    let t = Instant::now();
    for i in 0..UPDATES {
        let name = format!("object-{:05}", i % OBJECTS);
        sent.push(Instant::now());
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"seq": format!("{watchers}:{i}")}})),
        )
        .await?;
    }
    let mut latencies = Vec::with_capacity(UPDATES * watchers);
    while let Some((i, at)) = rx.recv().await {
        latencies.push(at.saturating_duration_since(sent[i]));
    }
    let total = t.elapsed();
    for task in tasks {
        task.await?;
    }
    assert_eq!(
        latencies.len(),
        UPDATES * watchers,
        "every watcher got every update"
    );
    Ok((
        watchers,
        total,
        percentile(latencies.clone(), 0.5),
        percentile(latencies, 0.99),
    ))
}

fn report(
    create_time: Duration,
    lists: (Duration, Duration, Duration),
    fanout: &[(usize, Duration, Duration, Duration)],
) -> String {
    let (full_m, paged_m, base_m) = lists;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| 10,000 ConfigMaps (~1 KiB each) in one namespace, kube-rs over TLS | median of {LIST_RUNS} |"
    );
    let _ = writeln!(s, "|---|---|");
    let _ = writeln!(s, "| list, one request | {} |", ms(full_m));
    let _ = writeln!(s, "| list, pages of 500 (20 requests) | {} |", ms(paged_m));
    let _ = writeln!(
        s,
        "| baseline: JSON encode + decode of the same list in process | {} |",
        ms(base_m)
    );
    let _ = writeln!(
        s,
        "\nList over the API costs **{:.1}x** the baseline (one request) and {:.1}x (paged).",
        full_m.as_secs_f64() / base_m.as_secs_f64(),
        paged_m.as_secs_f64() / base_m.as_secs_f64()
    );
    #[allow(clippy::cast_precision_loss)]
    let create_rate = OBJECTS as f64 / create_time.as_secs_f64();
    let _ = writeln!(
        s,
        "Creating the 10,000 objects (16 in flight): {} ({create_rate:.0} objects/s).\n",
        ms(create_time)
    );
    let _ = writeln!(
        s,
        "| watch fan-out, {UPDATES} updates one at a time | events delivered/s | write sent → event at a watcher, p50 | p99 |"
    );
    let _ = writeln!(s, "|---|---|---|---|");
    for (w, total, p50, p99) in fanout {
        #[allow(clippy::cast_precision_loss)]
        let rate = (UPDATES * w) as f64 / total.as_secs_f64();
        let _ = writeln!(
            s,
            "| {w} watcher{} | {rate:.0} | {} | {} |",
            if *w == 1 { "" } else { "s" },
            ms(*p50),
            ms(*p99)
        );
    }
    s
}
