//! Release payloads and image metadata over OCI, read through the management cluster's mirrors.
//!
//! One [`ReleaseProvider`] answers three questions about an image reference, each with the pull
//! spec that actually served it: what release does it hold ([`ReleaseProvider::lookup`]), what
//! digest does it name ([`ReleaseProvider::resolve`], also "does it exist"), and what does its
//! config say ([`ReleaseProvider::image_config`], labels).
//!
//! ```text
//!  WithRegistryOverrides      --registry-overrides Replace on the reference, and on every component image after
//!    └─ WithMirrors           candidates from the management MirrorSet (live semantics): mirrors asked at once,
//!         │                   per-attempt timeout, highest-priority success wins (a pending higher one is given
//!         │                   up after a short grace period), dead registries skipped a while, the source last
//!         └─ Cached           by digest (immutable), tags with a TTL, failures with a short negative TTL,
//!              │              identical concurrent lookups coalesced; no lock held across IO
//!              └─ OciRegistry oci-client: manifests (lists resolved to one platform), config, layers top-down
//! ```
//!
//! [`standard`] builds that chain. The real-registry test kit is the `hypershift-testkit` crate.

mod cached;
mod error;
mod layers;
mod mirrors;
mod oci;
mod overrides;
mod pull_secret;
mod release;
#[cfg(test)]
mod testing_fake;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use cached::{CacheConfig, Cached};
pub use error::{Attempt, AttemptError, LookupError};
pub use hypershift_mirrors::ImageRef;
pub use layers::{Compression, UnderDir};
pub use mirrors::{DEFAULT_GRACE_PERIOD, MirrorConfig, WithMirrors};
pub use oci::{OciConfig, OciRegistry, Platform};
pub use overrides::WithRegistryOverrides;
pub use pull_secret::{Credentials, PullSecret};
pub use release::{COREOS_BOOTIMAGES, IMAGE_REFERENCES, ImageConfig, PayloadError, ReleaseImage};

/// What is asked about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Query {
    /// The release payload it holds.
    Release,
    /// The digest it names (a manifest list's own digest for a list).
    Digest,
    /// Its config (labels, architecture) for the configured platform.
    Config,
    /// Every regular file under a directory of its filesystem (`etc/mcc/templates/`, with the
    /// trailing `/`), for the configured platform: the topmost layer's copy of each path.
    Files(&'static str),
}

/// The answer to a [`Query`].
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Release(ReleaseImage),
    Digest,
    Config(Arc<ImageConfig>),
    Files(Arc<Files>),
}

/// Files read out of an image: path (as in the layer, without a leading `/`) → content.
pub type Files = BTreeMap<String, Vec<u8>>;

/// An answer and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    pub value: T,
    /// The pull spec that served it (a mirror's, or the source's).
    pub pulled_from: String,
    /// The digest the reference resolved to (`sha256:…`).
    pub digest: String,
    /// Whether a mirror served it (rather than the source itself).
    pub via_mirror: bool,
}

impl<T> Served<T> {
    /// The same provenance with another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            pulled_from: self.pulled_from,
            digest: self.digest,
            via_mirror: self.via_mirror,
        }
    }
}

/// Looks images up. Implemented by the OCI client and by each decorator around it.
pub trait ReleaseProvider: Send + Sync {
    /// Answers `query` for `image`, reading with `secret`'s credentials.
    fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<Answer>, LookupError>> + Send;

    /// The release payload `image` holds.
    fn lookup(
        &self,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<ReleaseImage>, LookupError>> + Send {
        async move {
            let served = self.fetch(Query::Release, image, secret).await?;
            match served.value {
                Answer::Release(ref r) => {
                    let r = r.clone();
                    Ok(served.map(|_| r))
                }
                other => Err(unexpected(image, "a release", &other)),
            }
        }
    }

    /// The digest `image` names; `Err(NotFound)` when it does not exist.
    fn resolve(
        &self,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<()>, LookupError>> + Send {
        async move {
            self.fetch(Query::Digest, image, secret)
                .await
                .map(|s| s.map(|_| ()))
        }
    }

    /// `image`'s config for the configured platform.
    fn image_config(
        &self,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<Arc<ImageConfig>>, LookupError>> + Send {
        async move {
            let served = self.fetch(Query::Config, image, secret).await?;
            match served.value {
                Answer::Config(ref c) => {
                    let c = Arc::clone(c);
                    Ok(served.map(|_| c))
                }
                other => Err(unexpected(image, "an image config", &other)),
            }
        }
    }

    /// Every regular file of `image` under `dir` (a directory path ending in `/`).
    fn files(
        &self,
        image: &ImageRef,
        dir: &'static str,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<Arc<Files>>, LookupError>> + Send {
        async move {
            let served = self.fetch(Query::Files(dir), image, secret).await?;
            match served.value {
                Answer::Files(ref f) => {
                    let f = Arc::clone(f);
                    Ok(served.map(|_| f))
                }
                other => Err(unexpected(image, "files", &other)),
            }
        }
    }
}

fn unexpected(image: &ImageRef, wanted: &str, got: &Answer) -> LookupError {
    LookupError::Registry {
        image: image.to_string(),
        detail: format!("internal: expected {wanted}, got {got:?}"),
    }
}

impl<P: ReleaseProvider> ReleaseProvider for Arc<P> {
    fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> impl Future<Output = Result<Served<Answer>, LookupError>> + Send {
        (**self).fetch(query, image, secret)
    }
}

/// Settings of the [`standard`] provider chain.
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    pub oci: OciConfig,
    pub mirrors: MirrorConfig,
    pub cache: CacheConfig,
}

/// The chain every binary uses.
pub type StandardProvider = WithRegistryOverrides<WithMirrors<Cached<OciRegistry>>>;

/// Builds the standard chain: `--registry-overrides`, then mirror selection, then the cache,
/// then the OCI client.
pub fn standard(
    config: ProviderConfig,
    overrides: hypershift_mirrors::RegistryOverrides,
    mirrors: hypershift_mirrors::ManagementMirrors,
) -> StandardProvider {
    let ProviderConfig {
        oci,
        mirrors: mirror_config,
        cache,
    } = config;
    WithRegistryOverrides::new(
        WithMirrors::new(Cached::new(OciRegistry::new(oci), cache), mirrors, mirror_config),
        overrides,
    )
}

/// Installs ring as rustls' process-wide crypto provider (idempotent). Every binary and test
/// process calls this before building any TLS client (spec/machine-notes.md).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long a cached tag resolution stays valid, by default.
pub const DEFAULT_TAG_TTL: Duration = Duration::from_mins(2);
