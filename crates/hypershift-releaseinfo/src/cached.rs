//! `Cached<P>`: answers kept by digest, tags re-resolved after a TTL, failures remembered briefly,
//! identical concurrent lookups coalesced.
//!
//! - A reference with a digest names immutable content: its answer is kept until evicted.
//! - A tag is first resolved to a digest (kept for `tag_ttl`); the question is then asked of
//!   `name@digest`, so releases and configs are shared by every tag that points at them.
//! - A failure is kept for `negative_ttl`, so a dead registry is not asked again on every call.
//! - Keys include the pull secret's fingerprint: what one secret may read says nothing of another.
//! - Each key has one slot; the first caller runs the lookup and later callers await the same
//!   result. The map's lock is held only to find or insert a slot, never across IO; if the
//!   running lookup is cancelled, the next caller runs it again.
//! - Cached values are immutable (`ReleaseImage` and `ImageConfig` are shared behind `Arc`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::{Answer, ImageRef, LookupError, PullSecret, Query, ReleaseProvider, Served};

/// Settings of [`Cached`].
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// How long a tag's resolution to a digest is trusted.
    pub tag_ttl: Duration,
    /// How long a failure is remembered.
    pub negative_ttl: Duration,
    /// Entries kept at most; expired entries go first, then the oldest.
    pub max_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            tag_ttl: crate::DEFAULT_TAG_TTL,
            negative_ttl: Duration::from_secs(10),
            max_entries: 4096,
        }
    }
}

type Key = (Query, String, [u8; 32]);
type Outcome = (Result<Served<Answer>, LookupError>, Instant);

struct Slot {
    created: Instant,
    /// How long a success stays valid (`None`: until evicted).
    ttl: Option<Duration>,
    cell: OnceCell<Outcome>,
}

impl Slot {
    fn expired(&self, now: Instant, negative_ttl: Duration) -> bool {
        match self.cell.get() {
            None => false,
            Some((Ok(_), at)) => self.ttl.is_some_and(|ttl| now.duration_since(*at) >= ttl),
            Some((Err(_), at)) => now.duration_since(*at) >= negative_ttl,
        }
    }
}

/// A caching decorator.
pub struct Cached<P> {
    inner: P,
    config: CacheConfig,
    slots: Mutex<HashMap<Key, Arc<Slot>>>,
}

