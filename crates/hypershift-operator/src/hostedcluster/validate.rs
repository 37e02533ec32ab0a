//! Step 2: checks everything dereferenced and turns it into a [`ValidatedHostedCluster`]. No
//! client, no clock. After this step nothing reads the HostedCluster's spec.
//!
//! Each problem becomes an [`Invalid`] naming the condition it fails, a reason and the offending
//! value; an invalid HostedCluster waits for a change (no retry loop).

use std::collections::BTreeMap;

use hypershift_api::conditions::{self, reasons};
use hypershift_api::hosted_cluster::{HostedCluster, annotations};
use hypershift_api::hosted_cluster::{LocalObjectReference, PlatformSpec};
use hypershift_api::hosted_control_plane::HostedControlPlaneSpec;
use hypershift_api::names;
use hypershift_mirrors::contract::MirrorCarriers;
use hypershift_mirrors::{DataPlaneMirrors, ImageRef, MirrorSetBuilder};
use hypershift_releaseinfo::{PullSecret, ReleaseImage, Served};
use kube::ResourceExt as _;

use super::dereference::Dereferenced;
use crate::pki::IgnitionPki;

/// Annotations copied from the HostedCluster to its HostedControlPlane.
const MIRRORED_ANNOTATIONS: &[&str] = &[
    annotations::CONTROL_PLANE_OPERATOR_IMAGE,
    annotations::OLM_CATALOGS_IS_REGISTRY_OVERRIDES,
    annotations::CERTIFIED_OPERATORS_CATALOG_IMAGE,
    annotations::COMMUNITY_OPERATORS_CATALOG_IMAGE,
    annotations::REDHAT_MARKETPLACE_CATALOG_IMAGE,
    annotations::REDHAT_OPERATORS_CATALOG_IMAGE,
];

/// A HostedCluster whose inputs all check out: everything the builders need. `Debug` leaves the
/// pull secret out.
#[derive(Clone)]
pub struct ValidatedHostedCluster {
    pub name: String,
    pub namespace: String,
    pub control_plane_namespace: String,
    /// `<namespace>/<name>`: the owner annotation on owned objects.
    pub owner: String,
    /// `spec.release.image` as written.
    pub release_image: String,
    pub release: Served<ReleaseImage>,
    /// The `.dockerconfigjson` bytes.
    pub pull_secret: Vec<u8>,
    pub control_plane_operator_image: String,
    pub ignition_server_image: String,
    pub carriers: MirrorCarriers,
    /// `spec.imageContentSources`: what the nodes' registries.conf is rendered from.
    pub data_plane_mirrors: DataPlaneMirrors,
    pub registry_ca_bundle: Option<String>,
    pub user_ca_bundle: Option<String>,
    pub pki: IgnitionPki,
    pub hosted_control_plane: HostedControlPlaneSpec,
    pub hosted_control_plane_annotations: BTreeMap<String, String>,
    /// How the ignition server is published (`spec.services[Ignition]`).
    pub ignition_publishing: IgnitionPublishing,
    /// `host[:port]` nodes use to reach the ignition server, once known (an allocated node port or
    /// load-balancer address is known only after the Service exists).
    pub ignition_endpoint: Option<String>,
    pub mirror_set_hash: String,
}

impl std::fmt::Debug for ValidatedHostedCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedHostedCluster")
            .field("owner", &self.owner)
            .field("release_image", &self.release_image)
            .field("control_plane_operator_image", &self.control_plane_operator_image)
            .field("ignition_publishing", &self.ignition_publishing)
            .field("ignition_endpoint", &self.ignition_endpoint)
            .field("mirror_set_hash", &self.mirror_set_hash)
            .finish_non_exhaustive()
    }
}

/// One reason a HostedCluster cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The condition it sets to False.
    pub condition: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// Whether a retry can fix it without a change (a registry that is down).
    pub transient: bool,
}

impl Invalid {
    fn config(message: String) -> Self {
        Self {
            condition: conditions::VALID_CONFIGURATION,
            reason: reasons::INVALID_CONFIGURATION,
            message,
            transient: false,
        }
    }
}

/// Operator-wide inputs the builders combine with each HostedCluster.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub registry_overrides: hypershift_mirrors::RegistryOverrides,
    pub registry_ca_bundle: Option<String>,
    /// The CPO image when the payload has none (upstream: the operator's own image).
    pub control_plane_operator_image: Option<String>,
    pub ignition_server_image: Option<String>,
    /// Whether `route.openshift.io/v1` Routes are served (detected at start-up).
    pub route_api: bool,
}

