//! The `latchkey.v1.ControlPlane` trait implementation: one line per RPC, handing the request
//! to its resource module and turning an `ApiError` into a `tonic::Status`.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::grpc::v1::control_plane_server::ControlPlane as Rpc;
use tonic::{Request, Response, Status};

use super::{api_keys, audit, connections, providers, settings, tenants, tools};
use crate::ControlPlane;

/// The control plane's gRPC service (the same [`ControlPlane`] state as the REST routes).
#[derive(Clone)]
pub struct ControlPlaneService {
    cp: ControlPlane,
}

impl ControlPlaneService {
    /// A service over the control plane's ports.
    pub fn new(cp: ControlPlane) -> Self {
        Self { cp }
    }
}

macro_rules! rpcs {
    ($($method:ident($req:ident) -> $res:ident => $f:path;)*) => {
        #[tonic::async_trait]
        impl Rpc for ControlPlaneService {
            $(
                async fn $method(
                    &self,
                    request: Request<pb::$req>,
                ) -> Result<Response<pb::$res>, Status> {
                    $f(&self.cp, request).await.map(Response::new).map_err(Status::from)
                }
            )*
        }
    };
}

rpcs! {
    create_tenant(CreateTenantRequest) -> CreateTenantResponse => tenants::create;
    list_tenants(ListTenantsRequest) -> ListTenantsResponse => tenants::list;
    get_tenant(GetTenantRequest) -> GetTenantResponse => tenants::get;
    delete_tenant(DeleteTenantRequest) -> DeleteTenantResponse => tenants::delete;
    create_api_key(CreateApiKeyRequest) -> CreateApiKeyResponse => api_keys::create;
    list_api_keys(ListApiKeysRequest) -> ListApiKeysResponse => api_keys::list;
    revoke_api_key(RevokeApiKeyRequest) -> RevokeApiKeyResponse => api_keys::revoke;
    create_auth_provider(CreateAuthProviderRequest) -> CreateAuthProviderResponse => providers::create;
    list_auth_providers(ListAuthProvidersRequest) -> ListAuthProvidersResponse => providers::list;
    get_auth_provider(GetAuthProviderRequest) -> GetAuthProviderResponse => providers::get;
    update_auth_provider(UpdateAuthProviderRequest) -> UpdateAuthProviderResponse => providers::update;
    delete_auth_provider(DeleteAuthProviderRequest) -> DeleteAuthProviderResponse => providers::delete;
    get_session_verification_settings(GetSessionVerificationSettingsRequest) -> GetSessionVerificationSettingsResponse => settings::get;
    put_session_verification_settings(PutSessionVerificationSettingsRequest) -> PutSessionVerificationSettingsResponse => settings::put;
    register_tool(RegisterToolRequest) -> RegisterToolResponse => tools::register;
    list_tools(ListToolsRequest) -> ListToolsResponse => tools::list;
    get_tool(GetToolRequest) -> GetToolResponse => tools::get;
    update_tool(UpdateToolRequest) -> UpdateToolResponse => tools::update;
    delete_tool(DeleteToolRequest) -> DeleteToolResponse => tools::delete;
    issue_tool_key(IssueToolKeyRequest) -> IssueToolKeyResponse => tools::issue_key;
    list_user_connections(ListUserConnectionsRequest) -> ListUserConnectionsResponse => connections::list;
    delete_user_connection(DeleteUserConnectionRequest) -> DeleteUserConnectionResponse => connections::delete;
    acknowledge_user_connection(AcknowledgeUserConnectionRequest) -> AcknowledgeUserConnectionResponse => connections::acknowledge;
    list_audit_events(ListAuditEventsRequest) -> ListAuditEventsResponse => audit::list;
    list_platform_audit_events(ListPlatformAuditEventsRequest) -> ListPlatformAuditEventsResponse => audit::platform_list;
}
