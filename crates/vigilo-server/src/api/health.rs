use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::State;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    pub storage: &'static str,
    /// True while detection evaluates the events stored before this start
    /// (not ready until it is done).
    pub catching_up: bool,
    /// Events accepted and not yet evaluated with their findings stored.
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub rules: usize,
    /// Whether this process runs detection. Several processes on one
    /// PostgreSQL database all ingest and serve; one of them leads
    /// detection and the others take over when it goes.
    pub leading: bool,
    /// Id of the last event whose detection results are committed.
    pub watermark: i64,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: storage answers, detection has caught up with the events
/// stored before this start, and the ingest queue has room.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn readyz(state: State) -> impl IntoResponse {
    let watermark = state.storage.detection_watermark().await;
    let storage_ok = watermark.is_ok();
    let depth = state.pipeline.queue_depth();
    let cap = state.pipeline.capacity();
    let catching_up = state.pipeline.catching_up();
    let ready = storage_ok && !catching_up && depth < cap;
    let body = Ready {
        status: if ready { "ready" } else { "not_ready" },
        storage: if storage_ok { "ok" } else { "unavailable" },
        catching_up,
        queue_depth: depth,
        queue_capacity: cap,
        rules: state.pipeline.rules().len(),
        leading: *state.pipeline.leading().borrow(),
        watermark: watermark.unwrap_or(0),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus metrics, series prefixed `vigilo_`.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(state: State) -> impl IntoResponse {
    metrics::gauge!("vigilo_ingest_queue_depth").set(state.pipeline.queue_depth() as f64);
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
