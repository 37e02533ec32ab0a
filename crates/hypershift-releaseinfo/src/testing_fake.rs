//! A scripted in-memory provider for the decorators' unit tests (the real registry is exercised
//! by `tests/registry.rs`). Unknown references answer `NotFound`.
//!
//! Besides counting calls, it records for every call how many other calls were in flight when
//! it began, so a test can tell "asked after the others finished" from "asked at the same time"
//! without looking at a clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Answer, ImageRef, LookupError, PullSecret, Query, ReleaseImage, ReleaseProvider, Served};

/// What a scripted reference does.
#[derive(Clone)]
pub enum Behaviour {
    Serve(Answer, String),
    Fail(LookupError),
    Hang,
    /// The behaviour, after waiting this long (tokio time: instant under a paused clock).
    After(Duration, Box<Behaviour>),
}

#[derive(Clone, Default)]
pub struct FakeRegistry {
    script: Arc<Mutex<HashMap<String, Behaviour>>>,
    calls: Arc<Mutex<HashMap<(Query, String), usize>>>,
    /// Per reference, for each call: how many other calls were in flight when it began.
    others_in_flight: Arc<Mutex<HashMap<String, Vec<usize>>>>,
    in_flight: Arc<AtomicUsize>,
    delay: Duration,
}

/// Counts a call as in flight until it returns or is cancelled.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FakeRegistry {
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn serve(&self, image: &str, answer: Answer, digest: &str) {
        self.set(image, Behaviour::Serve(answer, digest.to_owned()));
    }

    pub fn set(&self, image: &str, behaviour: Behaviour) {
        self.script
            .lock()
            .unwrap()
            .insert(ImageRef::parse(image).unwrap().to_string(), behaviour);
    }

    pub fn calls(&self, query: Query, image: &str) -> usize {
        let image = ImageRef::parse(image).unwrap().to_string();
        self.calls
            .lock()
            .unwrap()
            .get(&(query, image))
            .copied()
            .unwrap_or(0)
    }

    /// For each call of `image` (any query), how many other calls were in flight as it began.
    pub fn others_in_flight(&self, image: &str) -> Vec<usize> {
        let image = ImageRef::parse(image).unwrap().to_string();
        self.others_in_flight
            .lock()
            .unwrap()
            .get(&image)
            .cloned()
            .unwrap_or_default()
    }
}

impl ReleaseProvider for FakeRegistry {
    async fn fetch(
        &self,
        query: Query,
        image: &ImageRef,
        _secret: &PullSecret,
    ) -> Result<Served<Answer>, LookupError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry((query, image.to_string()))
            .or_default() += 1;
        let others = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let _in_flight = InFlight(Arc::clone(&self.in_flight));
        self.others_in_flight
            .lock()
            .unwrap()
            .entry(image.to_string())
            .or_default()
            .push(others);
        tokio::time::sleep(self.delay).await;
        let mut behaviour = self.script.lock().unwrap().get(image.as_str()).cloned();
        while let Some(Behaviour::After(wait, then)) = behaviour {
            tokio::time::sleep(wait).await;
            behaviour = Some(*then);
        }
        match behaviour {
            Some(Behaviour::Serve(answer, digest)) => {
                let value = match (query, answer) {
                    (Query::Digest, _) => Answer::Digest,
                    (_, a) => a,
                };
                Ok(Served {
                    value,
                    pulled_from: image.to_string(),
                    digest,
                    via_mirror: false,
                })
            }
            Some(Behaviour::Fail(e)) => Err(e),
            Some(Behaviour::Hang) => std::future::pending().await,
            Some(Behaviour::After(..)) => unreachable!("unwrapped above"),
            None => Err(LookupError::NotFound {
                image: image.to_string(),
                detail: "not scripted".into(),
            }),
        }
    }
}

pub fn release_answer(version: &str) -> Answer {
    let refs = format!(
        r#"{{"metadata":{{"name":"{version}"}},"spec":{{"tags":[{{"name":"cli","from":{{"kind":"DockerImage","name":"quay.invalid/ocp/art@sha256:{}"}}}}]}}}}"#,
        "2".repeat(64)
    );
    Answer::Release(ReleaseImage::from_files(refs.as_bytes(), b"data:\n  stream: '{}'\n").unwrap())
}
