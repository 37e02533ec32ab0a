//! The release provider against a real distribution registry (TLS + htpasswd) on 127.0.0.1.
//!
//! Every "public" source is under `.invalid` or is a loopback endpoint we control: nothing here
//! can reach another machine. These tests need `/usr/bin/docker-registry` and fail loudly
//! without it (`cargo xtask setup` installs it).

use std::time::Duration;

use hypershift_mirrors::{
    ManagementMirrors, MirrorSetBuilder, RegistryOverrides, parse_documents, sha256_digest,
};
use hypershift_releaseinfo::{
    Attempt, AttemptError, CacheConfig, Compression, ImageRef, LookupError, MirrorConfig, OciConfig,
    Platform, ProviderConfig, PullSecret, ReleaseProvider, StandardProvider, standard,
};
use hypershift_testkit::faults::{BlackHole, CountingServer, refusing_address};
use hypershift_testkit::{
    ImageBlob, Layer, SOURCE_COMPONENTS, SOURCE_RELEASE, SyntheticRelease, TestRegistry, push_image,
};

fn mirrors(yaml: &str) -> ManagementMirrors {
    let mut b = MirrorSetBuilder::new();
    for doc in parse_documents(yaml).expect("valid mirror YAML") {
        b.add_document(&doc).expect("valid mirror entries");
    }
    b.build()
}

/// A provider trusting `registry`'s CA, with short timeouts so fault tests stay quick.
fn provider(
    registry: &TestRegistry,
    mirrors: ManagementMirrors,
    overrides: RegistryOverrides,
) -> StandardProvider {
    let config = ProviderConfig {
        oci: OciConfig {
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(5),
            ..registry.oci_config()
        },
        mirrors: MirrorConfig {
            attempt_timeout: Duration::from_secs(3),
            unhealthy_ttl: Duration::from_secs(30),
            ..MirrorConfig::default()
        },
        cache: CacheConfig::default(),
    };
    standard(config, overrides, mirrors)
}

async fn setup() -> (TestRegistry, SyntheticRelease) {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release
        .push(&registry)
        .await
        .unwrap_or_else(|e| panic!("push the synthetic release: {e}\n{}", registry.log()));
    (registry, release)
}

fn image(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// Liveness bound for tests whose point is that a wait is bounded (not a performance check).
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_mins(1), f)
        .await
        .expect("the lookup hung")
}

#[tokio::test]
async fn release_is_read_through_an_idms_mirror() {
    let (registry, release) = setup().await;
    let p = provider(
        &registry,
        mirrors(&SyntheticRelease::idms_yaml("release", &registry.host, true)),
        RegistryOverrides::new(),
    );
    let secret = registry.pull_secret();
    let served = p
        .lookup(&image(&release.source_reference()), &secret)
        .await
        .unwrap();
    assert_eq!(served.value.version(), "4.99.0");
    assert_eq!(
        served.pulled_from,
        format!(
            "{}@{}",
            SyntheticRelease::mirror_release_repo(&registry.host),
            release.digest()
        )
    );
    assert!(served.via_mirror);
    assert_eq!(served.digest, release.digest());
    let components = served.value.component_images();
    assert_eq!(components.len(), hypershift_testkit::COMPONENTS.len());
    assert_eq!(
        components["machine-config-operator"],
        release.component_source("machine-config-operator")
    );
    assert!(served.value.stream_metadata().is_some());

    // Component images by digest come from the components mirror, with their labels.
    let mco = p
        .image_config(
            &image(&release.component_source("machine-config-operator")),
            &secret,
        )
        .await
        .unwrap();
    assert_eq!(
        mco.value.labels["io.openshift.build.component"],
        "machine-config-operator"
    );
    assert!(
        mco.pulled_from
            .starts_with(&SyntheticRelease::mirror_components_repo(&registry.host))
    );
}

