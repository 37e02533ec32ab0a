//! The control-plane components, as a table: one more component is one more row.
//!
//! Each row names its workload, the release component its containers run (or the release image
//! itself, pinned by digest, for the cluster-version-operator), its init containers, its command,
//! and the HostedControlPlane condition that reports it. `--registry-overrides` is applied to
//! every image written into a pod spec, containers and init containers alike; the management
//! mirrors (IDMS/ICSP) are not: on a management cluster CRI-O applies them when it pulls.

/// The kind of workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Deployment,
    StatefulSet,
}

/// Where a container's image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// A component of the release payload, by name.
    Component(&'static str),
    /// The release image itself, by the digest it resolved to.
    ReleaseByDigest,
}

/// One container of a component.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRow {
    pub name: &'static str,
    pub image: Image,
    pub command: &'static [&'static str],
}

/// One control-plane component.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// The workload's name.
    pub name: &'static str,
    pub kind: Kind,
    pub container: ContainerRow,
    pub init: &'static [ContainerRow],
    /// The HostedControlPlane condition reporting it (upstream's type where one exists).
    pub condition: &'static str,
    /// Whether it receives both mirror carriers (`OPENSHIFT_IMG_OVERRIDES` and
    /// `--registry-overrides`), as upstream's hosted-cluster-config-operator does.
    pub carriers: bool,
    /// Whether it talks to the catalogs: `NO_PROXY` then names the kube-apiserver and, in
    /// management placement, every catalog Service (upstream's OLM operators).
    pub catalog_client: bool,
    /// Writable scratch directories (volume name, mount path): an `emptyDir` each, mounted in
    /// every container of the component, since the root filesystem is read-only (upstream's
    /// cluster-version-operator copies its payload into `/var/payload` this way).
    pub scratch: &'static [(&'static str, &'static str)],
}

const fn container(name: &'static str, image: Image, command: &'static [&'static str]) -> ContainerRow {
    ContainerRow { name, image, command }
}

/// Every component the operator renders, in this order.
pub const COMPONENTS: &[Component] = &[
    Component {
        name: "etcd",
        kind: Kind::StatefulSet,
        container: container("etcd", Image::Component("etcd"), &["/usr/bin/etcd"]),
        init: &[container(
            "ensure-dns",
            Image::Component("cli"),
            &["/bin/sh", "-c", "true"],
        )],
        condition: "EtcdAvailable",
        carriers: false,
        catalog_client: false,
        scratch: &[],
    },
    Component {
        name: "kube-apiserver",
        kind: Kind::Deployment,
        container: container(
            "kube-apiserver",
            Image::Component("hyperkube"),
            &["hyperkube", "kube-apiserver"],
        ),
        init: &[container(
            "init-bootstrap",
            Image::Component("cluster-config-api"),
            &["/usr/bin/render"],
        )],
        condition: "KubeAPIServerAvailable",
        carriers: false,
        catalog_client: false,
        scratch: &[],
    },
    Component {
        name: "kube-controller-manager",
        kind: Kind::Deployment,
        container: container(
            "kube-controller-manager",
            Image::Component("hyperkube"),
            &["hyperkube", "kube-controller-manager"],
        ),
        init: &[],
        condition: "KubeControllerManagerAvailable",
        carriers: false,
        catalog_client: false,
        scratch: &[],
    },
    Component {
        name: "kube-scheduler",
        kind: Kind::Deployment,
        container: container(
            "kube-scheduler",
            Image::Component("hyperkube"),
            &["hyperkube", "kube-scheduler"],
        ),
        init: &[],
        condition: "KubeSchedulerAvailable",
        carriers: false,
        catalog_client: false,
        scratch: &[],
    },
    Component {
        name: "cluster-version-operator",
        kind: Kind::Deployment,
        container: container(
            "cluster-version-operator",
            Image::ReleaseByDigest,
            &["/usr/bin/cluster-version-operator", "start"],
        ),
        init: &[container(
            "prepare-payload",
            Image::ReleaseByDigest,
            &["/bin/sh", "-c", "cp -R /manifests /var/payload/"],
        )],
        condition: "ClusterVersionOperatorAvailable",
        carriers: false,
        catalog_client: false,
        scratch: &[("payload", "/var/payload")],
    },
    Component {
        name: "hosted-cluster-config-operator",
        kind: Kind::Deployment,
        container: container(
            "hosted-cluster-config-operator",
            Image::Component("hypershift"),
            &[
                "/usr/bin/control-plane-operator",
                "hosted-cluster-config-operator",
            ],
        ),
        init: &[],
        condition: "HostedClusterConfigOperatorAvailable",
        carriers: true,
        catalog_client: false,
        scratch: &[],
    },
    Component {
        name: "catalog-operator",
        kind: Kind::Deployment,
        container: container(
            "catalog-operator",
            Image::Component("operator-lifecycle-manager"),
            &["/bin/catalog"],
        ),
        init: &[],
        condition: "CatalogOperatorAvailable",
        carriers: false,
        catalog_client: true,
        scratch: &[],
    },
    Component {
        name: "olm-operator",
        kind: Kind::Deployment,
        container: container(
            "olm-operator",
            Image::Component("operator-lifecycle-manager"),
            &["/bin/olm"],
        ),
        init: &[],
        condition: "OLMOperatorAvailable",
        carriers: false,
        catalog_client: true,
        scratch: &[],
    },
    Component {
        name: "packageserver",
        kind: Kind::Deployment,
        container: container(
            "packageserver",
            Image::Component("operator-lifecycle-manager"),
            &["/bin/package-server"],
        ),
        init: &[],
        condition: "PackageServerAvailable",
        carriers: false,
        catalog_client: true,
        scratch: &[],
    },
];

impl Component {
    /// Every container row: init containers first, then the main one.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerRow> {
        self.init.iter().chain(std::iter::once(&self.container))
    }
}

/// The release components the table needs.
pub fn required_components() -> std::collections::BTreeSet<&'static str> {
    COMPONENTS
        .iter()
        .flat_map(Component::containers)
        .filter_map(|c| match c.image {
            Image::Component(name) => Some(name),
            Image::ReleaseByDigest => None,
        })
        .collect()
}
