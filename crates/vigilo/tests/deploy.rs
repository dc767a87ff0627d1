//! The deployment files users run (the Dockerfile, compose.yaml and the
//! systemd unit), read and checked against the binary: the container's
//! entry command and environment start a server that answers the health
//! check, compose wires it to its PostgreSQL, and the unit's flags are the
//! binary's.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use common::backend::Schema;
use common::{ServerProcess, bin, repo_root};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// The final stage of a Dockerfile: each instruction (continuation lines
/// joined, comments dropped) as (keyword, rest).
fn final_stage(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(part) = t.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
            continue;
        }
        current.push_str(t);
        let joined = std::mem::take(&mut current);
        let (kw, rest) = joined.split_once(' ').unwrap_or((joined.as_str(), ""));
        if kw.eq_ignore_ascii_case("FROM") {
            out.clear();
        }
        out.push((kw.to_ascii_uppercase(), rest.trim().to_string()));
    }
    out
}

fn instruction<'a>(stage: &'a [(String, String)], kw: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(k, _)| k == kw)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `ENV A=1 B=2` (the form the Dockerfile uses) as pairs.
fn env_pairs(rest: &str) -> Vec<(String, String)> {
    rest.split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("ENV in KEY=value form");
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

/// A JSON-array (exec form) instruction.
fn exec_form(rest: &str) -> Vec<String> {
    serde_json::from_str(rest).unwrap_or_else(|e| panic!("exec form expected in {rest:?}: {e}"))
}

/// `${NAME:-default}` replaced by its default, as compose does when NAME
/// is unset.
fn with_defaults(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let inner = &rest[start + 2..end];
        out.push_str(inner.split_once(":-").map_or("", |(_, d)| d));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn compose() -> yaml_serde::Value {
    yaml_serde::from_str(&read("compose.yaml")).expect("compose.yaml parses")
}

fn service_env(compose: &yaml_serde::Value, service: &str) -> BTreeMap<String, String> {
    compose["services"][service]["environment"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{service} has an environment map"))
        .iter()
        .map(|(k, v)| {
            let k = k.as_str().expect("a name").to_string();
            let v = match v {
                yaml_serde::Value::String(s) => s.clone(),
                other => panic!("{k}: quote values so compose passes them as text: {other:?}"),
            };
            (k, with_defaults(&v))
        })
        .collect()
}

#[test]
fn compose_wires_vigilo_to_its_postgres() {
    let c = compose();
    let vigilo = &c["services"]["vigilo"];
    assert_eq!(
        vigilo["build"].as_str(),
        Some("."),
        "built from this repository's Dockerfile"
    );
    assert_eq!(
        vigilo["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    let env = service_env(&c, "vigilo");
    let pg = service_env(&c, "postgres");
    assert_eq!(env["VIGILO_STORAGE__BACKEND"], "postgres");
    let url = &env["VIGILO_STORAGE__URL"];
    let expected = format!(
        "postgres://{}:{}@postgres:5432/{}",
        pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"]
    );
    assert_eq!(
        url, &expected,
        "the URL names the postgres service's user, password and database"
    );
    // The published port and the data volume are the image's.
    let stage = final_stage(&read("Dockerfile"));
    let expose = instruction(&stage, "EXPOSE");
    assert_eq!(expose, ["8080"]);
    let ports: Vec<&str> = vigilo["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(ports.iter().any(|p| p.ends_with(":8080")), "{ports:?}");
    let data_dir = instruction(&stage, "ENV")
        .into_iter()
        .flat_map(env_pairs)
        .find(|(k, _)| k == "VIGILO_DATA_DIR")
        .map(|(_, v)| v)
        .expect("the image sets VIGILO_DATA_DIR");
    let volumes: Vec<&str> = vigilo["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        volumes.iter().any(|v| v.ends_with(&format!(":{data_dir}"))),
        "the data directory {data_dir} is a volume: {volumes:?}"
    );
    // The named volumes both services mount are declared.
    let named = c["volumes"].as_mapping().expect("named volumes");
    for v in ["pgdata", "vigilo-data"] {
        assert!(named.get(v).is_some(), "volume {v} is not declared");
    }
}

#[test]
fn the_image_runs_unprivileged_and_checks_readyz() {
    let stage = final_stage(&read("Dockerfile"));
    let user = instruction(&stage, "USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    assert!(!["root", "0"].contains(&user[0]), "runs as {}", user[0]);
    let health = instruction(&stage, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let cmd = health[0].split_once("CMD").expect("HEALTHCHECK ... CMD").1;
    let cmd = exec_form(cmd.trim());
    assert!(
        cmd.iter().any(|a| a == "http://127.0.0.1:8080/readyz"),
        "the health check asks /readyz on the exposed port: {cmd:?}"
    );
    // Multi-stage: the runtime stage copies the binary from the build.
    assert!(
        instruction(&stage, "COPY")
            .iter()
            .any(|c| c.starts_with("--from=build") && c.ends_with("/usr/local/bin/vigilo")),
    );
    let all = read("Dockerfile");
    assert!(all.matches("\nFROM ").count() + usize::from(all.starts_with("FROM ")) >= 3);
}

#[tokio::test]
async fn the_containers_command_and_environment_start_a_healthy_server() {
    let stage = final_stage(&read("Dockerfile"));
    let mut argv = exec_form(instruction(&stage, "ENTRYPOINT")[0]);
    argv.extend(exec_form(instruction(&stage, "CMD")[0]));
    assert_eq!(argv[0], "vigilo");
    // The image's environment, then the compose service's, as the
    // container gets them.
    let mut env: BTreeMap<String, String> = instruction(&stage, "ENV")
        .into_iter()
        .flat_map(env_pairs)
        .collect();
    env.extend(service_env(&compose(), "vigilo"));

    // Here: a data directory of the test's own, any free port, and this
    // machine's database in a schema of the test's own. Everything else as
    // written.
    let dir = tempfile::tempdir().unwrap();
    env.insert("VIGILO_DATA_DIR".into(), dir.path().display().to_string());
    let listen = env["VIGILO_LISTEN"].clone();
    assert_eq!(listen, "0.0.0.0:8080");
    env.insert("VIGILO_LISTEN".into(), "0.0.0.0:0".into());
    let schema = Schema::create("deploy").await;
    env.insert("VIGILO_STORAGE__URL".into(), schema.url());

    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vars.push(("RUST_LOG", "info"));
    let args: Vec<std::ffi::OsString> = argv[1..].iter().map(Into::into).collect();
    let server = ServerProcess::spawn_with_stderr(&args, &vars, log.into());
    let port = server.url.rsplit(':').next().expect("a port").to_string();
    let health = format!("http://127.0.0.1:{port}/readyz");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = client.get(&health).send().await.expect("GET /readyz");
        if r.status() == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(30)).success());
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !text.contains("ignoring unknown environment variable"),
        "a variable of the image or compose names no setting:\n{text}"
    );
    assert!(text.contains("opening postgres storage"), "{text}");
}

#[test]
fn the_systemd_unit_runs_the_binary_with_its_own_flags() {
    let unit = read("deploy/vigilo.service");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("the unit sets {key}"))
            .trim()
            .to_string()
    };
    let user = value("User");
    assert_ne!(user, "root");
    let exec = value("ExecStart");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert!(words[0].ends_with("/vigilo"), "{exec}");
    assert_eq!(words[1], "serve");
    // Every flag is one `vigilo serve` takes.
    let help = Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .expect("vigilo serve --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in words.iter().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "`vigilo serve` has no {flag}:\n{help}");
    }
    // And the whole command parses: the same flags on `migrate` (which
    // takes the server's), with the paths moved into a scratch directory.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigilo.toml");
    std::fs::write(&config, "").unwrap();
    let mut args: Vec<String> = vec!["migrate".into()];
    let mut it = words[2..].iter();
    while let Some(w) = it.next() {
        args.push(w.to_string());
        match *w {
            "--config" => {
                it.next();
                args.push(config.display().to_string());
            }
            "--data-dir" => {
                it.next();
                args.push(dir.path().join("data").display().to_string());
            }
            _ => {}
        }
    }
    let out = Command::new(bin())
        .args(&args)
        .env_remove("VIGILO_STORAGE__BACKEND")
        .env_remove("VIGILO_STORAGE__URL")
        .output()
        .expect("run migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("data").join("vigilo.db").exists());
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert!(unit.contains("ReadWritePaths=/var/lib/vigilo"));
}
