//! Moving everything a store holds into another store, of the same or the
//! other backend (`vigilo storage copy`).
//!
//! The two backends lay their tables out differently (SQLite splits a
//! finding into a hot row and its details and keeps logsources in a table
//! of their own; PostgreSQL keeps arrays and `JSONB`), so a copy moves
//! logical records, not rows: every [`Entity`] has one backend-neutral
//! column list, each backend reads its tables into [`Record`]s of those
//! columns and writes such records back, ids kept, so finding ids, event
//! ids and every link between them stay the same.
//!
//! Records come in key order: an id, a rollup's bucket (epoch seconds), or
//! 0 for the small tables of state that move whole in one batch. A batch
//! is imported in one transaction and a record already stored is skipped,
//! so a copy that stopped anywhere continues from the highest key the
//! destination holds and ends as one uninterrupted run would. At the end
//! each entity is read from both stores and compared by count and by a
//! SHA-256 over the canonical encoding of its records in key order.

use std::fmt;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::{Result, Storage, StorageError};

/// What a column holds, in its backend-neutral form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Float,
    Bool,
    Text,
    Bytes,
    /// Microseconds since the epoch.
    Time,
    /// A JSON document (compared without regard to key order).
    Json,
    Texts,
    Ints,
}

/// One value of a record. Any column may be [`Value::Null`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    /// Microseconds since the epoch.
    Time(i64),
    Json(serde_json::Value),
    Texts(Vec<String>),
    Ints(Vec<i64>),
}

/// One logical record of an entity: its key and one value per column of
/// [`Entity::columns`], in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: i64,
    pub values: Vec<Value>,
}

macro_rules! entities {
    ($( $variant:ident $name:literal $shape:ident [ $( $col:literal : $kind:ident ),* $(,)? ] ),* $(,)?) => {
        /// Everything a store holds, as the copy moves it, in the order it
        /// moves (what others point at first; the detection watermark last).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Entity { $( $variant ),* }

        impl Entity {
            pub const ALL: &'static [Entity] = &[ $( Entity::$variant ),* ];

            /// The name the copy prints.
            pub fn name(self) -> &'static str {
                match self { $( Entity::$variant => $name ),* }
            }

            /// How its records are keyed.
            pub fn shape(self) -> Shape {
                match self { $( Entity::$variant => Shape::$shape ),* }
            }

            /// Its columns, in record order.
            pub fn columns(self) -> &'static [(&'static str, Kind)] {
                match self { $( Entity::$variant => &[ $( ($col, Kind::$kind) ),* ] ),* }
            }
        }
    };
}