#[tokio::test]
async fn a_mirror_refusing_connections_falls_through_to_the_next() {
    let (registry, release) = setup().await;
    let dead = refusing_address();
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors:\n    - {dead}/openshift/release-images\n    - {}\n    mirrorSourcePolicy: NeverContactSource\n",
        SyntheticRelease::mirror_release_repo(&registry.host)
    );
    let p = provider(&registry, mirrors(&yaml), RegistryOverrides::new());
    let served = bounded(p.lookup(&image(&release.source_reference()), &registry.pull_secret()))
        .await
        .unwrap();
    assert!(
        served.pulled_from.starts_with(&registry.host),
        "{}",
        served.pulled_from
    );
}

#[tokio::test]
async fn a_black_holed_mirror_costs_one_bounded_wait_then_is_skipped() {
    let (registry, release) = setup().await;
    let hole = BlackHole::start().await;
    let yaml = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors:\n    - {}/openshift/release-images\n    - {}\n    mirrorSourcePolicy: NeverContactSource\n  - source: {SOURCE_COMPONENTS}\n    mirrors:\n    - {}/openshift/release\n    - {}\n    mirrorSourcePolicy: NeverContactSource\n",
        hole.addr,
        SyntheticRelease::mirror_release_repo(&registry.host),
        hole.addr,
        SyntheticRelease::mirror_components_repo(&registry.host),
    );
    let p = provider(&registry, mirrors(&yaml), RegistryOverrides::new());
    let secret = registry.pull_secret();
    let served = bounded(p.lookup(&image(&release.source_reference()), &secret))
        .await
        .unwrap();
    assert!(served.pulled_from.starts_with(&registry.host));
    assert!(hole.connections() >= 1, "the black hole was tried first");
    // Its registry is now known to be down: the next lookup does not connect to it again.
    let before = hole.connections();
    bounded(p.resolve(&image(&release.component_source("cli")), &secret))
        .await
        .unwrap();
    assert_eq!(hole.connections(), before);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_never_echoed() {
    let (registry, release) = setup().await;
    let p = provider(&registry, ManagementMirrors::default(), RegistryOverrides::new());
    let wrong = PullSecret::parse(&PullSecret::for_registry(
        &registry.host,
        &registry.username,
        "not-the-password",
    ))
    .unwrap();
    let on_mirror = format!(
        "{}@{}",
        SyntheticRelease::mirror_release_repo(&registry.host),
        release.digest()
    );
    let err = p.lookup(&image(&on_mirror), &wrong).await.unwrap_err();
    assert_eq!(err.category(), "unauthorized", "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&registry.host) && !text.contains("not-the-password"),
        "{text}"
    );
    // No credentials at all is the same answer.
    assert_eq!(
        p.lookup(&image(&on_mirror), &PullSecret::anonymous())
            .await
            .unwrap_err()
            .category(),
        "unauthorized"
    );
}

#[tokio::test]
async fn a_missing_manifest_is_not_found() {
    let (registry, _release) = setup().await;
    let p = provider(&registry, ManagementMirrors::default(), RegistryOverrides::new());
    let missing = format!(
        "{}@sha256:{}",
        SyntheticRelease::mirror_release_repo(&registry.host),
        "0".repeat(64)
    );
    let err = p
        .resolve(&image(&missing), &registry.pull_secret())
        .await
        .unwrap_err();
    assert_eq!(err.category(), "not_found", "{err}");
    let missing_tag = format!(
        "{}:no-such-tag",
        SyntheticRelease::mirror_release_repo(&registry.host)
    );
    assert_eq!(
        p.resolve(&image(&missing_tag), &registry.pull_secret())
            .await
            .unwrap_err()
            .category(),
        "not_found"
    );
}

