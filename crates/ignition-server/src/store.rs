//! The payload store: token → payload, filled by the token Secret reconciler, read by the
//! HTTPS handler.
//!
//! Tokens are kept only as SHA-256 digests: a lookup hashes the presented token and finds the
//! digest, so neither the map's comparisons nor its memory ever hold a token, and how long a
//! lookup takes says nothing about how close a guess was (the constant-time comparison upstream
//! lacks). One token Secret holds its current token and, after a rotation, its previous one; both
//! map to the Secret's one payload until the Secret expires or goes away.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::jiff::Timestamp;
use sha2::{Digest as _, Sha256};

/// A token's digest.
type TokenKey = [u8; 32];

fn key(token: &str) -> TokenKey {
    Sha256::digest(token.as_bytes()).into()
}

/// One generated payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// The Ignition config, as served.
    pub bytes: axum::body::Bytes,
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// `<namespace>/<name>` of the NodePool it is for.
    pub node_pool: String,
    /// The token Secret (`name`) it was generated for.
    pub secret: String,
    /// That Secret's uid: a payload of a deleted Secret is never stored again.
    pub uid: String,
    /// What it was generated from: a new fingerprint means a new payload.
    pub inputs: String,
}

#[derive(Debug)]
struct ForSecret {
    payload: Arc<Payload>,
    tokens: Vec<TokenKey>,
    expires_at: Option<Timestamp>,
    reached: bool,
}

#[derive(Debug, Default)]
struct Inner {
    by_token: HashMap<TokenKey, String>,
    by_secret: HashMap<String, ForSecret>,
    /// Uids of deleted Secrets, the newest [`TOMBSTONES`]: a generation that was in flight when
    /// its Secret went does not bring the payload back.
    deleted: std::collections::VecDeque<String>,
}

/// How many deleted Secrets are remembered.
const TOMBSTONES: usize = 1024;

/// Shared between the reconciler and the handler.
#[derive(Debug, Default, Clone)]
pub struct PayloadStore {
    inner: Arc<RwLock<Inner>>,
}

/// What a token lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Arc<Payload>),
    /// Unknown, or its Secret has expired.
    Unknown,
}

