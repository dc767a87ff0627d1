//! The alerter's decisions as pure functions: which routes a finding
//! takes, which group it joins, whether a silence or an inhibition mutes
//! it, and what a group sends at a given instant.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{NotificationKind, Silence};

use super::config::{AlertsConfig, InhibitConfig, RouteConfig};

/// What the alerter keeps of a finding in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    pub status: FindingStatus,
    pub service: Option<String>,
    pub user: Option<String>,
    #[serde(default)]
    pub group: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub event_count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub risk_score: u8,
    #[serde(default)]
    pub description: String,
}

impl Member {
    pub fn of(f: &Finding) -> Member {
        let mut tags = f.tags.clone();
        tags.extend(f.workflow_tags.iter().cloned());
        Member {
            id: f.id,
            rule_id: f.rule_id.clone(),
            rule_title: f.rule_title.clone(),
            severity: f.severity,
            status: f.status,
            service: f.service.clone(),
            user: f.user.clone(),
            group: f.group.clone(),
            tags,
            event_count: f.event_count,
            first_seen: f.first_seen,
            last_seen: f.last_seen,
            risk_score: f.risk_score,
            description: f.description.clone(),
        }
    }

    /// The value of a field routes, groups, silences and inhibitions name.
    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "rule_id" => Some(self.rule_id.clone()),
            "service" => self.service.clone(),
            "severity" => Some(self.severity.as_str().to_string()),
            "user" => self.user.clone(),
            "status" => Some(self.status.as_str().to_string()),
            other => self.group.get(other).cloned(),
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(
            self.status,
            FindingStatus::Resolved | FindingStatus::Suppressed
        )
    }
}

/// `*` matches any run of characters, `?` one; anything else itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn any_glob(patterns: &[String], value: Option<&str>) -> bool {
    patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| glob_match(p, v)))
}

pub fn route_matches(r: &RouteConfig, m: &Member) -> bool {
    r.min_severity.is_none_or(|s| m.severity >= s)
        && any_glob(&r.rules, Some(&m.rule_id))
        && any_glob(&r.services, m.service.as_deref())
        && (r.tags.is_empty()
            || m.tags
                .iter()
                .any(|t| r.tags.iter().any(|p| glob_match(p, t))))
}

/// The routes a finding takes, in order: the first match, or more while
/// matching routes say `continue`.
pub fn routes_for<'c>(c: &'c AlertsConfig, m: &Member) -> Vec<&'c RouteConfig> {
    let mut out = Vec::new();
    for r in &c.routes {
        if route_matches(r, m) {
            out.push(r);
            if !r.continue_ {
                break;
            }
        }
    }
    out
}

/// The timings of a route: its own or the `[alerts]` ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timings {
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
}

fn chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

pub fn timings(c: &AlertsConfig, r: &RouteConfig) -> Timings {
    Timings {
        group_wait: chrono(r.group_wait.unwrap_or(c.group_wait).0),
        group_interval: chrono(r.group_interval.unwrap_or(c.group_interval).0),
        repeat_interval: chrono(r.repeat_interval.unwrap_or(c.repeat_interval).0),
    }
}

/// The group's label values, `field="value"` joined, in `group_by` order.
pub fn labels(c: &AlertsConfig, r: &RouteConfig, m: &Member) -> BTreeMap<String, String> {
    let by = r.group_by.as_ref().unwrap_or(&c.group_by);
    by.iter()
        .map(|f| (f.clone(), m.field(f).unwrap_or_default()))
        .collect()
}

pub fn group_key(route: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{route}:{{{}}}", inner.join(","))
}

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Nothing sent since the last resolved (or ever).
    #[default]
    Idle,
    /// A firing notification went out; a resolved one will follow.
    Firing,
}

/// One group of one route and receiver, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub route: String,
    pub receiver: String,
    /// `route:{labels}`: the key shown in messages and history.
    pub group_key: String,
    pub labels: BTreeMap<String, String>,
    pub members: BTreeMap<i64, Member>,
    #[serde(default)]
    pub phase: Phase,
    /// Since when the group has had a firing member (reset by a resolved).
    pub firing_since: Option<DateTime<Utc>>,
    /// The last firing or repeat notification.
    pub last_sent: Option<DateTime<Utc>>,
    /// Finding id → event count in the last firing notification.
    #[serde(default)]
    pub notified: BTreeMap<i64, i64>,
}

impl Group {
    pub fn new(route: &str, receiver: &str, labels: BTreeMap<String, String>) -> Group {
        Group {
            route: route.to_string(),
            receiver: receiver.to_string(),
            group_key: group_key(route, &labels),
            labels,
            members: BTreeMap::new(),
            phase: Phase::Idle,
            firing_since: None,
            last_sent: None,
            notified: BTreeMap::new(),
        }
    }