#[tokio::test]
async fn corrupt_layers_and_missing_files_are_precise_errors() {
    let (registry, _release) = setup().await;
    let p = provider(&registry, ManagementMirrors::default(), RegistryOverrides::new());
    let secret = registry.pull_secret();
    let repo = format!("{}/broken/release", registry.host);
    let garbage = b"\x1f\x8b\x08\x00this is not gzip".to_vec();
    let corrupt = ImageBlob::from_layers(
        vec![Layer {
            digest: sha256_digest(&garbage),
            data: garbage,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        }],
        &[],
        "amd64",
    );
    let not_tar = b"plain text, not a tar archive".to_vec();
    let plain = ImageBlob::from_layers(
        vec![Layer {
            digest: sha256_digest(&not_tar),
            data: not_tar,
            media_type: "application/vnd.oci.image.layer.v1.tar",
        }],
        &[],
        "amd64",
    );
    let no_bootimages = ImageBlob::build(
        &[&[(
            "release-manifests/image-references",
            br#"{"metadata":{"name":"4.99.0"},"spec":{}}"#,
        )]],
        &[],
        Compression::Gzip,
        "amd64",
    );
    for (blob, expect) in [
        (&corrupt, "layer sha256:"),
        (&plain, "layer sha256:"),
        (&no_bootimages, "coreos-bootimages.yaml not found"),
    ] {
        push_image(&registry.push_client(), &registry.auth(), &repo, blob, None)
            .await
            .unwrap();
        let err = p
            .lookup(&image(&format!("{repo}@{}", blob.digest)), &secret)
            .await
            .unwrap_err();
        assert_eq!(err.category(), "payload", "{err}");
        assert!(err.to_string().contains(expect), "{err}");
    }
}

#[tokio::test]
async fn manifest_lists_resolve_to_the_configured_platform() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::build("4.99.1", Compression::Zstd, true);
    release.push(&registry).await.unwrap();
    let secret = registry.pull_secret();
    let by_tag = image(&format!(
        "{}:{}",
        SyntheticRelease::mirror_release_repo(&registry.host),
        release.tag()
    ));
    let p = provider(&registry, ManagementMirrors::default(), RegistryOverrides::new());
    let served = p.lookup(&by_tag, &secret).await.unwrap();
    assert_eq!(served.value.version(), "4.99.1");
    assert_eq!(served.digest, release.digest(), "the tag names the index");
    assert_eq!(
        p.image_config(&by_tag, &secret).await.unwrap().value.architecture,
        "amd64"
    );

    let arm = standard(
        ProviderConfig {
            oci: OciConfig {
                platform: Platform {
                    os: "linux".into(),
                    architecture: "arm64".into(),
                },
                ..registry.oci_config()
            },
            ..ProviderConfig::default()
        },
        RegistryOverrides::new(),
        ManagementMirrors::default(),
    );
    assert_eq!(
        arm.image_config(&by_tag, &secret)
            .await
            .unwrap()
            .value
            .architecture,
        "arm64"
    );
    let s390x = standard(
        ProviderConfig {
            oci: OciConfig {
                platform: Platform {
                    os: "linux".into(),
                    architecture: "s390x".into(),
                },
                ..registry.oci_config()
            },
            ..ProviderConfig::default()
        },
        RegistryOverrides::new(),
        ManagementMirrors::default(),
    );
    let err = s390x.lookup(&by_tag, &secret).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("no linux/s390x entry (it has: linux/amd64, linux/arm64)"),
        "{err}"
    );
}

#[tokio::test]
async fn uncompressed_payload_layers_are_read() {
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::build("4.99.2", Compression::None, false);
    release.push(&registry).await.unwrap();
    let p = provider(
        &registry,
        mirrors(&SyntheticRelease::idms_yaml("r", &registry.host, true)),
        RegistryOverrides::new(),
    );
    assert_eq!(
        p.lookup(&image(&release.source_reference()), &registry.pull_secret())
            .await
            .unwrap()
            .value
            .version(),
        "4.99.2"
    );
}

