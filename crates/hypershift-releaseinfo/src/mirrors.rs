//! `WithMirrors<P>`: live URL translation through the management cluster's mirrors.
//!
//! For a reference, the [`ManagementMirrors`] give the candidate pull specs in priority order
//! (live semantics: digest mirrors are tried for tag references too; the source last unless
//! `NeverContactSource`). All candidates are asked at once, each bounded by `attempt_timeout`;
//! the highest-priority candidate that succeeds wins, so a lower one is only used once every
//! higher one has failed. A registry that failed at the connection level (refused, timed out)
//! is skipped for `unhealthy_ttl` unless every candidate would be skipped, so a dead mirror
//! costs one timeout, not one per lookup. When every candidate fails, the error lists each
//! attempt in order.
//!
//! The mirror set can be replaced at any time ([`WithMirrors::set_mirrors`]); lookups in flight
//! keep the set they started with. No lock is held across IO.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use hypershift_mirrors::ManagementMirrors;

use crate::{
    Answer, Attempt, AttemptError, ImageRef, LookupError, PullSecret, Query, ReleaseProvider, Served,
};

/// Settings of [`WithMirrors`].
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// Bound on each candidate's lookup.
    pub attempt_timeout: Duration,
    /// How long a registry that failed at the connection level is skipped.
    pub unhealthy_ttl: Duration,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            unhealthy_ttl: Duration::from_secs(30),
        }
    }
}

/// A mirror-selecting decorator.
pub struct WithMirrors<P> {
    inner: P,
    mirrors: RwLock<Arc<ManagementMirrors>>,
    config: MirrorConfig,
    /// Registry (`host[:port]`) → (skipped until, why).
    unhealthy: Mutex<HashMap<String, (Instant, String)>>,
}