    /// The storage key: unique per route, receiver and labels.
    pub fn key(&self) -> String {
        format!("{}/{}", self.receiver, self.group_key)
    }
}

/// Is the silence in force at `now`?
pub fn silence_active(s: &Silence, now: DateTime<Utc>) -> bool {
    s.starts_at <= now && now < s.ends_at
}

/// Does every matcher of the silence match the finding?
pub fn silence_matches(s: &Silence, m: &Member) -> bool {
    s.matchers.iter().all(|x| {
        let test = |v: &str| {
            if x.glob {
                glob_match(&x.value, v)
            } else {
                x.value == v
            }
        };
        if x.field == "tag" {
            m.tags.iter().any(|t| test(t))
        } else {
            m.field(&x.field).is_some_and(|v| test(&v))
        }
    })
}

/// The open findings each inhibition mutes: targets that share the
/// `equal` fields (all set) with an open, unacknowledged, unsilenced
/// source of higher severity.
pub fn inhibited<'m>(
    rules: &[InhibitConfig],
    members: impl Iterator<Item = &'m Member> + Clone,
    silenced: &BTreeSet<i64>,
) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let key =
            |m: &Member| -> Option<Vec<String>> { rule.equal.iter().map(|f| m.field(f)).collect() };
        let sources: BTreeSet<Vec<String>> = members
            .clone()
            .filter(|m| {
                m.status == FindingStatus::Open
                    && !silenced.contains(&m.id)
                    && m.severity >= rule.source_min_severity
            })
            .filter_map(key)
            .collect();
        if sources.is_empty() {
            continue;
        }
        for m in members.clone() {
            let below = match rule.target_max_severity {
                Some(max) => m.severity <= max,
                None => m.severity < rule.source_min_severity,
            };
            // A source never mutes itself or another source.
            if below
                && m.severity < rule.source_min_severity
                && let Some(k) = key(m)
                && sources.contains(&k)
            {
                out.insert(m.id);
            }
        }
    }
    out
}

/// What a group sends now, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub kind: NotificationKind,
    /// The findings the notification is about.
    pub findings: Vec<i64>,
}

/// Decide for one group at `now`, given the findings muted by silences
/// and inhibitions, and update its state as if the notification went out
/// (the notification is stored in the same step). Also drops closed
/// members once nothing more is owed for them. `true` when the state
/// changed.
pub fn step(
    g: &mut Group,
    t: &Timings,
    muted: &BTreeSet<i64>,
    now: DateTime<Utc>,
) -> (Option<Decision>, bool) {
    let firing: BTreeMap<i64, i64> = g
        .members
        .values()
        .filter(|m| m.status == FindingStatus::Open && !muted.contains(&m.id))
        .map(|m| (m.id, m.event_count))
        .collect();
    let mut changed = false;
    if firing.is_empty() {
        if g.phase == Phase::Idle && g.firing_since.is_some() {
            g.firing_since = None;
            changed = true;
        }
    } else if g.firing_since.is_none() {
        g.firing_since = Some(now);
        changed = true;
    }
    let mut decision = None;
    match g.phase {
        Phase::Idle => {
            if let Some(since) = g.firing_since
                && !firing.is_empty()
                && now >= since + t.group_wait
            {
                decision = Some(Decision {
                    kind: NotificationKind::Firing,
                    findings: firing.keys().copied().collect(),
                });
                g.phase = Phase::Firing;
                g.last_sent = Some(now);
                g.notified = firing.clone();
                changed = true;
            }
        }
        Phase::Firing => {
            let last = g.last_sent.unwrap_or(now);
            if firing.is_empty() {
                let all_closed = g
                    .notified
                    .keys()
                    .all(|id| g.members.get(id).is_none_or(|m| m.is_closed()));
                if all_closed {
                    decision = Some(Decision {
                        kind: NotificationKind::Resolved,
                        findings: g.notified.keys().copied().collect(),
                    });
                    g.phase = Phase::Idle;
                    g.last_sent = None;
                    g.firing_since = None;
                    g.notified.clear();
                    changed = true;
                }
            } else {
                let grown = firing
                    .iter()
                    .any(|(id, n)| g.notified.get(id).is_none_or(|old| n > old));
                let kind = if grown && now >= last + t.group_interval {
                    Some(NotificationKind::Firing)
                } else if now >= last + t.repeat_interval {
                    Some(NotificationKind::Repeat)
                } else {
                    None
                };
                if let Some(kind) = kind {
                    decision = Some(Decision {
                        kind,
                        findings: firing.keys().copied().collect(),
                    });
                    g.last_sent = Some(now);
                    // Closed ones stay until the resolved notification.
                    g.notified.retain(|id, _| !firing.contains_key(id));
                    g.notified
                        .retain(|id, _| g.members.get(id).is_some_and(|m| !m.is_closed()));
                    g.notified.extend(firing.iter().map(|(k, v)| (*k, *v)));
                    changed = true;
                }
            }
        }
    }
    // Closed members nothing is owed for any more.
    let before = g.members.len();
    let notified = &g.notified;
    g.members
        .retain(|id, m| !m.is_closed() || notified.contains_key(id));
    changed |= g.members.len() != before;
    (decision, changed)
}

