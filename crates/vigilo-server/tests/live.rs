//! The live channel through a real server and a real WebSocket, spoken as
//! a Socket.IO v5 client does (Engine.IO v4 framing): `pipeline_update`
//! for a client that only connects (as a pipeline dashboard hub's client
//! does), `finding` after a detection commit, `stats` every second, `event`
//! only after joining its room, and a client that stops reading is dropped
//! without the server buffering what it did not read.
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A Socket.IO client on namespace `/`, connected over WebSocket.
struct Client {
    ws: Ws,
    next_ack: u64,
}

impl Client {
    async fn connect(base: &str, token: &str) -> Client {
        match Self::try_connect(base, Some(token)).await {
            Ok(c) => c,
            Err(t) => panic!("namespace connect, got {t}"),
        }
    }

    /// Connect with `{"token": ...}` in the connect packet (or nothing);
    /// `Err` holds the refusal packet.
    async fn try_connect(base: &str, token: Option<&str>) -> Result<Client, String> {
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            base.replacen("http://", "ws://", 1)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket handshake");
        // Engine.IO open packet, then the namespace connect.
        let open = text(&mut ws).await;
        assert!(open.starts_with('0'), "engine.io open packet, got {open}");
        let handshake: Value = serde_json::from_str(&open[1..]).expect("open payload");
        assert!(handshake["sid"].is_string(), "{handshake}");
        let connect = match token {
            Some(t) => format!("40{}", json!({ "token": t })),
            None => "40".to_string(),
        };
        ws.send(Message::text(connect)).await.expect("send connect");
        loop {
            let t = text(&mut ws).await;
            if t == "2" {
                ws.send(Message::text("3")).await.expect("pong");
                continue;
            }
            if !t.starts_with("40") {
                return Err(t);
            }
            break;
        }
        Ok(Client { ws, next_ack: 0 })
    }

    /// The next event (name, payload), answering pings on the way.
    async fn event(&mut self) -> (String, Value) {
        loop {
            let t = text(&mut self.ws).await;
            if t == "2" {
                self.ws.send(Message::text("3")).await.expect("pong");
                continue;
            }
            if let Some(body) = t.strip_prefix("42") {
                let v: Value = serde_json::from_str(body).expect("event array");
                return (
                    v[0].as_str().expect("event name").to_string(),
                    v.get(1).cloned().unwrap_or(Value::Null),
                );
            }
        }
    }

    /// The next `name` event whose payload satisfies `want`, within `within`.
    async fn wait_for(
        &mut self,
        name: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (ev, payload) = tokio::time::timeout(left, self.event())
                .await
                .unwrap_or_else(|_| panic!("no `{name}` event within {within:?}"));
            if ev == name && want(&payload) {
                return payload;
            }
        }
    }

    /// Emit `event` with an ack and return the ack's payload.
    async fn call(&mut self, event: &str, payload: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        let frame = format!("42{id}{}", json!([event, payload]));
        self.ws.send(Message::text(frame)).await.expect("emit");
        let prefix = format!("43{id}");
        loop {
            let t = tokio::time::timeout(DEADLINE, text(&mut self.ws))
                .await
                .expect("ack in time");
            if t == "2" {
                self.ws.send(Message::text("3")).await.expect("pong");
                continue;
            }
            if let Some(body) = t.strip_prefix(&prefix) {
                let v: Value = serde_json::from_str(body).expect("ack array");
                return v[0].clone();
            }
        }
    }
}

