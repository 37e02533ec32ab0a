//! `WithMirrors<P>`: live URL translation through the management cluster's mirrors.
//!
//! For a reference, the [`ManagementMirrors`] give the candidate pull specs in priority order
//! (live semantics: digest mirrors are tried for tag references too; the source last unless
//! `NeverContactSource`). A lookup then:
//!
//! 1. skips every candidate whose registry failed recently at the connection level (refused,
//!    timed out, or gave up on by step 3), for `unhealthy_ttl`, unless that leaves nothing to try;
//! 2. asks the remaining mirrors at once, each attempt bounded by `attempt_timeout`;
//! 3. takes the highest-priority mirror that succeeds: a success wins as soon as every mirror
//!    above it has failed; while one above it is still pending, it waits at most `grace_period`
//!    and then wins anyway. Each registry still pending above the winner is given up: its
//!    attempt is cancelled (no background work is left behind) and the registry is skipped for
//!    `unhealthy_ttl` as "no answer within the grace period", so only the first lookup pays the
//!    grace period and a dead primary never costs a connect timeout;
//! 4. asks the source only once every mirror has failed or been skipped, and never under
//!    `NeverContactSource`: while a mirror serves, the source registry is not contacted at all;
//! 5. when everything fails, reports each attempt in priority order.
//!
//! The mirror set can be replaced at any time ([`WithMirrors::set_mirrors`]); lookups in flight
//! keep the set they started with. No lock is held across IO.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use hypershift_mirrors::ManagementMirrors;
use tokio::time::{Instant, Sleep};

use crate::{
    Answer, Attempt, AttemptError, ImageRef, LookupError, PullSecret, Query, ReleaseProvider, Served,
};

/// How long a lower-priority mirror's answer waits for a higher-priority mirror still pending,
/// by default: 250 ms.
///
/// - Mirrors of one source hold the same content (pinned by digest), so the grace period only
///   has to cover how much later than another mirror a healthy one may answer. A whole release
///   lookup from the registry on loopback takes about 5 ms (docs/benchmarks.md), and from a LAN
///   registry a few tens of milliseconds (a TLS handshake, the `/v2/` ping, the manifest and
///   the payload's top layer are six or so round trips plus the registry's own time): 250 ms is
///   several times that difference, so priority still decides between healthy mirrors.
/// - It is what a dead primary costs, once per `unhealthy_ttl`: a twelfth of the 3 s connect
///   timeout and a fortieth of the 10 s the hypershift-operator gives each candidate
///   (`registryTimeoutSeconds`), and short beside a reconcile, which reads several images.
/// - It runs from the lower-priority answer, not from the start of the lookup, so it measures
///   how far behind the other mirror the higher-priority one may be, whatever the lookup costs.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_millis(250);

/// Settings of [`WithMirrors`].
#[derive(Debug, Clone)]
pub struct MirrorConfig {
    /// Bound on each candidate's lookup.
    pub attempt_timeout: Duration,
    /// How long a registry that failed at the connection level, or was given up on after the
    /// grace period, is skipped.
    pub unhealthy_ttl: Duration,
    /// How long a lower-priority mirror's success waits for a higher-priority mirror that is
    /// still pending before it wins ([`DEFAULT_GRACE_PERIOD`] says why 250 ms). A higher one
    /// that succeeds within it still wins.
    pub grace_period: Duration,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(10),
            unhealthy_ttl: Duration::from_secs(30),
            grace_period: DEFAULT_GRACE_PERIOD,
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

