//! The heuristics' context, kept by the detection pipeline: recent findings
//! per principal and per service (last 7 days of event time, seeded from
//! storage at start) and the asset criticality table. Each finding the
//! detector emits is rescored with it before it is stored, so alerts read
//! the context-aware score.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use vigilo_core::Event;
use vigilo_detect::heuristics::{self, RECENT_DAYS, RiskInputs};
use vigilo_detect::{FindingUpsert, RuleSet};
use vigilo_storage::{FindingQuery, FindingSort, MAX_PAGE_SIZE, SortOrder, Storage, StorageError};

use super::config::RiskConfig;

/// Most findings read from storage to seed the counts.
const SEED_LIMIT: u32 = 50_000;

#[derive(Debug, Default)]
pub struct RiskTracker {
    config: RiskConfig,
    /// first_seen of recent findings by user and by service.
    by_user: HashMap<String, VecDeque<DateTime<Utc>>>,
    by_service: HashMap<String, VecDeque<DateTime<Utc>>>,
    newest: Option<DateTime<Utc>>,
}

impl RiskTracker {
    pub fn new(config: RiskConfig) -> Self {
        RiskTracker {
            config,
            ..Default::default()
        }
    }

    /// Count the findings of the last 7 days (by first_seen) from storage.
    pub async fn seed(&mut self, storage: &dyn Storage) -> Result<(), StorageError> {
        let since = Utc::now() - Duration::days(RECENT_DAYS);
        let mut page = 1;
        let mut read = 0u32;
        loop {
            let p = storage
                .list_findings(&FindingQuery {
                    from: Some(since),
                    sort: FindingSort::FirstSeen,
                    order: SortOrder::Asc,
                    page,
                    page_size: MAX_PAGE_SIZE,
                    ..Default::default()
                })
                .await?;
            let n = p.items.len() as u32;
            for f in &p.items {
                self.record(f.user.as_deref(), f.service.as_deref(), f.first_seen);
            }
            read += n;
            if n < MAX_PAGE_SIZE || read >= SEED_LIMIT {
                break;
            }
            page += 1;
        }
        Ok(())
    }

    fn record(&mut self, user: Option<&str>, service: Option<&str>, t: DateTime<Utc>) {
        if let Some(u) = user {
            self.by_user.entry(u.to_string()).or_default().push_back(t);
        }
        if let Some(s) = service {
            self.by_service
                .entry(s.to_string())
                .or_default()
                .push_back(t);
        }
        if self.newest.is_none_or(|n| t > n) {
            self.newest = Some(t);
            self.prune();
        }
    }

    fn prune(&mut self) {
        let Some(newest) = self.newest else { return };
        let cut = newest - Duration::days(RECENT_DAYS);
        for map in [&mut self.by_user, &mut self.by_service] {
            map.retain(|_, q| {
                q.retain(|t| *t >= cut);
                !q.is_empty()
            });
        }
    }

    fn recent(map: &HashMap<String, VecDeque<DateTime<Utc>>>, key: Option<&String>) -> u32 {
        key.and_then(|k| map.get(k))
            .map(|q| u32::try_from(q.len()).unwrap_or(u32::MAX))
            .unwrap_or(0)
    }

    /// Rescore the detector's upserts with the context: new findings are
    /// counted first (so a finding's own count excludes it), then each gets
    /// its score and explanation. `events` is the batch they came from.
    pub fn rescore(&mut self, rules: &RuleSet, upserts: &mut [FindingUpsert], events: &[Event]) {
        if upserts.is_empty() {
            return;
        }
        let by_id: HashMap<i64, &Event> = events.iter().map(|e| (e.id, e)).collect();
        for u in upserts.iter_mut() {
            let f = &mut u.finding;
            let Some(rule) = rules.rule(&f.rule_id) else {
                continue;
            };
            let event = u
                .new_evidence
                .iter()
                .rev()
                .find_map(|id| by_id.get(id))
                .copied();
            let triggers = event
                .map(|e| heuristics::triggers(rules, &f.rule_id, e, f.event_count))
                .unwrap_or_default();
            let mut principal_recent = Self::recent(&self.by_user, f.user.as_ref());
            let mut service_recent = Self::recent(&self.by_service, f.service.as_ref());
            if !u.is_new {
                // Counted when it was created.
                principal_recent = principal_recent.saturating_sub(1);
                service_recent = service_recent.saturating_sub(1);
            }
            let a = heuristics::assess(&RiskInputs {
                rule,
                event_count: f.event_count,
                principal: f.user.as_deref(),
                principal_recent,
                service: f.service.as_deref(),
                service_recent,
                service_criticality: f
                    .service
                    .as_ref()
                    .and_then(|s| self.config.services.get(s))
                    .copied(),
                triggers: &triggers,
            });
            f.risk_score = a.score;
            f.explanation = a.explanation;
            if u.is_new {
                let (user, service, t) = (f.user.clone(), f.service.clone(), f.first_seen);
                self.record(user.as_deref(), service.as_deref(), t);
            }
        }
    }
}
