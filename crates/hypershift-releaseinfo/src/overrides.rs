//! `WithRegistryOverrides<P>`: HyperShift's `--registry-overrides`, applied to the reference
//! before it is looked up and to every component image of a release afterwards
//! (strict longest-prefix `Replace`, spec/overrides.md §2.4).
//!
//! The cached release is never modified: a rewritten copy is returned, which keeps the
//! payload's own pull specs as its canonical component images.

use hypershift_mirrors::RegistryOverrides;

use crate::{Answer, ImageRef, LookupError, PullSecret, Query, ReleaseProvider, Served};

/// An overriding decorator.
#[derive(Debug)]
pub struct WithRegistryOverrides<P> {
    inner: P,
    overrides: RegistryOverrides,
}

impl<P: ReleaseProvider> WithRegistryOverrides<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, overrides: RegistryOverrides) -> Self {
        Self { inner, overrides }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The overrides applied.
    pub fn overrides(&self) -> &RegistryOverrides {
        &self.overrides
    }
}

impl<P: ReleaseProvider> ReleaseProvider for WithRegistryOverrides<P> {
    async fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        let rewritten = self.overrides.replace(image.as_str());
        let target = if rewritten == image.as_str() {
            image.clone()
        } else {
            ImageRef::parse(&rewritten).map_err(|e| LookupError::Payload {
                image: image.to_string(),
                detail: format!(
                    "--registry-overrides rewrites it to {rewritten:?}, which is not a valid reference: {}",
                    e.reason
                ),
            })?
        };
        let served = self.inner.fetch(query, &target, secret).await?;
        Ok(match served.value {
            Answer::Release(ref release) if !self.overrides.is_empty() => {
                let release = release.with_rewritten_components(|c| self.overrides.replace(c).into_owned());
                served.map(|_| Answer::Release(release))
            }
            _ => served,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing_fake::{FakeRegistry, release_answer};

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    #[tokio::test]
    async fn rewrites_the_reference_and_the_components_but_not_the_canonical_images() {
        let fake = FakeRegistry::default();
        fake.serve(
            &format!("mirror.invalid/ocp/release@{D}"),
            release_answer("4.99.0"),
            D,
        );
        let overrides = RegistryOverrides::parse_flag("quay.invalid/ocp=mirror.invalid/ocp").unwrap();
        let p = WithRegistryOverrides::new(fake.clone(), overrides);
        let image = ImageRef::parse(&format!("quay.invalid/ocp/release@{D}")).unwrap();
        let served = p.lookup(&image, &PullSecret::anonymous()).await.unwrap();
        assert!(served.value.component_images()["cli"].starts_with("mirror.invalid/ocp/art@"));
        assert!(served.value.canonical_component_images()["cli"].starts_with("quay.invalid/ocp/art@"));
        assert_eq!(
            fake.calls(Query::Release, &format!("quay.invalid/ocp/release@{D}")),
            0
        );
        // Asking again gives an equal answer: nothing cached was rewritten in place.
        let again = p.lookup(&image, &PullSecret::anonymous()).await.unwrap();
        assert_eq!(again.value, served.value);
    }

    #[tokio::test]
    async fn an_override_that_breaks_the_reference_is_a_precise_error() {
        let overrides = RegistryOverrides::parse_flag("quay.invalid/ocp=Mirror.invalid/UPPER").unwrap();
        let p = WithRegistryOverrides::new(FakeRegistry::default(), overrides);
        let image = ImageRef::parse(&format!("quay.invalid/ocp/release@{D}")).unwrap();
        let err = p
            .resolve(&image, &PullSecret::anonymous())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("--registry-overrides rewrites it to"), "{err}");
    }
}