entities! {
    Events "events" Ids [
        "id": Int, "ts": Time, "received_at": Time, "kind": Text, "service": Text,
        "user": Text, "payload": Text, "ls_product": Text, "ls_category": Text,
        "ls_service": Text,
    ],
    StreamPositions "stream positions" State ["stream": Text, "position": Int],
    EventRollupMinute "event rollups by minute" Buckets [
        "minute": Int, "kind": Text, "service": Text, "count": Int,
    ],
    EventRollupHour "event rollups by hour" Buckets [
        "hour": Int, "kind": Text, "service": Text, "count": Int,
    ],
    MetricRollupMinute "metric rollups by minute" Buckets [
        "minute": Int, "field": Text, "group_kind": Text, "group_value": Text, "count": Int,
        "sum": Float, "min": Float, "max": Float, "sketch": Bytes,
    ],
    MetricRollupHour "metric rollups by hour" Buckets [
        "hour": Int, "field": Text, "group_kind": Text, "group_value": Text, "count": Int,
        "sum": Float, "min": Float, "max": Float, "sketch": Bytes,
    ],
    MetricGroups "metric groups" State ["group_kind": Text, "group_value": Text],
    Findings "findings" Ids [
        "id": Int, "incident_key": Text, "rule_id": Text, "rule_title": Text,
        "severity": Text, "status": Text, "group_values": Json, "service": Text,
        "user": Text, "first_seen": Time, "last_seen": Time, "event_count": Int,
        "evidence": Ints, "description": Text, "tags": Texts, "risk_score": Int,
        "explanation": Text, "note": Text, "assignee": Text, "workflow_tags": Texts,
        "close_reason": Text, "recommended_actions": Texts, "enriched_by": Text,
        "enriched_at": Time, "created_at": Time, "updated_at": Time,
    ],
    FindingHistory "finding history" Ids [
        "id": Int, "finding_id": Int, "at": Time, "actor": Text, "action": Text,
        "from_value": Text, "to_value": Text,
    ],
    Enrichments "enrichments" Ids [
        "id": Int, "finding_id": Int, "content_hash": Text, "enriched_by": Text,
        "model": Text, "risk_score": Int, "explanation": Text, "recommended_actions": Texts,
        "confidence": Float, "prompt": Text, "answer": Text, "fallback_reason": Text,
        "cached": Bool, "prompt_tokens": Int, "completion_tokens": Int, "created_at": Time,
    ],
    FindingRollup "finding rollups" Buckets [
        "minute": Int, "severity": Text, "rule_id": Text, "service": Text, "count": Int,
        "last_seen": Time,
    ],
    RuleMatches "rule match counts" State ["rule_id": Text, "count": Int],
    FindingChanges "finding changes (outbox)" Ids [
        "seq": Int, "finding_id": Int, "kind": Text, "status": Text, "at": Time,
    ],
    IamAudits "iam audits" Ids [
        "id": Int, "created_at": Time, "source": Text, "input_format": Text,
        "summary": Json, "report": Json,
    ],
    RuleStates "rule states" State ["rule_id": Text, "enabled": Bool, "changed_at": Time],
    Pipelines "pipelines" State ["name": Text, "updates_total": Int],
    PipelineUpdates "pipeline updates" Ids [
        "id": Int, "pipeline": Text, "status": Text, "received_at": Time, "payload": Json,
    ],
    Users "users" Ids [
        "id": Int, "username": Text, "role": Text, "email": Text, "source": Text,
        "oidc_subject": Text, "password_hash": Text, "disabled": Bool, "created_at": Time,
        "last_login_at": Time, "preferences": Json,
    ],
    ApiKeys "api keys" Ids [
        "id": Int, "name": Text, "prefix": Text, "hash": Text, "scopes": Texts,
        "created_at": Time, "created_by": Text, "expires_at": Time, "last_used_at": Time,
        "revoked_at": Time,
    ],
    Sessions "sessions" State [
        "id": Text, "user_id": Int, "refresh_hash": Text, "created_at": Time,
        "refreshed_at": Time, "expires_at": Time, "revoked_at": Time, "address": Text,
    ],
    AuditLog "access audit log" Ids [
        "id": Int, "time": Time, "actor": Text, "action": Text, "target": Text,
        "address": Text, "details": Json,
    ],
    DeadLetters "dead letters" Ids [
        "id": Int, "source": Text, "location": Text, "reason": Text, "raw": Bytes,
        "meta": Json, "received_at": Time,
    ],
    ConsumerPositions "consumer positions" State ["consumer": Text, "position": Int],
    AlertGroups "alert groups" State ["key": Text, "state": Json, "updated_at": Time],
    AlertSilences "alert silences" Ids [
        "id": Int, "matchers": Json, "starts_at": Time, "ends_at": Time, "created_by": Text,
        "comment": Text, "created_at": Time, "expired_at": Time, "start_announced": Bool,
        "end_announced": Bool,
    ],
    AlertNotifications "alert notifications" Ids [
        "id": Int, "receiver": Text, "route": Text, "group_key": Text, "kind": Text,
        "finding_ids": Ints, "status": Text, "attempts": Int, "last_error": Text,
        "created_at": Time, "sent_at": Time, "title": Text, "body": Json, "silence_id": Int,
    ],
    DetectionState "detection watermark" State ["watermark": Int],
}

/// How an entity's records are keyed and batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// By a unique id (the first column).
    Ids,
    /// By a rollup bucket (the first column, epoch seconds); a batch holds
    /// whole buckets.
    Buckets,
    /// A small table of state, all records keyed 0 and moved in one batch;
    /// an import overwrites what the destination holds under the same
    /// natural key.
    State,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reading and writing a store's records for a copy. Both backends
