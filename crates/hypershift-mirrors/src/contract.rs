//! The mirror carriers between the binaries (spec/overrides.md §4.7), typed once.
//!
//! The hypershift-operator writes two carriers into the control-plane-operator and
//! ignition-server Deployments, and those binaries read them back at start-up:
//! - the flag `--registry-overrides` (HyperShift's `StringToString` value, `=` when empty): the
//!   control-plane-operator gets it as one argument `--registry-overrides=<value>`, the
//!   ignition-server as two, `--registry-overrides` `<value>`, exactly as HyperShift renders them;
//! - the env var `OPENSHIFT_IMG_OVERRIDES`: the management mirrors (`src=mirror,…`, `=` when
//!   empty), each source's mirrors in priority order.
//!
//! No binary parses another's strings ad hoc: both sides go through [`MirrorCarriers`].

use crate::mirror_set::{Domain, InputError, Management, MirrorSet, MirrorSetBuilder};
use crate::wire::{FlagError, ImageOverrides, RegistryOverrides};

/// The env var carrying the management mirrors.
pub const IMAGE_OVERRIDES_ENV: &str = "OPENSHIFT_IMG_OVERRIDES";
/// The flag carrying `--registry-overrides`.
pub const REGISTRY_OVERRIDES_FLAG: &str = "--registry-overrides";
/// The flag carrying the mirror registries' CA bundle file.
pub const REGISTRY_CA_BUNDLE_FLAG: &str = "--registry-ca-bundle";

/// What the hypershift-operator hands its children about mirrors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorCarriers {
    pub registry_overrides: RegistryOverrides,
    pub image_overrides: ImageOverrides,
}

impl MirrorCarriers {
    /// The carriers for `mirrors` and `registry_overrides`.
    pub fn new<D: Domain>(mirrors: &MirrorSet<D>, registry_overrides: RegistryOverrides) -> Self {
        Self {
            registry_overrides,
            image_overrides: mirrors.to_image_overrides(),
        }
    }

    /// The `OPENSHIFT_IMG_OVERRIDES` value.
    pub fn env_value(&self) -> String {
        self.image_overrides.to_env()
    }

    /// `--registry-overrides=<value>`: one argument (the control-plane-operator's form).
    pub fn joined_flag(&self) -> String {
        format!("{REGISTRY_OVERRIDES_FLAG}={}", self.registry_overrides.to_flag())
    }

    /// `--registry-overrides`, `<value>`: two arguments (the ignition-server's form).
    pub fn split_flag(&self) -> [String; 2] {
        [
            REGISTRY_OVERRIDES_FLAG.to_owned(),
            self.registry_overrides.to_flag(),
        ]
    }

    /// What a child reads back: its `OPENSHIFT_IMG_OVERRIDES` (if set) and each occurrence of its
    /// `--registry-overrides` flag.
    pub fn receive(env: Option<&str>, flag_values: &[String]) -> Result<Self, FlagError> {
        let mut registry_overrides = RegistryOverrides::new();
        for value in flag_values {
            registry_overrides.merge_flag(value)?;
        }
        let image_overrides = env.and_then(ImageOverrides::parse_env).unwrap_or_default();
        Ok(Self {
            registry_overrides,
            image_overrides,
        })
    }

    /// The management mirrors the env carries, as a rule set (every mirror for digests and tags).
    pub fn mirror_set(&self) -> Result<MirrorSet<Management>, InputError> {
        let mut builder = MirrorSetBuilder::new();
        builder.add_image_overrides(IMAGE_OVERRIDES_ENV, &self.image_overrides)?;
        Ok(builder.build())
    }
}

impl MirrorCarriers {
    /// The control-plane-operator's mirror set (upstream's `buildImageRegistryOverrides`, spec
    /// overrides.md §4.5): the env's mirrors first, each `--registry-overrides` target appended to
    /// its source as the last-priority mirror. Unlike upstream, a target already listed is not
    /// added again, and the empty pair pflag makes of `--registry-overrides==` adds nothing.
    pub fn merged_mirror_set(&self) -> Result<MirrorSet<Management>, InputError> {
        let mut merged = self.image_overrides.clone();
        for (source, target) in self.registry_overrides.iter() {
            if source.is_empty() || target.is_empty() {
                continue;
            }
            let listed = merged
                .as_map()
                .get(source)
                .is_some_and(|m| m.iter().any(|x| x == target));
            if !listed {
                merged.push(source, target);
            }
        }
        let mut builder = MirrorSetBuilder::new();
        builder.add_image_overrides(IMAGE_OVERRIDES_ENV, &merged)?;
        Ok(builder.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_plane_operator_appends_override_targets_last_without_duplicates() {
        let env = "quay.invalid/ocp=m1.invalid/ocp,quay.invalid/ocp=m2.invalid/ocp";
        let flag = "quay.invalid/ocp=m1.invalid/ocp,quay.invalid/tools=r.invalid/tools";
        let carriers = MirrorCarriers::receive(Some(env), &[flag.to_owned(), "=".to_owned()]).unwrap();
        let set = carriers.merged_mirror_set().unwrap();
        assert_eq!(
            set.to_image_overrides().to_env(),
            "quay.invalid/ocp=m1.invalid/ocp,quay.invalid/ocp=m2.invalid/ocp,quay.invalid/tools=r.invalid/tools"
        );
        // No carrier at all: no rule, and no `"" → ""` entry.
        let none = MirrorCarriers::receive(None, &["=".to_owned()]).unwrap();
        assert!(none.merged_mirror_set().unwrap().is_empty());
    }

    #[test]
    fn carriers_render_as_hypershift_does_and_read_back() {
        let mut b = MirrorSetBuilder::new();
        b.add_image_overrides(
            "x",
            &[(
                "quay.io/a".to_owned(),
                vec!["m2.io/a".to_owned(), "m1.io/a".to_owned()],
            )]
            .into_iter()
            .collect(),
        )
        .unwrap();
        let set: MirrorSet<Management> = b.build();
        let none = MirrorCarriers::new(&set, RegistryOverrides::new());
        assert_eq!(none.joined_flag(), "--registry-overrides==");
        assert_eq!(
            none.split_flag(),
            ["--registry-overrides".to_owned(), "=".to_owned()]
        );
        assert_eq!(none.env_value(), "quay.io/a=m2.io/a,quay.io/a=m1.io/a");
        let some = MirrorCarriers::new(&set, RegistryOverrides::parse_flag("r.io=o.io").unwrap());
        let back = MirrorCarriers::receive(Some(&some.env_value()), &[some.split_flag()[1].clone()]).unwrap();
        assert_eq!(back, some);
        assert_eq!(
            back.mirror_set().unwrap().to_image_overrides(),
            set.to_image_overrides()
        );
        let empty = MirrorCarriers::receive(Some("="), &["=".to_owned()]).unwrap();
        assert!(empty.image_overrides.is_empty());
        assert_eq!(empty.registry_overrides.to_flag(), "=");
        assert_eq!(MirrorCarriers::default().env_value(), "=");
    }
}
