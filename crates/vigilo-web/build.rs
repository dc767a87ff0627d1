//! Release builds embed `web/dist`: build it first when it is missing or
//! older than its sources, so `cargo run --release -- demo` is the one
//! command a new user types. Debug builds read `web/dist` from disk at run
//! time and leave the UI to `npm run build`. Set `VIGILO_SKIP_UI_BUILD=1`
//! to embed whatever is there. A machine without npm still builds: the
//! server then shows a "dashboard not built" page.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const SOURCES: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
    "tsconfig.app.json",
    "tsconfig.node.json",
];

fn main() {
    let web =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../../web");
    println!("cargo:rerun-if-env-changed=VIGILO_SKIP_UI_BUILD");
    for s in SOURCES {
        println!("cargo:rerun-if-changed={}", web.join(s).display());
    }
    println!("cargo:rerun-if-changed={}", web.join("dist").display());
    // The folder must exist when the crate compiles: a debug build checks at
    // run time that a file lies inside it, by the folder's canonical path,
    // and a folder missing at compile time has none (its `..` would never
    // match), so a `vite build` made after `cargo build` would not be found.
    if web.join("package.json").exists() {
        let _ = std::fs::create_dir_all(web.join("dist"));
    }

    if std::env::var("PROFILE").as_deref() != Ok("release")
        || std::env::var_os("VIGILO_SKIP_UI_BUILD").is_some()
        || !web.join("package.json").exists()
    {
        return;
    }
    let built = mtime(&web.join("dist/index.html"));
    let newest_source = SOURCES.iter().filter_map(|s| newest(&web.join(s))).max();
    if built.is_some() && built >= newest_source {
        return;
    }
    let installed = mtime(&web.join("node_modules/.package-lock.json"));
    let lock = mtime(&web.join("package-lock.json"));
    if (installed.is_none() || installed < lock) && !npm(&web, &["ci", "--no-audit", "--no-fund"]) {
        return;
    }
    npm(&web, &["run", "build"]);
}

/// Run npm in `dir`; on failure warn (the build goes on without a fresh UI).
fn npm(dir: &Path, args: &[&str]) -> bool {
    match Command::new("npm").args(args).current_dir(dir).status() {
        Ok(s) if s.success() => true,
        Ok(s) => {
            println!(
                "cargo:warning=`npm {}` in web/ failed ({s}); the dashboard may be missing or stale",
                args.join(" ")
            );
            false
        }
        Err(e) => {
            println!(
                "cargo:warning=cannot run npm ({e}); building without the dashboard (install Node.js 20 and npm to embed it)"
            );
            false
        }
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    p.metadata().and_then(|m| m.modified()).ok()
}

/// The newest modification time of a file or of anything under a folder.
fn newest(p: &Path) -> Option<SystemTime> {
    let meta = p.metadata().ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    let mut best = meta.modified().ok();
    for entry in std::fs::read_dir(p).ok()?.flatten() {
        best = best.max(newest(&entry.path()));
    }
    best
}