#[tokio::test]
async fn never_contact_source_keeps_the_source_untouched() {
    let (registry, release) = setup().await;
    let source = CountingServer::start().await;
    let source_repo = format!("{}/openshift-release-dev/ocp-release", source.addr);
    let idms = |mirror: &str, policy: &str| {
        format!(
            "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n  - source: {source_repo}\n    mirrors:\n    - {mirror}\n    mirrorSourcePolicy: {policy}\n"
        )
    };
    let wanted = image(&format!("{source_repo}@{}", release.digest()));
    let secret = registry.pull_secret();
    let healthy = SyntheticRelease::mirror_release_repo(&registry.host);
    let dead = format!("{}/openshift/release-images", refusing_address());

    let p = provider(
        &registry,
        mirrors(&idms(&healthy, "NeverContactSource")),
        RegistryOverrides::new(),
    );
    assert_eq!(
        p.lookup(&wanted, &secret).await.unwrap().value.version(),
        "4.99.0"
    );
    let p = provider(
        &registry,
        mirrors(&idms(&dead, "NeverContactSource")),
        RegistryOverrides::new(),
    );
    let err = bounded(p.lookup(&wanted, &secret)).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::AllCandidatesFailed { attempts, .. } if attempts.len() == 1),
        "{err}"
    );
    assert_eq!(source.connections(), 0, "the source was never contacted");

    // Control: the same dead mirror without NeverContactSource does fall back to the source,
    // so the counter above would have seen it.
    let p = provider(
        &registry,
        mirrors(&idms(&dead, "AllowContactingSource")),
        RegistryOverrides::new(),
    );
    let err = bounded(p.lookup(&wanted, &secret)).await.unwrap_err();
    assert!(
        matches!(&err, LookupError::AllCandidatesFailed { attempts, .. }
        if matches!(attempts.as_slice(), [_, Attempt { error: AttemptError::Failed(_), .. }])),
        "{err}"
    );
    assert!(source.connections() >= 1);
}

#[tokio::test]
async fn a_tag_reference_goes_through_an_itms_mirror() {
    let (registry, release) = setup().await;
    let itms = format!(
        "apiVersion: config.openshift.io/v1\nkind: ImageTagMirrorSet\nmetadata:\n  name: tags\nspec:\n  imageTagMirrors:\n  - source: {SOURCE_RELEASE}\n    mirrors:\n    - {}\n    mirrorSourcePolicy: NeverContactSource\n",
        SyntheticRelease::mirror_release_repo(&registry.host)
    );
    let p = provider(&registry, mirrors(&itms), RegistryOverrides::new());
    let tagged = image(&format!("{SOURCE_RELEASE}:{}", release.tag()));
    let served = p.lookup(&tagged, &registry.pull_secret()).await.unwrap();
    assert_eq!(served.digest, release.digest());
    assert_eq!(
        served.pulled_from,
        format!(
            "{}:{}",
            SyntheticRelease::mirror_release_repo(&registry.host),
            release.tag()
        )
    );
    // The ITMS does not serve digest pulls, and the source is blocked.
    let err = p
        .lookup(&image(&release.source_reference()), &registry.pull_secret())
        .await
        .unwrap_err();
    assert_eq!(err.category(), "blocked", "{err}");
}

#[tokio::test]
async fn registry_overrides_rewrite_the_release_and_its_components() {
    let (registry, release) = setup().await;
    let overrides = RegistryOverrides::parse_flag(&format!(
        "{SOURCE_RELEASE}={},{SOURCE_COMPONENTS}={}",
        SyntheticRelease::mirror_release_repo(&registry.host),
        SyntheticRelease::mirror_components_repo(&registry.host)
    ))
    .unwrap();
    let p = provider(&registry, ManagementMirrors::default(), overrides);
    let served = p
        .lookup(&image(&release.source_reference()), &registry.pull_secret())
        .await
        .unwrap();
    assert!(
        !served.via_mirror,
        "overrides rewrite; they are not mirror selection"
    );
    let mco = &served.value.component_images()["machine-config-operator"];
    assert_eq!(
        *mco,
        format!(
            "{}@{}",
            SyntheticRelease::mirror_components_repo(&registry.host),
            release.components["machine-config-operator"].digest
        )
    );
    assert_eq!(
        served.value.canonical_component_images()["machine-config-operator"],
        release.component_source("machine-config-operator")
    );
}

