//! Property tests: no parser panics on arbitrary input, encodings round-trip, merging is
//! independent of input order, and the indexed matcher agrees with the naive one.

mod common;

use common::naive::naive_resolve;
use hypershift_api::openshift::{
    ImageContentSourcePolicy, ImageContentSourcePolicySpec, ImageDigestMirrorSet, ImageDigestMirrorSetSpec,
    ImageMirrors, ImageTagMirrorSet, ImageTagMirrorSetSpec, RepositoryDigestMirrors,
};
use hypershift_mirrors::registries_conf;
use hypershift_mirrors::scope::validate_mirror_location;
use hypershift_mirrors::{
    DataPlane, ImageOverrides, ImageRef, Management, MatchMode, MirrorDocument, MirrorSet, MirrorSetBuilder,
    RegistriesConf, RegistryOverrides, SourceScope, parse_documents, render_mirror_sets,
};
use proptest::prelude::*;
use proptest::sample::select;

/// Arbitrary text, biased towards the characters the grammars care about.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            select(vec![
                'a', 'Z', '0', '9', '.', '-', '_', '/', ':', '@', '=', ',', '"', '\n', '\r', ' ', '*', '[',
                ']', 'é'
            ]),
            0..40
        )
        .prop_map(|v| v.into_iter().collect()),
        "[a-z0-9.:/@=,\"-]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics(s in texty()) {
        let _ = ImageRef::parse(&s);
        let _ = SourceScope::parse(&s);
        let _ = validate_mirror_location(&s);
        let _ = RegistryOverrides::parse_flag(&s);
        let _ = ImageOverrides::parse_env(&s);
        let _ = ImageOverrides::parse_annotation(&s);
        let _ = RegistriesConf::parse(&s);
        let _ = parse_documents(&s);
        if let Ok(o) = RegistryOverrides::parse_flag("quay.io=m.io,x=y") {
            let _ = o.replace(&s);
        }
    }

    #[test]
    fn parsed_references_reparse_to_themselves(s in texty()) {
        if let Ok(r) = ImageRef::parse(&s) {
            let again = ImageRef::parse(r.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&r));
            prop_assert_eq!(r.as_str().len(), r.name().len()
                + r.tag().map_or(0, |t| t.len() + 1) + r.digest().map_or(0, |d| d.len() + 1));
        }
    }
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,4}([._-][a-z0-9]{1,3})?"
}

