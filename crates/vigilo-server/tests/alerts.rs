//! Alerting end to end: a real server, findings from ingested events, and
//! local HTTP receivers that speak the Discord webhook, Slack incoming
//! webhook and Vigilo webhook shapes (recording every request, able to
//! fail the first N). Routing, signatures, retries and the dead letter,
//! silences and their announcements, acknowledgement, resolved
//! notifications, inhibition, dedup across a restart, the test-send.
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use vigilo_server::Config;
use vigilo_server::alerts::config::{
    DurationText, InhibitConfig, ReceiverConfig, ReceiverKind, RouteConfig,
};
use vigilo_server::config::Secret;

const T: &str = "2025-06-02T10:00:00Z";
const SECRET: &str = "s3cr3t-hmac-key";

const RULES: &str = "title: Critical thing
name: t.crit
logsource: {product: vigilo}
detection:
  sel: {marker: crit}
  condition: sel
level: critical
vigilo.group_by: [service]
---
title: Low thing
name: t.low
logsource: {product: vigilo}
detection:
  sel: {marker: low}
  condition: sel
level: low
vigilo.group_by: [service]
";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HeaderMap,
    raw: Bytes,
    body: Value,
}

#[derive(Default)]
struct Recorder {
    hits: Mutex<Vec<Hit>>,
    /// Path → requests still to refuse with 500 (`usize::MAX`: always).
    fail: Mutex<HashMap<String, usize>>,
}

/// A local receiver on 127.0.0.1:0; every path accepts JSON.
struct Receiver {
    base: String,
    rec: Arc<Recorder>,
}