/// How the ignition server is published, from `spec.services[service=Ignition]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnitionPublishing {
    /// No `Ignition` entry: only inside the management cluster, by the Service's name.
    ClusterIp,
    /// A NodePort Service; nodes reach `address:port` (the port allocated when not given).
    NodePort { address: String, port: Option<i32> },
    /// A passthrough Route to the Service; nodes reach the host name on 443.
    Route { hostname: Option<String> },
    /// A LoadBalancer Service; nodes reach the host name, or the balancer's address, on 443.
    LoadBalancer { hostname: Option<String> },
}

impl IgnitionPublishing {
    /// Reads `spec.services`; the error names the entry and what is wrong.
    pub fn from_spec(hc: &HostedCluster, route_api: bool) -> Result<Self, String> {
        let Some(entry) = hc.spec.services.iter().find(|s| s.service == "Ignition") else {
            return Ok(Self::ClusterIp);
        };
        let strategy = &entry.service_publishing_strategy;
        let field = "spec.services[Ignition].servicePublishingStrategy";
        match strategy.type_.as_str() {
            "NodePort" => {
                let Some(np) = strategy.node_port.as_ref().filter(|np| !np.address.is_empty()) else {
                    return Err(format!("{field}: type NodePort needs nodePort.address"));
                };
                if let Some(port) = np.port
                    && !(1..=65535).contains(&port)
                {
                    return Err(format!("{field}.nodePort.port: {port} is not a port number"));
                }
                Ok(Self::NodePort {
                    address: np.address.clone(),
                    port: np.port,
                })
            }
            "Route" if route_api => Ok(Self::Route {
                hostname: strategy
                    .route
                    .as_ref()
                    .and_then(|r| r.hostname.clone())
                    .filter(|h| !h.is_empty()),
            }),
            "Route" => Err(format!(
                "{field}: type Route, but this management cluster does not serve route.openshift.io/v1 Routes (use NodePort or LoadBalancer)"
            )),
            "LoadBalancer" => Ok(Self::LoadBalancer {
                hostname: strategy
                    .load_balancer
                    .as_ref()
                    .and_then(|l| l.hostname.clone())
                    .filter(|h| !h.is_empty()),
            }),
            other => Err(format!(
                "{field}: type {other:?} cannot publish the ignition server (use NodePort, Route or LoadBalancer)"
            )),
        }
    }

    /// The host name or address nodes use, once known: what the serving certificate must name.
    pub fn published_host(&self, published: &Published) -> Option<String> {
        match self {
            Self::ClusterIp => None,
            Self::NodePort { address, .. } => Some(address.clone()),
            Self::Route { hostname } => hostname.clone().or_else(|| published.route_host.clone()),
            Self::LoadBalancer { hostname } => hostname
                .clone()
                .or_else(|| published.load_balancer_address.clone()),
        }
    }

    /// `host[:port]` nodes use, once known.
    pub fn endpoint(&self, published: &Published, control_plane_namespace: &str) -> Option<String> {
        match self {
            Self::ClusterIp => Some(format!(
                "{}.{control_plane_namespace}.svc:443",
                names::IGNITION_SERVER
            )),
            Self::NodePort { address, port } => {
                let port = port.or(published.node_port)?;
                Some(join_host_port(address, port))
            }
            // A Route is reached on 443; upstream writes the bare host name.
            Self::Route { .. } => self.published_host(published),
            Self::LoadBalancer { .. } => self.published_host(published).map(|h| join_host_port(&h, 443)),
        }
    }
}

/// What the API server and the platform filled in for the published ignition server: the node
/// port allocated, the load balancer's address, the Route's admitted host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    pub node_port: Option<i32>,
    pub load_balancer_address: Option<String>,
    pub route_host: Option<String>,
}

/// `host:port`, with an IPv6 address in brackets.
fn join_host_port(host: &str, port: i32) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The names the ignition server's certificate covers: its Service's in-cluster names and the
/// published host, if known.
pub fn serving_names(control_plane_namespace: &str, published_host: Option<&str>) -> Vec<String> {
    let svc = names::IGNITION_SERVER;
    let mut out = vec![
        svc.to_owned(),
        format!("{svc}.{control_plane_namespace}.svc"),
        format!("{svc}.{control_plane_namespace}.svc.cluster.local"),
    ];
    if let Some(host) = published_host {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !out.iter().any(|n| n == host) {
            out.push(host.to_owned());
        }
    }
    out
}

