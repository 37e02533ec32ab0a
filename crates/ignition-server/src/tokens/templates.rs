//! The machine-config-operator's templates, read from its image (`etc/mcc/templates/**`), and
//! how we render them.
//!
//! Layout (the MCO's own): `etc/mcc/templates/common/<platform>/{files,units}/<x>.yaml` for every
//! role, `etc/mcc/templates/<role>/<config>/<platform>/{files,units}/<x>.yaml` for one. We render
//! `common` and role `worker` (a NodePool's nodes are workers), platform `_base`; other roles and
//! platform-specific directories are not for these nodes, and other files are not templates. A
//! path two templates write comes from the later one, in the order: `common`, then each worker
//! config by name, then file name.
//!
//! A file template:
//! ```yaml
//! mode: 420            # or "0644" (octal as a string)
//! path: /etc/kubernetes/kubelet.conf
//! contents:
//!   inline: |
//!     ...
//! ```
//! A unit template: `name`, `enabled` (optional), `contents` (optional), `dropins` (optional list
//! of `name`, `contents`).
//!
//! Placeholders are substituted into the template text before it is read as YAML. Exactly these
//! exist; anything else between `{{` and `}}` is an error naming the template and the placeholder
//! (never output with a hole in it):
//!
//! | Placeholder | Value |
//! |---|---|
//! | `{{.ReleaseVersion}}` | the release's version (`4.99.0`) |
//! | `{{.ReleaseImage}}` | the NodePool's release image, as written |
//! | `{{.NodePool}}` | `<namespace>/<name>` of the NodePool |
//! | `{{.Images.<component>}}` | the component's pull spec as the release names it (the source name: the node's container runtime applies the registries.conf the payload carries) |
//!
//! Spaces inside the braces are allowed (`{{ .ReleaseVersion }}`). The MCO's real templates use Go
//! template logic (`if`, `range`, functions) that we do not evaluate: such a template is an error,
//! as is any placeholder not in the table.

use std::collections::BTreeMap;

use base64::Engine as _;
use ignition_config::v3_2::{Dropin, File, Resource, Unit};
use serde::Deserialize;

/// Where the templates are in the MCO image.
pub const TEMPLATES_DIR: &str = "etc/mcc/templates/";
const ROLES: [&str; 2] = ["common", "worker"];
const PLATFORM: &str = "_base";

/// Why the templates do not render. Names the template; quotes only the placeholder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template {template}: unknown placeholder {placeholder:?}")]
    UnknownPlaceholder { template: String, placeholder: String },
    #[error("template {template}: unterminated placeholder (a {{{{ without }}}})")]
    Unterminated { template: String },
    #[error("template {template}: {reason}")]
    Invalid { template: String, reason: String },
    #[error("the machine-config-operator image has no templates under /{TEMPLATES_DIR}")]
    None,
}

/// What placeholders stand for.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    pub release_version: &'a str,
    pub release_image: &'a str,
    pub node_pool: &'a str,
    pub images: &'a BTreeMap<String, String>,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            ".ReleaseVersion" => Some(self.release_version),
            ".ReleaseImage" => Some(self.release_image),
            ".NodePool" => Some(self.node_pool),
            _ => name
                .strip_prefix(".Images.")
                .and_then(|c| self.images.get(c))
                .map(String::as_str),
        }
    }
}

