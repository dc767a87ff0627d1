//! The binary's offline commands.

mod common;

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use common::{ServerProcess, bin, repo_root};

fn run(args: &[&str]) -> std::process::Output {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .output()
        .expect("run vigilo")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Run with stdout on a pipe whose reader takes a few bytes and then
/// closes it, as `| head -c 16` does; the exit status and stderr.
fn run_with_stdout_closed_early(args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigilo");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut head = [0u8; 16];
    stdout.read_exact(&mut head).expect("the first bytes");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    (out.status, stderr(&out))
}

/// Sample events with many injected incidents, written by the binary.
fn incident_events(dir: &std::path::Path, count: u32) -> String {
    let path = dir.join("events.ndjson");
    let p = path.to_str().unwrap();
    let out = run(&[
        "generate",
        "--out",
        p,
        "--count",
        &count.to_string(),
        "--incident-rate",
        "600",
        "--seed",
        "7",
        "--start",
        "2025-01-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    p.to_string()
}

#[test]
fn rules_validate_accepts_the_bundled_packs() {
    let rules = repo_root().join("rules");
    let out = run(&["rules", "validate", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rules OK"));
}

#[test]
fn rules_validate_reports_file_rule_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "title: Broken\nname: test.broken\nlogsource:\n  product: x\ndetection:\n  sel:\n    a: 1\n  condition: nope\nlevel: high\n",
    )
    .unwrap();
    let out = run(&["rules", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml"), "{err}");
    assert!(err.contains("test.broken"), "{err}");
    assert!(err.contains("bad.yml:"), "line number missing: {err}");
}

#[test]
fn rules_test_checks_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(
        &events,
        "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"kind\":\"metric\",\"service\":\"api\",\"cpu\":10,\"latency_ms\":1500}\n",
    )
    .unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"[{"rule_id":"anomaly.high_latency","group":{"service":"api"},"event_count":1}]"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"rule_id":"anomaly.cpu_and_latency"}]"#).unwrap();
    let rules = repo_root().join("rules");
    let rules = rules.to_str().unwrap();
    let ev = events.to_str().unwrap();
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        ev,
        "--expect",
        good.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("anomaly.high_latency"));
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        ev,
        "--expect",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing: anomaly.cpu_and_latency"), "{err}");
    assert!(err.contains("unexpected: anomaly.high_latency"), "{err}");
}

/// Run with `input` on stdin, written from another thread so that a
/// process which stops reading early (an input error) cannot block it.
fn run_with_stdin(args: &[&str], input: String) -> std::process::Output {
    let mut child = Command::new(bin())
        .args(args)
        .env_remove("COLUMNS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vigilo");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // A broken pipe is expected when the process stops at a bad event.
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("writer thread");
    out
}

#[test]
fn rules_test_streams_ndjson_and_arrays_from_files_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let events = incident_events(dir.path(), 5000);
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5000);
    let rules = repo_root().join("rules");
    let rules = rules.to_str().unwrap();
    let json = ["--format", "json"];

    // From the file: the reference findings, across several batches.
    let out = run(&[&["rules", "test", rules, "--events", &events][..], &json].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let from_file: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(from_file.len() > 5, "{from_file:?}");
    let rules_hit: std::collections::BTreeSet<&str> = from_file
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert!(rules_hit.len() > 3, "{rules_hit:?}");

    // The same stream on stdin, with blank lines, gives the same findings.
    let spaced = format!("\n\n{}\n\n", lines.join("\n\n"));
    let stdin_args = [&["rules", "test", rules, "--events", "-"][..], &json].concat();
    let out = run_with_stdin(&stdin_args, spaced);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_stdin: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin, from_file);

    // So does the stream as one JSON array, and the table counts every event.
    let array = format!("  [\n{}\n]\n", lines.join(",\n"));
    let out = run_with_stdin(&stdin_args, array.clone());
    assert!(out.status.success(), "{}", stderr(&out));
    let from_array: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_array, from_file);
    let out = run_with_stdin(&["rules", "test", rules, "--events", "-"], array);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let summary = format!("5000 events, {} findings", from_file.len());
    assert!(table.starts_with(&summary), "{table}");

    // A bad line deep in the stream is named by its line, after blank lines
    // that make it differ from the event's position; the status is 2.
    let mut broken: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    broken[3999] = "{\"timestamp\": ".to_string();
    let out = run_with_stdin(&stdin_args, format!("\n\n{}\n", broken.join("\n")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdin:4002: invalid JSON"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty(), "no findings on an input error");

    // An event that is valid JSON but not an event: line and event number.
    broken[3999] = "[1, 2]".to_string();
    let path = dir.path().join("broken.ndjson");
    std::fs::write(&path, format!("\n{}\n", broken.join("\n"))).unwrap();
    let file = path.to_str().unwrap();
    let out = run(&["rules", "test", rules, "--events", file]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let expected = format!("{file}:4001: event 4000: event must be a JSON object");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    // In an array, the bad element is named by its index (from 1).
    let out = run_with_stdin(&stdin_args, format!("[{}]", broken.join(",")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("stdin: event 4000: event must be a JSON object"),
        "{err}"
    );
    broken[3999] = "{\"timestamp\": }".to_string();
    let out = run_with_stdin(&stdin_args, format!("[{}]", broken.join(",")));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdin: event 4000: invalid JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn generate_out_is_reproducible_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    for f in [&a, &b] {
        let out = run(&[
            "generate",
            "--out",
            f.to_str().unwrap(),
            "--count",
            "500",
            "--seed",
            "3",
            "--start",
            "2025-01-01T00:00:00Z",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 500);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["timestamp"].as_str().unwrap().starts_with("2025-01-01"));
    }
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("vigilo.db").exists());
}

fn corpus(rel: &str) -> String {
    repo_root()
        .join("../shared/corpus/iam")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn iam_audit_formats_and_fail_on_gate() {
    let lab = corpus("cloudmapper/iam-get-account-authorization-details.json");
    let out = run(&["iam", "audit", &lab, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(
            |f| f["check_id"] == "iam.role_trust_any_principal" && f["principal"] == "bad_role"
        )
    );

    let out = run(&["iam", "audit", &lab, "--fail-on", "high"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a high finding exists, so the gate fails"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("bad_role"));
    assert!(!table.contains('\x1b'), "no colour when not a terminal");

    let out = run(&["iam", "audit", &lab, "--format", "sarif"]);
    assert!(out.status.success());
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    let out = run(&["iam", "audit", &lab, "--fail-on", "bogus"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fail-on"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"UserDetailList\": 5}").unwrap();
    let out = run(&["iam", "audit", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "an input error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UserDetailList"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn iam_audit_exit_status_separates_findings_from_errors() {
    let lab = corpus("cloudmapper/iam-get-account-authorization-details.json");
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("policy.json");
    std::fs::write(
        &clean,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}]}"#,
    )
    .unwrap();
    let out = run(&["iam", "audit", clean.to_str().unwrap(), "--fail-on", "low"]);
    assert_eq!(out.status.code(), Some(0), "no finding: {}", stderr(&out));
    let out = run(&[
        "iam",
        "audit",
        &lab,
        "--fail-on",
        "high",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "findings at or above the gate");
    let out = run(&["iam", "audit", "/nonexistent/iam.json", "--fail-on", "high"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&["iam", "audit", &lab, "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["iam", "audit", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit status:"), "{help}");
    assert!(
        help.contains("1  a finding at or above --fail-on"),
        "{help}"
    );
}

#[test]
fn rules_commands_give_input_errors_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "rules",
        "validate",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn closed_stdout_ends_every_printing_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let events = incident_events(dir.path(), 5000);
    let rules = repo_root().join("rules");
    let rules = rules.to_str().unwrap();
    let big_iam = corpus("cloudsplaining/example.json");
    let cases: [(&[&str], i32); 5] = [
        (&["iam", "audit", &big_iam], 0),
        (&["iam", "audit", &big_iam, "--fail-on", "high"], 1),
        (&["iam", "audit", &big_iam, "--format", "sarif"], 0),
        (
            &[
                "rules", "test", rules, "--events", &events, "--format", "json",
            ],
            0,
        ),
        (&["generate", "--out", "-", "--count", "1000000"], 0),
    ];
    for (args, status) in cases {
        let (st, err) = run_with_stdout_closed_early(args);
        assert_eq!(st.code(), Some(status), "{args:?}: {st:?}\n{err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

#[test]
fn unknown_vigilo_variables_are_warnings_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // What Kubernetes injects beside a Service named `vigilo`, and a typo.
    let env = [
        ("VIGILO_PORT", "tcp://10.0.0.7:8080"),
        ("VIGILO_PORT_8080_TCP_ADDR", "10.0.0.7"),
        ("VIGILO_SERVICE_HOST", "10.0.0.7"),
        ("VIGILO_BIN", "/usr/local/bin/vigilo"),
        ("VIGILO_LOG_LEVEL", "debug"),
    ];
    let out = run_env(&["migrate", "--data-dir", data], &env);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    for (name, _) in env {
        assert!(
            err.contains(&format!(
                "ignoring unknown environment variable variable={name}"
            )),
            "{name}: {err}"
        );
    }
    assert!(err.contains("did_you_mean=\"VIGILO_LOG__LEVEL\""), "{err}");

    // A known variable with a bad value still stops it, and says which.
    let out = run_env(
        &["migrate", "--data-dir", data],
        &[
            ("VIGILO_BIN", "x"),
            ("VIGILO_INGEST__QUEUE_CAPACITY", "lots"),
        ],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("VIGILO_INGEST__QUEUE_CAPACITY"), "{err}");
    assert!(
        err.contains("warning: ignoring unknown environment variable VIGILO_BIN"),
        "{err}"
    );

    // And `serve` starts beside the same variables.
    let server = ServerProcess::start_with_env(dir.path(), &[], &env);
    drop(server);
}

/// `migrate` in `dir` with `toml` as its config file, `dir/vigilo.toml`.
fn migrate_with_config(dir: &std::path::Path, toml: &str) -> std::process::Output {
    let file = dir.join("vigilo.toml");
    std::fs::write(&file, toml).unwrap();
    run(&[
        "migrate",
        "--data-dir",
        dir.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ])
}

#[test]
fn unknown_file_keys_are_errors_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let out = migrate_with_config(dir.path(), "lissen = \"127.0.0.1:9000\"\n");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `lissen`; did you mean `listen`?"),
        "{err}"
    );
    assert!(err.contains("vigilo.toml"), "{err}");
}

#[test]
fn invalid_log_settings_are_errors_naming_the_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run_env(
        &["migrate", "--data-dir", data],
        &[("VIGILO_LOG__FORMAT", "jsn")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("`jsn`"), "{err}");
    assert!(err.contains("`text` or `json`"), "{err}");

    let out = migrate_with_config(dir.path(), "[log]\nlevel = \"verbose\"\n");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("log.level `verbose`"), "{err}");
    assert!(
        err.contains("trace, debug, info, warn, error, off"),
        "{err}"
    );

    let out = run_env(
        &["migrate", "--data-dir", data],
        &[("VIGILO_LOG__LEVEL", "vigilo_server=loud")],
    );
    assert!(!out.status.success(), "a bad level in a target directive");

    let out = run_env(
        &["migrate", "--data-dir", data],
        &[
            ("VIGILO_LOG__LEVEL", "vigilo_server=debug,warn"),
            ("VIGILO_LOG__FORMAT", "json"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn logs_to_a_file_or_pipe_have_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run_env(&["migrate", "--data-dir", data], &[("RUST_LOG", "info")]);
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(err.contains("schema"), "the log line is there: {err}");
    assert!(!err.contains('\x1b'), "{err:?}");
}

#[test]
fn error_messages_do_not_repeat_their_cause() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = run_env(
        &["serve", "--listen", &addr, "--data-dir", data],
        &[("RUST_LOG", "off")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");

    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).unwrap();
    let out = run_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data,
            "--rules",
            empty.to_str().unwrap(),
        ],
        &[("RUST_LOG", "off")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("no rule files").count(), 1, "{err}");
}

#[test]
fn listen_takes_a_host_name() {
    let dir = tempfile::tempdir().unwrap();
    let args: Vec<std::ffi::OsString> = ["serve", "--listen", "localhost:0", "--data-dir"]
        .iter()
        .map(Into::into)
        .chain([dir.path().as_os_str().to_owned()])
        .collect();
    let server = ServerProcess::spawn(&args, &[]);
    assert!(server.url.starts_with("http://"), "{}", server.url);
    drop(server);

    let out = run(&[
        "serve",
        "--listen",
        "localhost",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(stderr(&out).contains("host:port"), "{}", stderr(&out));
}

/// Every line of a table at most `width` characters.
fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "wider than {width}: {line:?}\n{text}"
        );
    }
}

#[test]
fn rules_test_table_is_aligned_and_fits_columns() {
    let dir = tempfile::tempdir().unwrap();
    let events = incident_events(dir.path(), 3000);
    let rules = repo_root().join("rules");
    for width in ["80", "120"] {
        let out = run_env(
            &[
                "rules",
                "test",
                rules.to_str().unwrap(),
                "--events",
                &events,
            ],
            &[("COLUMNS", width)],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_fits(&text, width.parse().unwrap());
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .position(|l| l.starts_with("SEVERITY"))
            .unwrap_or_else(|| panic!("no header: {text}"));
        let rows = &lines[header + 1..];
        assert!(rows.len() > 5, "{text}");
        for column in ["RULE", "FIRST SEEN"] {
            let at = lines[header].find(column).expect(column);
            for row in rows {
                let cells: Vec<char> = row.chars().collect();
                assert!(
                    cells[at - 1] == ' ' && cells[at] != ' ',
                    "{column} not at {at} in {row:?}\n{text}"
                );
            }
        }
    }
}

#[test]
fn iam_table_fits_columns_and_ends_with_its_summary() {
    let lab = corpus("cloudsplaining/example-authz-details.json");
    let out = run_env(&["iam", "audit", &lab], &[("COLUMNS", "60")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_fits(&text, 60);
    let tail: Vec<&str> = text.lines().rev().take(4).collect();
    let tail = tail.join(" ");
    assert!(tail.contains("findings (critical"), "{tail}");
    assert!(tail.contains("Principals audited"), "{tail}");
    assert!(text.lines().count() > 50, "a long report: {text}");
}

/// `user` and `apikey` on a data directory, as an operator would run them
/// before the first start.
#[test]
fn user_and_apikey_commands_work_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let create = |password: &str| {
        let mut child = Command::new(bin())
            .args(["user", "create", "--data-dir", d, "--username", "ana"])
            .args(["--role", "developer", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes())
            .expect("write password");
        child.wait_with_output().expect("wait")
    };
    let weak = create("password123");
    assert!(!weak.status.success());
    assert!(
        stderr(&weak).contains("at least 12 characters"),
        "{}",
        stderr(&weak)
    );
    let ok = create("violet staple engine");
    assert!(ok.status.success(), "{}", stderr(&ok));
    let out = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(out.contains("role analyst"), "{out}");
    assert!(
        !out.contains("violet"),
        "the password is never printed: {out}"
    );
    let again = create("violet staple engine");
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));

    let list = run(&["user", "list", "--data-dir", d, "--format", "json"]);
    let users: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(users[0]["username"], "ana");
    assert_eq!(users[0]["role"], "analyst");
    let set = run(&[
        "user",
        "set-role",
        "--data-dir",
        d,
        "--username",
        "ana",
        "--role",
        "admin",
    ]);
    assert!(set.status.success(), "{}", stderr(&set));

    let key = run(&[
        "apikey",
        "create",
        "--data-dir",
        d,
        "--name",
        "ci",
        "--scopes",
        "ingest,read",
        "--expires-in",
        "30d",
    ]);
    assert!(key.status.success(), "{}", stderr(&key));
    let text = String::from_utf8_lossy(&key.stdout).into_owned();
    let secret = text.lines().last().unwrap();
    assert!(
        secret.starts_with("vgl_") && !secret.contains(' '),
        "{text}"
    );
    let listed = run(&["apikey", "list", "--data-dir", d, "--format", "json"]);
    let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(keys[0]["scopes"], serde_json::json!(["ingest", "read"]));
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(secret));
    let prefix = keys[0]["prefix"].as_str().unwrap();
    let revoke = run(&["apikey", "revoke", "--data-dir", d, prefix]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    let listed = run(&["apikey", "list", "--data-dir", d, "--format", "json"]);
    let keys: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(keys[0]["revoked_at"].is_string());
    let bad = run(&[
        "apikey",
        "create",
        "--data-dir",
        d,
        "--name",
        "x",
        "--scopes",
        "root",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

/// `rules test` gives file events their logsource as the server does: the
/// flags set it, an event's own `logsource` object overrides it, and the
/// default is `product: vigilo`, the product the bundled packs name.
#[test]
fn rules_test_gives_events_a_logsource() {
    let dir = tempfile::tempdir().unwrap();
    let slow = "\"timestamp\":\"2025-01-01T00:00:00Z\",\"kind\":\"metric\",\"service\":\"api\",\"cpu\":10,\"latency_ms\":1500";
    let plain = dir.path().join("plain.ndjson");
    std::fs::write(&plain, format!("{{{slow}}}\n")).unwrap();
    let own = dir.path().join("own.ndjson");
    std::fs::write(
        &own,
        format!("{{{slow},\"logsource\":{{\"product\":\"vigilo\"}}}}\n"),
    )
    .unwrap();
    let rules = repo_root().join("rules");
    let rules = rules.to_str().unwrap();
    let count = |args: &[&str]| -> usize {
        let out = run(&[&["rules", "test", rules, "--format", "json"][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let found: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        found.len()
    };
    let plain = plain.to_str().unwrap();
    let own = own.to_str().unwrap();
    assert!(count(&["--events", plain]) >= 1, "default product vigilo");
    assert_eq!(count(&["--events", plain, "--product", "aws"]), 0);
    assert_eq!(
        count(&[
            "--events",
            plain,
            "--logsource",
            "product=aws,service=cloudtrail"
        ]),
        0
    );
    assert!(
        count(&["--events", own, "--logsource", "product=aws"]) >= 1,
        "the event's own object wins"
    );
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        plain,
        "--product",
        "a b",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--product"), "{}", stderr(&out));
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        plain,
        "--product",
        "aws",
        "--logsource",
        "product=aws",
    ]);
    assert!(!out.status.success(), "the two forms conflict");
}

#[test]
fn rules_test_counts_every_match_of_interleaved_out_of_order_history() {
    // t1, t2 a day later, t1 again, t2 again: two incidents of one rule and
    // group, two matches each (one used to overwrite the other's second).
    let lines: Vec<String> = [
        "2025-04-01T10:00:00Z",
        "2025-04-02T10:00:00Z",
        "2025-04-01T10:00:00Z",
        "2025-04-02T10:00:00Z",
    ]
    .iter()
    .map(|t| {
        serde_json::json!({
            "timestamp": t, "kind": "log", "service": "billing", "level": "ERROR",
            "message": "payment failed", "user_id": "u1",
        })
        .to_string()
    })
    .collect();
    let rules = repo_root().join("rules/anomaly");
    let out = run_with_stdin(
        &[
            "rules",
            "test",
            rules.to_str().unwrap(),
            "--events",
            "-",
            "--format",
            "json",
        ],
        lines.join("\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let counts: Vec<(&str, i64)> = findings
        .iter()
        .filter(|f| f["rule_id"] == "anomaly.log_failed_keyword")
        .map(|f| {
            (
                f["first_seen"].as_str().unwrap(),
                f["event_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![("2025-04-01T10:00:00Z", 2), ("2025-04-02T10:00:00Z", 2)],
        "{findings:?}"
    );
}
