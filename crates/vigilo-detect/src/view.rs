//! The event as rules see it: the stored payload, borrowed, with the
//! normalized `kind`, `service` and `user` filled in where the payload lacks
//! them. Nothing is copied per event.

use std::borrow::Cow;
use std::cell::Cell;

use rsigma_eval::{Event as SigmaEvent, EventValue};
use serde_json::{Map, Value};
use vigilo_core::Event;
use vigilo_core::event::Logsource;

use crate::logsource::EXTRACT_FIELDS;

/// Nesting depth walked for keyword search and field listing.
const MAX_DEPTH: usize = 64;

/// Payloads with at most this many top-level keys are searched linearly.
const SCAN_LIMIT: usize = 32;

/// Overlay field names, in the order they are reported.
const OVERLAY: [&str; 3] = ["kind", "service", "user"];

pub(crate) struct EventView<'a> {
    payload: &'a Map<String, Value>,
    kind: &'a str,
    service: Option<&'a str>,
    user: Option<&'a str>,
    /// The event's own logsource, reported to rsigma's extractor under
    /// [`crate::logsource::EXTRACT_FIELDS`].
    logsource: &'a Logsource,
    /// Reference handed to the correlation engine's event-ref buffers:
    /// `"<seq>:<event id>:<event time millis>"`, built only when asked for.
    seq: u64,
    id: i64,
    millis: i64,
    /// Set when the engine asked for the reference (a correlation kept it).
    pub(crate) referenced: Cell<bool>,
}

impl<'a> EventView<'a> {
    pub(crate) fn new(event: &'a Event, seq: u64) -> Self {
        EventView {
            payload: &event.payload,
            kind: &event.kind,
            service: event.service.as_deref(),
            user: event.user.as_deref(),
            logsource: &event.logsource,
            seq,
            id: event.id,
            millis: event.timestamp.timestamp_millis(),
            referenced: Cell::new(false),
        }
    }

    /// The payload's value for a top-level key. Small payloads are scanned
    /// (cheaper than hashing the key); larger ones use the map's index.
    #[inline]
    pub(crate) fn top(&self, key: &str) -> Option<&'a Value> {
        if self.payload.len() <= SCAN_LIMIT {
            self.payload
                .iter()
                .find(|(k, _)| k.len() == key.len() && k.as_str() == key)
                .map(|(_, v)| v)
        } else {
            self.payload.get(key)
        }
    }

    /// `get_field(path)` given the payload's value for the top-level key
    /// `path` (looked up by the caller).
    pub(crate) fn field_with_top(
        &self,
        path: &str,
        top: Option<&'a Value>,
    ) -> Option<EventValue<'a>> {
        match top {
            Some(Value::Null) => {
                if let Some(v) = self.overlay(path) {
                    return Some(EventValue::Str(Cow::Borrowed(v)));
                }
                return Some(EventValue::Null);
            }
            Some(v) => return Some(EventValue::from(v)),
            None => {}
        }
        if let Some(v) = self.overlay(path) {
            return Some(EventValue::Str(Cow::Borrowed(v)));
        }
        if !path.contains('.') {
            return None;
        }
        let mut segments = path.split('.');
        let root = segments.next()?;
        let start = self.top(root)?;
        let rest: Vec<&str> = segments.collect();
        let mut found = Vec::new();
        collect_path(start, &rest, &mut found);
        match found.len() {
            0 => None,
            1 => found.pop(),
            _ => Some(EventValue::Array(found)),
        }
    }

    /// The event's logsource.
    pub(crate) fn logsource(&self) -> &'a Logsource {
        self.logsource
    }

    /// The payload's top-level entries.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.payload.iter()
    }

    fn overlay(&self, name: &str) -> Option<&'a str> {
        match name {
            "kind" => Some(self.kind),
            "service" => self.service,
            "user" => self.user,
            _ => None,
        }
    }

    /// Overlay values the payload does not already carry (absent or null).
    fn missing_overlay(&self) -> impl Iterator<Item = (&'static str, &'a str)> + '_ {
        OVERLAY.into_iter().filter_map(move |name| {
            let value = self.overlay(name)?;
            match self.payload.get(name) {
                None | Some(Value::Null) => Some((name, value)),
                Some(_) => None,
            }
        })
    }
}

/// Parse a reference built by [`EventView`]: (seq, event id, millis).
pub(crate) fn parse_ref(s: &str) -> Option<(u64, i64, i64)> {
    let mut parts = s.splitn(3, ':');
    let seq = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    let millis = parts.next()?.parse().ok()?;
    Some((seq, id, millis))
}

