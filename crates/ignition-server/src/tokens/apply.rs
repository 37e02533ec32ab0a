//! Putting a payload where the HTTPS handler finds it.

use std::sync::Arc;

use super::Context;
use super::validate::ValidToken;
use crate::store::Payload;

/// Serves `bytes` for the Secret's tokens; returns the stored payload.
pub fn store(ctx: &Context, valid: &ValidToken, bytes: Vec<u8>) -> Arc<Payload> {
    let payload = Arc::new(Payload {
        digest: hypershift_mirrors::sha256_digest(&bytes),
        bytes: bytes.into(),
        node_pool: valid.node_pool.clone(),
        secret: valid.secret.clone(),
        uid: valid.uid.clone(),
        inputs: valid.inputs.clone(),
    });
    retoken(ctx, valid, Arc::clone(&payload));
    payload
}

/// Serves the stored `payload` for the Secret's current tokens and expiry.
pub fn retoken(ctx: &Context, valid: &ValidToken, payload: Arc<Payload>) {
    let tokens: Vec<&str> = valid.tokens.iter().map(String::as_str).collect();
    if !ctx.store.set(payload, &tokens, valid.expires_at) {
        tracing::debug!(secret = %valid.secret, "the token Secret was deleted meanwhile; its payload is not stored");
    }
    ctx.metrics
        .cached_tokens
        .set(i64::try_from(ctx.store.tokens()).unwrap_or(i64::MAX));
}

/// Stops serving Secret `name`.
pub fn evict(ctx: &Context, name: &str) {
    if ctx.store.remove(name) {
        ctx.metrics
            .cached_tokens
            .set(i64::try_from(ctx.store.tokens()).unwrap_or(i64::MAX));
    }
}

/// Stops serving Secret `name` (uid `uid`) for good: it was deleted, and a generation still in
/// flight does not bring its payload back.
pub fn evict_deleted(ctx: &Context, name: &str, uid: &str) {
    if ctx.store.deleted(name, uid) {
        ctx.metrics
            .cached_tokens
            .set(i64::try_from(ctx.store.tokens()).unwrap_or(i64::MAX));
    }
}
