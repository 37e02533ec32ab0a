//! Step 4: writes a NodePool's Secrets through the apply kit, then deletes what is no longer
//! served: expired token Secrets and user data of earlier configurations. The token Secret goes
//! first, so user data never points at a token the ignition server cannot know.

use std::marker::PhantomData;

use k8s_openapi::api::core::v1::Secret;

use super::build::{Applied, NodePoolSecrets, Prepared};
use super::error::Error;
use super::validate::ValidatedNodePool;
use crate::context::Context;

/// Applies everything; destructured without `..`, so a new field does not compile until it is
/// applied here.
pub async fn apply(
    ctx: &Context,
    np: &ValidatedNodePool,
    secrets: NodePoolSecrets<Prepared>,
) -> Result<NodePoolSecrets<Applied>, Error> {
    let NodePoolSecrets {
        token,
        stamped,
        user_data,
        state: PhantomData,
    } = secrets;
    let a = &ctx.applier;
    let token = a.apply(&token).await?;
    let mut applied_stamped = Vec::with_capacity(stamped.len());
    for s in &stamped {
        applied_stamped.push(a.apply(s).await?);
    }
    let user_data = a.apply(&user_data).await?;
    let cp = &np.control_plane_namespace;
    for name in np.expired.iter().chain(&np.stale_user_data) {
        a.delete::<Secret>(cp, name).await?;
    }
    Ok(NodePoolSecrets {
        token,
        stamped: applied_stamped,
        user_data,
        state: PhantomData,
    })
}