#[tokio::test]
async fn repeated_lookups_are_served_from_the_cache_by_digest() {
    let (registry, release) = setup().await;
    let p = provider(
        &registry,
        mirrors(&SyntheticRelease::idms_yaml("r", &registry.host, true)),
        RegistryOverrides::new(),
    );
    let secret = registry.pull_secret();
    let first = p
        .lookup(&image(&release.source_reference()), &secret)
        .await
        .unwrap();
    drop(registry);
    let again = p
        .lookup(&image(&release.source_reference()), &secret)
        .await
        .unwrap();
    assert_eq!(again.value, first.value);
    assert_eq!(again.pulled_from, first.pulled_from);
}

/// An IDMS mapping each source repository to its mirrors, contacting the source allowed (the
/// default).
fn source_allowed_idms(rules: &[(&str, &[String])]) -> ManagementMirrors {
    use std::fmt::Write as _;
    let mut yaml = String::from(
        "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: m\nspec:\n  imageDigestMirrors:\n",
    );
    for (source, mirrors) in rules {
        let _ = writeln!(yaml, "  - source: {source}\n    mirrors:");
        for m in *mirrors {
            let _ = writeln!(yaml, "    - {m}");
        }
    }
    crate::mirrors(&yaml)
}

/// The source registry is a counting server on 127.0.0.1, so any connection to it is seen; the
/// rules allow contacting it. While a mirror serves, it is never contacted: not on the first
/// lookup, not for other digests (no cache hit), not for a tag, not with a black-holed primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_is_not_contacted_while_a_mirror_serves() {
    let (registry, release) = setup().await;
    let source = CountingServer::start().await;
    let source_release = format!("{}/openshift-release-dev/ocp-release", source.addr);
    let source_components = format!("{}/openshift-release-dev/ocp-v4.0-art-dev", source.addr);
    let release_mirror = SyntheticRelease::mirror_release_repo(&registry.host);
    let components_mirror = SyntheticRelease::mirror_components_repo(&registry.host);
    let secret = registry.pull_secret();
    // The release by digest, then each component by its own digest, then the release by tag.
    let lookups = |p: StandardProvider| {
        let (source_release, source_components) = (&source_release, &source_components);
        let (release, secret, source) = (&release, &secret, &source);
        async move {
            let served = bounded(p.lookup(&image(&format!("{source_release}@{}", release.digest())), secret))
                .await
                .unwrap();
            assert_eq!(served.value.version(), "4.99.0");
            assert!(served.via_mirror, "{}", served.pulled_from);
            assert_eq!(
                source.connections(),
                0,
                "the source was contacted on the first lookup"
            );
            for (name, component) in &release.components {
                let served = bounded(p.image_config(
                    &image(&format!("{source_components}@{}", component.digest)),
                    secret,
                ))
                .await
                .unwrap();
                assert_eq!(served.value.labels["io.openshift.build.component"], *name);
                assert!(served.via_mirror, "{}", served.pulled_from);
            }
            let tagged = image(&format!("{source_release}:{}", release.tag()));
            let resolved = bounded(p.resolve(&tagged, secret)).await.unwrap();
            assert_eq!(resolved.digest, release.digest());
            assert_eq!(source.connections(), 0, "the source was contacted");
        }
    };

    lookups(provider(
        &registry,
        source_allowed_idms(&[
            (&source_release, std::slice::from_ref(&release_mirror)),
            (&source_components, std::slice::from_ref(&components_mirror)),
        ]),
        RegistryOverrides::new(),
    ))
    .await;

    // A black-holed primary and the healthy mirror second, in a fresh provider (nothing known
    // about either registry): the healthy mirror serves and the source is still left alone.
    let hole = BlackHole::start().await;
    lookups(provider(
        &registry,
        source_allowed_idms(&[
            (
                &source_release,
                &[
                    format!("{}/openshift/release-images", hole.addr),
                    release_mirror.clone(),
                ],
            ),
            (
                &source_components,
                &[
                    format!("{}/openshift/release", hole.addr),
                    components_mirror.clone(),
                ],
            ),
        ]),
        RegistryOverrides::new(),
    ))
    .await;
    assert!(hole.connections() >= 1, "the black hole was tried");
}

