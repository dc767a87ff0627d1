//! Behaviours of event logsources: every stored event has one (the default
//! `product: vigilo` when it names none), it reads back as stored, and the
//! event listings filter on each dimension by exact match.

use vigilo_core::{Logsource, NewEvent};

use super::{Fixture, at, ready, simple};
use crate::{EventQuery, Storage};

fn with(
    n: usize,
    product: Option<&str>,
    category: Option<&str>,
    service: Option<&str>,
) -> NewEvent {
    let mut e = simple(at("10:00:00"), n);
    e.logsource = Logsource {
        product: product.map(Into::into),
        category: category.map(Into::into),
        service: service.map(Into::into),
    };
    e
}

fn q(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> EventQuery {
    EventQuery {
        logsource: Logsource {
            product: product.map(Into::into),
            category: category.map(Into::into),
            service: service.map(Into::into),
        },
        page: 1,
        page_size: 100,
        ..EventQuery::default()
    }
}

pub async fn logsources_round_trip_and_filter<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let stored = s
        .insert_events(vec![
            with(0, None, None, None),
            with(1, Some("aws"), None, Some("cloudtrail")),
            with(2, Some("aws"), Some("iam"), Some("cloudtrail")),
            with(3, Some("windows"), Some("process_creation"), None),
            with(4, Some("aws"), None, Some("cloudtrail")),
        ])
        .await
        .expect("insert");
    // The returned events carry what is stored: the default for the first.
    assert_eq!(stored[0].logsource, Logsource::vigilo());
    let ids: Vec<i64> = stored.iter().map(|e| e.id).collect();
    let read = s.get_events(&ids).await.expect("get");
    assert_eq!(read, stored, "read back as stored");
    assert_eq!(
        read[2].logsource,
        Logsource {
            product: Some("aws".into()),
            category: Some("iam".into()),
            service: Some("cloudtrail".into()),
        }
    );
    // A second batch reuses the stored logsources and adds new ones.
    let more = s
        .insert_events(vec![
            with(5, Some("aws"), None, Some("cloudtrail")),
            with(6, Some("okta"), None, Some("okta")),
        ])
        .await
        .expect("insert");
    assert_eq!(s.get_event(more[1].id).await.unwrap().unwrap(), more[1]);

    let ns = |p: &crate::Page<vigilo_core::Event>| {
        let mut n: Vec<i64> = p
            .items
            .iter()
            .map(|e| e.payload["n"].as_i64().expect("n"))
            .collect();
        n.sort();
        n
    };
    for (query, want, total) in [
        (q(Some("vigilo"), None, None), vec![0], 1),
        (q(Some("aws"), None, None), vec![1, 2, 4, 5], 4),
        (q(None, None, Some("cloudtrail")), vec![1, 2, 4, 5], 4),
        (q(Some("aws"), Some("iam"), None), vec![2], 1),
        (q(None, Some("process_creation"), None), vec![3], 1),
        (q(Some("okta"), None, Some("cloudtrail")), vec![], 0),
        (q(Some("AWS"), None, None), vec![], 0),
    ] {
        let p = s.list_events(&query).await.expect("list");
        assert_eq!(ns(&p), want, "{:?}", query.logsource);
        assert_eq!(p.total, total, "{:?}", query.logsource);
    }
    // With the other filters, and with the service (index) path.
    let p = s
        .list_events(&EventQuery {
            service: Some("api".into()),
            ..q(Some("aws"), Some("iam"), None)
        })
        .await
        .expect("list");
    assert_eq!(ns(&p), vec![2]);
    let scanned = s
        .scan_events(&q(Some("aws"), None, None), None, 2)
        .await
        .expect("scan");
    assert_eq!(scanned.len(), 2);
    assert!(
        scanned
            .iter()
            .all(|e| e.logsource.product.as_deref() == Some("aws"))
    );
}
