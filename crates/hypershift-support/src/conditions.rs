//! Status conditions: what a reconcile wants them to say, merged with what the object has.
//!
//! A controller computes a [`Wanted`] per condition type it owns; [`merge`] keeps the conditions
//! it does not own, keeps `lastTransitionTime` when a condition's status did not change, and
//! sorts by type so the written list is byte-identical for equal inputs. [`newly_failing`] says
//! which conditions just turned False (or changed what they say while False): those are the ones
//! worth a Warning Event. Pure: the time is passed in.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// One condition as a reconcile wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    /// `True` or `False` (`None` for `Unknown`).
    pub status: Option<bool>,
    pub reason: String,
    pub message: String,
}

impl Wanted {
    /// `True` with `reason` and `message`.
    pub fn truthy(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: Some(true),
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// `False` with `reason` and `message`.
    pub fn falsy(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: Some(false),
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    /// `Unknown` with `reason` and `message`.
    pub fn unknown(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Self {
            type_,
            status: None,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    fn status_text(&self) -> &'static str {
        match self.status {
            Some(true) => "True",
            Some(false) => "False",
            None => "Unknown",
        }
    }
}

/// The conditions to write: `existing` with every `wanted` type replaced. A condition's
/// `lastTransitionTime` is kept while its status stays the same and set to `now` when it changes.
pub fn merge(
    existing: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = existing
        .iter()
        .filter(|c| !wanted.iter().any(|w| w.type_ == c.type_))
        .cloned()
        .collect();
    for w in wanted {
        let status = w.status_text();
        let last_transition_time = match existing.iter().find(|c| c.type_ == w.type_) {
            Some(previous) if previous.status == status => previous.last_transition_time.clone(),
            _ => Time(now),
        };
        out.push(Condition {
            type_: w.type_.to_owned(),
            status: status.to_owned(),
            reason: w.reason.clone(),
            message: w.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// The conditions of `after` that are False and were not False with the same message in
/// `before`, except those whose reason is in `quiet` (waiting states that are no failure).
pub fn newly_failing<'a>(before: &[Condition], after: &'a [Condition], quiet: &[&str]) -> Vec<&'a Condition> {
    after
        .iter()
        .filter(|c| c.status == "False" && !quiet.contains(&c.reason.as_str()))
        .filter(|c| {
            !before
                .iter()
                .any(|p| p.type_ == c.type_ && p.status == "False" && p.message == c.message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let first = merge(&[], &[Wanted::falsy("A", "Bad", "one")], Some(1), at(10));
        assert_eq!(first[0].last_transition_time, Time(at(10)));
        // Same status, new message: the time stays.
        let second = merge(&first, &[Wanted::falsy("A", "Bad", "two")], Some(2), at(20));
        assert_eq!(second[0].last_transition_time, Time(at(10)));
        assert_eq!(
            (second[0].message.as_str(), second[0].observed_generation),
            ("two", Some(2))
        );
        // New status: the time moves.
        let third = merge(
            &second,
            &[Wanted::truthy("A", "AsExpected", "ok")],
            Some(2),
            at(30),
        );
        assert_eq!(third[0].last_transition_time, Time(at(30)));
        assert_eq!(third[0].status, "True");
        let fourth = merge(&third, &[Wanted::unknown("A", "", "?")], Some(2), at(40));
        assert_eq!(fourth[0].status, "Unknown");
    }

    #[test]
    fn conditions_of_others_are_kept_and_the_list_is_sorted() {
        let other = merge(&[], &[Wanted::truthy("Z", "Theirs", "x")], None, at(1));
        let out = merge(
            &other,
            &[Wanted::truthy("B", "R", "m"), Wanted::truthy("A", "R", "m")],
            None,
            at(2),
        );
        let types: Vec<&str> = out.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["A", "B", "Z"]);
        assert_eq!(out[2].reason, "Theirs");
        // Deterministic: the same inputs give the same list.
        assert_eq!(
            out,
            merge(
                &other,
                &[Wanted::truthy("B", "R", "m"), Wanted::truthy("A", "R", "m")],
                None,
                at(2)
            )
        );
    }

    #[test]
    fn only_new_failures_and_changed_messages_are_reported() {
        let before = merge(
            &[],
            &[Wanted::falsy("A", "Bad", "one"), Wanted::truthy("B", "Ok", "")],
            None,
            at(1),
        );
        let same = merge(
            &before,
            &[Wanted::falsy("A", "Bad", "one"), Wanted::truthy("B", "Ok", "")],
            None,
            at(2),
        );
        assert!(newly_failing(&before, &same, &[]).is_empty());
        let changed = merge(
            &before,
            &[Wanted::falsy("A", "Bad", "two"), Wanted::falsy("B", "Wait", "")],
            None,
            at(2),
        );
        let failing: Vec<&str> = newly_failing(&before, &changed, &["Wait"])
            .into_iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(failing, ["A"]);
        let from_nothing = merge(&[], &[Wanted::falsy("A", "Bad", "one")], None, at(1));
        assert_eq!(newly_failing(&[], &from_nothing, &[]).len(), 1);
    }
}