impl Receiver {
    async fn start() -> Receiver {
        let rec = Arc::new(Recorder::default());
        async fn hit(
            AxState(rec): AxState<Arc<Recorder>>,
            UrlPath(path): UrlPath<String>,
            headers: HeaderMap,
            raw: Bytes,
        ) -> StatusCode {
            let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            rec.hits.lock().unwrap().push(Hit {
                path: path.clone(),
                headers,
                raw,
                body,
            });
            let mut fail = rec.fail.lock().unwrap();
            match fail.get_mut(&path) {
                Some(n) if *n > 0 => {
                    if *n != usize::MAX {
                        *n -= 1;
                    }
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::NO_CONTENT,
            }
        }
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(hit))
            .with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            base: format!("http://{addr}"),
            rec,
        }
    }

    fn fail_first(&self, path: &str, n: usize) {
        self.rec.fail.lock().unwrap().insert(path.to_string(), n);
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.rec
            .hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Hits on `path` whose body `kind` (webhook) or title says `kind`.
    fn kinds(&self, path: &str) -> Vec<String> {
        self.hits(path)
            .iter()
            .map(|h| h.body["kind"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    async fn wait_for(&self, path: &str, n: usize) -> Vec<Hit> {
        let started = Instant::now();
        loop {
            let hits = self.hits(path);
            if hits.len() >= n {
                return hits;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{path}: {} of {n} requests: {:#?}",
                hits.len(),
                hits.iter().map(|h| &h.body).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn receiver(name: &str, kind: ReceiverKind, url: String) -> ReceiverConfig {
    ReceiverConfig {
        name: name.into(),
        kind,
        url: Some(Secret::new(url)),
        secret: (kind == ReceiverKind::Webhook).then(|| Secret::new(SECRET)),
        retry_backoff: DurationText(Duration::from_millis(100)),
        max_backoff: DurationText(Duration::from_millis(400)),
        ..ReceiverConfig::default()
    }
}

fn route(name: &str, receivers: &[&str]) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        receivers: receivers.iter().map(|s| s.to_string()).collect(),
        ..RouteConfig::default()
    }
}

/// Short timings; the rule file; the receivers at `r`.
fn alerts_config(c: &mut Config, dir: &Path, r: &Receiver) {
    let rules = dir.join("alert-rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    c.rules = vec![rules];
    let a = &mut c.alerts;
    a.base_url = "https://vigilo.example.com".into();
    a.group_wait = DurationText(Duration::from_millis(200));
    a.group_interval = DurationText(Duration::from_millis(300));
    a.repeat_interval = DurationText(Duration::from_secs(3600));
    a.receivers = vec![
        receiver("hook", ReceiverKind::Webhook, format!("{}/hook", r.base)),
        receiver(
            "discord",
            ReceiverKind::Discord,
            format!("{}/discord/api/webhooks/1/T0KEN", r.base),
        ),
        receiver("slack", ReceiverKind::Slack, format!("{}/slack", r.base)),
    ];
}

fn event(marker: &str, service: &str, secs: i64) -> Value {
    json!({"timestamp": ts(T, secs), "marker": marker, "service": service, "message": "m"})
}

async fn finding_id(s: &TestServer, rule: &str, service: &str) -> i64 {
    let all = s
        .findings(&format!("rule_id={rule}&service={service}"))
        .await;
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0]["id"].as_i64().unwrap()
}

async fn set_status(s: &TestServer, id: i64, status: &str) {
    let r = s
        .patch_json(
            &format!("/api/v1/findings/{id}"),
            &json!({"status": status}),
        )
        .await;
    r.expect_status(200);
}

async fn notifications(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s
        .get(&format!(
            "/api/v1/alerts/notifications?page_size=500&{query}"
        ))
        .await;
    r.expect_status(200)["items"].as_array().unwrap().clone()
}

/// Wait until the history query selects `n` notifications, all done.
async fn wait_history(s: &TestServer, query: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let items = notifications(s, query).await;
        if items.len() >= n && items.iter().all(|i| i["status"] != "pending") {
            return items;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{query}: {items:#?} (wanted {n})"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn verify_signature(h: &Hit) {
    let ts: i64 = h.headers["x-vigilo-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    assert!((now - ts).abs() < 300, "timestamp {ts} vs now {now}");
    let sig = h.headers["x-vigilo-signature"].to_str().unwrap();
    let hex = sig.strip_prefix("sha256=").expect("sha256= prefix");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&h.raw);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, want, "signature over <timestamp>.<body>");
    // A tampered body does not verify.
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(b"{}");
    assert!(mac.verify_slice(&hex_bytes(hex)).is_err());
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_finding_reaches_the_right_receivers_once_signed_and_shaped() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        let mut crit = route("crit", &["hook", "discord"]);
        crit.min_severity = Some(vigilo_core::Severity::Critical);
        let mut low = route("low", &["slack"]);
        low.rules = vec!["t.lo*".into()];
        c.alerts.routes = vec![crit, low];
        // The webhook's title and text from its own templates.
        c.alerts.receivers[0].title_template =
            Some("{{ kind }}/{{ severity }}/{{ labels.service }}/{{ count }}".into());
        c.alerts.receivers[0].body_template =
            Some("{% for f in findings %}{{ f.rule_id }}:{{ f.event_count }}{% endfor %}".into());
    })
    .await;
    s.ingest(&json!([event("crit", "api", 0), event("crit", "api", 1)]))
        .await;
    s.wait_for_detection().await;
    let crit = finding_id(&s, "t.crit", "api").await;

    let hook = r.wait_for("hook", 1).await;
    let discord = r.wait_for("discord/api/webhooks/1/T0KEN", 1).await;
    // The webhook: our JSON, signed.
    let b = &hook[0].body;
    assert_eq!(b["version"], "1");
    assert_eq!(b["status"], "firing");
    assert_eq!(b["kind"], "firing");
    assert_eq!(b["route"], "crit");
    assert_eq!(b["findings"][0]["id"], crit);
    assert_eq!(b["findings"][0]["rule_id"], "t.crit");
    assert_eq!(b["findings"][0]["event_count"], 2);
    assert_eq!(
        b["findings"][0]["link"],
        format!("https://vigilo.example.com/findings/{crit}")
    );
    assert!(b["group_key"].as_str().unwrap().starts_with("crit:"), "{b}");
    verify_signature(&hook[0]);
    assert_eq!(b["title"], "firing/critical/api/1");
    assert_eq!(b["text"], "t.crit:2");
    // Discord: one embed, red for critical, the facts as fields.
    let d = &discord[0].body;
    let embed = &d["embeds"][0];
    assert_eq!(embed["color"], 0xD32F2F);
    assert!(
        embed["title"]
            .as_str()
            .unwrap()
            .starts_with("[CRITICAL] Critical thing on api"),
        "{embed}"
    );
    assert_eq!(
        embed["url"],
        format!("https://vigilo.example.com/findings/{crit}")
    );
    let fields: HashMap<String, String> = embed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(fields["Rule"], "t.crit");
    assert_eq!(fields["Severity"], "critical");
    assert_eq!(fields["Service"], "api");
    assert_eq!(fields["Count"], "1 findings, 2 events");
    for k in ["First seen", "Last seen", "Risk score", "Link"] {
        assert!(fields.contains_key(k), "{k} in {fields:?}");
    }
    assert_eq!(d["allowed_mentions"], json!({"parse": []}));
    assert!(discord[0].headers.get("x-vigilo-signature").is_none());

    // A low finding of another rule goes to Slack only.
    s.ingest(&json!([event("low", "web", 10)])).await;
    s.wait_for_detection().await;
    let slack = r.wait_for("slack", 1).await;
    let sb = &slack[0].body;
    assert_eq!(sb["blocks"][0]["type"], "header");
    assert!(
        sb["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("[LOW] Low thing on web")
    );
    assert_eq!(sb["blocks"][1]["type"], "section");
    assert_eq!(sb["blocks"][2]["type"], "context");
    assert_eq!(sb["attachments"][0]["color"], "#1976D2");
    let inner = &sb["attachments"][0]["blocks"];
    assert_eq!(inner[0]["type"], "section");
    assert!(inner[0]["fields"].as_array().unwrap().len() >= 5);
    assert_eq!(inner[1]["elements"][0]["type"], "button");
    assert!(sb["text"].as_str().unwrap().contains("Low thing"));

    // Once: several group intervals later nothing more went out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.hits("hook").len(), 1);
    assert_eq!(r.hits("discord/api/webhooks/1/T0KEN").len(), 1);
    assert_eq!(r.hits("slack").len(), 1);

    // The history, also on the finding.
    let on_finding = s
        .get(&format!("/api/v1/findings/{crit}/notifications"))
        .await;
    let items = on_finding.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    let mut receivers: Vec<&str> = items
        .iter()
        .map(|i| i["receiver"].as_str().unwrap())
        .collect();
    receivers.sort();
    assert_eq!(receivers, ["discord", "hook"]);
    for i in &items {
        assert_eq!(i["status"], "sent");
        assert_eq!(i["attempts"], 1);
        assert_eq!(i["kind"], "firing");
        assert!(i["sent_at"].is_string());
    }
    assert_eq!(
        notifications(&s, "receiver=slack&status=sent").await.len(),
        1
    );
    assert_eq!(notifications(&s, "q=low%20thing").await.len(), 1);
    s.get("/api/v1/alerts/notifications?status=nope")
        .await
        .expect_error(400, "invalid_query");
    s.get("/api/v1/findings/999999/notifications")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn retries_with_backoff_then_a_dead_letter() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        let mut flaky = receiver("flaky", ReceiverKind::Webhook, format!("{}/flaky", r.base));
        flaky.max_retries = 5;
        let mut down = receiver("down", ReceiverKind::Webhook, format!("{}/down", r.base));
        down.max_retries = 2;
        c.alerts.receivers.extend([flaky, down]);
        c.alerts.routes = vec![route("all", &["flaky", "down"])];
    })
    .await;
    r.fail_first("flaky", 2);
    r.fail_first("down", usize::MAX);
    s.ingest(&json!([event("crit", "api", 0)])).await;
    s.wait_for_detection().await;

    let flaky = wait_history(&s, "receiver=flaky", 1).await;
    assert_eq!(flaky[0]["status"], "sent", "{flaky:#?}");
    assert_eq!(flaky[0]["attempts"], 3);
    assert!(flaky[0]["last_error"].as_str().unwrap().contains("500"));
    let hits = r.hits("flaky");
    assert_eq!(hits.len(), 3);
    // The same body every try; signed afresh each time.
    assert!(
        hits.iter()
            .all(|h| h.body["findings"] == hits[0].body["findings"])
    );
    hits.iter().for_each(verify_signature);

    let down = wait_history(&s, "receiver=down", 1).await;
    assert_eq!(down[0]["status"], "failed", "{down:#?}");
    assert_eq!(down[0]["attempts"], 3, "one try and max_retries = 2");
    assert!(down[0]["last_error"].as_str().unwrap().contains("HTTP 500"));
    assert_eq!(r.hits("down").len(), 3);
    assert_eq!(notifications(&s, "status=failed").await.len(), 1);

    // The status board hears of it (a report every 5 s).
    let started = Instant::now();
    loop {
        let p = s.get("/api/v1/pipelines/alerts").await;
        let last = &p.body["last_payload"];
        if p.status == 200 && last["failed"] == 1 && last["sent"] == 1 {
            assert_eq!(last["queue_depth"], 0);
            assert!(
                last["last_error"].as_str().unwrap().contains("HTTP 500"),
                "{last}"
            );
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{}", p.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_silenced_finding_sends_nothing_and_the_silence_is_announced() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        c.alerts.receivers.truncate(1);
        c.alerts.routes = vec![route("all", &["hook"])];
    })
    .await;
    // Refused: unknown field, no end.
    let bad = s
        .post_json(
            "/api/v1/alerts/silences",
            &json!({"matchers": [{"field": "colour", "value": "x"}], "duration": "1h"}),
        )
        .await;
    bad.expect_error(400, "invalid_request");
    assert!(
        bad.message().contains("matchers[0].field"),
        "{}",
        bad.message()
    );
    s.post_json(
        "/api/v1/alerts/silences",
        &json!({"matchers": [{"field": "service", "value": "api"}]}),
    )
    .await
    .expect_error(400, "invalid_request");

    let made = s
        .post_json(
            "/api/v1/alerts/silences",
            &json!({"matchers": [{"field": "service", "value": "api"},
                                 {"field": "rule_id", "value": "t.*", "glob": true}],
                    "duration": "1h", "comment": "deploy"}),
        )
        .await;
    let silence = made.expect_status(201).clone();
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["created_by"], "key:tests");
    let id = silence["id"].as_i64().unwrap();
    let started = r.wait_for("hook", 1).await;
    assert_eq!(started[0].body["kind"], "silence_started");
    assert_eq!(started[0].body["silence"]["id"], id);
    assert_eq!(started[0].body["silence"]["comment"], "deploy");

    // Silenced: nothing for api; web still fires.
    s.ingest(&json!([event("crit", "api", 0), event("crit", "web", 1)]))
        .await;
    s.wait_for_detection().await;
    let api = finding_id(&s, "t.crit", "api").await;
    let web = finding_id(&s, "t.crit", "web").await;
    let hits = r.wait_for("hook", 2).await;
    assert_eq!(hits[1].body["kind"], "firing");
    assert_eq!(hits[1].body["findings"][0]["id"], web);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(r.hits("hook").len(), 2, "{:?}", r.kinds("hook"));
    assert!(
        notifications(&s, &format!("finding_id={api}"))
            .await
            .is_empty(),
        "nothing about the silenced finding"
    );
    let listed = s.get("/api/v1/alerts/silences?state=active").await;
    assert_eq!(listed.expect_status(200).as_array().unwrap().len(), 1);

    // Closed while silenced: no resolved either. Then the silence ends.
    set_status(&s, api, "resolved").await;
    let ended = s
        .send(
            s.client
                .delete(s.url(&format!("/api/v1/alerts/silences/{id}"))),
        )
        .await;
    assert_eq!(ended.expect_status(200)["state"], "expired");
    let hits = r.wait_for("hook", 3).await;
    assert_eq!(hits[2].body["kind"], "silence_ended");
    assert_eq!(hits[2].body["status"], "resolved");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        r.kinds("hook"),
        ["silence_started", "firing", "silence_ended"]
    );
    let kinds: Vec<String> = notifications(&s, "kind=silence_ended")
        .await
        .iter()
        .map(|n| n["silence_id"].to_string())
        .collect();
    assert_eq!(kinds, [id.to_string()]);
    s.send(s.client.delete(s.url("/api/v1/alerts/silences/99999")))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn acknowledging_mutes_repeats_and_resolving_sends_resolved() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        c.alerts.receivers.truncate(1);
        let mut all = route("all", &["hook"]);
        all.repeat_interval = Some(DurationText(Duration::from_millis(400)));
        c.alerts.routes = vec![all];
    })
    .await;
    s.ingest(&json!([event("crit", "api", 0)])).await;
    s.wait_for_detection().await;
    let id = finding_id(&s, "t.crit", "api").await;
    // Firing, then repeats while unacknowledged.
    let hits = r.wait_for("hook", 2).await;
    assert_eq!(hits[0].body["kind"], "firing");
    assert_eq!(hits[1].body["kind"], "repeat");

    set_status(&s, id, "acknowledged").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let muted_at = r.hits("hook").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        r.hits("hook").len(),
        muted_at,
        "no repeats while acknowledged"
    );

    set_status(&s, id, "resolved").await;
    let hits = r.wait_for("hook", muted_at + 1).await;
    let last = &hits[muted_at].body;
    assert_eq!(last["kind"], "resolved");
    assert_eq!(last["status"], "resolved");
    assert_eq!(last["findings"][0]["id"], id);
    assert_eq!(last["findings"][0]["status"], "resolved");
    assert!(last["title"].as_str().unwrap().starts_with("[RESOLVED]"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.hits("hook").len(), muted_at + 1, "{:?}", r.kinds("hook"));
    let resolved = notifications(&s, &format!("finding_id={id}&kind=resolved")).await;
    assert_eq!(resolved.len(), 1);
}

