//! The NodePool's config, its hash, and the pointer Ignition config.

use std::io::Write as _;

use base64::Engine as _;
use hypershift_api::hosted_cluster::HostedCluster;
use hypershift_api::node_pool::NodePool;
use hypershift_api::openshift::{ImageDigestMirrorSet, ImageDigestMirrorSetSpec, ImageMirrors};
use kube::ResourceExt as _;
use serde_json::json;

use crate::context::Context;

/// Kinds a NodePool config document may have (upstream's list, plus ImageTagMirrorSet).
const SUPPORTED_KINDS: &[&str] = &[
    "MachineConfig",
    "KubeletConfig",
    "ContainerRuntimeConfig",
    "ImageContentSourcePolicy",
    "ImageDigestMirrorSet",
    "ImageTagMirrorSet",
    "ClusterImagePolicy",
];

/// HyperShift's `HashSimple` over a string: FNV-1a 32-bit, 8 lower-case hex digits. (Five lines;
/// the `fnv` crate only has the 64-bit variant.)
pub fn hash_simple(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// The config hash naming a NodePool's Secrets.
pub fn config_hash(
    config: &str,
    release_image: &str,
    pull_secret_name: &str,
    trust_bundle_name: &str,
) -> String {
    hash_simple(&format!(
        "{config}{release_image}{pull_secret_name}{trust_bundle_name}"
    ))
}

/// HyperShift's `CompressAndEncode`: gzip (best compression), then standard base64.
pub fn compress_and_encode(data: &[u8]) -> String {
    if data.is_empty() {
        return String::new();
    }
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(data);
    base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap_or_default())
}

/// The pointer Ignition config (spec 3.2.0) a node boots with.
pub fn pointer_config(endpoint: &str, token: &str, node_pool: &str, hash: &str, ca_pem: &[u8]) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    json!({
        "ignition": {
            "version": "3.2.0",
            "config": {"merge": [{
                "source": format!("https://{endpoint}/ignition"),
                "httpHeaders": [
                    {"name": "Authorization", "value": format!("Bearer {}", b64(token.as_bytes()))},
                    {"name": "NodePool", "value": node_pool},
                    {"name": "TargetConfigVersionHash", "value": hash},
                ],
            }]},
            "security": {"tls": {"certificateAuthorities": [{"source": format!("data:text/plain;base64,{}", b64(ca_pem))}]}},
        }
    })
    .to_string()
}

/// The data-plane mirrors as the guest IDMS named `cluster` (what the nodes' registries.conf
/// comes from), or `None` without mirrors.
pub fn data_plane_idms(hc: &HostedCluster) -> Option<String> {
    if hc.spec.image_content_sources.is_empty() {
        return None;
    }
    let mut idms = ImageDigestMirrorSet::new(
        "cluster",
        ImageDigestMirrorSetSpec {
            image_digest_mirrors: hc
                .spec
                .image_content_sources
                .iter()
                .map(|s| ImageMirrors {
                    source: s.source.clone(),
                    mirrors: s.mirrors.clone(),
                    mirror_source_policy: None,
                })
                .collect(),
        },
    );
    idms.metadata.labels = Some(
        [(
            "machineconfiguration.openshift.io/role".to_owned(),
            "worker".to_owned(),
        )]
        .into(),
    );
    hypershift_api::yaml::to_string(&idms).ok()
}

/// All config documents of a NodePool, sorted and joined by `---` (upstream's `mcoRawConfig`);
/// `Ok(Err(message))` when a ConfigMap is missing or a document is not acceptable.
pub async fn raw_config(
    ctx: &Context,
    np: &NodePool,
    hc: &HostedCluster,
) -> Result<Result<String, String>, kube::Error> {
    let mut documents: Vec<String> = data_plane_idms(hc).into_iter().collect();
    let names: Vec<String> = np.spec.config.iter().map(|c| c.name.clone()).collect();
    let mut problems = Vec::new();
    for (name, found) in names
        .iter()
        .zip(super::config_maps(ctx, &np.namespace().unwrap_or_default(), &names).await?)
    {
        let text = match found {
            Ok(cm) => cm.data.and_then(|mut d| d.remove("config")),
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let Some(text) = text else {
            problems.push(format!("configmap {name:?} has no \"config\" key"));
            continue;
        };
        match split_documents(name, &text) {
            Ok(docs) => documents.extend(docs),
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems.join("; ")));
    }
    documents.sort();
    Ok(Ok(documents.join("\n---\n")))
}

/// The non-blank documents of one ConfigMap's `config`, each of a supported kind.
fn split_documents(configmap: &str, text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.trim_end() == "---" {
            let doc = current.trim();
            if !doc.is_empty() {
                let value: serde_json::Value = serde_saphyr::from_str(doc).map_err(|e| {
                    format!(
                        "configmap {configmap:?} contains invalid yaml: {}",
                        e.to_string().lines().next().unwrap_or_default()
                    )
                })?;
                let kind = value
                    .get("kind")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default();
                if !SUPPORTED_KINDS.contains(&kind) {
                    return Err(format!(
                        "configmap {configmap:?} yaml document failed validation: unsupported config type: {kind}"
                    ));
                }
                out.push(doc.to_owned());
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_simple_matches_hypershift() {
        // Vectors from spec/olm-dataplane-ignition.md §0.1.
        assert_eq!(hash_simple(""), "811c9dc5");
        assert_eq!(hash_simple("test-ca-bundle"), "196fecff");
        assert_eq!(
            hash_simple(&format!(
                "test config{}{}{}{}",
                "4.7.0", "pull-secret", "trust-bundle", "global config"
            )),
            "bb196408"
        );
    }

    #[test]
    fn compress_and_encode_round_trips() {
        use std::io::Read as _;
        let encoded = compress_and_encode(b"kind: MachineConfig\n");
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "kind: MachineConfig\n");
        assert_eq!(compress_and_encode(b""), "");
    }

    #[test]
    fn pointer_config_carries_endpoint_token_and_ca() {
        let text = pointer_config(
            "ignition-server.clusters-a.svc:443",
            "tok",
            "clusters/np",
            "abcd1234",
            b"CA",
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let merge = &v["ignition"]["config"]["merge"][0];
        assert_eq!(
            merge["source"],
            "https://ignition-server.clusters-a.svc:443/ignition"
        );
        assert_eq!(merge["httpHeaders"][0]["value"], "Bearer dG9r");
        assert_eq!(merge["httpHeaders"][1]["value"], "clusters/np");
        assert_eq!(
            v["ignition"]["security"]["tls"]["certificateAuthorities"][0]["source"],
            "data:text/plain;base64,Q0E="
        );
        assert_eq!(v["ignition"]["version"], "3.2.0");
        assert_eq!(
            text,
            pointer_config(
                "ignition-server.clusters-a.svc:443",
                "tok",
                "clusters/np",
                "abcd1234",
                b"CA"
            )
        );
    }

    #[test]
    fn config_documents_are_checked() {
        let ok = split_documents(
            "c",
            "kind: MachineConfig\nmetadata:\n  name: a\n---\n\n---\nkind: KubeletConfig\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let err = split_documents("c", "kind: Deployment\n").unwrap_err();
        assert_eq!(
            err,
            "configmap \"c\" yaml document failed validation: unsupported config type: Deployment"
        );
        assert!(
            split_documents("c", "kind: [\n")
                .unwrap_err()
                .contains("invalid yaml")
        );
    }
}