impl<P> std::fmt::Debug for Cached<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<P: ReleaseProvider> Cached<P> {
    /// Wraps `inner`.
    pub fn new(inner: P, config: CacheConfig) -> Self {
        Self {
            inner,
            config,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn slot(&self, key: Key, ttl: Option<Duration>) -> Arc<Slot> {
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(&key)
            && !slot.expired(now, self.config.negative_ttl)
        {
            return Arc::clone(slot);
        }
        if slots.len() >= self.config.max_entries {
            self.evict(&mut slots, now);
        }
        let slot = Arc::new(Slot {
            created: now,
            ttl,
            cell: OnceCell::new(),
        });
        slots.insert(key, Arc::clone(&slot));
        slot
    }

    fn evict(&self, slots: &mut HashMap<Key, Arc<Slot>>, now: Instant) {
        slots.retain(|_, s| !s.expired(now, self.config.negative_ttl));
        while slots.len() >= self.config.max_entries {
            let Some(oldest) = slots
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            slots.remove(&oldest);
        }
    }

    async fn cached(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
        ttl: Option<Duration>,
    ) -> Result<Served<Answer>, LookupError> {
        let slot = self.slot((query, image.to_string(), secret.fingerprint()), ttl);
        let (result, _) = slot
            .cell
            .get_or_init(|| async { (self.inner.fetch(query, image, secret).await, Instant::now()) })
            .await;
        result.clone()
    }
}

impl<P: ReleaseProvider> ReleaseProvider for Cached<P> {
    async fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        if image.digest().is_some() {
            return self
                .cached(query, &by_digest(image, None)?, secret, None)
                .await
                .map(|s| as_asked(s, image));
        }
        let resolved = self
            .cached(Query::Digest, image, secret, Some(self.config.tag_ttl))
            .await?;
        if query == Query::Digest {
            return Ok(resolved);
        }
        let pinned = by_digest(image, Some(&resolved.digest))?;
        self.cached(query, &pinned, secret, None)
            .await
            .map(|s| as_asked(s, image))
    }
}

/// `registry/repository@digest` (a tag, if any, says nothing more once the digest is known).
fn by_digest(image: &ImageRef, digest: Option<&str>) -> Result<ImageRef, LookupError> {
    let digest = digest.or(image.digest()).unwrap_or_default();
    ImageRef::parse(&format!("{}@{digest}", image.name())).map_err(|e| LookupError::Registry {
        image: image.to_string(),
        detail: format!("bad digest from the registry: {e}"),
    })
}

/// The answer, reported as served for the reference that was asked for.
fn as_asked(served: Served<Answer>, image: &ImageRef) -> Served<Answer> {
    Served {
        pulled_from: image.to_string(),
        ..served
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::testing_fake::{FakeRegistry, release_answer};

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn image(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[tokio::test]
    async fn digest_answers_are_kept_and_shared_by_tags() {
        let fake = FakeRegistry::default();
        fake.serve(&format!("q.invalid/r@{D}"), release_answer("4.99.0"), D);
        fake.serve("q.invalid/r:4.99", Answer::Digest, D);
        let cache = Cached::new(fake.clone(), CacheConfig::default());
        let secret = PullSecret::anonymous();
        for _ in 0..3 {
            let served = cache.lookup(&image("q.invalid/r:4.99"), &secret).await.unwrap();
            assert_eq!(served.value.version(), "4.99.0");
            assert_eq!(served.pulled_from, "q.invalid/r:4.99");
            assert_eq!(served.digest, D);
            cache
                .lookup(&image(&format!("q.invalid/r@{D}")), &secret)
                .await
                .unwrap();
        }
        assert_eq!(fake.calls(Query::Digest, "q.invalid/r:4.99"), 1);
        assert_eq!(fake.calls(Query::Release, &format!("q.invalid/r@{D}")), 1);
    }

    #[tokio::test]
    async fn tags_expire_and_failures_are_remembered_briefly() {
        let fake = FakeRegistry::default();
        fake.serve("q.invalid/r:t", Answer::Digest, D);
        let config = CacheConfig {
            tag_ttl: Duration::ZERO,
            negative_ttl: Duration::from_hours(1),
            max_entries: 16,
        };
        let cache = Cached::new(fake.clone(), config);
        let secret = PullSecret::anonymous();
        cache.resolve(&image("q.invalid/r:t"), &secret).await.unwrap();
        cache.resolve(&image("q.invalid/r:t"), &secret).await.unwrap();
        assert_eq!(
            fake.calls(Query::Digest, "q.invalid/r:t"),
            2,
            "a zero TTL re-resolves every time"
        );
        for _ in 0..3 {
            assert!(matches!(
                cache.resolve(&image("q.invalid/missing:t"), &secret).await,
                Err(LookupError::NotFound { .. })
            ));
        }
        assert_eq!(
            fake.calls(Query::Digest, "q.invalid/missing:t"),
            1,
            "the failure was remembered"
        );
    }

    #[tokio::test]
    async fn secrets_do_not_share_entries() {
        let fake = FakeRegistry::default();
        fake.serve("q.invalid/r:t", Answer::Digest, D);
        let cache = Cached::new(fake.clone(), CacheConfig::default());
        let other = PullSecret::parse(&PullSecret::for_registry("q.invalid", "u", "p")).unwrap();
        cache
            .resolve(&image("q.invalid/r:t"), &PullSecret::anonymous())
            .await
            .unwrap();
        cache.resolve(&image("q.invalid/r:t"), &other).await.unwrap();
        assert_eq!(fake.calls(Query::Digest, "q.invalid/r:t"), 2);
    }

    #[tokio::test]
    async fn concurrent_identical_lookups_run_once() {
        let fake = FakeRegistry::default().with_delay(Duration::from_millis(50));
        fake.serve(&format!("q.invalid/r@{D}"), release_answer("4.99.0"), D);
        let cache = Arc::new(Cached::new(fake.clone(), CacheConfig::default()));
        let done = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, done) = (Arc::clone(&cache), Arc::clone(&done));
                tokio::spawn(async move {
                    cache
                        .lookup(&image(&format!("q.invalid/r@{D}")), &PullSecret::anonymous())
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), 16);
        assert_eq!(fake.calls(Query::Release, &format!("q.invalid/r@{D}")), 1);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let fake = FakeRegistry::default();
        let cache = Cached::new(
            fake.clone(),
            CacheConfig {
                max_entries: 8,
                ..CacheConfig::default()
            },
        );
        for i in 0..100 {
            let d = format!("sha256:{i:064x}");
            fake.serve(&format!("q.invalid/r@{d}"), Answer::Digest, &d);
            cache
                .resolve(&image(&format!("q.invalid/r@{d}")), &PullSecret::anonymous())
                .await
                .unwrap();
        }
        assert!(cache.slots.lock().unwrap().len() <= 8);
    }
}