async fn text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await.expect("socket open").expect("frame") {
            Message::Text(t) => return t.to_string(),
            Message::Close(c) => panic!("socket closed: {c:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_connected_client_gets_pipeline_updates_findings_stats_and_events_it_joined() {
    let server = start().await;
    let mut c = Client::connect(&server.base, &server.api_key).await;

    // A status report posted to the hub arrives as the envelope posted.
    let r = server
        .post_json(
            "/api/v1/pipelines/iam.pipeline/events",
            &json!({"status": "done", "high": 2, "medium": 1}),
        )
        .await;
    r.expect_status(202);
    let update = c
        .wait_for("pipeline_update", Duration::from_secs(2), |_| true)
        .await;
    assert_eq!(update["pipeline"], "iam.pipeline");
    assert_eq!(update["status"], "done");
    assert_eq!(update["high"], 2);
    assert!(update["received_at"].is_string(), "{update}");

    // A finding arrives after its detection commit, with its list fields.
    let sent = Instant::now();
    server
        .ingest(&json!([{
            "timestamp": "2025-06-02T10:00:00Z", "event_type": "api_token_created",
            "user": "trent", "scopes": ["admin:*"], "has_expiry": false,
        }]))
        .await;
    let f = c
        .wait_for("finding", Duration::from_secs(5), |f| {
            f["rule_id"] == "identity.admin_token"
        })
        .await;
    assert_eq!(f["change"], "created");
    assert_eq!(f["user"], "trent");
    assert!(f["id"].as_i64().is_some_and(|id| id > 0), "{f}");
    assert!(f["risk_score"].is_number(), "{f}");
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(5), "finding took {latency:?}");

    // An analyst's bulk change tells clients to refetch.
    server
        .post_json(
            "/api/v1/findings/bulk",
            &json!({"ids": [f["id"]], "set": {"status": "acknowledged"}}),
        )
        .await
        .expect_status(200);
    let summary = c
        .wait_for("findings_summary", Duration::from_secs(3), |_| true)
        .await;
    assert_eq!(summary["updated"], 1, "{summary}");

    // Stats every second, counting what is stored and open.
    let stats = c
        // The event ingested, and the audit event of the bulk change.
        .wait_for("stats", Duration::from_secs(3), |s| s["events_total"] == 2)
        .await;
    let open: u64 = stats["open_findings"]
        .as_object()
        .expect("open_findings")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    let open_listed = server.get("/api/v1/findings?status=open").await;
    assert_eq!(Some(open), open_listed.body["total"].as_u64(), "{stats}");
    assert!(
        stats["rules_loaded"].as_u64().is_some_and(|n| n > 0),
        "{stats}"
    );
    assert!(
        stats["queue_capacity"].as_u64().is_some_and(|n| n > 0),
        "{stats}"
    );

    // Raw events only after joining their room.
    let rooms = c
        .call("subscribe", json!({"rooms": ["events", "nonsense"]}))
        .await;
    assert_eq!(
        rooms,
        json!({"rooms": ["events", "findings", "pipelines", "stats"]})
    );
    // The sampler switches on at the next tick.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    server
        .ingest(&json!([{"timestamp": "2025-06-02T10:01:00Z", "service": "api", "level": "INFO", "message": "tail me"}]))
        .await;
    let e = c
        .wait_for("event", Duration::from_secs(3), |e| {
            e["payload"]["message"] == "tail me" || e["message"] == "tail me"
        })
        .await;
    assert!(e["id"].as_i64().is_some(), "{e}");

    let rooms = c.call("unsubscribe", json!("events")).await;
    assert_eq!(rooms, json!({"rooms": ["findings", "pipelines", "stats"]}));
}

