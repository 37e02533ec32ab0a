//! A scripted in-memory provider for the decorators' unit tests (the real registry is exercised
//! by `tests/registry.rs`). Unknown references answer `NotFound`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Answer, ImageRef, LookupError, PullSecret, Query, ReleaseImage, ReleaseProvider, Served};

/// What a scripted reference does.
#[derive(Clone)]
pub enum Behaviour {
    Serve(Answer, String),
    Fail(LookupError),
    Hang,
}

#[derive(Clone, Default)]
pub struct FakeRegistry {
    script: Arc<Mutex<HashMap<String, Behaviour>>>,
    calls: Arc<Mutex<HashMap<(Query, String), usize>>>,
    delay: Duration,
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
        tokio::time::sleep(self.delay).await;
        let behaviour = self.script.lock().unwrap().get(image.as_str()).cloned();
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