/// implement it; [`copy`] and [`verify`] work between any two.
#[async_trait]
pub trait Transfer: Storage {
    /// Records of `entity` with a key above `after` (from the start when
    /// `None`), in key order: the first `limit` (at least one) and every
    /// further record with the same key as the last of them, so a batch
    /// never splits a key. A [`Shape::State`] entity comes whole.
    async fn export_batch(
        &self,
        entity: Entity,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Record>>;

    /// Store `records` as they are, ids included, in one transaction.
    /// A record whose id or key is already stored is left as stored
    /// ([`Shape::State`] records overwrite it). Id sequences move past the
    /// stored ids. Returns how many records were written.
    async fn import_batch(&self, entity: Entity, records: &[Record]) -> Result<u64>;

    /// The highest key of `entity` stored (`None`: none).
    async fn last_key(&self, entity: Entity) -> Result<Option<i64>>;

    /// After the last batch of a whole copy: bring the destination's
    /// planner statistics up to date, so its first queries after a bulk
    /// load are planned for the data it now holds.
    async fn finish_import(&self) -> Result<()> {
        Ok(())
    }
}

/// Why a copy or a check failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The destination holds records the source does not: it is neither
    /// empty nor a copy of this source.
    #[error(
        "the destination is not empty and not a copy of this source: its {entity} differ ({detail}); copy into an empty database"
    )]
    Unrelated { entity: Entity, detail: String },
}

/// Checks a record has the entity's shape; backends call it on import.
pub fn check_record(entity: Entity, r: &Record) -> Result<()> {
    let cols = entity.columns();
    if r.values.len() != cols.len() {
        return Err(StorageError::Database(format!(
            "{entity}: a record of {} values, expected {}",
            r.values.len(),
            cols.len()
        )));
    }
    for ((name, kind), v) in cols.iter().zip(&r.values) {
        let ok = matches!(
            (kind, v),
            (_, Value::Null)
                | (Kind::Int, Value::Int(_))
                | (Kind::Float, Value::Float(_))
                | (Kind::Bool, Value::Bool(_))
                | (Kind::Text, Value::Text(_))
                | (Kind::Bytes, Value::Bytes(_))
                | (Kind::Time, Value::Time(_))
                | (Kind::Json, Value::Json(_))
                | (Kind::Texts, Value::Texts(_))
                | (Kind::Ints, Value::Ints(_))
        );
        if !ok {
            return Err(StorageError::Database(format!(
                "{entity}: column {name} holds {v:?}, not a {kind:?}"
            )));
        }
    }
    Ok(())
}

