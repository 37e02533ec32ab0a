//! Release lookups through mirrors when 2 of 3 are dead (one refusing connections, one accepting
//! and never answering), against a lookup from a healthy single mirror and a HyperShift-style
//! sequential baseline (each candidate in turn, 15 s probe timeout, nothing remembered), all in
//! one run against the real registry on 127.0.0.1.
//!
//! Each lookup reads a different release (distinct digests), so the result cache never answers;
//! what carries over between lookups is only the knowledge that a registry is down.
//! Prints one `mirror_lookup key=value…` line that `cargo xtask bench` records.

use std::io::Write as _;
use std::time::{Duration, Instant};

use hypershift_mirrors::{ImageRef, ManagementMirrors, MirrorSetBuilder, RegistryOverrides, parse_documents};
use hypershift_releaseinfo::{OciConfig, OciRegistry, ProviderConfig, ReleaseProvider, standard};
use hypershift_testkit::faults::{BlackHole, refusing_address};
use hypershift_testkit::{SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestRegistry};

const LOOKUPS: usize = 15;
const BASELINE_LOOKUPS: usize = 3;
const HYPERSHIFT_PROBE_TIMEOUT: Duration = Duration::from_secs(15);

fn mirrors(release_mirrors: &[String], component_mirrors: &[String]) -> ManagementMirrors {
    let list = |m: &[String]| {
        m.iter()
            .map(|x| format!("\n    - {x}"))
            .collect::<Vec<_>>()
            .concat()
    };
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: bench\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors:{}\n    mirrorSourcePolicy: NeverContactSource\n  - source: {SOURCE_COMPONENTS}\n    mirrors:{}\n    mirrorSourcePolicy: NeverContactSource\n",
        list(release_mirrors),
        list(component_mirrors)
    );
    let mut b = MirrorSetBuilder::new();
    for d in parse_documents(&yaml).expect("bench YAML") {
        b.add_document(&d).expect("bench mirrors");
    }
    b.build()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let releases: Vec<SyntheticRelease> = (0..LOOKUPS)
        .map(|i| SyntheticRelease::new(&format!("4.98.{i}")))
        .collect();
    for r in &releases {
        r.push(&registry).await.expect("push a release");
    }
    let secret = registry.pull_secret();
    let refs: Vec<ImageRef> = releases
        .iter()
        .map(|r| ImageRef::parse(&r.source_reference()).expect("valid"))
        .collect();
    let healthy_release = SyntheticRelease::mirror_release_repo(&registry.host);
    let healthy_components = SyntheticRelease::mirror_components_repo(&registry.host);

    // 1. One healthy mirror.
    let p = standard(
        ProviderConfig {
            oci: registry.oci_config(),
            ..ProviderConfig::default()
        },
        RegistryOverrides::new(),
        mirrors(
            std::slice::from_ref(&healthy_release),
            std::slice::from_ref(&healthy_components),
        ),
    );
    let mut healthy = Vec::new();
    for r in &refs {
        let t = Instant::now();
        p.lookup(r, &secret).await.expect("healthy lookup");
        healthy.push(ms(t.elapsed()));
    }

    // 2. Refusing, black hole, healthy: our provider with its default timeouts.
    let hole = BlackHole::start().await;
    let refused = refusing_address();
    let dead_first = |healthy: &str, suffix: &str| {
        vec![
            format!("{refused}/{suffix}"),
            format!("{}/{suffix}", hole.addr),
            healthy.to_owned(),
        ]
    };
    let p = standard(
        ProviderConfig {
            oci: registry.oci_config(),
            ..ProviderConfig::default()
        },
        RegistryOverrides::new(),
        mirrors(
            &dead_first(&healthy_release, "openshift/release-images"),
            &dead_first(&healthy_components, "openshift/release"),
        ),
    );
    let mut dead = Vec::new();
    for r in &refs {
        let t = Instant::now();
        let served = p.lookup(r, &secret).await.expect("lookup with dead mirrors");
        assert!(served.pulled_from.starts_with(&registry.host));
        dead.push(ms(t.elapsed()));
    }

    // 3. HyperShift's way: candidates one after another, each probe bounded at 15 s,
    //    nothing remembered between lookups.
    let plain = OciRegistry::new(OciConfig {
        connect_timeout: HYPERSHIFT_PROBE_TIMEOUT,
        read_timeout: HYPERSHIFT_PROBE_TIMEOUT,
        ..registry.oci_config()
    });
    let candidates = dead_first(&healthy_release, "openshift/release-images");
    let mut baseline = Vec::new();
    for (r, release) in refs.iter().zip(&releases).take(BASELINE_LOOKUPS) {
        let t = Instant::now();
        let mut ok = false;
        for c in &candidates {
            let candidate = ImageRef::parse(&format!("{c}@{}", release.digest())).expect("valid");
            if let Ok(Ok(_)) =
                tokio::time::timeout(HYPERSHIFT_PROBE_TIMEOUT, plain.lookup(&candidate, &secret)).await
            {
                ok = true;
                break;
            }
        }
        assert!(ok, "the baseline found the healthy mirror for {r}");
        baseline.push(ms(t.elapsed()));
    }

    let cold = dead[0];
    let warm = median(dead[1..].to_vec());
    let healthy_median = median(healthy);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "mirror_lookup lookups={LOOKUPS} healthy_median_ms={healthy_median:.1} dead_first_ms={cold:.1} dead_after_first_median_ms={warm:.1} dead_median_ms={:.1} baseline_lookups={BASELINE_LOOKUPS} baseline_median_ms={:.1}",
        median(dead.clone()),
        median(baseline),
    )
    .expect("stdout");
}