    /// Marks the registries of `abandoned` (still pending when a lower-priority mirror won)
    /// down for `unhealthy_ttl`, except the winner's own registry, which just answered.
    fn give_up<'a>(&self, abandoned: impl Iterator<Item = &'a ImageRef>, winner: &ImageRef) {
        let until = Instant::now() + self.config.unhealthy_ttl;
        let grace = self.config.grace_period.as_millis();
        let mut unhealthy = self.unhealthy.lock().unwrap_or_else(PoisonError::into_inner);
        for candidate in abandoned.filter(|c| c.registry() != winner.registry()) {
            unhealthy.insert(
                candidate.registry().to_owned(),
                (
                    until,
                    format!(
                        "{candidate}: no answer within the {grace} ms grace period, while {winner} answered"
                    ),
                ),
            );
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

    /// Asks every pending candidate of `candidates` (mirrors, in priority order) at once and
    /// returns the index of the one that serves (step 3 of the module docs), or `None` when
    /// all of them failed. Attempts still running when it returns are cancelled.
    async fn race(
        &self,
        query: Query,
        secret: &PullSecret,
        candidates: &[Option<ImageRef>],
        states: &mut [State],
    ) -> Option<usize> {
        let mut running: FuturesUnordered<_> = candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(states[*i], State::Pending))
            .filter_map(|(i, c)| {
                c.as_ref()
                    .map(|c| async move { (i, self.attempt(query, c, secret).await) })
            })
            .collect();
        let mut grace: Option<Pin<Box<Sleep>>> = None;
        loop {
            // The first candidate, in priority order, not known to have failed.
            let first = states
                .iter()
                .position(|s| matches!(s, State::Pending | State::Done(Ok(_))))?;
            if matches!(states[first], State::Done(Ok(_))) {
                return Some(first);
            }
            if grace.is_none() && states[first..].iter().any(|s| matches!(s, State::Done(Ok(_)))) {
                grace = Some(Box::pin(tokio::time::sleep(self.config.grace_period)));
            }
            tokio::select! {
                next = running.next() => match next {
                    Some((i, outcome)) => states[i] = State::Done(outcome),
                    // Unreachable: a pending candidate has a running attempt.
                    None => return states.iter().position(|s| matches!(s, State::Done(Ok(_)))),
                },
                () = until_elapsed(grace.as_mut()) => {
                    let best = states.iter().position(|s| matches!(s, State::Done(Ok(_))))?;
                    if let Some(winner) = &candidates[best] {
                        let abandoned = candidates[..best]
                            .iter()
                            .zip(&states[..best])
                            .filter(|(_, s)| matches!(s, State::Pending))
                            .filter_map(|(c, _)| c.as_ref());
                        self.give_up(abandoned, winner);
                    }
                    return Some(best);
                }
            }
        }
    }
}