#[tokio::test]
async fn the_hub_lists_configured_pipelines_and_keeps_history_across_a_restart() {
    let mut server = start().await;
    let list = server.get("/api/v1/pipelines").await;
    let names: Vec<&str> = list.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in [
        "rule.ingestion",
        "validation.pipeline",
        "remediation.pipeline",
        "iam.pipeline",
        "delta.pipeline",
        "ingest",
        "detection",
        "storage",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for status in ["running", "error", "success"] {
        server
            .post_json(
                "/api/v1/pipelines/iam-audit-agent/events",
                &json!({"status": status, "pipeline": "iam-audit-agent", "n": 1}),
            )
            .await
            .expect_status(202);
    }
    // Bad reports name their field.
    let r = server
        .post_json("/api/v1/pipelines/x/events", &json!({"status": "exploded"}))
        .await;
    r.expect_error(400, "invalid_request");
    assert!(r.message().contains("status"), "{}", r.message());
    let r = server
        .post_json(
            "/api/v1/pipelines/x/events",
            &json!({"status": "done", "pipeline": "y"}),
        )
        .await;
    r.expect_error(400, "invalid_request");
    assert!(r.message().contains("pipeline"), "{}", r.message());
    server
        .get("/api/v1/pipelines/never-reported")
        .await
        .expect_error(404, "not_found");

    let dir = server.data_dir();
    server.stop().await;
    // A new server on the same database knows the agent and its history.
    let again = bind(&dir, test_config(&dir)).await;
    let one = again
        .state()
        .hub
        .get("iam-audit-agent", 2)
        .await
        .expect("read hub")
        .expect("the agent survives the restart");
    assert_eq!(one.status.as_deref(), Some("success"));
    assert_eq!(one.updates_total, 3);
    assert_eq!(one.kind, vigilo_server::hub::PipelineKind::Agent);
    let statuses: Vec<&str> = one.history.iter().map(|u| u.status.as_str()).collect();
    assert_eq!(statuses, vec!["success", "error"]);
    again.state().pipeline.shutdown().await;
}

#[tokio::test]
async fn a_restricted_hub_refuses_pipelines_it_does_not_list() {
    let server = start_with(|c, _| {
        c.pipelines.restrict = true;
        c.pipelines.names = vec!["rule.ingestion".into()];
    })
    .await;
    server
        .post_json(
            "/api/v1/pipelines/rule.ingestion/events",
            &json!({"status": "running"}),
        )
        .await
        .expect_status(202);
    server
        .post_json(
            "/api/v1/pipelines/rogue/events",
            &json!({"status": "running"}),
        )
        .await
        .expect_error(404, "not_found");
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_without_growing_memory() {
    let server = start_with(|c, _| c.pipelines.report_interval_secs = 0).await;
    // One client connects and never reads again; another keeps reading.
    let stalled = Client::connect(&server.base, &server.api_key).await;
    let mut healthy = Client::connect(&server.base, &server.api_key).await;
    let reader = tokio::spawn(async move {
        loop {
            let u = healthy
                .wait_for("pipeline_update", Duration::from_secs(30), |_| true)
                .await;
            if u["i"] == "last" {
                return;
            }
        }
    });

    let before = rss_kib();
    // 3,000 reports of ~30 KB: 90 MB broadcast to a client reading nothing.
    let filler = "x".repeat(30 * 1024);
    for i in 0..3000 {
        server
            .post_json(
                "/api/v1/pipelines/flood/events",
                &json!({"status": "running", "i": i, "filler": filler}),
            )
            .await
            .expect_status(202);
    }
    server
        .post_json(
            "/api/v1/pipelines/flood/events",
            &json!({"status": "done", "i": "last"}),
        )
        .await
        .expect_status(202);
    // The reading client got everything, the last report included.
    tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the healthy client keeps up")
        .expect("reader");
    let grew_mib = rss_kib().saturating_sub(before) / 1024;
    assert_eq!(
        server.state.live.dropped_clients(),
        1,
        "the stalled client is dropped"
    );
    // What was broadcast (90 MB) is not held for the stalled client: its
    // queue is bounded, then it gets nothing more.
    assert!(grew_mib < 60, "memory grew by {grew_mib} MiB");
    drop(stalled);
    eprintln!("rss grew {grew_mib} MiB while 90 MB went to a client reading nothing");
}

/// The handshake carries the REST API's credentials: none, a wrong one and
/// a key that may read nothing live are each refused.
#[tokio::test]
async fn connections_without_a_reader_credential_are_refused() {
    let server = start().await;
    let none = Client::try_connect(&server.base, None).await.err();
    assert_eq!(none.as_deref(), Some(r#"44{"message":"unauthenticated"}"#));
    let wrong = Client::try_connect(&server.base, Some("vgl_00000000_aaaaaaaaaaaaaaaaaaaaaaaa"))
        .await
        .err();
    assert_eq!(wrong.as_deref(), Some(r#"44{"message":"invalid_token"}"#));
    let ingest = make_key(&server.state, "agent", &[vigilo_auth::Scope::Ingest]).await;
    let refused = Client::try_connect(&server.base, Some(&ingest)).await.err();
    assert_eq!(refused.as_deref(), Some(r#"44{"message":"forbidden"}"#));
    // A viewer's session, made without a password hash: this binary's
    // memory test measures the process, and argon2 would take 19 MiB.
    let vic = server
        .state
        .storage
        .create_user(vigilo_storage::NewUser {
            username: "vic".into(),
            role: "viewer".into(),
            email: None,
            source: "password".into(),
            oidc_subject: None,
            password_hash: None,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let viewer = vigilo_server::auth::session::start(&server.state, &vic, None)
        .await
        .unwrap()
        .1
        .token;
    assert!(
        Client::try_connect(&server.base, Some(&viewer))
            .await
            .is_ok()
    );
}

/// Two servers on one PostgreSQL database: a client of the one that does
/// not lead detection still gets the findings the leader commits.
#[tokio::test]
async fn a_client_of_a_following_process_gets_the_leaders_findings() {
    if !storage::is_postgres() {
        eprintln!("skipped: several processes share a database only on PostgreSQL");
        return;
    }
    let leader = start().await;
    let follower = leader.start_follower(test_config(leader.dir.path())).await;
    let key = make_key(&follower.state, "follower", &[vigilo_auth::Scope::Read]).await;
    let mut c = Client::connect(&follower.base, &key).await;
    // Let the relay find the outbox's end before the finding is made.
    tokio::time::sleep(Duration::from_millis(600)).await;
    leader
        .ingest(&json!([{
            "timestamp": "2025-06-02T10:00:00Z", "event_type": "api_token_created",
            "user": "mallory", "scopes": ["admin:*"], "has_expiry": false,
        }]))
        .await;
    let f = c
        .wait_for("finding", Duration::from_secs(10), |f| {
            f["rule_id"] == "identity.admin_token"
        })
        .await;
    assert_eq!(f["change"], "created");
    assert_eq!(f["user"], "mallory");
    follower.stop().await;
}
