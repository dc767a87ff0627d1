//! The dashboard's pages through a real server: every client-side route
//! gets the app's page (or, in a build without the dashboard, the page that
//! says how to build it), while API paths, other methods and requests that
//! do not ask for HTML keep the API's JSON 404.
mod common;

use common::*;

async fn get_html(server: &TestServer, path: &str) -> Resp {
    server
        .send(
            server
                .client
                .get(server.url(path))
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        )
        .await
}

#[tokio::test]
async fn client_side_routes_get_the_dashboard_page_and_api_paths_keep_json_404s() {
    let server = start().await;
    for path in [
        "/",
        "/findings?severity=high",
        "/events/12",
        "/pipelines/iam.pipeline",
        "/explore",
    ] {
        let r = get_html(&server, path).await;
        assert_eq!(r.status, 200, "{path}");
        let ct = r.headers["content-type"].to_str().unwrap_or("");
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert_eq!(r.headers["cache-control"], "no-cache", "{path}");
        assert!(
            r.text.contains("<div id=\"root\"") || r.text.contains("The dashboard is not built"),
            "{path}: {}",
            &r.text[..r.text.len().min(300)]
        );
    }
    // Not for the dashboard: API paths, no HTML wanted, other methods, a
    // missing hashed asset.
    get_html(&server, "/api/v1/nope")
        .await
        .expect_error(404, "route_not_found");
    server
        .get("/nope")
        .await
        .expect_error(404, "route_not_found");
    server
        .send(
            server
                .client
                .post(server.url("/findings"))
                .header("accept", "text/html"),
        )
        .await
        .expect_error(404, "route_not_found");
    get_html(&server, "/assets/index-deadbeef.js")
        .await
        .expect_error(404, "route_not_found");
    // Nothing outside the build is ever served.
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/..%2f..%2fCargo.toml",
    ] {
        let r = get_html(&server, path).await;
        assert!(
            !r.text.contains("[package]") && !r.text.contains("[workspace]"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn built_assets_are_cached_immutably_and_revalidate_by_etag() {
    let server = start().await;
    let page = get_html(&server, "/").await;
    // Only meaningful where the dashboard is built (web/dist exists).
    let Some(start) = page.text.find("/assets/") else {
        assert!(
            page.text.contains("The dashboard is not built"),
            "no assets and no build hint"
        );
        return;
    };
    let rest = &page.text[start..];
    let end = rest.find('"').unwrap_or(rest.len());
    let asset = &rest[..end];
    let r = server.send(server.client.get(server.url(asset))).await;
    assert_eq!(r.status, 200, "{asset}");
    assert_eq!(
        r.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = r.headers["etag"].to_str().unwrap_or("").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let again = server
        .send(
            server
                .client
                .get(server.url(asset))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, 304);
}

#[tokio::test]
async fn configured_origins_may_call_the_api_and_the_live_channel_and_others_may_not() {
    let server = start_with(|c, _| c.cors_origins = vec!["http://ops.example.com".into()]).await;
    let preflight = |origin: &'static str, path: &'static str| {
        server.send(
            server
                .client
                .request(reqwest::Method::OPTIONS, server.url(path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "content-type,x-vigilo-actor",
                ),
        )
    };
    let ok = preflight("http://ops.example.com", "/api/v1/findings/bulk").await;
    assert_eq!(
        ok.headers["access-control-allow-origin"],
        "http://ops.example.com"
    );
    let other = preflight("http://evil.example.com", "/api/v1/findings/bulk").await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    // Long-polling clients of the live channel fetch across origins too.
    let poll = server
        .send(
            server
                .client
                .get(server.url("/socket.io/?EIO=4&transport=polling"))
                .header("origin", "http://ops.example.com"),
        )
        .await;
    assert_eq!(poll.status, 200);
    assert_eq!(
        poll.headers["access-control-allow-origin"],
        "http://ops.example.com"
    );
    assert!(poll.text.starts_with('0'), "{}", poll.text);

    // Without configured origins, no cross-origin access at all.
    let closed = start().await;
    let r = closed
        .send(
            closed
                .client
                .get(closed.url("/api/v1/pipelines"))
                .header("origin", "http://ops.example.com"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("access-control-allow-origin").is_none());
}
