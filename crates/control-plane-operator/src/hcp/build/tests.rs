//! The builders: a golden file per variant, byte-identical re-renders, and `--registry-overrides`
//! on every image of every pod spec (containers and init containers alike).

use std::collections::BTreeMap;
use std::path::Path;

use hypershift_mirrors::{ImageOverrides, RegistryOverrides};
use hypershift_support::golden::assert_golden;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;
use crate::catalogs::Placement;
use crate::components::required_components;
use crate::hcp::validate::CatalogPlan;

const ART: &str = "quay.invalid/openshift-release-dev/ocp-v4.0-art-dev";

fn control_plane(overrides: &str, env: &str) -> ValidControlPlane {
    let registry_overrides = if overrides.is_empty() {
        RegistryOverrides::new()
    } else {
        RegistryOverrides::parse_flag(overrides).unwrap()
    };
    let components: BTreeMap<String, String> = required_components()
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.to_owned(), format!("{ART}@sha256:{i:064x}")))
        .collect();
    ValidControlPlane {
        name: "example".into(),
        namespace: "clusters-example".into(),
        owner: OwnerReference {
            api_version: "hypershift.openshift.io/v1beta1".into(),
            kind: "HostedControlPlane".into(),
            name: "example".into(),
            uid: "0d7f9a6e-1111-4222-8333-944455556666".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        },
        release_image: "quay.invalid/openshift-release-dev/ocp-release:4.99.0-x86_64".into(),
        release_version: "4.99.0".into(),
        release_pulled_from: "mirror.invalid/ocp/release@sha256:99".into(),
        release_via_mirror: true,
        release_by_digest: format!(
            "quay.invalid/openshift-release-dev/ocp-release@sha256:{:064x}",
            99
        ),
        components,
        carriers: MirrorCarriers {
            registry_overrides: registry_overrides.clone(),
            image_overrides: ImageOverrides::parse_env(env).unwrap_or_default(),
        },
        registry_overrides,
        data_plane_mirrors: hypershift_mirrors::DataPlaneMirrors::default(),
        placement: Placement::Management,
        catalogs: CatalogPlan::Unchanged,
    }
}

use hypershift_mirrors::contract::MirrorCarriers;

fn check(name: &str, cp: &ValidControlPlane) {
    let built = build(cp);
    assert_eq!(built, build(cp), "{name}: not byte-identical on re-render");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hcp/build/snapshots");
    for w in &built {
        match w {
            Workload::Deployment(d) => assert_golden(&dir, &format!("{name}-{}", w.name()), d),
            Workload::StatefulSet(s) => assert_golden(&dir, &format!("{name}-{}", w.name()), s),
        }
    }
}

fn images(w: &Workload) -> Vec<String> {
    let spec = match w {
        Workload::Deployment(d) => d.spec.clone().unwrap().template.spec.unwrap(),
        Workload::StatefulSet(s) => s.spec.clone().unwrap().template.spec.unwrap(),
    };
    spec.init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers)
        .map(|c| c.image.unwrap())
        .collect()
}

#[test]
fn without_overrides_images_are_the_release_s_own() {
    let cp = control_plane("", "quay.invalid/openshift-release-dev=mirror.invalid/ocp");
    check("plain", &cp);
    for w in build(&cp) {
        for image in images(&w) {
            // The management mirrors never go into pod images: CRI-O applies them.
            assert!(image.starts_with("quay.invalid/"), "{image}");
        }
    }
}

#[test]
fn registry_overrides_rewrite_every_container_and_init_container() {
    let cp = control_plane(
        "quay.invalid/openshift-release-dev=registry.invalid:5000/ocp",
        "quay.invalid/openshift-release-dev=mirror.invalid/ocp",
    );
    check("overrides", &cp);
    let built = build(&cp);
    let mut with_init = 0;
    for w in &built {
        let all = images(w);
        with_init += usize::from(all.len() > 1);
        for image in all {
            assert!(
                image.starts_with("registry.invalid:5000/ocp/"),
                "{}: {image}",
                w.name()
            );
        }
    }
    assert!(with_init >= 3, "the table has init containers to check");
}

/// The management mirrors as the hypershift-operator passes them (`OPENSHIFT_IMG_OVERRIDES`)
/// for mirror documents in YAML.
fn env_of(documents: &str) -> String {
    let mut b = hypershift_mirrors::MirrorSetBuilder::new();
    for doc in hypershift_mirrors::parse_documents(documents).unwrap() {
        b.add_document(&doc).unwrap();
    }
    let set: hypershift_mirrors::ManagementMirrors = b.build();
    set.to_image_overrides().to_env()
}