impl SigmaEvent for EventView<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if path.starts_with('\0') {
            let [p, s, c] = EXTRACT_FIELDS;
            let dim = match path {
                _ if path == p => &self.logsource.product,
                _ if path == s => &self.logsource.service,
                _ if path == c => &self.logsource.category,
                _ => return None,
            };
            return dim.as_deref().map(|v| EventValue::Str(Cow::Borrowed(v)));
        }
        self.field_with_top(path, self.top(path))
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.payload
            .values()
            .any(|v| any_string(v, pred, MAX_DEPTH))
            || self.missing_overlay().any(|(_, v)| pred(v))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        self.visit_string_values(&mut |s| out.push(Cow::Owned(s.to_string())));
        out
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for v in self.payload.values() {
            visit_strings(v, visit, MAX_DEPTH);
        }
        for (_, v) in self.missing_overlay() {
            visit(v);
        }
    }

    /// Only the correlation engine's event-ref buffers call this (event
    /// bodies are never requested): it returns the reference used to
    /// recover evidence ids, not the payload.
    fn to_json(&self) -> Value {
        self.referenced.set(true);
        let mut m = Map::with_capacity(1);
        m.insert(
            "id".to_string(),
            Value::String(format!("{}:{}:{}", self.seq, self.id, self.millis)),
        );
        Value::Object(m)
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        let mut out = Vec::new();
        for (k, v) in self.payload {
            leaf_paths(v, k, &mut out, MAX_DEPTH);
        }
        for (k, _) in self.missing_overlay() {
            out.push(Cow::Borrowed(k));
        }
        out
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        let mut keys: Vec<Cow<'_, str>> = self
            .payload
            .keys()
            .map(|k| Cow::Borrowed(k.as_str()))
            .collect();
        keys.extend(
            self.missing_overlay()
                .filter(|(k, _)| !self.payload.contains_key(*k))
                .map(|(k, _)| Cow::Borrowed(k)),
        );
        Some(keys)
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        for k in self.payload.keys() {
            visit(k);
        }
        for (k, _) in self.missing_overlay() {
            if !self.payload.contains_key(k) {
                visit(k);
            }
        }
        true
    }
}

/// Follow `segments` from `value`, fanning out over arrays (any member).
fn collect_path<'v>(value: &'v Value, segments: &[&str], out: &mut Vec<EventValue<'v>>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(EventValue::from(value));
        return;
    };
    match value {
        Value::Object(m) => {
            if let Some(child) = m.get(*first) {
                collect_path(child, rest, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_path(item, segments, out);
            }
        }
        _ => {}
    }
}

fn any_string(v: &Value, pred: &dyn Fn(&str) -> bool, depth: usize) -> bool {
    if depth == 0 {
        return false;
    }
    match v {
        Value::String(s) => pred(s),
        Value::Array(items) => items.iter().any(|i| any_string(i, pred, depth - 1)),
        Value::Object(m) => m.values().any(|i| any_string(i, pred, depth - 1)),
        _ => false,
    }
}

fn visit_strings(v: &Value, visit: &mut dyn FnMut(&str), depth: usize) {
    if depth == 0 {
        return;
    }
    match v {
        Value::String(s) => visit(s),
        Value::Array(items) => items
            .iter()
            .for_each(|i| visit_strings(i, visit, depth - 1)),
        Value::Object(m) => m.values().for_each(|i| visit_strings(i, visit, depth - 1)),
        _ => {}
    }
}

fn leaf_paths<'v>(v: &'v Value, path: &'v str, out: &mut Vec<Cow<'v, str>>, depth: usize) {
    if depth == 0 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let nested = format!("{path}.{k}");
                let mut sub = Vec::new();
                leaf_paths(child, k, &mut sub, depth - 1);
                if sub.is_empty() && !matches!(child, Value::Object(_)) {
                    out.push(Cow::Owned(nested));
                } else {
                    out.extend(sub.into_iter().map(|s| Cow::Owned(format!("{path}.{s}"))));
                }
            }
        }
        _ => out.push(Cow::Borrowed(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn event(payload: Value) -> Event {
        let Value::Object(payload) = payload else {
            panic!("object expected")
        };
        Event {
            logsource: Default::default(),
            id: 7,
            timestamp: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            received_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            kind: "log".into(),
            service: Some("api".into()),
            user: Some("u1".into()),
            payload,
        }
    }

    #[test]
    fn overlay_fills_missing_fields_only() {
        let e = event(json!({"level": "ERROR", "service": "payload-svc", "kind": null}));
        let v = EventView::new(&e, 1);
        assert_eq!(
            v.get_field("service")
                .and_then(|s| s.as_str().map(|c| c.into_owned())),
            Some("payload-svc".into())
        );
        assert_eq!(
            v.get_field("kind")
                .and_then(|s| s.as_str().map(|c| c.into_owned())),
            Some("log".into())
        );
        assert_eq!(
            v.get_field("user")
                .and_then(|s| s.as_str().map(|c| c.into_owned())),
            Some("u1".into())
        );
        assert!(v.get_field("missing").is_none());
        let mut keys = Vec::new();
        v.visit_top_level_keys(&mut |k| keys.push(k.to_string()));
        keys.sort();
        assert_eq!(keys, ["kind", "level", "service", "user"]);
    }

    #[test]
    fn dotted_paths_walk_objects_and_arrays() {
        let e = event(json!({"actor": {"id": "a1", "roles": [{"n": "x"}, {"n": "y"}]}, "a.b": 3}));
        let v = EventView::new(&e, 1);
        assert_eq!(
            v.get_field("actor.id"),
            Some(EventValue::Str(Cow::Borrowed("a1")))
        );
        assert_eq!(v.get_field("a.b"), Some(EventValue::Int(3)));
        assert_eq!(
            v.get_field("actor.roles.n"),
            Some(EventValue::Array(vec![
                EventValue::Str(Cow::Borrowed("x")),
                EventValue::Str(Cow::Borrowed("y"))
            ]))
        );
        assert!(v.get_field("actor.nope").is_none());
    }

    #[test]
    fn reference_round_trips() {
        let e = event(json!({}));
        let v = EventView::new(&e, 42);
        let j = v.to_json();
        let s = j.get("id").and_then(Value::as_str).unwrap();
        assert_eq!(parse_ref(s), Some((42, 7, 1_700_000_000_000)));
        assert!(v.referenced.get());
    }
}