/// Once every mirror has failed (one refuses connections, one has no such image), the source is
/// contacted, last, and every attempt is reported in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_is_contacted_once_every_mirror_failed() {
    let (registry, release) = setup().await;
    let source = CountingServer::start().await;
    let source_repo = format!("{}/openshift-release-dev/ocp-release", source.addr);
    let p = provider(
        &registry,
        source_allowed_idms(&[(
            &source_repo,
            &[
                format!("{}/openshift/release-images", refusing_address()),
                format!("{}/nothing/here", registry.host),
            ],
        )]),
        RegistryOverrides::new(),
    );
    let wanted = image(&format!("{source_repo}@{}", release.digest()));
    let err = bounded(p.lookup(&wanted, &registry.pull_secret()))
        .await
        .unwrap_err();
    let LookupError::AllCandidatesFailed { attempts, .. } = &err else {
        panic!("{err}")
    };
    let categories: Vec<&str> = attempts
        .iter()
        .map(|a| match &a.error {
            AttemptError::Failed(e) => e.category(),
            AttemptError::SkippedUnhealthy { .. } => "skipped",
        })
        .collect();
    assert_eq!(categories[..2], ["unreachable", "not_found"], "{err}");
    assert!(attempts[2].candidate.starts_with(&source_repo), "{err}");
    assert!(source.connections() >= 1, "the source was not contacted");
}

#[tokio::test]
async fn files_under_a_directory_come_through_the_mirror_topmost_layer_winning() {
    let (registry, release) = setup().await;
    let p = provider(
        &registry,
        mirrors(&SyntheticRelease::idms_yaml("release", &registry.host, true)),
        RegistryOverrides::new(),
    );
    let secret = registry.pull_secret();
    // The synthetic MCO image: its templates, by the source name, served by the mirror.
    let mco = image(&release.component_source("machine-config-operator"));
    let served = p.files(&mco, "etc/mcc/templates/", &secret).await.unwrap();
    assert!(served.via_mirror);
    assert!(served.value.keys().all(|k| k.starts_with("etc/mcc/templates/")));
    assert!(!served.value.is_empty());
    assert!(!served.value.contains_key("usr/bin/machine-config-operator"));

    // Two layers: the upper one's copy of a path wins; a lower-only path is still found.
    let repo = format!("{}/layered/mco", registry.host);
    let layered = ImageBlob::build(
        &[
            &[("d/a", b"lower a"), ("d/b", b"lower b"), ("other", b"x")],
            &[("d/a", b"upper a"), ("d/sub/c", b"upper c")],
        ],
        &[],
        Compression::Gzip,
        "amd64",
    );
    push_image(&registry.push_client(), &registry.auth(), &repo, &layered, None)
        .await
        .unwrap();
    let files = p
        .files(&image(&format!("{repo}@{}", layered.digest)), "d/", &secret)
        .await
        .unwrap()
        .value;
    let text: Vec<(&str, &str)> = files
        .iter()
        .map(|(k, v)| (k.as_str(), std::str::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(
        text,
        [("d/a", "upper a"), ("d/b", "lower b"), ("d/sub/c", "upper c")]
    );
}