impl PayloadStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The payload `token` opens at `now`.
    pub fn get(&self, token: &str, now: Timestamp) -> Lookup {
        let inner = self.read();
        let found = inner
            .by_token
            .get(&key(token))
            .and_then(|secret| inner.by_secret.get(secret))
            .filter(|s| s.expires_at.is_none_or(|at| now < at));
        match found {
            Some(s) => Lookup::Found(Arc::clone(&s.payload)),
            None => Lookup::Unknown,
        }
    }

    /// The payload of Secret `secret`, if one is stored.
    pub fn payload_of(&self, secret: &str) -> Option<Arc<Payload>> {
        self.read().by_secret.get(secret).map(|s| Arc::clone(&s.payload))
    }

    /// Serves `payload` for exactly `tokens` (the Secret's current and previous ones) until
    /// `expires_at`; tokens the Secret no longer holds stop working. Refused (`false`) for a
    /// Secret already deleted.
    pub fn set(&self, payload: Arc<Payload>, tokens: &[&str], expires_at: Option<Timestamp>) -> bool {
        let mut inner = self.write();
        if inner.deleted.contains(&payload.uid) {
            return false;
        }
        let secret = payload.secret.clone();
        let reached = inner
            .by_secret
            .get(&secret)
            .is_some_and(|s| s.reached && s.payload == payload);
        Self::remove_locked(&mut inner, &secret);
        let keys: Vec<TokenKey> = tokens.iter().map(|t| key(t)).collect();
        for k in &keys {
            // A token belongs to one Secret: a stale claim by another Secret is dropped.
            if let Some(previous) = inner.by_token.insert(*k, secret.clone())
                && previous != secret
                && let Some(other) = inner.by_secret.get_mut(&previous)
            {
                other.tokens.retain(|t| t != k);
            }
        }
        inner.by_secret.insert(
            secret,
            ForSecret {
                payload,
                tokens: keys,
                expires_at,
                reached,
            },
        );
        true
    }

    /// Forgets Secret `secret` (uid `uid`), deleted: nothing stores its payload again.
    pub fn deleted(&self, secret: &str, uid: &str) -> bool {
        let mut inner = self.write();
        if !uid.is_empty() && !inner.deleted.iter().any(|u| u == uid) {
            if inner.deleted.len() >= TOMBSTONES {
                inner.deleted.pop_front();
            }
            inner.deleted.push_back(uid.to_owned());
        }
        Self::remove_locked(&mut inner, secret)
    }

    /// The uid of the Secret whose payload is stored under `secret`.
    pub fn uid_of(&self, secret: &str) -> Option<String> {
        self.read().by_secret.get(secret).map(|s| s.payload.uid.clone())
    }

    /// Forgets Secret `secret` and its tokens; whether it was there.
    pub fn remove(&self, secret: &str) -> bool {
        Self::remove_locked(&mut self.write(), secret)
    }

    fn remove_locked(inner: &mut Inner, secret: &str) -> bool {
        let Some(gone) = inner.by_secret.remove(secret) else {
            return false;
        };
        for k in gone.tokens {
            if inner.by_token.get(&k).is_some_and(|s| s == secret) {
                inner.by_token.remove(&k);
            }
        }
        true
    }

    /// Marks Secret `secret` as reached; `true` the first time (when it should be reported).
    pub fn mark_reached(&self, secret: &str) -> bool {
        self.write()
            .by_secret
            .get_mut(secret)
            .is_some_and(|s| !std::mem::replace(&mut s.reached, true))
    }

    /// Undoes [`PayloadStore::mark_reached`] (the report failed).
    pub fn unmark_reached(&self, secret: &str) {
        if let Some(s) = self.write().by_secret.get_mut(secret) {
            s.reached = false;
        }
    }

    /// The Secrets with a stored payload.
    pub fn secrets(&self) -> Vec<String> {
        self.read().by_secret.keys().cloned().collect()
    }

    /// How many tokens open a payload.
    pub fn tokens(&self) -> usize {
        self.read().by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(secret: &str, body: &str) -> Arc<Payload> {
        Arc::new(Payload {
            bytes: body.as_bytes().to_vec().into(),
            digest: String::new(),
            node_pool: "clusters/np".into(),
            secret: secret.into(),
            uid: format!("uid-{secret}"),
            inputs: body.into(),
        })
    }

    fn body(l: Lookup) -> Option<String> {
        match l {
            Lookup::Found(p) => Some(String::from_utf8(p.bytes.to_vec()).unwrap()),
            Lookup::Unknown => None,
        }
    }

    #[test]
    fn rotation_keeps_the_old_token_until_expiry_and_removal_evicts() {
        let s = PayloadStore::default();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        s.set(payload("token-a", "A"), &["t1"], None);
        assert_eq!(body(s.get("t1", now)).as_deref(), Some("A"));
        assert_eq!(body(s.get("t2", now)), None);
        // Rotation: t2 current, t1 previous; both open A.
        s.set(payload("token-a", "A"), &["t2", "t1"], None);
        assert_eq!(body(s.get("t1", now)).as_deref(), Some("A"));
        assert_eq!(body(s.get("t2", now)).as_deref(), Some("A"));
        // The next rotation drops t1.
        s.set(payload("token-a", "A"), &["t3", "t2"], None);
        assert_eq!(body(s.get("t1", now)), None);
        assert_eq!(s.tokens(), 2);
        // Outdated: served until the expiry, not after.
        let at: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        s.set(payload("token-a", "A"), &["t3", "t2"], Some(at));
        assert!(body(s.get("t3", now)).is_some());
        assert_eq!(body(s.get("t3", at)), None);
        // Another Secret's tokens never open this one's payload.
        s.set(payload("token-b", "B"), &["u1"], None);
        assert_eq!(body(s.get("u1", now)).as_deref(), Some("B"));
        assert!(s.remove("token-a"));
        assert_eq!(body(s.get("t3", now)), None);
        assert_eq!(body(s.get("u1", now)).as_deref(), Some("B"));
        assert!(!s.remove("token-a"));
        assert_eq!(s.tokens(), 1);
    }

    #[test]
    fn a_deleted_secret_is_not_brought_back_by_a_late_generation() {
        let s = PayloadStore::default();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        assert!(s.set(payload("token-a", "A"), &["t1"], None));
        assert!(s.deleted("token-a", "uid-token-a"));
        // A generation that was in flight when the Secret went.
        assert!(!s.set(payload("token-a", "A"), &["t1"], None));
        assert_eq!(body(s.get("t1", now)), None);
        // A new Secret of the same name has another uid.
        let mut again = (*payload("token-a", "B")).clone();
        again.uid = "uid-2".into();
        assert!(s.set(Arc::new(again), &["t2"], None));
        assert_eq!(body(s.get("t2", now)).as_deref(), Some("B"));
    }

    #[test]
    fn reached_is_reported_once_per_payload() {
        let s = PayloadStore::default();
        s.set(payload("token-a", "A"), &["t1"], None);
        assert!(s.mark_reached("token-a"));
        assert!(!s.mark_reached("token-a"));
        s.set(payload("token-a", "A"), &["t2", "t1"], None);
        assert!(!s.mark_reached("token-a"), "same payload: already reached");
        assert!(!s.mark_reached("token-z"));
    }
}