/// A group with no members and nothing owed is forgotten.
pub fn is_done(g: &Group) -> bool {
    g.members.is_empty() && g.phase == Phase::Idle
}

/// A silence's edge due at `now`: (start to announce, end to announce),
/// and whether its flags must be stored even with nothing to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Started,
    Ended,
    /// Ended before it ever started: nothing to say, flags set.
    Skipped,
}

pub fn silence_edge(s: &Silence, now: DateTime<Utc>) -> Option<Edge> {
    if s.end_announced {
        return None;
    }
    if s.ends_at <= now {
        return Some(if s.start_announced {
            Edge::Ended
        } else if s.starts_at < s.ends_at {
            // It ran, but the alerter was not running: announce its end.
            Edge::Ended
        } else {
            Edge::Skipped
        });
    }
    if !s.start_announced && s.starts_at <= now {
        return Some(Edge::Started);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilo_storage::SilenceMatcher;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn member(id: i64, sev: Severity, service: &str) -> Member {
        Member {
            id,
            rule_id: format!("iam.rule{id}"),
            rule_title: "R".into(),
            severity: sev,
            status: FindingStatus::Open,
            service: Some(service.into()),
            user: None,
            group: BTreeMap::new(),
            tags: vec!["vigilo.iam".into()],
            event_count: 1,
            first_seen: t0(),
            last_seen: t0(),
            risk_score: 50,
            description: String::new(),
        }
    }

    fn timings() -> Timings {
        Timings {
            group_wait: Duration::seconds(30),
            group_interval: Duration::seconds(300),
            repeat_interval: Duration::seconds(3600),
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("iam.*", "iam.admin"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("*.token*", "identity.tokens.x"));
        assert!(!glob_match("iam.*", "identity.x"));
        assert!(!glob_match("a?c", "ac"));
    }

    #[test]
    fn first_matching_route_wins_unless_continue() {
        let mut c = AlertsConfig::default();
        let route = |name: &str, sev: Option<Severity>, rules: &[&str], cont: bool| RouteConfig {
            name: name.into(),
            min_severity: sev,
            rules: rules.iter().map(|s| s.to_string()).collect(),
            receivers: vec!["r".into()],
            continue_: cont,
            ..RouteConfig::default()
        };
        c.routes = vec![
            route("crit", Some(Severity::Critical), &[], false),
            route("iam", None, &["iam.*"], true),
            route("all", None, &[], false),
            route("never", None, &[], false),
        ];
        let names = |m: &Member| -> Vec<String> {
            routes_for(&c, m).iter().map(|r| r.name.clone()).collect()
        };
        assert_eq!(names(&member(1, Severity::Critical, "a")), ["crit"]);
        assert_eq!(names(&member(1, Severity::High, "a")), ["iam", "all"]);
        let mut other = member(1, Severity::Low, "a");
        other.rule_id = "anomaly.x".into();
        assert_eq!(names(&other), ["all"]);
        let tagged = RouteConfig {
            tags: vec!["vigilo.*".into()],
            services: vec!["pay*".into()],
            ..route("t", None, &[], false)
        };
        assert!(route_matches(
            &tagged,
            &member(1, Severity::Low, "payments")
        ));
        assert!(!route_matches(
            &tagged,
            &member(1, Severity::Low, "checkout")
        ));
    }

    #[test]
    fn a_group_waits_then_notifies_changes_then_repeats_then_resolves() {
        let t = timings();
        let mut g = Group::new("ops", "hook", BTreeMap::new());
        g.members.insert(1, member(1, Severity::High, "a"));
        let none = BTreeSet::new();
        let (d, _) = step(&mut g, &t, &none, t0());
        assert_eq!(d, None, "waits group_wait");
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::seconds(30));
        assert_eq!(d.unwrap().kind, NotificationKind::Firing);
        // A second finding: not before group_interval.
        g.members.insert(2, member(2, Severity::High, "a"));
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::seconds(60));
        assert_eq!(d, None);
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::seconds(330));
        let d = d.unwrap();
        assert_eq!((d.kind, d.findings), (NotificationKind::Firing, vec![1, 2]));
        // Unchanged: nothing until repeat_interval, then a repeat.
        let (d, changed) = step(&mut g, &t, &none, t0() + Duration::seconds(700));
        assert_eq!((d, changed), (None, false));
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::seconds(330 + 3600));
        assert_eq!(d.unwrap().kind, NotificationKind::Repeat);
        // One resolved: nothing yet; both: resolved, then the group is done.
        g.members.get_mut(&1).unwrap().status = FindingStatus::Resolved;
        let later = t0() + Duration::seconds(5000);
        let (d, _) = step(&mut g, &t, &none, later);
        assert_eq!(d, None);
        g.members.get_mut(&2).unwrap().status = FindingStatus::Suppressed;
        let (d, _) = step(&mut g, &t, &none, later);
        let d = d.unwrap();
        assert_eq!(
            (d.kind, d.findings),
            (NotificationKind::Resolved, vec![1, 2])
        );
        assert!(is_done(&g));
    }

    #[test]
    fn acknowledged_findings_are_muted_until_resolved() {
        let t = timings();
        let mut g = Group::new("ops", "hook", BTreeMap::new());
        g.members.insert(1, member(1, Severity::High, "a"));
        let none = BTreeSet::new();
        step(&mut g, &t, &none, t0());
        assert!(
            step(&mut g, &t, &none, t0() + Duration::seconds(30))
                .0
                .is_some()
        );
        g.members.get_mut(&1).unwrap().status = FindingStatus::Acknowledged;
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::days(2));
        assert_eq!(d, None, "no repeat while acknowledged");
        g.members.get_mut(&1).unwrap().status = FindingStatus::Resolved;
        let (d, _) = step(&mut g, &t, &none, t0() + Duration::days(2));
        assert_eq!(d.unwrap().kind, NotificationKind::Resolved);
    }

    #[test]
    fn muted_findings_send_nothing_not_even_resolved() {
        let t = timings();
        let mut g = Group::new("ops", "hook", BTreeMap::new());
        g.members.insert(1, member(1, Severity::High, "a"));
        let muted = BTreeSet::from([1]);
        for s in [0, 30, 4000] {
            assert_eq!(
                step(&mut g, &t, &muted, t0() + Duration::seconds(s)).0,
                None
            );
        }
        g.members.get_mut(&1).unwrap().status = FindingStatus::Resolved;
        assert_eq!(
            step(&mut g, &t, &muted, t0() + Duration::seconds(5000)).0,
            None
        );
        assert!(is_done(&g));
    }

    #[test]
    fn silences_match_with_equality_and_globs() {
        let s = Silence {
            id: 1,
            matchers: vec![
                SilenceMatcher {
                    field: "rule_id".into(),
                    value: "iam.*".into(),
                    glob: true,
                },
                SilenceMatcher {
                    field: "service".into(),
                    value: "a".into(),
                    glob: false,
                },
                SilenceMatcher {
                    field: "tag".into(),
                    value: "vigilo.iam".into(),
                    glob: false,
                },
            ],
            starts_at: t0(),
            ends_at: t0() + Duration::hours(1),
            created_by: "x".into(),
            comment: String::new(),
            created_at: t0(),
            expired_at: None,
            start_announced: false,
            end_announced: false,
        };
        assert!(silence_matches(&s, &member(1, Severity::High, "a")));
        assert!(!silence_matches(&s, &member(1, Severity::High, "b")));
        assert!(silence_active(&s, t0()));
        assert!(!silence_active(&s, t0() + Duration::hours(1)));
        assert_eq!(silence_edge(&s, t0()), Some(Edge::Started));
        let started = Silence {
            start_announced: true,
            ..s.clone()
        };
        assert_eq!(silence_edge(&started, t0()), None);
        assert_eq!(
            silence_edge(&started, t0() + Duration::hours(2)),
            Some(Edge::Ended)
        );
        let never = Silence { ends_at: t0(), ..s };
        assert_eq!(silence_edge(&never, t0()), Some(Edge::Skipped));
    }

    #[test]
    fn a_critical_finding_inhibits_lower_ones_of_its_service() {
        let rules = vec![InhibitConfig::default()];
        let ms = [
            member(1, Severity::Critical, "a"),
            member(2, Severity::High, "a"),
            member(3, Severity::High, "b"),
        ];
        let none = BTreeSet::new();
        assert_eq!(inhibited(&rules, ms.iter(), &none), BTreeSet::from([2]));
        // A silenced or acknowledged source inhibits nothing.
        assert!(inhibited(&rules, ms.iter(), &BTreeSet::from([1])).is_empty());
        let mut acked = ms.clone();
        acked[0].status = FindingStatus::Acknowledged;
        assert!(inhibited(&rules, acked.iter(), &none).is_empty());
        let only_low = vec![InhibitConfig {
            target_max_severity: Some(Severity::Medium),
            ..InhibitConfig::default()
        }];
        assert!(inhibited(&only_low, ms.iter(), &none).is_empty());
    }
}
