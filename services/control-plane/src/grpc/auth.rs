//! Who is calling: the `authorization` metadata (`lk_…` or `Bearer lk_…`) checked by the same
//! transport-neutral function and role rules as the REST extractors (`OperatorKey`,
//! `AdminKey`), so a missing key is `UNAUTHENTICATED` and a wrong-role key `PERMISSION_DENIED`
//! exactly where REST answers 401 and 403.

use latchkey_api::server::grpc::presented;
use latchkey_api::server::{AdminKey, ApiError, OperatorKey, authenticate};
use latchkey_core::ApiKeyId;
use latchkey_core::auth::TenantPrincipal;

use crate::ControlPlane;

/// The platform operator, or the error REST would give.
pub(super) async fn operator<T>(
    cp: &ControlPlane,
    req: &tonic::Request<T>,
) -> Result<ApiKeyId, ApiError> {
    let p = authenticate(&cp.authenticator, presented(req.metadata())).await?;
    Ok(OperatorKey::from_principal(p)?.0)
}

/// A tenant's admin key, or the error REST would give.
pub(super) async fn admin<T>(
    cp: &ControlPlane,
    req: &tonic::Request<T>,
) -> Result<TenantPrincipal, ApiError> {
    let p = authenticate(&cp.authenticator, presented(req.metadata())).await?;
    Ok(AdminKey::from_principal(p)?.0)
}
