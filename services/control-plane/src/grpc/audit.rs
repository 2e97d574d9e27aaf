//! `ListAuditEvents` (admin key) and `ListPlatformAuditEvents` (operator key): the filter is validated by the same function as the REST
//! query (`action` length, RFC 3339 `since`/`until`), then the same use case lists the page.

use latchkey_api::audit::AuditEventResponse;
use latchkey_api::grpc::v1 as pb;
use latchkey_api::server::ApiError;

use super::{auth, page};
use crate::{ControlPlane, audit};

fn event(e: AuditEventResponse) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id,
        at: e.at,
        actor: e.actor,
        action: e.action,
        target: e.target,
        outcome: e.outcome,
        request_id: e.request_id,
    }
}

pub(super) async fn list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListAuditEventsRequest>,
) -> Result<pb::ListAuditEventsResponse, ApiError> {
    let caller = auth::admin(cp, &req).await?;
    let r = req.into_inner();
    let page = page(r.limit, r.offset)?;
    let filter = audit::audit_filter(r.action, r.since.as_deref(), r.until.as_deref())?;
    let p = audit::list_audit_events(cp, &caller, &filter, page).await?;
    Ok(page_response!(pb::ListAuditEventsResponse, p, event))
}

pub(super) async fn platform_list(
    cp: &ControlPlane,
    req: tonic::Request<pb::ListPlatformAuditEventsRequest>,
) -> Result<pb::ListPlatformAuditEventsResponse, ApiError> {
    auth::operator(cp, &req).await?;
    let r = req.into_inner();
    let page = page(r.limit, r.offset)?;
    let filter = audit::audit_filter(r.action, r.since.as_deref(), r.until.as_deref())?;
    let p = audit::list_platform_audit_events(cp, &filter, page).await?;
    Ok(page_response!(
        pb::ListPlatformAuditEventsResponse,
        p,
        event
    ))
}
