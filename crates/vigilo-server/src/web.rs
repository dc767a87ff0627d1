//! Serving the dashboard: its files, and `index.html` for every client-side
//! route (SPA fallback). Requests that are not for the dashboard keep the
//! API's JSON `route_not_found`.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use vigilo_core::ErrorCode;

use crate::error::ApiError;

/// Paths that belong to the server, never to the dashboard.
const SERVER_PREFIXES: &[&str] = &[
    "/api/",
    "/socket.io",
    "/docs",
    "/metrics",
    "/healthz",
    "/readyz",
    "/audit-iam",
];

/// Whether this binary has the dashboard (embedded, or on disk in debug builds).
pub fn dashboard_built() -> bool {
    vigilo_web::is_built()
}

/// The fallback of the router: a dashboard file, the dashboard's page for a
/// client-side route, or the API's 404.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let is_read = req.method() == Method::GET || req.method() == Method::HEAD;
    if !is_read || SERVER_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return not_found(&req);
    }
    let rel = path.trim_start_matches('/');
    if let Some(asset) = vigilo_web::asset(rel) {
        return file(asset, req.headers());
    }
    // A missing file under assets/ (an old hashed name) is a 404, not the
    // page: a browser must not cache HTML as a script.
    if rel.starts_with("assets/") || !accepts_html(req.headers()) {
        return not_found(&req);
    }
    match vigilo_web::index() {
        Some(index) => file(index, req.headers()),
        None => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            Html(vigilo_web::NOT_BUILT_HTML),
        )
            .into_response(),
    }
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

fn file(asset: vigilo_web::Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", asset.etag);
    let cache = if asset.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut out = HeaderMap::new();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, v);
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    if let Ok(v) = HeaderValue::from_str(&asset.content_type) {
        out.insert(header::CONTENT_TYPE, v);
    }
    (out, asset.bytes.into_owned()).into_response()
}

fn not_found(req: &Request) -> Response {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no route for {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}