const IDMS: &str = "apiVersion: config.openshift.io/v1\nkind: ImageDigestMirrorSet\nmetadata:\n  name: release-mirror\nspec:\n  imageDigestMirrors:\n  - source: quay.invalid/openshift-release-dev/ocp-v4.0-art-dev\n    mirrors: [mirror.invalid:5000/openshift/release]\n";
const ICSP: &str = "apiVersion: operator.openshift.io/v1alpha1\nkind: ImageContentSourcePolicy\nmetadata:\n  name: legacy\nspec:\n  repositoryDigestMirrors:\n  - source: quay.invalid/openshift-release-dev/ocp-release\n    mirrors: [legacy.invalid/ocp/release-images]\n";

#[test]
fn management_mirrors_reach_only_the_config_operator_s_carrier() {
    // No mirrors, IDMS only, ICSP and IDMS: one golden file each for the workload that receives
    // the carriers; every other workload is the same in all three (CRI-O applies the mirrors).
    let variants = [
        ("no_mirrors", String::new()),
        ("idms", env_of(IDMS)),
        ("icsp_idms", env_of(&format!("{IDMS}---\n{ICSP}"))),
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hcp/build/snapshots");
    let plain = build(&control_plane("", ""));
    for (name, env) in &variants {
        let built = build(&control_plane("", env));
        for (w, p) in built.iter().zip(&plain) {
            if w.name() == "hosted-cluster-config-operator" {
                let Workload::Deployment(d) = w else {
                    panic!("a Deployment")
                };
                assert_golden(&dir, &format!("{name}-hosted-cluster-config-operator"), d);
            } else {
                assert_eq!(w, p, "{name}: {} depends on the management mirrors", w.name());
            }
        }
    }
    assert!(variants[2].1.contains("legacy.invalid") && variants[2].1.contains("mirror.invalid"));
}

#[test]
fn the_config_operator_gets_both_carriers() {
    let cp = control_plane(
        "quay.invalid=r.invalid",
        "quay.invalid/openshift-release-dev=mirror.invalid/ocp",
    );
    let hcco = build(&cp)
        .into_iter()
        .find(|w| w.name() == "hosted-cluster-config-operator")
        .unwrap();
    let Workload::Deployment(d) = hcco else {
        panic!("a Deployment")
    };
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(
        c.args.as_deref(),
        Some(["--registry-overrides=quay.invalid=r.invalid".to_owned()].as_slice())
    );
    let env = c.env.as_ref().unwrap();
    assert_eq!(env[0].name, "OPENSHIFT_IMG_OVERRIDES");
    assert_eq!(
        env[0].value.as_deref(),
        Some("quay.invalid/openshift-release-dev=mirror.invalid/ocp")
    );
}

#[test]
fn guest_mirrors_come_from_image_content_sources_and_go_with_them() {
    let mut cp = control_plane("", "");
    assert_eq!(
        guest_mirrors(&cp),
        None,
        "no imageContentSources: nothing for the guest"
    );
    let sources: Vec<hypershift_api::hosted_cluster::ImageContentSource> = serde_json::from_value(serde_json::json!([
        {"source": ART, "mirrors": ["mirror.invalid:5000/openshift/release"]},
        {"source": "quay.invalid/openshift-release-dev/ocp-release", "mirrors": ["mirror.invalid:5000/openshift/release-images"]},
    ]))
    .unwrap();
    let mut b = hypershift_mirrors::MirrorSetBuilder::new();
    b.add_image_content_sources("clusters-example/example", &sources)
        .unwrap();
    cp.data_plane_mirrors = b.build();
    let cm = guest_mirrors(&cp).unwrap();
    assert_eq!(
        guest_mirrors(&cp),
        Some(cm.clone()),
        "not byte-identical on re-render"
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hcp/build/snapshots");
    assert_golden(&dir, "image_content_sources-guest-image-mirrors", &cm);
    let data = cm.data.unwrap();
    assert!(data[GUEST_MIRROR_SETS_KEY].contains("kind: ImageDigestMirrorSet"));
    assert!(data[GUEST_REGISTRIES_CONF_KEY].contains("pull-from-mirror = \"digest-only\""));
}

mod olm {
    //! The catalogs' objects per variant: one golden file each with every object of the variant.

    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use hypershift_api::hosted_control_plane::HostedControlPlane;
    use hypershift_support::golden::assert_golden;

    use super::control_plane;
    use crate::catalogs::{self, CATALOGS, Placement};
    use crate::hcp::build::catalogs::{CatalogObjects, build};
    use crate::hcp::dereference::catalogs::{CatalogInputs, Resolution};
    use crate::hcp::dereference::{Dereferenced, ReleaseProblem};
    use crate::hcp::validate::{CatalogPlan, ValidControlPlane, catalog_plan};

    const DIGEST: &str = "sha256:00000000000000000000000000000000000000000000000000000000000000c0";

    fn dereferenced(inputs: CatalogInputs) -> Dereferenced {
        Dereferenced {
            hcp: Arc::new(HostedControlPlane::new(
                "example",
                hypershift_api::hosted_control_plane::HostedControlPlaneSpec::default(),
            )),
            release: Err(ReleaseProblem::Reference("not used by the plan".into())),
            available: BTreeMap::new(),
            catalogs: Some(inputs),
            current_images: BTreeMap::new(),
            image_problems: BTreeMap::new(),
            image_stream: None,
        }
    }

    fn all_found() -> CatalogInputs {
        CatalogInputs::Resolved(
            CATALOGS
                .iter()
                .map(|c| {
                    (
                        c.name,
                        Resolution::Found {
                            address: format!("mirror.invalid:5000/olm/{}:v4.22", c.repository),
                            digest: DIGEST.into(),
                        },
                    )
                })
                .collect(),
        )
    }

    fn render(
        name: &str,
        d: &Dereferenced,
        image_stream_api: bool,
    ) -> (ValidControlPlane, Option<CatalogObjects>) {
        let mut cp = control_plane("", "");
        cp.catalogs = catalog_plan(d, image_stream_api);
        if matches!(d.catalogs, Some(CatalogInputs::Guest)) {
            cp.placement = Placement::Guest;
        }
        let built = build(&cp);
        assert_eq!(built, build(&cp), "{name}: not byte-identical on re-render");
        if let Some(objects) = &built {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/hcp/build/snapshots");
            let all = serde_json::json!({
                "imageStream": objects.image_stream,
                "deployments": objects.deployments,
                "services": objects.services,
                "kept": objects.kept,
            });
            assert_golden(&dir, &format!("catalogs-{name}"), &all);
        }
        (cp, built)
    }

    fn images(d: &k8s_openapi::api::apps::v1::Deployment) -> Vec<String> {
        let pod = d.spec.clone().unwrap().template.spec.unwrap();
        pod.init_containers
            .unwrap_or_default()
            .into_iter()
            .chain(pod.containers)
            .map(|c| c.image.unwrap())
            .collect()
    }

    #[test]
    fn with_the_image_stream_api_tags_carry_the_found_addresses() {
        let (_, built) = render("image_stream", &dereferenced(all_found()), true);
        let objects = built.unwrap();
        let stream = objects.image_stream.unwrap();
        let tags: Vec<&str> = stream.spec.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            tags,
            [
                "certified-operators",
                "community-operators",
                "redhat-marketplace",
                "redhat-operators"
            ]
        );
        assert_eq!(objects.deployments.len(), 4);
        assert_eq!(objects.services.len(), 4);
        for d in &objects.deployments {
            let annotations = d.metadata.annotations.clone().unwrap();
            assert!(annotations.contains_key("image.openshift.io/triggers"));
            // The placeholder the trigger resolves, never a digest we chose.
            assert!(images(d)[1].starts_with("catalogs:"), "{:?}", images(d));
        }
    }

    #[test]
    fn the_image_the_trigger_set_is_kept() {
        let mut d = dereferenced(all_found());
        d.current_images.insert(
            "redhat-operators-catalog".into(),
            "image-registry.invalid/clusters-example/catalogs@sha256:1".into(),
        );
        let mut cp = control_plane("image-registry.invalid=rewritten.invalid", "");
        cp.catalogs = catalog_plan(&d, true);
        let objects = build(&cp).unwrap();
        let redhat = objects
            .deployments
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some("redhat-operators-catalog"))
            .unwrap();
        assert_eq!(
            images(redhat)[1..],
            [
                "image-registry.invalid/clusters-example/catalogs@sha256:1",
                "image-registry.invalid/clusters-example/catalogs@sha256:1"
            ],
            "written back as the trigger set it, not rewritten again"
        );
    }

    #[test]
    fn without_the_image_stream_api_deployments_pin_the_digest() {
        let (_, built) = render("direct", &dereferenced(all_found()), false);
        let objects = built.unwrap();
        assert!(objects.image_stream.is_none());
        for d in &objects.deployments {
            assert!(d.metadata.annotations.is_none(), "no trigger");
            let all = images(d);
            assert!(all[1].ends_with(&format!("-index@{DIGEST}")), "{all:?}");
            assert_eq!(all[1], all[2]);
            assert!(all[1].starts_with("mirror.invalid:5000/olm/"), "{all:?}");
        }
    }

    #[test]
    fn all_four_annotations_pin_every_catalog_and_no_image_stream() {
        let pinned = CATALOGS
            .iter()
            .map(|c| (c.name, format!("pinned.invalid/olm/{}@{DIGEST}", c.repository)))
            .collect();
        let (_, built) = render("annotations", &dereferenced(CatalogInputs::Pinned(pinned)), true);
        let objects = built.unwrap();
        assert!(
            objects.image_stream.is_none(),
            "pinned: no ImageStream, even where served"
        );
        assert_eq!(objects.deployments.len(), 4);
        for d in &objects.deployments {
            assert!(images(d)[1].starts_with("pinned.invalid/olm/"));
        }
    }

    #[test]
    fn registry_overrides_reach_the_catalog_images_too() {
        let mut cp = control_plane(
            "mirror.invalid:5000/olm=rewritten.invalid/olm,quay.invalid/openshift-release-dev=rewritten.invalid/ocp",
            "",
        );
        cp.catalogs = catalog_plan(&dereferenced(all_found()), false);
        for d in build(&cp).unwrap().deployments {
            for image in images(&d) {
                assert!(image.starts_with("rewritten.invalid/"), "{image}");
            }
        }
    }

    #[test]
    fn three_annotations_or_a_tag_change_nothing() {
        for (variant, annotations) in [("three", 3usize), ("a tag", 4)] {
            let mut map: BTreeMap<String, String> = CATALOGS
                .iter()
                .take(annotations)
                .map(|c| {
                    (
                        c.annotation.to_owned(),
                        format!("pinned.invalid/olm/{}@{DIGEST}", c.repository),
                    )
                })
                .collect();
            if variant == "a tag" {
                map.insert(
                    CATALOGS[0].annotation.to_owned(),
                    "pinned.invalid/olm/x:v4.22".into(),
                );
            }
            let message = catalogs::pinned_images(&map).unwrap_err();
            let d = dereferenced(CatalogInputs::Invalid {
                reason: "InvalidCatalogImageAnnotations",
                message,
            });
            let mut cp = control_plane("", "");
            cp.catalogs = catalog_plan(&d, true);
            assert_eq!(cp.catalogs, CatalogPlan::Unchanged, "{variant}");
            assert_eq!(build(&cp), None, "{variant}: nothing half-applied");
        }
    }

    #[test]
    fn guest_placement_renders_nothing_and_the_olm_operators_skip_the_catalogs() {
        let (cp, built) = render("guest", &dereferenced(CatalogInputs::Guest), true);
        assert_eq!(built, Some(CatalogObjects::default()), "everything pruned");
        let olm = crate::hcp::build::build(&cp)
            .into_iter()
            .find(|w| w.name() == "catalog-operator")
            .unwrap();
        let crate::hcp::build::Workload::Deployment(d) = olm else {
            panic!("a Deployment")
        };
        let env = d.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap();
        let no_proxy = env.iter().find(|e| e.name == "NO_PROXY").unwrap();
        assert_eq!(no_proxy.value.as_deref(), Some("kube-apiserver"));
    }

    #[test]
    fn disabled_default_sources_render_no_catalog() {
        let hcp: HostedControlPlane = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "example"},
            "spec": {"releaseImage": "r", "pullSecret": {"name": "pull-secret"},
                     "configuration": {"operatorhub": {"disableAllDefaultSources": true}}},
        }))
        .unwrap();
        assert!(crate::hcp::dereference::catalogs::default_sources_disabled(&hcp));
        let mut cp = control_plane("", "");
        cp.catalogs = catalog_plan(&dereferenced(CatalogInputs::Disabled), true);
        assert_eq!(build(&cp), Some(CatalogObjects::default()), "everything pruned");
        let mut enabled = hcp.clone();
        enabled.spec.configuration = Some(serde_json::json!({"operatorhub": {}}));
        assert!(!crate::hcp::dereference::catalogs::default_sources_disabled(
            &enabled
        ));
    }

    #[test]
    fn a_catalog_not_found_keeps_its_objects_and_its_tag() {
        let CatalogInputs::Resolved(mut r) = all_found() else {
            unreachable!()
        };
        r.insert(
            "redhat-marketplace",
            Resolution::NotFound {
                tried: vec!["mirror.invalid:5000/olm/redhat-marketplace-index:v4.22".into()],
            },
        );
        let mut d = dereferenced(CatalogInputs::Resolved(r));
        let mut previous = hypershift_api::openshift::ImageStream::new(
            "catalogs",
            hypershift_api::openshift::ImageStreamSpec::default(),
        );
        previous.spec.tags.push(hypershift_api::openshift::TagReference {
            name: "redhat-marketplace".into(),
            ..hypershift_api::openshift::TagReference::default()
        });
        d.image_stream = Some(previous);
        let mut cp = control_plane("", "");
        cp.catalogs = catalog_plan(&d, true);
        let objects = build(&cp).unwrap();
        assert_eq!(objects.kept, ["redhat-marketplace"]);
        assert_eq!(objects.deployments.len(), 3);
        assert!(
            objects
                .deployment_names()
                .contains(&"redhat-marketplace-catalog".to_owned())
        );
        let tags: Vec<String> = objects
            .image_stream
            .unwrap()
            .spec
            .tags
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(tags.len(), 4, "the previous tag stays: {tags:?}");
    }
}