/// Append the canonical encoding of `v`: a tag, then the value; lengths
/// before variable parts; JSON objects with their keys sorted.
fn encode(v: &Value, out: &mut Vec<u8>) {
    fn bytes(b: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    }
    match v {
        Value::Null => out.push(0),
        Value::Int(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::Float(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[3, u8::from(*b)]),
        Value::Text(s) => {
            out.push(4);
            bytes(s.as_bytes(), out);
        }
        Value::Bytes(b) => {
            out.push(5);
            bytes(b, out);
        }
        Value::Time(t) => {
            out.push(6);
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Json(j) => {
            out.push(7);
            encode_json(j, out);
        }
        Value::Texts(list) => {
            out.push(8);
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for s in list {
                bytes(s.as_bytes(), out);
            }
        }
        Value::Ints(list) => {
            out.push(9);
            out.extend_from_slice(&(list.len() as u64).to_le_bytes());
            for n in list {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
    }
}

/// JSON in a form both backends agree on: keys sorted, numbers by value
/// (PostgreSQL's `JSONB` keeps neither key order nor number spelling).
fn encode_json(j: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value as J;
    match j {
        J::Null => out.push(b'n'),
        J::Bool(b) => out.extend_from_slice(if *b { b"t" } else { b"f" }),
        J::Number(n) => {
            let text = n.to_string();
            match text.parse::<i64>() {
                Ok(i) if i.unsigned_abs() > (1 << 53) => {
                    out.push(b'i');
                    out.extend_from_slice(&i.to_le_bytes());
                }
                _ => {
                    out.push(b'd');
                    let x = text.parse::<f64>().unwrap_or(f64::NAN);
                    out.extend_from_slice(&x.to_bits().to_le_bytes());
                }
            }
        }
        J::String(s) => {
            out.push(b's');
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        J::Array(items) => {
            out.push(b'[');
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for i in items {
                encode_json(i, out);
            }
        }
        J::Object(map) => {
            out.push(b'{');
            out.extend_from_slice(&(map.len() as u64).to_le_bytes());
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                out.extend_from_slice(&(k.len() as u64).to_le_bytes());
                out.extend_from_slice(k.as_bytes());
                encode_json(&map[k.as_str()], out);
            }
        }
    }
}

/// The canonical encoding of a record (its key, then its values).
pub fn encode_record(r: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&r.key.to_le_bytes());
    out.extend_from_slice(&(r.values.len() as u64).to_le_bytes());
    for v in &r.values {
        encode(v, &mut out);
    }
    out
}

/// An entity's records in a store, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    /// SHA-256 over the canonical encodings, in key order (records of one
    /// key in the order of their encodings), hex.
    pub checksum: String,
}

/// Count and checksum of every record of `entity` in `store`, read in
/// batches of `batch` records.
pub async fn summarize(store: &dyn Transfer, entity: Entity, batch: u32) -> Result<Summary> {
    let mut hash = Sha256::new();
    let mut count = 0u64;
    let mut after = None;
    loop {
        let records = store.export_batch(entity, after, batch.max(1)).await?;
        let Some(last) = records.last().map(|r| r.key) else {
            break;
        };
        count += records.len() as u64;
        for enc in sorted_encodings(&records) {
            hash.update((enc.len() as u64).to_le_bytes());
            hash.update(&enc);
        }
        if entity.shape() == Shape::State {
            break;
        }
        after = Some(last);
    }
    let digest = hash.finalize();
    let checksum = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Summary { count, checksum })
}

/// Encodings in key order, ties by encoding.
fn sorted_encodings(records: &[Record]) -> Vec<Vec<u8>> {
    let mut encs: Vec<(i64, Vec<u8>)> = records.iter().map(|r| (r.key, encode_record(r))).collect();
    encs.sort();
    encs.into_iter().map(|(_, e)| e).collect()
}

/// How a copy goes.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Records per batch (one transaction on the destination each).
    pub batch_size: u32,
    /// Stop after this many batches (to test resuming); `None`: run to the end.
    pub max_batches: Option<u64>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            batch_size: 1000,
            max_batches: None,
        }
    }
}

/// What a copy reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// An entity starts; `resumed_after` is the destination's highest key
    /// when a previous copy got that far.
    Start {
        entity: Entity,
        resumed_after: Option<i64>,
    },
    /// A batch was stored: `read` records of the source so far in this
    /// run, `written` of them new to the destination.
    Batch {
        entity: Entity,
        read: u64,
        written: u64,
    },
    /// An entity is done.
    Done {
        entity: Entity,
        read: u64,
        written: u64,
    },
}

/// How a copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutcome {
    /// False when [`CopyOptions::max_batches`] stopped it early.
    pub complete: bool,
    pub batches: u64,
    pub written: u64,
}

/// Refuse a destination that is neither empty nor a (maybe partial) copy
/// of `src`: for every keyed entity it holds, its first batch must equal
/// the source's.
pub async fn check_destination(
    src: &dyn Transfer,
    dst: &dyn Transfer,
) -> std::result::Result<(), TransferError> {
    for &entity in Entity::ALL {
        if entity.shape() == Shape::State {
            continue;
        }
        let theirs = dst.export_batch(entity, None, 1).await?;
        if theirs.is_empty() {
            continue;
        }
        let ours = src.export_batch(entity, None, 1).await?;
        if sorted_encodings(&theirs) != sorted_encodings(&ours) {
            let detail = match ours.first() {
                None => "the source has none".to_string(),
                Some(r) if r.key != theirs[0].key => {
                    format!("first key {} here, {} in the source", theirs[0].key, r.key)
                }
                Some(r) => format!("the record with key {} is not the source's", r.key),
            };
            return Err(TransferError::Unrelated { entity, detail });
        }
    }
    Ok(())
}

