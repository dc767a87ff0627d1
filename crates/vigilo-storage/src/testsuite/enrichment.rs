//! Behaviours of enrichment records: storing one sets the finding's score,
//! explanation, actions and who scored it; the cache answers only with a
//! model's own answers; listings filter and sort by risk and scorer.

use chrono::{Duration, Utc};

use super::{Fixture, at, finding, ready, write};
use crate::{FindingQuery, FindingSort, NewEnrichment, SortOrder, Storage};
use vigilo_core::Severity;

fn enrichment(finding_id: i64, by: &str, score: u8, fallback: Option<&str>) -> NewEnrichment {
    NewEnrichment {
        finding_id,
        content_hash: "h1".into(),
        enriched_by: by.into(),
        model: "m1".into(),
        risk_score: score,
        explanation: format!("scored {score} by {by}"),
        recommended_actions: vec!["rotate the key".into()],
        confidence: Some(0.75),
        prompt: "{\"messages\":[]}".into(),
        answer: Some("{\"risk_score\":1}".into()),
        fallback_reason: fallback.map(str::to_string),
        cached: false,
        prompt_tokens: 12,
        completion_tokens: 7,
        created_at: Utc::now(),
    }
}

pub async fn enrichments_apply_to_the_finding_and_feed_the_cache<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let t = at("10:00:00");
    let stored = s
        .commit_detection(
            &[
                write("k1", finding("r.one", Severity::High, t, t), vec![]),
                write("k2", finding("r.two", Severity::Low, t, t), vec![]),
            ],
            0,
        )
        .await
        .expect("commit");
    let (a, b) = (stored[0].id, stored[1].id);
    assert_eq!(stored[0].enriched_by, "heuristic");
    assert!(stored[0].enriched_at.is_none());

    assert!(
        s.insert_enrichment(enrichment(a + b + 100, "m1", 10, None))
            .await
            .expect("insert")
            .is_none(),
        "an unknown finding is not enriched"
    );
    assert!(
        s.cached_enrichment("h1", "m1")
            .await
            .expect("cache")
            .is_none()
    );

    // A fallback is recorded but never answers from the cache.
    let fb = s
        .insert_enrichment(enrichment(a, "heuristic", 61, Some("timeout")))
        .await
        .expect("insert")
        .expect("finding exists");
    assert_eq!(fb.fallback_reason.as_deref(), Some("timeout"));
    assert!(
        s.cached_enrichment("h1", "m1")
            .await
            .expect("cache")
            .is_none()
    );

    let e = s
        .insert_enrichment(enrichment(a, "m1", 97, None))
        .await
        .expect("insert")
        .expect("finding exists");
    assert_eq!(e.risk_score, 97);
    assert_eq!(e.recommended_actions, ["rotate the key"]);
    assert_eq!(e.confidence, Some(0.75));
    assert_eq!((e.prompt_tokens, e.completion_tokens), (12, 7));
    let f = s.get_finding(a).await.expect("get").expect("exists");
    assert_eq!(f.risk_score, 97);
    assert_eq!(f.explanation, "scored 97 by m1");
    assert_eq!(f.enriched_by, "m1");
    assert_eq!(f.recommended_actions, ["rotate the key"]);
    let when = f.enriched_at.expect("enriched_at set");
    assert!((when - Utc::now()).num_seconds().abs() < 60);

    let cached = s.cached_enrichment("h1", "m1").await.expect("cache");
    assert_eq!(cached.map(|c| c.id), Some(e.id));
    assert!(
        s.cached_enrichment("h1", "m2")
            .await
            .expect("cache")
            .is_none()
    );
    assert!(
        s.cached_enrichment("h2", "m1")
            .await
            .expect("cache")
            .is_none()
    );

    let list = s.finding_enrichments(a).await.expect("list");
    assert_eq!(list.iter().map(|e| e.id).collect::<Vec<_>>(), [e.id, fb.id]);
    assert!(s.finding_enrichments(b).await.expect("list").is_empty());

    // A later detection update of the incident keeps the model's score.
    let mut again = finding("r.one", Severity::High, t, t + Duration::seconds(5));
    again.risk_score = 40;
    again.explanation = "heuristic again".into();
    s.commit_detection(&[write("k1", again, vec![])], 0)
        .await
        .expect("commit");
    let f = s.get_finding(a).await.expect("get").expect("exists");
    assert_eq!(
        (f.risk_score, f.explanation.as_str()),
        (97, "scored 97 by m1")
    );

    // Filters and sorts.
    let q = |risk_min, risk_max, by: Option<&str>| FindingQuery {
        risk_min,
        risk_max,
        enriched_by: by.map(str::to_string),
        page: 1,
        page_size: 50,
        ..Default::default()
    };
    let ids =
        |p: crate::Page<vigilo_core::Finding>| p.items.iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .list_findings(&q(Some(90), None, None))
            .await
            .expect("list")),
        [a]
    );
    assert_eq!(
        ids(s
            .list_findings(&q(None, Some(89), None))
            .await
            .expect("list")),
        [b]
    );
    assert_eq!(
        ids(s
            .list_findings(&q(None, None, Some("m1")))
            .await
            .expect("list")),
        [a]
    );
    assert_eq!(
        ids(s
            .list_findings(&q(None, None, Some("heuristic")))
            .await
            .expect("list")),
        [b]
    );
    let sorted = |sort, order| FindingQuery {
        sort,
        order,
        page: 1,
        page_size: 50,
        ..Default::default()
    };
    assert_eq!(
        ids(s
            .list_findings(&sorted(FindingSort::EnrichedAt, SortOrder::Desc))
            .await
            .expect("list")),
        [a, b]
    );
    assert_eq!(
        ids(s
            .list_findings(&sorted(FindingSort::Risk, SortOrder::Asc))
            .await
            .expect("list")),
        [b, a]
    );
}
