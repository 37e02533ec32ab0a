//! Kubernetes Events: one way to publish them, never fatal, never too long.

use kube::runtime::events::{Event, EventType, Recorder};

/// The longest `note` the API accepts (events.k8s.io/v1).
pub const MAX_NOTE: usize = 1024;

/// Publishes a Warning Event `reason` with `note` about `object`; a failure to publish is logged.
/// `reason` must come from a bounded set (a condition reason or an error category).
pub async fn warn(
    recorder: &Recorder,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    note: &str,
) {
    publish(recorder, object, EventType::Warning, reason, note).await;
}

/// Publishes a Normal Event.
pub async fn normal(
    recorder: &Recorder,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    reason: &str,
    note: &str,
) {
    publish(recorder, object, EventType::Normal, reason, note).await;
}

async fn publish(
    recorder: &Recorder,
    object: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(note)),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, object).await {
        tracing::warn!(error = %e, reason, object = object.name.as_deref().unwrap_or_default(), "cannot publish an event");
    }
}

/// At most [`MAX_NOTE`] bytes, cut on a character boundary.
pub fn truncate(note: &str) -> String {
    if note.len() <= MAX_NOTE {
        return note.to_owned();
    }
    let mut end = MAX_NOTE;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn notes_are_cut_on_a_character_boundary() {
        let long = "é".repeat(600);
        let cut = super::truncate(&long);
        assert!(cut.len() <= super::MAX_NOTE && cut.chars().all(|c| c == 'é'));
        assert_eq!(super::truncate("short"), "short");
    }
}