#[tokio::test]
async fn a_critical_finding_inhibits_lower_ones_of_its_service() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        c.alerts.receivers.truncate(1);
        c.alerts.routes = vec![route("all", &["hook"])];
        c.alerts.inhibit = vec![InhibitConfig::default()];
    })
    .await;
    s.ingest(&json!([event("crit", "api", 0)])).await;
    s.wait_for_detection().await;
    r.wait_for("hook", 1).await;
    s.ingest(&json!([event("low", "api", 1), event("low", "web", 2)]))
        .await;
    s.wait_for_detection().await;
    let crit = finding_id(&s, "t.crit", "api").await;
    let low_api = finding_id(&s, "t.low", "api").await;
    let low_web = finding_id(&s, "t.low", "web").await;
    let hits = r.wait_for("hook", 2).await;
    assert_eq!(hits[1].body["findings"][0]["id"], low_web);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let about = |h: &Hit| h.body["findings"][0]["id"].as_i64();
    assert!(
        r.hits("hook").iter().all(|h| about(h) != Some(low_api)),
        "inhibited while the critical one fires"
    );
    // The critical one resolved: its resolved message, and the lower one
    // is no longer inhibited.
    set_status(&s, crit, "resolved").await;
    let started = Instant::now();
    loop {
        let hits = r.hits("hook");
        let resolved = hits
            .iter()
            .any(|h| h.body["kind"] == "resolved" && about(h) == Some(crit));
        let low = hits
            .iter()
            .any(|h| h.body["kind"] == "firing" && about(h) == Some(low_api));
        if resolved && low {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{:?}", r.kinds("hook"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A server over `dir`'s database (kept across runs).
struct Run {
    base: String,
    client: reqwest::Client,
    shutdown: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Run {
    async fn start(dir: &Path, r: &Receiver, n: u32) -> Run {
        let mut config = test_config(dir);
        alerts_config(&mut config, dir, r);
        config.alerts.receivers.truncate(1);
        config.alerts.routes = vec![route("all", &["hook"])];
        let server = bind(dir, config).await;
        let addr = server.local_addr();
        let key = make_key(
            &server.state(),
            &format!("run{n}"),
            &[vigilo_auth::Scope::Admin],
        )
        .await;
        let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Run {
            base: format!("http://{addr}"),
            client: client_with_key(&key),
            shutdown,
            handle,
        }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn ingest(&self, events: Value) {
        let r = self
            .client
            .post(format!("{}/api/v1/events", self.base))
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let started = Instant::now();
        loop {
            // 503 while it catches up after a restart: not an error here.
            let ready: Value = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if ready["queue_depth"] == json!(0) && ready["catching_up"] == json!(false) {
                return;
            }
            assert!(started.elapsed() < DEADLINE);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn finding(&self, service: &str) -> i64 {
        let f = self
            .get(&format!(
                "/api/v1/findings?rule_id=t.crit&service={service}"
            ))
            .await;
        f["items"][0]["id"].as_i64().unwrap()
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        self.handle.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_restart_does_not_send_again() {
    let r = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Run::start(dir.path(), &r, 1).await;
    s.ingest(json!([event("crit", "api", 0)])).await;
    r.wait_for("hook", 1).await;
    let started = Instant::now();
    while s.get("/api/v1/alerts/notifications?status=sent").await["total"] != 1 {
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.stop().await;

    let s = Run::start(dir.path(), &r, 2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(r.hits("hook").len(), 1, "{:?}", r.kinds("hook"));
    // Still alive: a new finding is sent, the old one is not.
    s.ingest(json!([event("crit", "web", 5)])).await;
    let hits = r.wait_for("hook", 2).await;
    let web = s.finding("web").await;
    assert_eq!(hits[1].body["findings"][0]["id"], web);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.hits("hook").len(), 2, "{:?}", r.kinds("hook"));
    assert_eq!(s.get("/api/v1/alerts/notifications").await["total"], 2);
    s.stop().await;
}

#[tokio::test]
async fn test_send_delivers_and_receivers_are_listed_masked() {
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        c.alerts.receivers.push(receiver(
            "down",
            ReceiverKind::Slack,
            format!("{}/down", r.base),
        ));
        c.alerts.routes = vec![route("all", &["hook", "discord"])];
    })
    .await;
    r.fail_first("down", usize::MAX);
    let sent = s
        .post_json("/api/v1/alerts/receivers/discord/test", &json!({}))
        .await;
    let n = sent.expect_status(200).clone();
    assert_eq!(n["status"], "sent", "{n}");
    assert_eq!(n["kind"], "test");
    assert_eq!(n["attempts"], 1);
    let hits = r.wait_for("discord/api/webhooks/1/T0KEN", 1).await;
    assert!(
        hits[0].body["embeds"][0]["title"]
            .as_str()
            .unwrap()
            .starts_with("[TEST]")
    );
    assert_eq!(hits[0].body["embeds"][0]["color"], 0x607D8B);

    let failed = s
        .post_json("/api/v1/alerts/receivers/down/test", &json!({}))
        .await;
    let f = failed.expect_status(200);
    assert_eq!(f["status"], "failed");
    assert!(f["last_error"].as_str().unwrap().contains("HTTP 500"));
    s.post_json("/api/v1/alerts/receivers/nope/test", &json!({}))
        .await
        .expect_error(404, "not_found");

    let listed = s.get("/api/v1/alerts/receivers").await;
    let text = listed.text.clone();
    let list = listed.expect_status(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 4);
    assert!(!text.contains("T0KEN") && !text.contains(SECRET), "{text}");
    let discord = list.iter().find(|x| x["name"] == "discord").unwrap();
    assert_eq!(discord["type"], "discord");
    assert!(
        discord["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(discord["routes"], json!(["all"]));
    let hook = list.iter().find(|x| x["name"] == "hook").unwrap();
    assert_eq!(hook["signed"], true);
    let routes = s.get("/api/v1/alerts/routes").await;
    assert_eq!(routes.expect_status(200)[0]["group_wait"], "200ms");
}

#[tokio::test]
async fn a_route_naming_an_unknown_receiver_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.alerts.receivers = vec![receiver(
        "hook",
        ReceiverKind::Webhook,
        "http://127.0.0.1:9/x".into(),
    )];
    config.alerts.routes = vec![route("ops", &["hook", "pager"])];
    let storage = common::open_storage(dir.path()).await;
    let err = vigilo_server::Server::start(config, storage)
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("alerts.routes[0].receivers"), "{msg}");
    assert!(msg.contains("pager"), "{msg}");
}

/// Figures for the docs: `cargo test -p vigilo-server --test
/// alerts -- --ignored --nocapture`. 500 findings (one per service, one
/// group each) to one webhook, no group wait: the time until the receiver
/// got every one.
#[tokio::test]
#[ignore]
async fn measure_delivery_rate() {
    const N: i64 = 500;
    let r = Receiver::start().await;
    let s = start_with(|c, dir| {
        alerts_config(c, dir, &r);
        c.alerts.receivers.truncate(1);
        c.alerts.group_wait = DurationText(Duration::ZERO);
        c.alerts.routes = vec![route("all", &["hook"])];
    })
    .await;
    let events: Vec<Value> = (0..N)
        .map(|i| event("crit", &format!("svc{i}"), i))
        .collect();
    let started = Instant::now();
    s.ingest(&Value::Array(events)).await;
    s.wait_for_detection().await;
    let detected = started.elapsed();
    let hits = r.wait_for("hook", N as usize).await;
    let all = started.elapsed();
    let mut ids: Vec<i64> = hits
        .iter()
        .map(|h| h.body["findings"][0]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N as usize, "each finding once");
    wait_history(&s, "status=sent", N as usize).await;
    eprintln!(
        "{N} findings: detected in {:.0} ms, all delivered {:.0} ms after ingest ({:.0} notifications/s end to end)",
        detected.as_secs_f64() * 1000.0,
        all.as_secs_f64() * 1000.0,
        N as f64 / all.as_secs_f64()
    );
}