/// Valid references, built from the grammar.
fn reference() -> impl Strategy<Value = (String, String, String, Option<String>, Option<String>)> {
    (
        prop_oneof![
            "[a-z]{1,5}\\.[a-z]{2,3}",
            "[a-z]{1,5}\\.[a-z]{2,3}:[0-9]{2,4}",
            Just("localhost:5000".to_owned())
        ],
        proptest::collection::vec(component(), 1..4),
        proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}"),
        proptest::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(host, path, tag, hex)| {
            let path = path.join("/");
            let digest = hex.map(|h| format!("sha256:{h}"));
            let mut text = format!("{host}/{path}");
            if let Some(t) = &tag {
                text = format!("{text}:{t}");
            }
            if let Some(d) = &digest {
                text = format!("{text}@{d}");
            }
            (text, host, path, tag, digest)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn grammar_generated_references_parse_into_their_parts((text, host, path, tag, digest) in reference()) {
        let r = ImageRef::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(r.registry(), host.as_str());
        prop_assert_eq!(r.repository(), path.as_str());
        prop_assert_eq!(r.tag(), tag.as_deref());
        prop_assert_eq!(r.digest(), digest.as_deref());
    }

    #[test]
    fn registry_overrides_flag_round_trips(
        map in proptest::collection::btree_map("[a-z0-9./:@-]{0,12}", "[a-z0-9./:@=-]{0,12}", 1..6)
    ) {
        let o: RegistryOverrides = map.clone().into_iter().collect();
        let back = RegistryOverrides::parse_flag(&o.to_flag()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.as_map(), &map);
    }

    #[test]
    fn image_overrides_env_round_trips(
        map in proptest::collection::btree_map(
            "[a-z0-9./:@-]{1,12}",
            proptest::collection::vec("[a-z0-9./:@=-]{1,12}", 1..4),
            0..6,
        )
    ) {
        let o: ImageOverrides = map.clone().into_iter().collect();
        let encoded = o.to_env();
        match ImageOverrides::parse_env(&encoded) {
            Some(back) => prop_assert_eq!(back.as_map(), &map),
            None => prop_assert!(map.is_empty()),
        }
        prop_assert_eq!(ImageOverrides::parse_annotation(&encoded).ok().flatten(), ImageOverrides::parse_env(&encoded));
    }

    #[test]
    fn replace_only_rewrites_on_a_boundary(image in "[a-z.:/@]{0,20}", key in "[a-z.:/]{1,8}") {
        let o: RegistryOverrides = [(key.clone(), "X".to_owned())].into_iter().collect();
        let out = o.replace(&image);
        if out != image {
            prop_assert!(image.starts_with(&key));
            prop_assert_eq!(out.as_ref(), format!("X{}", &image[key.len()..]));
            let next = image[key.len()..].chars().next();
            prop_assert!(matches!(next, None | Some('/' | '@')) || (next == Some(':') && key.contains('/')));
        }
    }
}

const SOURCES: &[&str] = &[
    "quay.invalid",
    "quay.invalid/openshift-release-dev",
    "quay.invalid/openshift-release-dev/ocp-release",
    "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev",
    "registry.invalid:5000",
    "registry.invalid:5000/ns/repo",
    "*.example.invalid",
    "*.a.example.invalid",
    "a.example.invalid",
];
/// An image-level registries.conf prefix (one tag of one repository); never its own location.
const IMAGE_SOURCE: &str = "quay.invalid/openshift-release-dev/ocp-release:4.99.0";
const MIRRORS: &[&str] = &[
    "m1.local:5000/x",
    "m2.local/y",
    "m3.local",
    "m1.local:5000/z",
    "m4.local/a/b",
    // Inside source scopes (blocked ones refuse them) and sources themselves.
    "quay.invalid/openshift-release-dev",
    "quay.invalid/mirror",
    "registry.invalid:5000/ns/repo",
    "a.example.invalid/m",
    // A bare host: followed by `:5000` (a tag after a repository source) it names another
    // registry, `registry.invalid:5000`.
    "registry.invalid",
];
/// registries.conf `location`s: elsewhere, or inside other scopes.
const LOCATIONS: &[&str] = &[
    "int.local/w",
    "int.local:5000",
    "quay.invalid/openshift-release-dev/remapped",
    "b.a.example.invalid/inner",
];
const NAMES: &[&str] = &["a", "b", "release-0", "operator-0"];

fn entries() -> impl Strategy<Value = Vec<(String, Vec<String>, bool)>> {
    proptest::collection::vec(
        (
            select(SOURCES).prop_map(str::to_owned),
            proptest::collection::vec(select(MIRRORS).prop_map(str::to_owned), 0..4),
            any::<bool>(),
        ),
        0..4,
    )
}

fn document() -> impl Strategy<Value = MirrorDocument> {
    (0..3u8, select(NAMES), entries()).prop_map(|(kind, name, entries)| {
        let mirrors = |e: &[(String, Vec<String>, bool)]| {
            e.iter()
                .map(|(s, m, never)| ImageMirrors {
                    source: s.clone(),
                    mirrors: m.clone(),
                    mirror_source_policy: never.then(|| "NeverContactSource".to_owned()),
                })
                .collect::<Vec<_>>()
        };
        match kind {
            0 => MirrorDocument::Idms(Box::new(ImageDigestMirrorSet::new(
                name,
                ImageDigestMirrorSetSpec {
                    image_digest_mirrors: mirrors(&entries),
                },
            ))),
            1 => MirrorDocument::Itms(Box::new(ImageTagMirrorSet::new(
                name,
                ImageTagMirrorSetSpec {
                    image_tag_mirrors: mirrors(&entries),
                },
            ))),
            _ => MirrorDocument::Icsp(Box::new(ImageContentSourcePolicy::new(
                name,
                ImageContentSourcePolicySpec {
                    repository_digest_mirrors: entries
                        .iter()
                        .filter(|e| e.0 != "*.example.invalid" && e.0 != "*.a.example.invalid")
                        .map(|(s, m, _)| RepositoryDigestMirrors {
                            source: s.clone(),
                            mirrors: m.clone(),
                        })
                        .collect(),
                },
            ))),
        }
    })
}

/// A registries.conf `[[registry]]` table: prefix, location, blocked, mirrors with their
/// `pull-from-mirror`.
type Table = (String, Option<String>, bool, Vec<(String, &'static str)>);

fn tables() -> impl Strategy<Value = Vec<Table>> {
    proptest::collection::vec(
        (
            prop_oneof![4 => select(SOURCES), 1 => Just(IMAGE_SOURCE)].prop_map(str::to_owned),
            proptest::option::of(select(LOCATIONS).prop_map(str::to_owned)),
            any::<bool>(),
            proptest::collection::vec(
                (
                    select(MIRRORS).prop_map(str::to_owned),
                    select(vec!["", "all", "digest-only", "tag-only"]),
                ),
                0..3,
            ),
        ),
        0..5,
    )
}

fn registries_conf_text(tables: &[Table]) -> String {
    let mut lines = Vec::new();
    for (prefix, location, blocked, mirrors) in tables {
        lines.push(format!("[[registry]]\nprefix = {prefix:?}"));
        // Only `*.` prefixes may omit the location; the others default to themselves.
        match location {
            Some(l) => lines.push(format!("location = {l:?}")),
            None if prefix == IMAGE_SOURCE => lines.push(format!("location = {:?}", LOCATIONS[0])),
            None if !prefix.starts_with("*.") => lines.push(format!("location = {prefix:?}")),
            None => {}
        }
        lines.push(format!("blocked = {blocked}"));
        for (m, pull) in mirrors {
            lines.push(format!("[[registry.mirror]]\nlocation = {m:?}"));
            if !pull.is_empty() {
                lines.push(format!("pull-from-mirror = {pull:?}"));
            }
        }
    }
    lines.join("\n")
}

fn build(docs: &[MirrorDocument]) -> MirrorSet<Management> {
    let mut b = MirrorSetBuilder::new();
    for d in docs {
        b.add_document(d).expect("generated documents are valid");
    }
    b.build()
}

fn image() -> impl Strategy<Value = ImageRef> {
    (
        select(vec![
            "quay.invalid/openshift-release-dev/ocp-release",
            "quay.invalid/openshift-release-dev/ocp-release-x",
            "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev",
            "quay.invalid/other/thing",
            "quay.invalid:443/openshift-release-dev/ocp-release",
            "quay.invalid.example.invalid/x",
            "registry.invalid:5000/ns/repo",
            "registry.invalid:5000/ns/repo/deeper",
            "b.a.example.invalid/p/q",
            "b.a.example.invalid/inner/p",
            "int.local/w/x",
            "quay.invalid/openshift-release-dev/remapped/x",
            "quay.invalid/mirror/x",
            "a.example.invalid/p",
            "example.invalid/p",
            "docker.io/library/busybox",
        ]),
        prop_oneof![
            Just(String::new()),
            Just(":4.99.0".to_owned()),
            Just(":5000".to_owned()),
            Just("@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_owned())
        ],
    )
        .prop_map(|(name, suffix)| ImageRef::parse(&format!("{name}{suffix}")).expect("valid"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn merging_in_any_order_gives_byte_identical_output(
        (docs, shuffled) in proptest::collection::vec(document(), 0..6)
            .prop_flat_map(|d| (Just(d.clone()), Just(d).prop_shuffle()))
    ) {
        let a = build(&docs);
        let b = build(&shuffled);
        prop_assert_eq!(a.content_hash(), b.content_hash());
        prop_assert_eq!(render_mirror_sets(&a, "merged").to_yaml(), render_mirror_sets(&b, "merged").to_yaml());
        prop_assert_eq!(registries_conf::render(&a), registries_conf::render(&b));
    }

    #[test]
    fn rendered_mirror_sets_read_back_as_the_same_rules(docs in proptest::collection::vec(document(), 0..6)) {
        let set = build(&docs);
        let yaml = render_mirror_sets(&set, "merged").to_yaml();
        let again = build(&parse_documents(&yaml).map_err(|e| TestCaseError::fail(e.to_string()))?);
        prop_assert_eq!(&again, &set, "{}", yaml);

        let conf = RegistriesConf::parse(&registries_conf::render(&set)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut b = MirrorSetBuilder::new();
        b.add_registries_conf("rendered", &conf).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(b.build::<Management>(), set);
    }

    #[test]
    fn indexed_matcher_agrees_with_the_naive_scan(
        docs in proptest::collection::vec(document(), 0..6),
        images in proptest::collection::vec(image(), 1..10),
    ) {
        let set = build(&docs);
        let node: MirrorSet<DataPlane> = set.clone().retag();
        for image in &images {
            prop_assert_eq!(&set.resolve(image).candidates, &naive_resolve(set.rules(), image, MatchMode::Live));
            prop_assert_eq!(&node.resolve(image).candidates, &naive_resolve(node.rules(), image, MatchMode::Node));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// With registries.conf rules too: `*.` prefixes with a location, remaps, blocked scopes that
    /// refuse mirrors and locations inside them, mirrors equal to a source.
    #[test]
    fn indexed_matcher_agrees_with_the_naive_scan_for_registries_conf_rules(
        docs in proptest::collection::vec(document(), 0..3),
        tables in tables(),
        images in proptest::collection::vec(image(), 1..10),
    ) {
        let text = registries_conf_text(&tables);
        // Conflicting duplicates are rejected; that is the loader's business, not the matcher's.
        let Ok(conf) = RegistriesConf::parse(&text) else { return Ok(()) };
        let mut b = MirrorSetBuilder::new();
        for d in &docs {
            b.add_document(d).expect("generated documents are valid");
        }
        b.add_registries_conf("generated", &conf).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let set: MirrorSet<Management> = b.build();
        let node: MirrorSet<DataPlane> = set.clone().retag();
        for image in &images {
            let live = set.resolve(image);
            prop_assert_eq!(&live.candidates, &naive_resolve(set.rules(), image, MatchMode::Live), "{}", text);
            prop_assert_eq!(&node.resolve(image).candidates, &naive_resolve(node.rules(), image, MatchMode::Node), "{}", text);
            // Never the same pull spec twice.
            let mut seen = live.candidates.clone();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), live.candidates.len());
        }
        // What we render reads back as the same rules (a rendered file is loadable when the
        // inputs were one file).
        if docs.is_empty() {
            let again = RegistriesConf::parse(&registries_conf::render(&set)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut b = MirrorSetBuilder::new();
            b.add_registries_conf("rendered", &again).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(b.build::<Management>(), set);
        }
    }

    /// Structured but arbitrary registries.conf tables: loading, matching and rendering never
    /// panic, whatever the strings.
    #[test]
    fn arbitrary_registries_conf_tables_never_panic(
        entries in proptest::collection::vec(
            (texty(), texty(), any::<bool>(), any::<bool>(), proptest::collection::vec((texty(), texty()), 0..3)),
            0..4,
        ),
        images in proptest::collection::vec(texty(), 0..4),
    ) {
        let mut text = Vec::new();
        for (prefix, location, blocked, insecure, mirrors) in &entries {
            text.push(format!("[[registry]]\nprefix = {prefix:?}\nlocation = {location:?}\nblocked = {blocked}\ninsecure = {insecure}"));
            for (m, pull) in mirrors {
                text.push(format!("[[registry.mirror]]\nlocation = {m:?}\npull-from-mirror = {pull:?}"));
            }
        }
        if let Ok(conf) = RegistriesConf::parse(&text.join("\n")) {
            let _ = conf.warnings();
            let mut b = MirrorSetBuilder::new();
            let _ = b.add_registries_conf("arbitrary", &conf);
            let set: MirrorSet<DataPlane> = b.build();
            for image in images.iter().chain(entries.iter().map(|e| &e.0)) {
                if let Ok(image) = ImageRef::parse(&format!("{image}/x:1")) {
                    let _ = set.resolve_with(&image, MatchMode::Live);
                }
                if let Ok(image) = ImageRef::parse(image) {
                    let _ = set.resolve_with(&image, MatchMode::Node);
                }
            }
            let _ = registries_conf::render(&set);
            let _ = render_mirror_sets(&set, "merged");
        }
    }
}