impl<P> std::fmt::Debug for WithMirrors<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithMirrors")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<P: ReleaseProvider> WithMirrors<P> {
    /// Wraps `inner` with `mirrors`.
    pub fn new(inner: P, mirrors: ManagementMirrors, config: MirrorConfig) -> Self {
        Self {
            inner,
            mirrors: RwLock::new(Arc::new(mirrors)),
            config,
            unhealthy: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The mirrors in use.
    pub fn mirrors(&self) -> Arc<ManagementMirrors> {
        Arc::clone(&self.mirrors.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the mirrors (the management cluster's mirror objects changed).
    pub fn set_mirrors(&self, mirrors: ManagementMirrors) {
        *self.mirrors.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(mirrors);
    }

    fn skip_reason(&self, registry: &str, now: Instant) -> Option<String> {
        let unhealthy = self.unhealthy.lock().unwrap_or_else(PoisonError::into_inner);
        unhealthy
            .get(registry)
            .filter(|(until, _)| *until > now)
            .map(|(_, why)| why.clone())
    }

    fn record(&self, registry: &str, outcome: &Result<Served<Answer>, LookupError>) {
        let mut unhealthy = self.unhealthy.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(_) => {
                unhealthy.remove(registry);
            }
            Err(e) if e.is_endpoint_failure() => {
                unhealthy.insert(
                    registry.to_owned(),
                    (Instant::now() + self.config.unhealthy_ttl, e.to_string()),
                );
            }
            Err(_) => {}
        }
    }

    async fn attempt(
        &self,
        query: Query,
        candidate: &ImageRef,
        secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        let timeout = self.config.attempt_timeout;
        let outcome = match tokio::time::timeout(timeout, self.inner.fetch(query, candidate, secret)).await {
            Ok(result) => result,
            Err(_) => Err(LookupError::Timeout {
                image: candidate.to_string(),
                after: timeout,
            }),
        };
        self.record(candidate.registry(), &outcome);
        outcome
    }
}

/// The state of one candidate during selection.
enum State {
    Pending,
    Skipped(String),
    Done(Result<Served<Answer>, LookupError>),
}

impl<P: ReleaseProvider> ReleaseProvider for WithMirrors<P> {
    async fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        let mirrors = self.mirrors();
        let resolution = mirrors.resolve(image);
        if resolution.candidates.is_empty() {
            let kind = if image.is_digested() { "digest" } else { "tag" };
            return Err(LookupError::Blocked {
                image: image.to_string(),
                kind,
            });
        }
        // The source is the last candidate unless the rule blocks it.
        let source_index = (!resolution.blocked).then(|| resolution.candidates.len() - 1);
        let now = Instant::now();
        let mut states = Vec::with_capacity(resolution.candidates.len());
        let mut candidates = Vec::with_capacity(resolution.candidates.len());
        for text in &resolution.candidates {
            match ImageRef::parse(text) {
                Ok(c) => {
                    states.push(
                        self.skip_reason(c.registry(), now)
                            .map_or(State::Pending, State::Skipped),
                    );
                    candidates.push(Some(c));
                }
                Err(e) => {
                    states.push(State::Done(Err(LookupError::Payload {
                        image: text.clone(),
                        detail: e.to_string(),
                    })));
                    candidates.push(None);
                }
            }
        }
        if states.iter().all(|s| !matches!(s, State::Pending)) {
            // Every candidate is marked down: try them all rather than fail without trying.
            for (state, candidate) in states.iter_mut().zip(&candidates) {
                if candidate.is_some() {
                    *state = State::Pending;
                }
            }
        }

        let mut running: FuturesUnordered<_> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(states[*i], State::Pending))
            .filter_map(|(i, c)| {
                c.as_ref()
                    .map(|c| async move { (i, self.attempt(query, c, secret).await) })
            })
            .collect();
        while let Some((i, outcome)) = running.next().await {
            states[i] = State::Done(outcome);
            // The first candidate in priority order that is not known to have failed decides.
            for (index, state) in states.iter().enumerate() {
                match state {
                    State::Pending => break,
                    State::Done(Ok(served)) => {
                        return Ok(Served {
                            pulled_from: resolution.candidates[index].clone(),
                            via_mirror: Some(index) != source_index,
                            ..served.clone()
                        });
                    }
                    State::Done(Err(_)) | State::Skipped(_) => {}
                }
            }
        }

        let mut attempts: Vec<Attempt> = resolution
            .candidates
            .iter()
            .zip(states)
            .map(|(candidate, state)| Attempt {
                candidate: candidate.clone(),
                error: match state {
                    State::Done(Err(e)) => AttemptError::Failed(Box::new(e)),
                    State::Skipped(reason) => AttemptError::SkippedUnhealthy { reason },
                    State::Pending | State::Done(Ok(_)) => AttemptError::SkippedUnhealthy {
                        reason: "not tried".into(),
                    },
                },
            })
            .collect();
        if resolution.rule.is_none()
            && let [
                Attempt {
                    error: AttemptError::Failed(_),
                    ..
                },
            ] = attempts.as_slice()
            && let Some(Attempt {
                error: AttemptError::Failed(e),
                ..
            }) = attempts.pop()
        {
            // No mirror rule: the source's own error says it best.
            return Err(*e);
        }
        Err(LookupError::AllCandidatesFailed {
            image: image.to_string(),
            attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use hypershift_api::openshift::{ImageDigestMirrorSet, ImageDigestMirrorSetSpec, ImageMirrors};
    use hypershift_mirrors::MirrorSetBuilder;

    use super::*;
    use crate::testing_fake::{Behaviour, FakeRegistry, release_answer};

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn mirrors(mirrors: &[&str], policy: Option<&str>) -> ManagementMirrors {
        let mut b = MirrorSetBuilder::new();
        b.add_idms(&ImageDigestMirrorSet::new(
            "m",
            ImageDigestMirrorSetSpec {
                image_digest_mirrors: vec![ImageMirrors {
                    source: "quay.invalid/ocp/release".into(),
                    mirrors: mirrors.iter().map(|m| (*m).to_owned()).collect(),
                    mirror_source_policy: policy.map(Into::into),
                }],
            },
        ))
        .unwrap();
        b.build()
    }

    fn image() -> ImageRef {
        ImageRef::parse(&format!("quay.invalid/ocp/release@{D}")).unwrap()
    }

    fn unreachable(image: &str) -> Behaviour {
        Behaviour::Fail(LookupError::Unreachable {
            image: image.into(),
            detail: "connection refused".into(),
        })
    }

    const FAST: MirrorConfig = MirrorConfig {
        attempt_timeout: Duration::from_millis(200),
        unhealthy_ttl: Duration::from_mins(1),
    };

    #[tokio::test]
    async fn highest_priority_success_wins_even_if_a_lower_one_answers_first() {
        let fake = FakeRegistry::default();
        fake.serve(&format!("m1.invalid/r@{D}"), release_answer("from-m1"), D);
        fake.serve(&format!("m2.invalid/r@{D}"), release_answer("from-m2"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], None),
            FAST,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.value.version(), "from-m1");
        assert_eq!(served.pulled_from, format!("m1.invalid/r@{D}"));
        assert!(served.via_mirror);
    }

    #[tokio::test]
    async fn failing_and_hanging_mirrors_fall_through_to_the_next() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1"));
        fake.set(&format!("m2.invalid/r@{D}"), Behaviour::Hang);
        fake.serve(&format!("m3.invalid/r@{D}"), release_answer("from-m3"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r", "m3.invalid/r"], None),
            FAST,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.value.version(), "from-m3");
        // Both dead registries are now skipped: the next lookup does not wait for the hanging one.
        let again = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(again.pulled_from, format!("m3.invalid/r@{D}"));
        assert_eq!(fake.calls(Query::Release, &format!("m2.invalid/r@{D}")), 1);
        assert_eq!(fake.calls(Query::Release, &format!("m1.invalid/r@{D}")), 1);
    }

    #[tokio::test]
    async fn the_source_is_last_and_never_contacted_when_blocked() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1"));
        fake.serve(
            &format!("quay.invalid/ocp/release@{D}"),
            release_answer("from-source"),
            D,
        );
        let open = WithMirrors::new(fake.clone(), mirrors(&["m1.invalid/r"], None), FAST);
        let served = open.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert!(!served.via_mirror);
        assert_eq!(served.value.version(), "from-source");

        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1"));
        fake.serve(
            &format!("quay.invalid/ocp/release@{D}"),
            release_answer("from-source"),
            D,
        );
        let closed = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r"], Some("NeverContactSource")),
            FAST,
        );
        let err = closed
            .lookup(&image(), &PullSecret::anonymous())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LookupError::AllCandidatesFailed { attempts, .. } if attempts.len() == 1),
            "{err}"
        );
        assert_eq!(
            fake.calls(Query::Release, &format!("quay.invalid/ocp/release@{D}")),
            0
        );
        // Live semantics: the digest mirror is tried for a tag pull too (and tried although its
        // registry was just marked down, since it is the only candidate).
        let tag = ImageRef::parse("quay.invalid/ocp/release:4.99").unwrap();
        let _ = closed.resolve(&tag, &PullSecret::anonymous()).await;
        assert_eq!(fake.calls(Query::Digest, "m1.invalid/r:4.99"), 1);
    }

    #[tokio::test]
    async fn every_attempt_is_reported_in_priority_order() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1.invalid/r"));
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], None),
            FAST,
        );
        let err = p
            .resolve(&image(), &PullSecret::anonymous())
            .await
            .unwrap_err()
            .to_string();
        let (m1, m2, source) = (
            err.find("m1.invalid").unwrap(),
            err.find("m2.invalid").unwrap(),
            err.rfind("quay.invalid").unwrap(),
        );
        assert!(m1 < m2 && m2 < source, "{err}");
        assert!(
            err.contains("connection refused") && err.contains("not found"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn mirrors_can_be_replaced_while_running() {
        let fake = FakeRegistry::default();
        fake.serve(&format!("new.invalid/r@{D}"), release_answer("new"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["old.invalid/r"], Some("NeverContactSource")),
            FAST,
        );
        assert!(p.lookup(&image(), &PullSecret::anonymous()).await.is_err());
        p.set_mirrors(mirrors(&["new.invalid/r"], Some("NeverContactSource")));
        assert_eq!(
            p.lookup(&image(), &PullSecret::anonymous())
                .await
                .unwrap()
                .value
                .version(),
            "new"
        );
    }

    #[tokio::test]
    async fn without_a_rule_the_source_error_is_returned_as_is() {
        let fake = FakeRegistry::default();
        let p = WithMirrors::new(fake, ManagementMirrors::default(), FAST);
        let err = p.resolve(&image(), &PullSecret::anonymous()).await.unwrap_err();
        assert!(matches!(err, LookupError::NotFound { .. }), "{err}");
    }
}
