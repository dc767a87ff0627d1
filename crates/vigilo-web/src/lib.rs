//! The dashboard's files (`web/dist`, built by Vite from `web/`).
//!
//! Release builds embed them in the binary; debug builds read them from
//! `web/dist` on disk at each request, so a `vite build` shows up without
//! recompiling anything. Either way a missing build is not an error: the
//! server answers with [`NOT_BUILT_HTML`] instead.

use std::borrow::Cow;

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Dist;

/// One file of the build.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: String,
    /// Content-hashed (Vite's `assets/` folder): safe to cache forever.
    pub immutable: bool,
    /// Strong validator: the file's SHA-256, hex.
    pub etag: String,
}

/// The file at `path` (relative, without a leading `/`).
pub fn asset(path: &str) -> Option<Asset> {
    if path.is_empty() || path.split('/').any(|seg| seg == ".." || seg.is_empty()) {
        return None;
    }
    let file = Dist::get(path)?;
    let etag = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(Asset {
        content_type: file.metadata.mimetype().to_string(),
        bytes: file.data,
        immutable: path.starts_with("assets/"),
        etag,
    })
}

/// `index.html`, the page every client-side route is served.
pub fn index() -> Option<Asset> {
    asset("index.html")
}

/// Whether a build is present.
pub fn is_built() -> bool {
    Dist::get("index.html").is_some()
}

/// What `/` shows when the dashboard was not built.
pub const NOT_BUILT_HTML: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigilo: dashboard not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2937}
code,pre{font-family:ui-monospace,monospace;background:#f3f4f6;border-radius:4px}pre{padding:.75rem 1rem}
@media (prefers-color-scheme:dark){body{background:#0f172a;color:#e5e7eb}code,pre{background:#1e293b}}</style></head>
<body><h1>The dashboard is not built</h1>
<p>This Vigilo binary was built without its web dashboard. The API works: see
<a href="/docs/">/docs/</a> and <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<p>To build the dashboard (Node.js 20 and npm), then reload this page:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>A release build (<code>cargo build --release</code>) does this by itself when
<code>web/dist</code> is missing or older than <code>web/src</code>.</p>
</body></html>
"#;
