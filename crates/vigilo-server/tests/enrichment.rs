//! Risk enrichment end to end: a real server, findings from ingested
//! events, and a local server on 127.0.0.1 that speaks the OpenAI
//! chat-completions protocol (recording every request; answering, failing
//! with a status, stalling, or answering nonsense as told).
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::*;
use serde_json::{Value, json};
use vigilo_core::Severity;

const T: &str = "2025-06-02T10:00:00Z";
const MODEL: &str = "local-test-model";
const PASSWORD: &str = "hunter2-planted-pw";
const API_KEY: &str = "sk-planted0123456789abcdefXYZ";
const EMAIL: &str = "planted.person@example.com";

#[derive(Clone, Debug)]
enum Mode {
    Answer(Value),
    /// The answer, after a pause.
    Slow(Duration, Value),
    Status(u16),
    Stall(Duration),
    Malformed,
}

struct Chat {
    requests: Mutex<Vec<Value>>,
    mode: Mutex<Mode>,
}

/// A local chat-completions server on 127.0.0.1:0.
struct FakeModel {
    base: String,
    chat: Arc<Chat>,
}

impl FakeModel {
    async fn start() -> FakeModel {
        async fn completions(
            AxState(chat): AxState<Arc<Chat>>,
            body: axum::Json<Value>,
        ) -> axum::response::Response {
            chat.requests.lock().unwrap().push(body.0);
            let mode = chat.mode.lock().unwrap().clone();
            let mode = match mode {
                Mode::Slow(d, a) => {
                    tokio::time::sleep(d).await;
                    Mode::Answer(a)
                }
                other => other,
            };
            match mode {
                Mode::Answer(a) => axum::Json(json!({
                    "id": "c1", "object": "chat.completion", "model": MODEL,
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": a.to_string()}}],
                    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
                }))
                .into_response(),
                Mode::Status(s) => (
                    StatusCode::from_u16(s).unwrap(),
                    axum::Json(json!({"error": {"message": "no"}})),
                )
                    .into_response(),
                Mode::Stall(d) => {
                    tokio::time::sleep(d).await;
                    StatusCode::OK.into_response()
                }
                Mode::Slow(..) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Mode::Malformed => axum::Json(json!({
                    "choices": [{"message": {"role": "assistant", "content": "I think it is risky!"}}]
                }))
                .into_response(),
            }
        }
        let chat = Arc::new(Chat {
            requests: Mutex::new(Vec::new()),
            mode: Mutex::new(Mode::Answer(answer(91))),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(completions))
            .with_state(chat.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeModel {
            base: format!("http://{addr}/v1"),
            chat,
        }
    }

    fn set(&self, mode: Mode) {
        *self.chat.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> Vec<Value> {
        self.chat.requests.lock().unwrap().clone()
    }
}

fn answer(score: i64) -> Value {
    json!({
        "risk_score": score,
        "explanation": format!("model says {score}: a 12000 EUR transfer far above the 10000 limit"),
        "recommended_actions": ["call the account owner", "hold the transfer"],
        "confidence": 0.8
    })
}

async fn server(model: &FakeModel, tweak: impl FnOnce(&mut vigilo_server::Config)) -> TestServer {
    let base = model.base.clone();
    start_with(move |c, _| {
        c.enrichment.base_url = Some(base);
        c.enrichment.model = MODEL.into();
        c.enrichment.retries = 0;
        c.enrichment.timeout_ms = 2_000;
        // Only on demand unless a test says otherwise.
        c.enrichment.min_severity = Severity::Critical;
        tweak(c);
    })
    .await
}

/// A large transaction of `user` carrying a planted password, API key and
/// email; the id of its finding.
async fn large_transaction(s: &TestServer, user: &str, amount: i64) -> i64 {
    s.ingest(&json!([{
        "timestamp": ts(T, 0), "kind": "transaction", "transaction_id": format!("t-{user}"),
        "user_id": user, "amount": amount, "currency": "EUR", "status": "ok",
        "password": PASSWORD, "api_key": API_KEY, "contact": EMAIL,
        "memo": format!("approved by {EMAIL} using {API_KEY}"),
    }]))
    .await;
    s.wait_for_detection().await;
    let f = s
        .findings(&format!("rule_id=anomaly.large_amount&user={user}"))
        .await;
    assert_eq!(f.len(), 1, "{f:?}");
    f[0]["id"].as_i64().unwrap()
}

fn assert_nothing_planted(text: &str) {
    for planted in [PASSWORD, API_KEY, EMAIL, "planted.person"] {
        assert!(
            !text.contains(planted),
            "`{planted}` left the process: {text}"
        );
    }
}

#[tokio::test]
async fn a_finding_gets_the_models_score_and_nothing_redacted_leaves() {
    let model = FakeModel::start().await;
    let s = server(&model, |_| {}).await;
    let id = large_transaction(&s, "u1", 12_000).await;

    // Stored first with the heuristic score, which names amount and threshold.
    let before = s.get(&format!("/api/v1/findings/{id}")).await;
    let before = before.expect_status(200);
    assert_eq!(before["enriched_by"], "heuristic");
    assert_eq!(before["risk_score"], 80);
    let why = before["explanation"].as_str().unwrap();
    assert!(
        why.contains("amount = 12000 (rule: amount gt 10000)"),
        "{why}"
    );
    assert!(why.contains("base 80: high severity"), "{why}");

    let r = s
        .post_json(&format!("/api/v1/findings/{id}/enrich"), &json!({}))
        .await;
    let body = r.expect_status(200);
    assert_eq!(body["finding"]["risk_score"], 91);
    assert_eq!(body["finding"]["enriched_by"], MODEL);
    assert!(body["finding"]["enriched_at"].is_string());
    assert_eq!(
        body["finding"]["recommended_actions"],
        json!(["call the account owner", "hold the transfer"])
    );
    assert!(
        body["finding"]["explanation"]
            .as_str()
            .unwrap()
            .starts_with("model says 91")
    );
    assert_eq!(body["enrichment"]["fallback_reason"], Value::Null);
    assert_eq!(body["enrichment"]["cached"], false);
    assert_eq!(body["enrichment"]["prompt_tokens"], 120);

    let sent = model.requests();
    assert_eq!(sent.len(), 1);
    let wire = sent[0].to_string();
    assert_nothing_planted(&wire);
    assert!(wire.contains("12000"), "the amount is sent: {wire}");
    assert!(wire.contains("[redacted]"), "{wire}");
    assert_eq!(sent[0]["model"], MODEL);
    assert_eq!(sent[0]["response_format"]["type"], "json_schema");

    // The stored prompt is what was sent, and is shown on the finding.
    let list = s.get(&format!("/api/v1/findings/{id}/enrichments")).await;
    let items = list.expect_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    let prompt: Value = serde_json::from_str(items[0]["prompt"].as_str().unwrap()).unwrap();
    assert_eq!(prompt, sent[0]);
    assert_nothing_planted(items[0]["prompt"].as_str().unwrap());
    assert!(
        items[0]["answer"]
            .as_str()
            .unwrap()
            .contains("model says 91")
    );

    // The same content again: answered from the cache, no request.
    let again = s
        .post_json(&format!("/api/v1/findings/{id}/enrich"), &json!({}))
        .await;
    let again = again.expect_status(200);
    assert_eq!(again["enrichment"]["cached"], true);
    assert_eq!(again["finding"]["risk_score"], 91);
    assert_eq!(model.requests().len(), 1, "a cached enrichment asked again");

    // Filterable and sortable in the list.
    assert_eq!(s.findings(&format!("enriched_by={MODEL}")).await.len(), 1);
    assert_eq!(s.findings("risk_min=90").await.len(), 1);
    assert_eq!(s.findings("risk_min=92").await.len(), 0);
    assert_eq!(
        s.findings("risk_max=90&rule_id=anomaly.large_amount")
            .await
            .len(),
        0
    );
    assert_eq!(s.findings("sort=enriched_at").await[0]["id"], id);
    s.get("/api/v1/findings?risk_min=101")
        .await
        .expect_error(400, "invalid_query");
}

#[tokio::test]
async fn timeout_429_500_and_malformed_answers_fall_back_with_the_reason() {
    let model = FakeModel::start().await;
    let s = server(&model, |c| c.enrichment.timeout_ms = 300).await;
    let id = large_transaction(&s, "u2", 15_000).await;
    for (mode, reason) in [
        (Mode::Status(429), "HTTP 429"),
        (Mode::Status(500), "HTTP 500"),
        (Mode::Malformed, "malformed answer"),
        (Mode::Stall(Duration::from_secs(3)), "timeout"),
    ] {
        model.set(mode.clone());
        let started = Instant::now();
        let r = s
            .post_json(&format!("/api/v1/findings/{id}/enrich"), &json!({}))
            .await;
        let body = r.expect_status(200);
        let got = body["enrichment"]["fallback_reason"].as_str().unwrap_or("");
        assert!(got.contains(reason), "{mode:?}: reason {got:?}");
        assert_eq!(body["enrichment"]["enriched_by"], "heuristic", "{mode:?}");
        assert_eq!(body["finding"]["enriched_by"], "heuristic", "{mode:?}");
        assert_eq!(body["finding"]["risk_score"], 80, "{mode:?}");
        assert!(
            body["finding"]["explanation"]
                .as_str()
                .unwrap()
                .contains("amount = 15000"),
            "{mode:?}"
        );
        // 300 ms timeout, measured well under a second: bound ten times that.
        assert!(started.elapsed() < Duration::from_secs(10), "{mode:?}");
    }
    assert_eq!(model.requests().len(), 4);
    let list = s.get(&format!("/api/v1/findings/{id}/enrichments")).await;
    let reasons: Vec<String> = list.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fallback_reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(reasons.len(), 4);
    assert!(reasons[0].contains("timeout"), "{reasons:?}");
    assert!(reasons[3].contains("429"), "{reasons:?}");
}

#[tokio::test]
async fn the_budget_stops_calls_when_spent() {
    let model = FakeModel::start().await;
    let s = server(&model, |c| c.enrichment.requests_per_hour = 1).await;
    let a = large_transaction(&s, "u3", 11_000).await;
    let b = large_transaction(&s, "u4", 13_000).await;
    let r = s
        .post_json("/api/v1/findings/enrich", &json!({"ids": [a, b, 999_999]}))
        .await;
    let items = r.expect_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    let by: Vec<&str> = items[..2]
        .iter()
        .map(|i| i["enrichment"]["enriched_by"].as_str().unwrap())
        .collect();
    let reasons: Vec<&str> = items[..2]
        .iter()
        .filter_map(|i| i["enrichment"]["fallback_reason"].as_str())
        .collect();
    assert_eq!(model.requests().len(), 1, "one request within the budget");
    assert!(by.contains(&MODEL) && by.contains(&"heuristic"), "{by:?}");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].starts_with("budget spent"), "{reasons:?}");
    assert_eq!(items[2]["found"], false);
    s.post_json("/api/v1/findings/enrich", &json!({"ids": []}))
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn new_findings_at_min_severity_are_enriched_automatically() {
    let model = FakeModel::start().await;
    let s = server(&model, |c| c.enrichment.min_severity = Severity::High).await;
    let id = large_transaction(&s, "u5", 30_000).await;
    let started = Instant::now();
    loop {
        let f = s.get(&format!("/api/v1/findings/{id}")).await;
        if f.body["enriched_by"] == MODEL {
            assert_eq!(f.body["risk_score"], 91);
            break;
        }
        assert!(started.elapsed() < DEADLINE, "not enriched: {}", f.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_nothing_planted(&model.requests()[0].to_string());
}

#[tokio::test]
async fn enrichment_is_off_unless_configured() {
    let s = start().await;
    s.ingest(
        &json!([{"timestamp": ts(T, 0), "kind": "transaction", "user_id": "u6",
        "amount": 12_000, "currency": "EUR", "status": "ok"}]),
    )
    .await;
    s.wait_for_detection().await;
    let f = s.findings("rule_id=anomaly.large_amount").await;
    let id = f[0]["id"].as_i64().unwrap();
    s.post_json(&format!("/api/v1/findings/{id}/enrich"), &json!({}))
        .await
        .expect_error(409, "conflict");
    s.post_json("/api/v1/findings/999999/enrich", &json!({}))
        .await
        .expect_error(409, "conflict");
}

#[tokio::test]
async fn recent_findings_of_the_user_and_service_criticality_raise_the_score() {
    let s = start_with(|c, _| {
        c.risk.services.insert(
            "payments".into(),
            vigilo_detect::heuristics::Criticality::Critical,
        );
    })
    .await;
    let txns: Vec<Value> = (0..4)
        .map(|i| {
            json!({"timestamp": ts(T, i * 3600), "kind": "transaction", "transaction_id": format!("r{i}"),
                   "user_id": "repeat", "user": "repeat", "service": "payments",
                   "amount": 20_000, "currency": "EUR", "status": "ok"})
        })
        .collect();
    s.ingest(&Value::Array(txns)).await;
    s.wait_for_detection().await;
    let mut f = s
        .findings("rule_id=anomaly.large_amount&sort=first_seen&order=asc")
        .await;
    assert_eq!(f.len(), 4, "{f:?}");
    let last = f.pop().unwrap();
    let why = last["explanation"].as_str().unwrap();
    assert!(
        why.contains("+10: user repeat had 3 other findings in 7 days"),
        "{why}"
    );
    assert!(why.contains("+10: service payments is critical"), "{why}");
    assert_eq!(last["risk_score"], 100, "{why}");
    let first_why = f[0]["explanation"].as_str().unwrap();
    assert!(!first_why.contains("other finding"), "{first_why}");
}

/// Two servers on one PostgreSQL database: only the one leading detection
/// reads the finding outbox, so the model is asked about each finding
/// once, not once per process.
#[tokio::test]
async fn processes_sharing_a_database_ask_the_model_once_per_finding() {
    if !storage::is_postgres() {
        eprintln!("skipped: several processes share a database only on PostgreSQL");
        return;
    }
    let model = FakeModel::start().await;
    // A model slow enough that a second reader of the outbox would ask
    // before the first answer is stored (and cached).
    model.set(Mode::Slow(Duration::from_millis(1_200), answer(91)));
    let s = server(&model, |c| {
        c.enrichment.min_severity = Severity::High;
        // Far above the model's pause, so a slow machine never times out.
        c.enrichment.timeout_ms = 15_000;
    })
    .await;
    // A second server on the same schema, enrichment configured alike; it
    // follows, since the first holds the lead.
    let mut config = test_config(s.dir.path());
    config.enrichment = s.state.config.enrichment.clone();
    let other = s.start_follower(config).await;
    let id = large_transaction(&s, "u-shared", 30_000).await;
    let started = Instant::now();
    loop {
        let f = s.get(&format!("/api/v1/findings/{id}")).await;
        if f.body["enriched_by"] == MODEL {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "not enriched: {}", f.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Several outbox polls of the follower (every 500 ms) later, still one
    // request.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert_eq!(
        model.requests().len(),
        1,
        "the model was asked more than once"
    );
    other.stop().await;
}
