//! Running the real `vigilo` binary in tests.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod backend;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vigilo")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `vigilo serve` child process on 127.0.0.1 with an OS-chosen port.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

/// `vigilo apikey create` on `data_dir`: an API key with `scopes`
/// (comma-separated), from the last line of its output.
pub fn api_key(data_dir: &Path, scopes: &str) -> String {
    api_key_with_env(data_dir, scopes, &[])
}

/// [`api_key`] with these environment variables (a storage backend).
pub fn api_key_with_env(data_dir: &Path, scopes: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(bin())
        .args([
            "apikey",
            "create",
            "--name",
            "tests",
            "--scopes",
            scopes,
            "--data-dir",
        ])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run vigilo apikey create");
    assert!(
        out.status.success(),
        "apikey create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines().last().expect("a secret").trim().to_string()
}

/// A client that sends `Authorization: Bearer <key>`.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A client with an admin key made for `data_dir` (before the server
/// starts on it, as a user would with the CLI).
pub fn admin_client(data_dir: &Path) -> reqwest::Client {
    client_with_key(&api_key(data_dir, "admin"))
}

impl ServerProcess {
    pub fn start(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::start_with_env(data_dir, extra, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> ServerProcess {
        let mut args: Vec<OsString> = ["serve", "--listen", "127.0.0.1:0", "--data-dir"]
            .iter()
            .map(OsString::from)
            .collect();
        args.push(data_dir.into());
        args.extend(extra.iter().map(OsString::from));
        Self::spawn(&args, env)
    }

    /// `vigilo` with exactly these arguments, which must start a server.
    pub fn spawn(args: &[OsString], env: &[(&str, &str)]) -> ServerProcess {
        Self::spawn_with_stderr(args, env, Stdio::inherit())
    }

    /// As [`ServerProcess::spawn`], with the server's log going to `stderr`
    /// (its stdout lines other than the listening one are dropped).
    pub fn spawn_with_stderr(
        args: &[OsString],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> ServerProcess {
        let mut child = Command::new(bin())
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn vigilo serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            assert!(Instant::now() < deadline, "server did not start");
            let line = lines
                .next()
                .expect("server exited before listening")
                .expect("read");
            if let Some(rest) = line.strip_prefix("vigilo listening on ") {
                break rest.split_whitespace().next().expect("url").to_string();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess { child, url }
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.child.id() as i32;
        // SAFETY: sending a signal to our own child process.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Wait for exit, with a deadline.
    pub fn wait(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let resp = client.get(url).send().await.expect("GET");
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json().await.expect("json")
}

/// Poll `/readyz` until nothing is waiting for detection.
pub async fn wait_for_detection(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // 503 while not ready: the body says why.
        let v: serde_json::Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("GET /readyz")
            .json()
            .await
            .expect("json");
        // Caught up with what was stored before a restart, and with
        // everything accepted since.
        if v["queue_depth"] == 0 && v["catching_up"] == false {
            return;
        }
        assert!(Instant::now() < deadline, "detection did not catch up: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run the binary with `args` (no `COLUMNS`, so tables take their default
/// width) and collect its output.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .expect("run vigilo")
}

/// Its standard error as text.
pub fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
