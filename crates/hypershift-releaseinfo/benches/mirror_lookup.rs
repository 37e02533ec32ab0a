//! Release lookups through mirrors when 2 of 3 are dead (a black-holed primary that accepts
//! connections and never answers, then one refusing connections, then the healthy mirror),
//! against a lookup from a healthy single mirror and a HyperShift-style sequential baseline
//! (each candidate in turn, 15 s probe timeout, nothing remembered), all in one run against the
//! real registry on 127.0.0.1.
//!
//! The source registry is a counting server on 127.0.0.1 and the rules allow contacting it, so
//! the bench sees any connection to it; while a mirror serves there must be none.
//! Each lookup reads a different release (distinct digests), so the result cache never answers;
//! what carries over between lookups is only the knowledge that a registry is down. First
//! lookups are measured on fresh providers (nothing known about any registry, no connection
//! open), several times, and their median reported.
//! Prints one `mirror_lookup key=value…` line that `cargo xtask bench` records.

use std::io::Write as _;
use std::time::{Duration, Instant};

use hypershift_mirrors::{ImageRef, ManagementMirrors, MirrorSetBuilder, RegistryOverrides, parse_documents};
use hypershift_releaseinfo::{
    MirrorConfig, OciConfig, OciRegistry, ProviderConfig, ReleaseProvider, StandardProvider, standard,
};
use hypershift_testkit::faults::{BlackHole, CountingServer, refusing_address};
use hypershift_testkit::{SyntheticRelease, TestRegistry};

const LOOKUPS: usize = 15;
/// Fresh providers per scenario whose first lookup is measured.
const FIRSTS: usize = 5;
const BASELINE_LOOKUPS: usize = 3;
const HYPERSHIFT_PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// An IDMS mapping `source` to `mirrors`; contacting the source is allowed.
fn mirrors(source: &str, mirrors: &[String]) -> ManagementMirrors {
    let list = mirrors
        .iter()
        .map(|x| format!("\n    - {x}"))
        .collect::<Vec<_>>()
        .concat();
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: bench\nspec:\n  imageDigestMirrors:\n  - source: {source}\n    mirrors:{list}\n"
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

/// Times one lookup of `image`, which must be served by a mirror on `host`.
async fn timed(
    p: &StandardProvider,
    image: &ImageRef,
    secret: &hypershift_releaseinfo::PullSecret,
    host: &str,
) -> f64 {
    let t = Instant::now();
    let served = p.lookup(image, secret).await.expect("lookup");
    let elapsed = ms(t.elapsed());
    assert!(
        served.via_mirror && served.pulled_from.starts_with(host),
        "{}",
        served.pulled_from
    );
    elapsed
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
    let source = CountingServer::start().await;
    let source_repo = format!("{}/openshift-release-dev/ocp-release", source.addr);
    let refs: Vec<ImageRef> = releases
        .iter()
        .map(|r| ImageRef::parse(&format!("{source_repo}@{}", r.digest())).expect("valid"))
        .collect();
    let healthy_mirror = SyntheticRelease::mirror_release_repo(&registry.host);
    let config = ProviderConfig {
        oci: registry.oci_config(),
        ..ProviderConfig::default()
    };
    let provider = |mirror_list: &[String]| {
        standard(
            config.clone(),
            RegistryOverrides::new(),
            mirrors(&source_repo, mirror_list),
        )
    };

    // 1. One healthy mirror: first lookups on fresh providers, then a run of lookups.
    let healthy_list = [healthy_mirror.clone()];
    let mut healthy_firsts = Vec::new();
    for r in refs.iter().take(FIRSTS) {
        healthy_firsts.push(timed(&provider(&healthy_list), r, &secret, &registry.host).await);
    }
    let p = provider(&healthy_list);
    let mut healthy = Vec::new();
    for r in &refs {
        healthy.push(timed(&p, r, &secret, &registry.host).await);
    }

    // 2. Black hole first, refusing second, healthy third: our provider with its defaults.
    let hole = BlackHole::start().await;
    let refused = refusing_address();
    let dead_list = [
        format!("{}/openshift/release-images", hole.addr),
        format!("{refused}/openshift/release-images"),
        healthy_mirror.clone(),
    ];
    let mut dead_firsts = Vec::new();
    for r in refs.iter().take(FIRSTS) {
        dead_firsts.push(timed(&provider(&dead_list), r, &secret, &registry.host).await);
    }
    let p = provider(&dead_list);
    let mut dead = Vec::new();
    for r in &refs {
        dead.push(timed(&p, r, &secret, &registry.host).await);
    }

    // 3. HyperShift's way: candidates one after another, each probe bounded at 15 s,
    //    nothing remembered between lookups.
    let plain = OciRegistry::new(OciConfig {
        connect_timeout: HYPERSHIFT_PROBE_TIMEOUT,
        read_timeout: HYPERSHIFT_PROBE_TIMEOUT,
        ..registry.oci_config()
    });
    let mut baseline = Vec::new();
    for (r, release) in refs.iter().zip(&releases).take(BASELINE_LOOKUPS) {
        let t = Instant::now();
        let mut ok = false;
        for c in &dead_list {
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

    // What reading the system's trusted roots costs: the provider does it once per process, where
    // each oci-client client would do it again.
    let mut client_builds = Vec::new();
    for _ in 0..FIRSTS {
        let t = Instant::now();
        drop(rustls_native_certs::load_native_certs());
        client_builds.push(ms(t.elapsed()));
    }

    let defaults = (MirrorConfig::default(), OciConfig::default());
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "mirror_lookup lookups={LOOKUPS} firsts={FIRSTS} grace_ms={} connect_timeout_ms={} healthy_first_ms={:.1} healthy_median_ms={:.1} dead_first_ms={:.1} dead_after_first_median_ms={:.1} dead_median_ms={:.1} baseline_lookups={BASELINE_LOOKUPS} baseline_median_ms={:.1} source_connections={} system_roots_ms={:.1}",
        defaults.0.grace_period.as_millis(),
        defaults.1.connect_timeout.as_millis(),
        median(healthy_firsts),
        median(healthy),
        median(dead_firsts),
        median(dead[1..].to_vec()),
        median(dead),
        median(baseline),
        source.connections(),
        median(client_builds),
    )
    .expect("stdout");
}
