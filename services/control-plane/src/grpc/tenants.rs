//! `CreateTenant`, `ListTenants`, `GetTenant`, `DeleteTenant` (operator key): the use cases of
//! `crate::tenants`, with messages converted to and from the REST types.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;
use latchkey_api::tenants::{CreateTenantRequest, TenantResponse};

use super::{auth, page};
use crate::{ControlPlane, tenants};

fn tenant(t: TenantResponse) -> pb::Tenant {
    pb::Tenant {
        id: t.id,
        name: t.name,
        created_at: t.created_at,
    }
}

pub(super) async fn create(
    cp: &ControlPlane,
    req: tonic::Request<pb::CreateTenantRequest>,
) -> Result<pb::CreateTenantResponse, ApiError> {
    let operator = auth::operator(cp, &req).await?;
    let pb::CreateTenantRequest { name } = req.into_inner();
    let t = tenants::create_tenant(cp, operator, CreateTenantRequest { name }).await?;
    Ok(pb::CreateTenantResponse {
        id: t.id,
        name: t.name,
        created_at: t.created_at,
        admin_key: t.admin_key,
        app_key: t.app_key,
    })
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListTenantsRequest>,
) -> Result<pb::ListTenantsResponse, ApiError> {
    auth::operator(cp, &req).await?;
    let r = req.into_inner();
    let p = tenants::list_tenants(cp, page(r.limit, r.offset)?).await?;
    Ok(page_response!(pb::ListTenantsResponse, p, tenant))
}

pub(super) async fn get(
    cp: &ControlPlane,
    req: tonic::Request<pb::GetTenantRequest>,
) -> Result<pb::GetTenantResponse, ApiError> {
    auth::operator(cp, &req).await?;
    let t = tenants::get_tenant(cp, &req.into_inner().id).await?;
    Ok(pb::GetTenantResponse {
        tenant: Some(tenant(t)),
    })
}

pub(super) async fn delete(
    cp: &ControlPlane,
    req: tonic::Request<pb::DeleteTenantRequest>,
) -> Result<pb::DeleteTenantResponse, ApiError> {
    let operator = auth::operator(cp, &req).await?;
    tenants::delete_tenant(cp, operator, &req.into_inner().id).await?;
    Ok(pb::DeleteTenantResponse {})
}
