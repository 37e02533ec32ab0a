//! The builders: a golden file per variant, byte-identical re-renders, and `--registry-overrides`
//! on every image of every pod spec (containers and init containers alike).

use std::collections::BTreeMap;
use std::path::Path;

use hypershift_mirrors::{ImageOverrides, RegistryOverrides};
use hypershift_support::golden::assert_golden;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::*;
use crate::components::required_components;

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
