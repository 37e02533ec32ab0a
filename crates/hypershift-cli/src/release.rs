//! `hypershift release info`: the "works from a bastion" release lookup.
//!
//! The same provider chain the operators use (`--registry-overrides`, live mirror selection,
//! cache, OCI), configured from flags and files, run once.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, ValueEnum};
use hypershift_mirrors::mirror_set::DataPlane;
use hypershift_mirrors::{ImageRef, MatchMode, MirrorSet, RegistryOverrides};
use hypershift_releaseinfo::{
    MirrorConfig, OciConfig, Platform, ProviderConfig, PullSecret, ReleaseProvider as _,
};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The release image, e.g. quay.io/openshift-release-dev/ocp-release@sha256:…
    #[arg(allow_hyphen_values = true)]
    image: String,
    /// Mirror files (ImageDigestMirrorSet, ImageTagMirrorSet, ImageContentSourcePolicy). Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// containers-registries.conf(5) v2 files. Repeatable.
    #[arg(long = "registries-conf", value_name = "FILE")]
    pub registries_conf: Vec<PathBuf>,
    /// A --registry-overrides value (sr1=dr1,sr2=dr2); repeatable, merged as the flag is.
    #[arg(long = "registry-overrides", value_name = "VALUE", allow_hyphen_values = true)]
    registry_overrides: Vec<String>,
    /// A .dockerconfigjson file with credentials for the sources and the mirrors.
    #[arg(long = "pull-secret", value_name = "FILE")]
    pull_secret: Option<PathBuf>,
    /// PEM certificates to trust besides the system roots (the mirror registry's CA).
    #[arg(long = "ca-bundle", value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// The platform to read from manifest lists.
    #[arg(long, default_value = "linux/amd64", value_name = "OS/ARCH")]
    platform: String,
    /// Seconds each candidate pull spec may take.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Json)]
    output: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Yaml,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    image: String,
    version: String,
    digest: String,
    /// The pull spec that served the payload.
    served_by: String,
    via_mirror: bool,
    components: Vec<Component>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    name: String,
    /// As the payload names it.
    image: String,
    /// As it goes into pod specs (after --registry-overrides).
    pull_spec: String,
    /// Where a node with these mirrors pulls `pull_spec` from, in order.
    candidates: Vec<String>,
}

pub fn info(args: &InfoArgs, mirrors: MirrorSet<DataPlane>, stdout: &mut dyn Write) -> Result<()> {
    let image = ImageRef::parse(&args.image)?;
    let mut overrides = RegistryOverrides::new();
    for value in &args.registry_overrides {
        overrides
            .merge_flag(value)
            .context("invalid --registry-overrides value")?;
    }
    let secret = match &args.pull_secret {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            PullSecret::parse(&bytes).with_context(|| path.display().to_string())?
        }
        None => PullSecret::anonymous(),
    };
    let extra_ca_pem = match &args.ca_bundle {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
        None => None,
    };
    let Some((os, architecture)) = args.platform.split_once('/') else {
        bail!(
            "--platform must be OS/ARCH, e.g. linux/amd64, not {:?}",
            args.platform
        );
    };
    let attempt_timeout = Duration::from_secs(args.timeout.max(1));
    let config = ProviderConfig {
        oci: OciConfig {
            extra_ca_pem,
            platform: Platform {
                os: os.to_owned(),
                architecture: architecture.to_owned(),
            },
            read_timeout: attempt_timeout,
            ..OciConfig::default()
        },
        mirrors: MirrorConfig {
            attempt_timeout,
            ..MirrorConfig::default()
        },
        ..ProviderConfig::default()
    };
    let node_view = mirrors.clone();
    let provider = hypershift_releaseinfo::standard(config, overrides, mirrors.retag());

    hypershift_releaseinfo::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let served = runtime.block_on(provider.lookup(&image, &secret))?;

    let release = &served.value;
    let components = release
        .canonical_component_images()
        .iter()
        .map(|(name, written)| {
            let pull_spec = release
                .component_images()
                .get(name)
                .cloned()
                .unwrap_or_else(|| written.clone());
            let candidates = ImageRef::parse(&pull_spec)
                .map(|r| node_view.resolve_with(&r, MatchMode::Node).candidates)
                .unwrap_or_default();
            Component {
                name: name.clone(),
                image: written.clone(),
                pull_spec,
                candidates,
            }
        })
        .collect();
    let info = Info {
        image: image.to_string(),
        version: release.version().to_owned(),
        digest: served.digest.clone(),
        served_by: served.pulled_from.clone(),
        via_mirror: served.via_mirror,
        components,
    };
    match args.output {
        Format::Json => {
            serde_json::to_writer(&mut *stdout, &info)?;
            stdout.write_all(b"\n")?;
        }
        Format::Yaml => stdout.write_all(hypershift_api::yaml::to_string(&info)?.as_bytes())?,
    }
    Ok(())
}