/// Copy every entity of `src` into `dst` (migrated, and checked with
/// [`check_destination`]), resuming after what `dst` already holds.
pub async fn copy(
    src: &dyn Transfer,
    dst: &dyn Transfer,
    opts: CopyOptions,
    progress: &mut (dyn FnMut(&Progress) + Send),
) -> std::result::Result<CopyOutcome, TransferError> {
    let batch = opts.batch_size.max(1);
    let mut out = CopyOutcome {
        complete: true,
        batches: 0,
        written: 0,
    };
    for &entity in Entity::ALL {
        let resumed_after = match entity.shape() {
            Shape::State => None,
            _ => dst.last_key(entity).await?,
        };
        progress(&Progress::Start {
            entity,
            resumed_after,
        });
        let mut after = resumed_after;
        let (mut read, mut written) = (0u64, 0u64);
        loop {
            if opts.max_batches.is_some_and(|m| out.batches >= m) {
                out.complete = false;
                return Ok(out);
            }
            let records = src.export_batch(entity, after, batch).await?;
            let Some(last) = records.last().map(|r| r.key) else {
                break;
            };
            let n = dst.import_batch(entity, &records).await?;
            out.batches += 1;
            out.written += n;
            read += records.len() as u64;
            written += n;
            tracing::debug!(entity = entity.name(), read, written, "copy batch stored");
            progress(&Progress::Batch {
                entity,
                read,
                written,
            });
            if entity.shape() == Shape::State {
                break;
            }
            after = Some(last);
        }
        progress(&Progress::Done {
            entity,
            read,
            written,
        });
    }
    dst.finish_import().await?;
    Ok(out)
}

/// One entity compared between two stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub entity: Entity,
    pub source: Summary,
    pub destination: Summary,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.source == self.destination
    }
}

/// Compare every entity of two stores by count and checksum.
pub async fn verify(src: &dyn Transfer, dst: &dyn Transfer, batch: u32) -> Result<Vec<Check>> {
    let mut out = Vec::with_capacity(Entity::ALL.len());
    for &entity in Entity::ALL {
        out.push(Check {
            entity,
            source: summarize(src, entity, batch).await?,
            destination: summarize(dst, entity, batch).await?,
        });
    }
    Ok(out)
}

#[cfg(feature = "testsuite")]
pub mod suite;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_encoding_ignores_key_order_and_number_spelling() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1.50,"a":[1,2e0]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"a":[1.0,2],"b":1.5}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"a":[1,2],"b":1.6}"#).unwrap();
        let enc = |j: &serde_json::Value| {
            let mut out = Vec::new();
            encode_json(j, &mut out);
            out
        };
        assert_eq!(enc(&a), enc(&b));
        assert_ne!(enc(&a), enc(&c));
    }

    #[test]
    fn values_of_different_kinds_encode_apart() {
        let r = |v: Value| {
            encode_record(&Record {
                key: 1,
                values: vec![v],
            })
        };
        assert_ne!(r(Value::Int(5)), r(Value::Time(5)));
        assert_ne!(r(Value::Null), r(Value::Text(String::new())));
        assert_ne!(
            r(Value::Texts(vec!["ab".into()])),
            r(Value::Texts(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn every_entity_is_keyed_by_its_first_column_or_is_state() {
        for &e in Entity::ALL {
            let (name, kind) = e.columns()[0];
            match e.shape() {
                Shape::Ids | Shape::Buckets => assert_eq!(kind, Kind::Int, "{e}: {name}"),
                Shape::State => {}
            }
        }
        assert_eq!(Entity::ALL.last(), Some(&Entity::DetectionState));
    }
}
