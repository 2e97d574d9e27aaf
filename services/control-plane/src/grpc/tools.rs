//! `RegisterTool`, `ListTools`, `GetTool`, `UpdateTool`, `DeleteTool`, `IssueToolKey` (admin
//! key). The input message becomes the REST `ToolRequest` field by field (absent stays absent),
//! so the one request→changes conversion and its validation in `crate::tools` serve both
//! transports. A tool is addressed by its name (`Toolkit.Tool`), as in the REST path.

use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;
use latchkey_api::tools::{
    RequirementOAuth2, RequirementRequest, RequirementResponse, ToolRequest, ToolResponse,
};

use super::api_keys::key;
use super::{auth, page};
use crate::{ControlPlane, tools};

fn request(name: Option<String>, input: Option<pb::ToolInput>) -> ToolRequest {
    let i = input.unwrap_or_default();
    ToolRequest {
        name,
        version: i.version,
        description: i.description,
        requirement: i.requirement.map(|r| RequirementRequest {
            provider_id: r.provider_id,
            provider_type: r.provider_type,
            id: r.id,
            oauth2: r.oauth2.map(|o| RequirementOAuth2 { scopes: o.scopes }),
        }),
    }
}

fn requirement(r: RequirementResponse) -> pb::ToolRequirement {
    pb::ToolRequirement {
        provider_id: r.provider_id,
        provider_type: r.provider_type,
        id: r.id,
        oauth2: Some(pb::RequirementOAuth2 {
            scopes: r.oauth2.scopes,
        }),
    }
}

fn tool(t: ToolResponse) -> pb::Tool {
    pb::Tool {
        id: t.id,
        name: t.name,
        version: t.version,
        description: t.description,
        requirement: Some(requirement(t.requirement)),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

pub(super) async fn register(
    cp: &ControlPlane,
    req: tonic::Request<pb::RegisterToolRequest>,
) -> Result<pb::RegisterToolResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let reg = tools::register_tool(cp, &caller, request(r.name, r.tool)).await?;
    Ok(pb::RegisterToolResponse {
        tool: Some(tool(reg.tool)),
        key: Some(key(reg.key.key)),
        secret: reg.key.secret,
    })
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListToolsRequest>,
) -> Result<pb::ListToolsResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let p = tools::list_tools(cp, &caller, page(r.limit, r.offset)?).await?;
    Ok(page_response!(pb::ListToolsResponse, p, tool))
}

pub(super) async fn get(
    cp: &ControlPlane,
    req: tonic::Request<pb::GetToolRequest>,
) -> Result<pb::GetToolResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let t = tools::get_tool(cp, &caller, &req.into_inner().name).await?;
    Ok(pb::GetToolResponse {
        tool: Some(tool(t)),
    })
}

pub(super) async fn update(
    cp: &ControlPlane,
    req: tonic::Request<pb::UpdateToolRequest>,
) -> Result<pb::UpdateToolResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let t = tools::update_tool(cp, &caller, &r.name, request(None, r.tool)).await?;
    Ok(pb::UpdateToolResponse {
        tool: Some(tool(t)),
    })
}

pub(super) async fn delete(
    cp: &ControlPlane,
    req: tonic::Request<pb::DeleteToolRequest>,
) -> Result<pb::DeleteToolResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    tools::delete_tool(cp, &caller, &req.into_inner().name).await?;
    Ok(pb::DeleteToolResponse {})
}

pub(super) async fn issue_key(
    cp: &ControlPlane,
    req: tonic::Request<pb::IssueToolKeyRequest>,
) -> Result<pb::IssueToolKeyResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let created = tools::issue_tool_key(cp, &caller, &req.into_inner().name).await?;
    Ok(pb::IssueToolKeyResponse {
        key: Some(key(created.key)),
        secret: created.secret,
    })
}
