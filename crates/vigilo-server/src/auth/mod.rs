//! Every route declares the permission it needs; one layer enforces it.
//! Until accounts and API keys land, the enforcer admits every request, but
//! the declarations are complete and tested, so turning enforcement on is a
//! change in [`authorize`] alone.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Health, readiness, metrics, API docs.
    Public,
    EventsWrite,
    EventsRead,
    FindingsRead,
    FindingsWrite,
    RulesRead,
    RulesManage,
    IamAudit,
    IamRead,
    PipelinesRead,
    PipelinesWrite,
}

/// The permission a matched route requires, set as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct Required(pub Permission);

pub async fn authorize(perm: Permission, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Required(perm));
    next.run(req).await
}