/// `text` with every placeholder replaced.
pub fn substitute(template: &str, text: &str, values: &Values<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| TemplateError::Unterminated {
            template: template.to_owned(),
        })?;
        let name = after[..end].trim();
        let value = values
            .get(name)
            .ok_or_else(|| TemplateError::UnknownPlaceholder {
                template: template.to_owned(),
                placeholder: name.chars().take(80).collect(),
            })?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTemplate {
    mode: Option<Mode>,
    path: String,
    contents: Option<Contents>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    inline: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Mode {
    Number(i64),
    Octal(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitTemplate {
    name: String,
    enabled: Option<bool>,
    contents: Option<String>,
    #[serde(default)]
    dropins: Vec<DropinTemplate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DropinTemplate {
    name: String,
    contents: Option<String>,
}

/// The rendered templates: files by path, units by name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rendered {
    pub files: BTreeMap<String, File>,
    pub units: BTreeMap<String, Unit>,
}

enum Kind {
    File,
    Unit,
}

/// Orders templates: config name (`""` for `common`), role rank, file name.
type SortKey = (String, usize, String);

/// (sort key, kind) of a template path we render, `None` for the others.
fn classify(path: &str) -> Option<(SortKey, Kind)> {
    let rel = path.strip_prefix(TEMPLATES_DIR)?;
    let parts: Vec<&str> = rel.split('/').collect();
    let (role, config, platform, kind, file) = match parts.as_slice() {
        ["common", platform, kind, file] => ("common", "", *platform, *kind, *file),
        [role, config, platform, kind, file] if *role != "common" => {
            (*role, *config, *platform, *kind, *file)
        }
        _ => return None,
    };
    let role_rank = ROLES.iter().position(|r| *r == role)?;
    let yaml = std::path::Path::new(file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if platform != PLATFORM || !yaml {
        return None;
    }
    let kind = match kind {
        "files" => Kind::File,
        "units" => Kind::Unit,
        _ => return None,
    };
    Some(((config.to_owned(), role_rank, file.to_owned()), kind))
}

/// A file's contents as Ignition carries them: a base64 `data:` URL.
pub fn data_url(bytes: &[u8]) -> Resource {
    Resource {
        source: Some(format!(
            "data:;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )),
        ..Resource::default()
    }
}

/// An Ignition file at `path` with `mode`, overwriting what is there.
pub fn file(path: &str, mode: i64, contents: &[u8]) -> File {
    File {
        mode: Some(mode),
        overwrite: Some(true),
        contents: Some(data_url(contents)),
        ..File::new(path.to_owned())
    }
}

/// Renders every template of ours in `files` (path → content, as read from the image).
pub fn render(files: &BTreeMap<String, Vec<u8>>, values: &Values<'_>) -> Result<Rendered, TemplateError> {
    let mut ours: Vec<(SortKey, Kind, &str, &[u8])> = files
        .iter()
        .filter_map(|(path, content)| {
            classify(path).map(|(key, kind)| (key, kind, path.as_str(), content.as_slice()))
        })
        .collect();
    if files.is_empty() {
        return Err(TemplateError::None);
    }
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rendered = Rendered::default();
    for (_, kind, path, content) in ours {
        let invalid = |reason: String| TemplateError::Invalid {
            template: path.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(content).map_err(|_| invalid("not UTF-8 text".into()))?;
        let text = substitute(path, text, values)?;
        let yaml_error =
            |e: serde_saphyr::Error| invalid(format!("not a template: {}", first_line(&e.to_string())));
        match kind {
            Kind::File => {
                let t: FileTemplate = serde_saphyr::from_str(&text).map_err(yaml_error)?;
                if !t.path.starts_with('/') {
                    return Err(invalid(format!("path {:?} is not absolute", t.path)));
                }
                let mode = match t.mode {
                    None => 0o644,
                    Some(Mode::Number(n)) => n,
                    Some(Mode::Octal(s)) => i64::from_str_radix(s.trim_start_matches("0o"), 8)
                        .map_err(|_| invalid(format!("mode {s:?} is not octal")))?,
                };
                if !(0..=0o7777).contains(&mode) {
                    return Err(invalid(format!("mode {mode} is out of range")));
                }
                let contents = t.contents.map(|c| c.inline).unwrap_or_default();
                rendered
                    .files
                    .insert(t.path.clone(), file(&t.path, mode, contents.as_bytes()));
            }
            Kind::Unit => {
                let t: UnitTemplate = serde_saphyr::from_str(&text).map_err(yaml_error)?;
                let dropins = (!t.dropins.is_empty()).then(|| {
                    t.dropins
                        .into_iter()
                        .map(|d| Dropin {
                            contents: d.contents,
                            ..Dropin::new(d.name)
                        })
                        .collect()
                });
                let unit = Unit {
                    enabled: t.enabled,
                    contents: t.contents,
                    dropins,
                    ..Unit::new(t.name.clone())
                };
                rendered.units.insert(t.name, unit);
            }
        }
    }
    Ok(rendered)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(images: &BTreeMap<String, String>) -> Values<'_> {
        Values {
            release_version: "4.99.0",
            release_image: "quay.invalid/ocp/release@sha256:aa",
            node_pool: "clusters/workers",
            images,
        }
    }

    fn tree(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(p, c)| (format!("{TEMPLATES_DIR}{p}"), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn placeholders_are_substituted_and_unknown_ones_are_errors() {
        let images = BTreeMap::from([("cli".to_owned(), "quay.invalid/ocp/art@sha256:cc".to_owned())]);
        let v = values(&images);
        assert_eq!(
            substitute(
                "t",
                "v={{.ReleaseVersion}} i={{ .Images.cli }} np={{.NodePool}}",
                &v
            )
            .unwrap(),
            "v=4.99.0 i=quay.invalid/ocp/art@sha256:cc np=clusters/workers"
        );
        assert_eq!(
            substitute("t", "{{.Images.nope}}", &v).unwrap_err(),
            TemplateError::UnknownPlaceholder {
                template: "t".into(),
                placeholder: ".Images.nope".into()
            }
        );
        assert!(matches!(
            substitute("t", "{{if .X}}a{{end}}", &v).unwrap_err(),
            TemplateError::UnknownPlaceholder { .. }
        ));
        assert!(matches!(
            substitute("t", "a {{.ReleaseVersion", &v).unwrap_err(),
            TemplateError::Unterminated { .. }
        ));
        assert_eq!(
            substitute("t", "no placeholders }}", &v).unwrap(),
            "no placeholders }}"
        );
    }

    #[test]
    fn worker_and_common_base_templates_render_later_wins() {
        let images = BTreeMap::new();
        let files = tree(&[
            (
                "common/_base/files/a.yaml",
                "mode: 420\npath: /etc/a\ncontents:\n  inline: common {{.ReleaseVersion}}\n",
            ),
            (
                "worker/00-worker/_base/files/a.yaml",
                "mode: \"0600\"\npath: /etc/a\ncontents:\n  inline: worker\n",
            ),
            (
                "worker/00-worker/_base/units/kubelet.service.yaml",
                "name: kubelet.service\nenabled: true\ncontents: |\n  [Unit]\n  Description=k {{.ReleaseVersion}}\ndropins:\n- name: 10-x.conf\n  contents: x\n",
            ),
            ("master/00-master/_base/files/m.yaml", "path: /etc/m\n"),
            ("worker/00-worker/aws/files/p.yaml", "path: /etc/p\n"),
            ("worker/00-worker/_base/files/README.md", "not a template"),
        ]);
        let r = render(&files, &values(&images)).unwrap();
        assert_eq!(r.files.keys().collect::<Vec<_>>(), ["/etc/a"]);
        assert_eq!(r.files["/etc/a"].mode, Some(0o600));
        assert_eq!(
            r.files["/etc/a"].contents.as_ref().unwrap().source.as_deref(),
            Some("data:;base64,d29ya2Vy")
        );
        let unit = &r.units["kubelet.service"];
        assert_eq!(unit.enabled, Some(true));
        assert!(unit.contents.as_deref().unwrap().contains("Description=k 4.99.0"));
        assert_eq!(unit.dropins.as_ref().unwrap()[0].name, "10-x.conf");
    }

    #[test]
    fn bad_templates_name_themselves() {
        let images = BTreeMap::new();
        let v = values(&images);
        for (content, expect) in [
            ("path: relative\n", "is not absolute"),
            ("mode: \"0999\"\npath: /etc/x\n", "is not octal"),
            ("mode: 99999\npath: /etc/x\n", "out of range"),
            ("path: /etc/x\nowner: root\n", "not a template"),
            ("{{.Nope}}", "unknown placeholder"),
        ] {
            let files = tree(&[("worker/01-x/_base/files/x.yaml", content)]);
            let err = render(&files, &v).unwrap_err().to_string();
            assert!(err.contains("worker/01-x/_base/files/x.yaml"), "{err}");
            assert!(err.contains(expect), "{content}: {err}");
        }
        assert_eq!(render(&BTreeMap::new(), &v).unwrap_err(), TemplateError::None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any template text renders or fails with an error naming the template; never a panic,
        /// and a success never leaves a placeholder behind.
        #[test]
        fn arbitrary_templates_never_panic(text in "(\\PC|\\{\\{|\\}\\}|\\.ReleaseVersion|\\n){0,80}", unit in any::<bool>()) {
            let images = BTreeMap::new();
            let values = Values { release_version: "4.99.0", release_image: "r", node_pool: "ns/np", images: &images };
            let kind = if unit { "units" } else { "files" };
            let path = format!("{TEMPLATES_DIR}worker/00-worker/_base/{kind}/x.yaml");
            let files = BTreeMap::from([(path.clone(), text.clone().into_bytes())]);
            match render(&files, &values) {
                Ok(_) => prop_assert!(!substitute(&path, &text, &values).unwrap().contains("{{")),
                Err(e) => prop_assert!(e.to_string().contains(&path)),
            }
        }
    }
}
