//! Pod start through the mirror: a control-plane container pulled by its source name
//! (`quay.invalid/…@sha256:…`) through a node's registries.conf from the real registry (TLS +
//! htpasswd) and started by podman + runc, read-only, no capabilities, no network, against the
//! process runtime's start of the same program (the stand-in, as a process) measured in the same
//! run; plus the image sizes. Not criterion: podman runs are whole commands. Prints one
//! `pods_bench key=value…` line for `cargo xtask bench pods`.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a bench: a panic is the failure report, the result line goes to stdout"
)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use hypershift_testkit::containers::Podman;
use hypershift_testkit::images::BaseImages;
use hypershift_testkit::{ImageBlob, SyntheticRelease, TestRegistry, median};

const COLD_RUNS: usize = 5;
const WARM_RUNS: usize = 5;
const PROCESS_RUNS: usize = 20;
/// The component whose init container is started: the kube-apiserver's `render` (a one-shot).
const COMPONENT: &str = "cluster-config-api";

fn node(dir: &std::path::Path, registry: &TestRegistry, store: &str) -> Podman {
    let conf =
        hypershift_mirrors::registries_conf::render(&SyntheticRelease::management_mirrors(&registry.host));
    Podman::node(dir, store, registry, &conf).unwrap()
}

fn start(runtime: &Podman, image: &str) {
    let out = runtime
        .run(&[
            "run".into(),
            "--rm".into(),
            "--read-only".into(),
            "--network=none".into(),
            "--cap-drop=ALL".into(),
            r#"--entrypoint=["/usr/bin/render"]"#.into(),
            image.into(),
        ])
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Bytes a registry stores for an image: its manifest, config and layers.
fn pushed_bytes(image: &ImageBlob) -> usize {
    image.manifest.len() + image.config.len() + image.layers.iter().map(|l| l.data.len()).sum::<usize>()
}

#[allow(clippy::cast_precision_loss, reason = "sizes in MiB")]
fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    hypershift_releaseinfo::install_crypto_provider();
    let base = BaseImages::load().unwrap();
    let release = SyntheticRelease::runnable("4.99.0", &base).unwrap();
    let registry = TestRegistry::start();
    release.push(&registry).await.unwrap();
    let image = release.component_source(COMPONENT);
    let dir = tempfile::tempdir().unwrap();

    let mut cold = Vec::new();
    for run in 0..COLD_RUNS {
        // A fresh node each time: nothing in its store.
        let runtime = node(dir.path(), &registry, &format!("cold-{run}"));
        let t = Instant::now();
        let out = runtime.pull(&image).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        start(&runtime, &image);
        cold.push(ms_since(t));
    }
    let runtime = node(dir.path(), &registry, "cold-0");
    let mut warm = Vec::new();
    for _ in 0..WARM_RUNS {
        let t = Instant::now();
        start(&runtime, &image);
        warm.push(ms_since(t));
    }
    // The process runtime: the same program started as a process under the same command name.
    let link = dir.path().join("render");
    std::os::unix::fs::symlink(
        hypershift_testkit::workspace_root().join("target/release/standin"),
        &link,
    )
    .unwrap();
    let mut process = Vec::new();
    for _ in 0..PROCESS_RUNS {
        let t = Instant::now();
        let out = Command::new(&link).output().unwrap();
        assert!(out.status.success());
        process.push(ms_since(t));
    }
    let size = |image: &str| -> usize {
        let out = runtime
            .run(&[
                "image".into(),
                "inspect".into(),
                "--format={{.Size}}".into(),
                image.into(),
            ])
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_default()
    };
    let hypershift = release.component_source("hypershift");
    let pulled = runtime.pull(&hypershift).unwrap();
    assert!(pulled.status.success());
    // Every blob of the release once, as the registry stores it.
    let mut blobs = BTreeSet::new();
    let mut release_bytes = 0;
    for image in release
        .components
        .values()
        .chain(std::iter::once(&release.release))
    {
        for (digest, len) in image
            .layers
            .iter()
            .map(|l| (l.digest.clone(), l.data.len()))
            .chain([
                (image.config_digest.clone(), image.config.len()),
                (image.digest.clone(), image.manifest.len()),
            ])
        {
            if blobs.insert(digest) {
                release_bytes += len;
            }
        }
    }
    println!(
        "pods_bench cold_median_ms={:.1} cold_max_ms={:.1} warm_median_ms={:.1} process_median_ms={:.2} cold_runs={COLD_RUNS} warm_runs={WARM_RUNS} process_runs={PROCESS_RUNS} hypershift_mib={:.1} hypershift_pushed_mib={:.1} standin_component_mib={:.1} standin_component_pushed_mib={:.1} release_pushed_mib={:.1} release_images={}",
        median(cold.clone()),
        cold.iter().copied().fold(0.0, f64::max),
        median(warm),
        median(process),
        mib(size(&hypershift)),
        mib(pushed_bytes(&release.components["hypershift"])),
        mib(size(&image)),
        mib(pushed_bytes(&release.components[COMPONENT])),
        mib(release_bytes),
        release.components.len() + 1,
    );
}
