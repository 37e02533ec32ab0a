//! Resolving 10,000 references against 1,000 rules: the indexed matcher against a naive linear
//! scan over every rule (the baseline), measured in the same run.
//!
//! Both produce the same candidate lists for every reference (checked before timing).
//! Run with `cargo xtask bench`, which records the figures in `docs/benchmarks.md`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hypershift_api::openshift::{ImageDigestMirrorSet, ImageDigestMirrorSetSpec, ImageMirrors};
use hypershift_mirrors::{ImageRef, Management, MatchMode, MirrorSet, MirrorSetBuilder};

// The baseline, shared with the differential property test.
#[path = "../tests/common/naive.rs"]
mod naive;
use naive::naive_resolve;

const RULES: usize = 1_000;
const REFERENCES: usize = 10_000;
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A small deterministic generator (no rand dependency; the same inputs every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        usize::try_from((self.0 >> 33) % n as u64).unwrap_or(0)
    }
}

/// 1,000 distinct rules over 100 registry hosts: registry, namespace and repository scopes
/// (repositories nested under namespace rules) and `*.` wildcards; some sources blocked; one
/// or two mirrors each.
fn rules() -> Vec<ImageMirrors> {
    let mut g = Lcg(7);
    (0..RULES)
        .map(|i| {
            let host = format!("reg{}.example.invalid", i % 100);
            let source = match i % 10 {
                0 => format!("*.zone{}.invalid", i / 10),
                1 => format!("reg{}.example.invalid", i / 10),
                2..=5 => format!("{host}/ns{i}"),
                _ => format!("{host}/ns{}/repo{i}", i - i % 10 + 2),
            };
            let mirrors = (0..=g.next(2))
                .map(|m| format!("mirror{m}.local:5000/m{i}"))
                .collect();
            let policy = (i % 7 == 0).then(|| "NeverContactSource".to_owned());
            ImageMirrors {
                source,
                mirrors,
                mirror_source_policy: policy,
            }
        })
        .collect()
}

/// 10,000 references: most below a random rule's source (so every scope is hit, often with a
/// more specific rule to prefer), the rest misses and near-misses (a longer component, a port).
fn references(rules: &[ImageMirrors]) -> Vec<ImageRef> {
    let mut g = Lcg(11);
    (0..REFERENCES)
        .map(|i| {
            let source = &rules[g.next(rules.len())].source;
            let name = match g.next(10) {
                0 => format!("elsewhere{i}.invalid/a/b"),
                1 => format!("{}x/y", source.trim_start_matches("*.")),
                2 => format!("reg{}.example.invalid:5000/a/b", g.next(100)),
                _ => match source.strip_prefix("*.") {
                    Some(zone) => format!("h{i}.{zone}/a/b"),
                    None => format!("{source}/c{}", g.next(5)),
                },
            };
            let text = if i % 2 == 0 {
                format!("{name}@{DIGEST}")
            } else {
                format!("{name}:v{i}")
            };
            ImageRef::parse(&text).expect("generated references are valid")
        })
        .collect()
}

fn mirror_set() -> MirrorSet<Management> {
    let mut builder = MirrorSetBuilder::new();
    let mut idms = ImageDigestMirrorSet::new(
        "bench",
        ImageDigestMirrorSetSpec {
            image_digest_mirrors: rules(),
        },
    );
    idms.metadata.name = Some("bench".into());
    builder.add_idms(&idms).expect("generated rules are valid");
    builder.build()
}

fn bench(c: &mut Criterion) {
    let set = mirror_set();
    let refs = references(&rules());
    assert_eq!(set.rules().len(), RULES, "every generated source is distinct");
    let mut matched = 0;
    for r in &refs {
        let ours = set.resolve(r);
        assert_eq!(
            ours.candidates,
            naive_resolve(set.rules(), r, MatchMode::Live),
            "{r}"
        );
        matched += usize::from(ours.rule.is_some());
    }
    assert!(
        matched > REFERENCES / 2 && matched < REFERENCES,
        "the inputs mix hits and misses ({matched})"
    );

    let mut group = c.benchmark_group("resolve_10k_refs_1k_rules");
    group.sample_size(20);
    group.bench_function("mirror_set_index", |b| {
        b.iter(|| {
            refs.iter()
                .map(|r| black_box(set.resolve(r)).candidates.len())
                .sum::<usize>()
        });
    });
    group.bench_function("linear_scan_baseline", |b| {
        b.iter(|| {
            refs.iter()
                .map(|r| black_box(naive_resolve(set.rules(), r, MatchMode::Live)).len())
                .sum::<usize>()
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