/// Validates; on failure returns every problem found.
pub fn validate(d: &Dereferenced, defaults: &Defaults) -> Result<ValidatedHostedCluster, Vec<Invalid>> {
    let hc = &d.hosted_cluster;
    let Checked {
        problems,
        pull_secret,
        release,
        data_plane_mirrors,
        ignition_publishing,
    } = check(d, defaults);
    let (Some(release), Some(pull_secret), Some(data_plane_mirrors), Some(ignition_publishing), true) = (
        release,
        pull_secret,
        data_plane_mirrors,
        ignition_publishing,
        problems.is_empty(),
    ) else {
        return Err(problems);
    };
    let name = hc.name_any();
    let namespace = hc.namespace().unwrap_or_default();
    let annotations = hc.annotations();

    // CPO image, as upstream: the annotation, else the payload's `hypershift` component, else the
    // operator's own (`--control-plane-operator-image`).
    let payload_cpo = release.value.component_images().get("hypershift").cloned();
    let Some(control_plane_operator_image) = annotations
        .get(annotations::CONTROL_PLANE_OPERATOR_IMAGE)
        .cloned()
        .or(payload_cpo)
        .or_else(|| defaults.control_plane_operator_image.clone())
    else {
        return Err(vec![Invalid::config(format!(
            "release {} has no `hypershift` component; set --control-plane-operator-image or the {} annotation",
            release.value.version(),
            annotations::CONTROL_PLANE_OPERATOR_IMAGE
        ))]);
    };
    let ignition_server_image = defaults
        .ignition_server_image
        .clone()
        .unwrap_or_else(|| control_plane_operator_image.clone());
    let control_plane_namespace = names::control_plane_namespace(&namespace, &name);
    Ok(ValidatedHostedCluster {
        owner: format!("{namespace}/{name}"),
        hosted_control_plane: hosted_control_plane_spec(hc),
        hosted_control_plane_annotations: MIRRORED_ANNOTATIONS
            .iter()
            .filter_map(|k| annotations.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect(),
        release_image: hc.spec.release.image.clone(),
        release,
        pull_secret,
        control_plane_operator_image,
        ignition_server_image,
        carriers: MirrorCarriers::new(&d.mirrors.set, defaults.registry_overrides.clone()),
        data_plane_mirrors,
        registry_ca_bundle: defaults.registry_ca_bundle.clone(),
        user_ca_bundle: d.user_ca_bundle.clone().and_then(Result::ok),
        pki: d.pki.clone(),
        ignition_endpoint: ignition_publishing.endpoint(&d.published, &control_plane_namespace),
        ignition_publishing,
        mirror_set_hash: d.mirrors.set.content_hash().to_owned(),
        name,
        namespace,
        control_plane_namespace,
    })
}

/// What [`check`] found: the problems, and each input that checked out.
struct Checked {
    problems: Vec<Invalid>,
    pull_secret: Option<Vec<u8>>,
    release: Option<Served<ReleaseImage>>,
    data_plane_mirrors: Option<DataPlaneMirrors>,
    ignition_publishing: Option<IgnitionPublishing>,
}

/// Every check of the inputs.
fn check(d: &Dereferenced, defaults: &Defaults) -> Checked {
    let hc = &d.hosted_cluster;
    let spec = &hc.spec;
    let mut problems = Vec::new();
    if let Err(e) = ImageRef::parse(&spec.release.image) {
        problems.push(Invalid {
            condition: conditions::VALID_RELEASE_IMAGE,
            reason: reasons::INVALID_IMAGE,
            message: format!("spec.release.image: {e}"),
            transient: false,
        });
    }
    if let Some(cp) = &spec.control_plane_release
        && let Err(e) = ImageRef::parse(&cp.image)
    {
        problems.push(Invalid::config(format!("spec.controlPlaneRelease.image: {e}")));
    }
    let pull_secret = match &d.pull_secret {
        Ok(bytes) => match PullSecret::parse(bytes) {
            Ok(_) => Some(bytes.clone()),
            Err(e) => {
                problems.push(Invalid::config(format!(
                    "pull secret {:?}: {e}",
                    spec.pull_secret.name
                )));
                None
            }
        },
        Err(message) => {
            problems.push(Invalid {
                condition: conditions::VALID_RELEASE_IMAGE,
                reason: reasons::SECRET_NOT_FOUND,
                message: message.clone(),
                transient: false,
            });
            None
        }
    };
    problems.extend(check_annotations(hc.annotations()));
    let data_plane_mirrors = data_plane_mirrors(hc)
        .map_err(|e| problems.push(Invalid::config(e)))
        .ok();
    let ignition_publishing = IgnitionPublishing::from_spec(hc, defaults.route_api)
        .map_err(|e| problems.push(Invalid::config(e)))
        .ok();
    match &d.user_ca_bundle {
        Some(Err(message)) => problems.push(Invalid::config(message.clone())),
        Some(Ok(bundle)) => {
            if let Err(e) = hypershift_support::ca_bundle::parse(bundle.as_bytes()) {
                problems.push(Invalid::config(format!(
                    "spec.additionalTrustBundle: configMap {:?} ca-bundle.crt: {e}",
                    spec.additional_trust_bundle
                        .as_ref()
                        .map(|b| b.name.as_str())
                        .unwrap_or_default()
                )));
            }
        }
        None => {}
    }
    let release = match &d.release {
        Some(Ok(served)) => Some(served.clone()),
        Some(Err(e)) => {
            problems.push(Invalid {
                condition: conditions::VALID_RELEASE_IMAGE,
                reason: reasons::LOOKUP_FAILED,
                message: format!("cannot look up release image: {e}"),
                transient: true,
            });
            None
        }
        None => None,
    };
    Checked {
        problems,
        pull_secret,
        release,
        data_plane_mirrors,
        ignition_publishing,
    }
}

/// The CPO image override. The OLM annotations (registry overrides, catalog images) are the
/// control-plane-operator's to check: it reports them on the HostedControlPlane, this operator
/// copies the condition, and nothing else of the HostedCluster waits for them.
fn check_annotations(annotations: &BTreeMap<String, String>) -> Vec<Invalid> {
    let mut problems = Vec::new();
    if let Some(image) = annotations.get(annotations::CONTROL_PLANE_OPERATOR_IMAGE)
        && let Err(e) = ImageRef::parse(image)
    {
        problems.push(Invalid::config(format!(
            "annotation {}: {e}",
            annotations::CONTROL_PLANE_OPERATOR_IMAGE
        )));
    }
    problems
}

/// `spec.imageContentSources` as data-plane mirrors: each source's mirrors for pulls by digest,
/// as upstream renders them into the nodes' ImageDigestMirrorSet. The one place the spec becomes
/// a mirror set; the NodePool's configuration is rendered from it.
pub fn data_plane_mirrors(hc: &HostedCluster) -> Result<DataPlaneMirrors, String> {
    let mut builder = MirrorSetBuilder::new();
    builder
        .add_image_content_sources(
            &format!("{}/{}", hc.namespace().unwrap_or_default(), hc.name_any()),
            &hc.spec.image_content_sources,
        )
        .map_err(|e| e.to_string())?;
    Ok(builder.build())
}

fn hosted_control_plane_spec(hc: &HostedCluster) -> HostedControlPlaneSpec {
    let spec = &hc.spec;
    HostedControlPlaneSpec {
        release_image: spec.release.image.clone(),
        control_plane_release_image: spec.control_plane_release.as_ref().map(|r| r.image.clone()),
        pull_secret: LocalObjectReference {
            name: names::PULL_SECRET.to_owned(),
        },
        ssh_key: spec.ssh_key.clone(),
        // Upstream runs Agent control planes as None.
        platform: spec.platform.as_ref().map(|p| {
            if p.type_ == "Agent" {
                PlatformSpec {
                    type_: "None".into(),
                    other: BTreeMap::new(),
                }
            } else {
                p.clone()
            }
        }),
        infra_id: spec.infra_id.clone(),
        cluster_id: spec.cluster_id.clone(),
        services: spec.services.clone(),
        image_content_sources: spec.image_content_sources.clone(),
        additional_trust_bundle: spec
            .additional_trust_bundle
            .as_ref()
            .map(|_| LocalObjectReference {
                name: names::USER_CA_BUNDLE.to_owned(),
            }),
        olm_catalog_placement: spec.olm_catalog_placement.clone(),
        configuration: spec.configuration.clone(),
        // Networking, DNS, etcd and the rest pass through as written.
        other: spec.other.clone(),
    }
}

#[cfg(test)]
mod tests;