/// Completes when `timer` does; never, without one.
async fn until_elapsed(timer: Option<&mut Pin<Box<Sleep>>>) {
    match timer {
        Some(timer) => timer.await,
        None => std::future::pending().await,
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
        // The source is the last candidate unless the rule blocks it; the mirrors come before.
        let source_index = (!resolution.blocked).then(|| resolution.candidates.len() - 1);
        let mirror_count = source_index.unwrap_or(resolution.candidates.len());
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
            // Every candidate is marked down: try them all (still mirrors first, the source
            // last) rather than fail without trying.
            for (state, candidate) in states.iter_mut().zip(&candidates) {
                if candidate.is_some() {
                    *state = State::Pending;
                }
            }
        }

        let (mirror_states, source_state) = states.split_at_mut(mirror_count);
        let winner = match self
            .race(query, secret, &candidates[..mirror_count], mirror_states)
            .await
        {
            Some(index) => Some(index),
            None => match (source_index, source_state.first_mut(), candidates.last()) {
                (Some(index), Some(state @ State::Pending), Some(Some(source))) => {
                    // Every mirror failed or was skipped, and nothing is in flight any more.
                    *state = State::Done(self.attempt(query, source, secret).await);
                    matches!(state, State::Done(Ok(_))).then_some(index)
                }
                _ => None,
            },
        };
        if let Some(index) = winner
            && let State::Done(Ok(served)) = std::mem::replace(&mut states[index], State::Pending)
        {
            return Ok(Served {
                pulled_from: resolution.candidates[index].clone(),
                via_mirror: Some(index) != source_index,
                ..served
            });
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
        grace_period: Duration::from_millis(50),
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

    fn source() -> String {
        format!("quay.invalid/ocp/release@{D}")
    }

    fn skip_reason<P: ReleaseProvider>(p: &WithMirrors<P>, registry: &str) -> Option<String> {
        p.skip_reason(registry, Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn the_source_is_not_asked_while_a_mirror_serves() {
        let fake = FakeRegistry::default().with_delay(Duration::from_millis(5));
        fake.serve(&format!("m2.invalid/r@{D}"), release_answer("from-m2"), D);
        fake.serve(&source(), release_answer("from-source"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], None),
            FAST,
        );
        // The primary does not have it (an answer, not a dead registry): the secondary serves.
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m2.invalid/r@{D}"));
        assert!(served.via_mirror);
        // The primary serves.
        fake.serve(&format!("m1.invalid/r@{D}"), release_answer("from-m1"), D);
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m1.invalid/r@{D}"));
        // The primary refuses connections: the secondary serves.
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1"));
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m2.invalid/r@{D}"));
        assert_eq!(fake.calls(Query::Release, &source()), 0, "the source was asked");
    }

    #[tokio::test(start_paused = true)]
    async fn the_source_is_asked_only_after_every_mirror_failed() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), unreachable("m1"));
        fake.set(&format!("m2.invalid/r@{D}"), Behaviour::Hang);
        // m3 has no such image: it answers "not found".
        fake.serve(&source(), release_answer("from-source"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r", "m3.invalid/r"], None),
            FAST,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.value.version(), "from-source");
        assert!(!served.via_mirror);
        assert_eq!(fake.calls(Query::Release, &format!("m2.invalid/r@{D}")), 1);
        assert_eq!(fake.calls(Query::Release, &format!("m3.invalid/r@{D}")), 1);
        assert_eq!(
            fake.others_in_flight(&source()),
            [0],
            "the source was asked while a mirror attempt was still running"
        );
        // Next time the dead registries are skipped, the one that answered is asked again, and
        // the source still comes after it.
        p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(fake.calls(Query::Release, &format!("m1.invalid/r@{D}")), 1);
        assert_eq!(fake.calls(Query::Release, &format!("m2.invalid/r@{D}")), 1);
        assert_eq!(fake.calls(Query::Release, &format!("m3.invalid/r@{D}")), 2);
        assert_eq!(fake.others_in_flight(&source()), [0, 0]);
    }

    /// Ends only by the grace period: the primary hangs and its attempt timeout is an hour.
    const PATIENT: MirrorConfig = MirrorConfig {
        attempt_timeout: Duration::from_hours(1),
        unhealthy_ttl: Duration::from_mins(1),
        grace_period: DEFAULT_GRACE_PERIOD,
    };

    #[tokio::test(start_paused = true)]
    async fn a_hanging_primary_loses_to_a_serving_secondary_after_the_grace_period() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m1.invalid/r@{D}"), Behaviour::Hang);
        fake.serve(&format!("m2.invalid/r@{D}"), release_answer("from-m2"), D);
        fake.serve(&source(), release_answer("from-source"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], None),
            PATIENT,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m2.invalid/r@{D}"));
        assert_eq!(fake.calls(Query::Release, &source()), 0, "the source was asked");
        // The primary was given up when the grace period ended, not when its attempt timed out,
        // and it is skipped from now on.
        let reason = skip_reason(&p, "m1.invalid").expect("the primary is marked down");
        assert!(reason.contains("grace period"), "{reason}");
        let again = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(again.pulled_from, format!("m2.invalid/r@{D}"));
        assert_eq!(fake.calls(Query::Release, &format!("m1.invalid/r@{D}")), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_higher_priority_answer_within_the_grace_period_still_wins() {
        let fake = FakeRegistry::default();
        fake.set(
            &format!("m1.invalid/r@{D}"),
            Behaviour::After(
                Duration::from_millis(100),
                Box::new(Behaviour::Serve(release_answer("from-m1"), D.into())),
            ),
        );
        fake.serve(&format!("m2.invalid/r@{D}"), release_answer("from-m2"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], None),
            PATIENT,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m1.invalid/r@{D}"));
        assert_eq!(skip_reason(&p, "m1.invalid"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_primary_slower_than_the_grace_period_is_skipped_until_its_ttl_ends() {
        let fake = FakeRegistry::default();
        fake.set(
            &format!("m1.invalid/r@{D}"),
            Behaviour::After(
                Duration::from_secs(2),
                Box::new(Behaviour::Serve(release_answer("from-m1"), D.into())),
            ),
        );
        fake.serve(&format!("m2.invalid/r@{D}"), release_answer("from-m2"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m1.invalid/r", "m2.invalid/r"], Some("NeverContactSource")),
            PATIENT,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m2.invalid/r@{D}"));
        p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(fake.calls(Query::Release, &format!("m1.invalid/r@{D}")), 1);
        // Once the TTL is over it is asked again (and, being slow again, loses again).
        tokio::time::advance(PATIENT.unhealthy_ttl).await;
        p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(fake.calls(Query::Release, &format!("m1.invalid/r@{D}")), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_repository_on_the_winning_registry_does_not_mark_it_down() {
        let fake = FakeRegistry::default();
        fake.set(&format!("m.invalid/slow@{D}"), Behaviour::Hang);
        fake.serve(&format!("m.invalid/fast@{D}"), release_answer("fast"), D);
        let p = WithMirrors::new(
            fake.clone(),
            mirrors(&["m.invalid/slow", "m.invalid/fast"], Some("NeverContactSource")),
            PATIENT,
        );
        let served = p.lookup(&image(), &PullSecret::anonymous()).await.unwrap();
        assert_eq!(served.pulled_from, format!("m.invalid/fast@{D}"));
        assert_eq!(skip_reason(&p, "m.invalid"), None);
    }
}
