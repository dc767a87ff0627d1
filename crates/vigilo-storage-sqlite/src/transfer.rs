//! [`Transfer`] for SQLite: each entity's records read from its tables.
//!
//! A finding is its hot row joined with its details; an event names its
//! logsource's dimensions (an empty dimension is none); a rollup row
//! without a service has none. The hour tier of event counts is written
//! only up to its seal, so the hours from the seal on are summed from the
//! minute tier, as the queries read them.
//!
//! Importing into SQLite is not supported yet: its derived tables (the
//! by-service index of events, the kind tiers of event counts, the hour
//! seal and the batched metric rollups' position) would have to be
//! rebuilt with the records.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, ValueRef};
use vigilo_storage::transfer::{Entity, Kind, Record, Shape, Transfer, Value};
use vigilo_storage::{Result, StorageError};

use crate::{SqliteStorage, db_err};

/// Where an entity's records come from: the FROM clause, and one SQL
/// expression per column of the entity (the first is the key, except for
/// state). `csv` marks a text list stored comma-separated.
struct Source {
    from: &'static str,
    cols: &'static [&'static str],
    csv: &'static [usize],
}

fn source(entity: Entity) -> Source {
    let (from, cols, csv): (&'static str, &'static [&'static str], &'static [usize]) = match entity
    {
        Entity::Events => (
            "events e",
            &[
                "e.id",
                "e.ts",
                "e.received_at",
                "e.kind",
                "e.service",
                "e.user",
                "e.payload",
                "(SELECT NULLIF(l.product, '') FROM logsources l WHERE l.id = e.logsource)",
                "(SELECT NULLIF(l.category, '') FROM logsources l WHERE l.id = e.logsource)",
                "(SELECT NULLIF(l.service, '') FROM logsources l WHERE l.id = e.logsource)",
            ],
            &[],
        ),
        Entity::StreamPositions => ("stream_positions", &["stream", "position"], &[]),
        Entity::EventRollupMinute => (
            "event_rollup",
            &[
                "minute",
                "kind",
                "CASE WHEN has_service THEN service END",
                "count",
            ],
            &[],
        ),
        Entity::EventRollupHour => (
            // Sealed hours as stored, later ones summed from the minutes.
            concat!(
                "(SELECT hour, kind, has_service, service, count FROM event_rollup_hour ",
                "WHERE hour < (SELECT up_to FROM event_index_state WHERE name = 'event_hours') ",
                "UNION ALL SELECT minute - (((minute % 3600) + 3600) % 3600) AS hour, kind, ",
                "has_service, service, SUM(count) AS count FROM event_rollup ",
                "WHERE minute >= (SELECT up_to FROM event_index_state WHERE name = 'event_hours') ",
                "GROUP BY 1, 2, 3, 4) x"
            ),
            &[
                "hour",
                "kind",
                "CASE WHEN has_service THEN service END",
                "count",
            ],
            &[],
        ),
        Entity::MetricRollupMinute => (
            "metric_rollup",
            &[
                "minute",
                "field",
                "group_kind",
                "group_value",
                "count",
                "sum",
                "min",
                "max",
                "sketch",
            ],
            &[],
        ),
        Entity::MetricRollupHour => (
            "metric_rollup_hour",
            &[
                "hour",
                "field",
                "group_kind",
                "group_value",
                "count",
                "sum",
                "min",
                "max",
                "sketch",
            ],
            &[],
        ),
        Entity::MetricGroups => ("metric_groups", &["group_kind", "group_value"], &[]),
        Entity::Findings => (
            "findings f JOIN finding_details d ON d.finding_id = f.id",
            &[
                "f.id",
                "f.incident_key",
                "f.rule_id",
                "d.rule_title",
                "f.severity",
                "f.status",
                "f.group_json",
                "f.service",
                "f.user",
                "f.first_seen",
                "f.last_seen",
                "f.event_count",
                "d.evidence_json",
                "d.description",
                "d.tags_json",
                "f.risk_score",
                "d.explanation",
                "f.note",
                "f.assignee",
                "COALESCE(f.workflow_tags_json, '[]')",
                "f.close_reason",
                "d.recommended_actions_json",
                "f.enriched_by",
                "f.enriched_at",
                "f.created_at",
                "f.updated_at",
            ],
            &[],
        ),
        Entity::FindingHistory => (
            "finding_history",
            &[
                "id",
                "finding_id",
                "at",
                "actor",
                "action",
                "from_value",
                "to_value",
            ],
            &[],
        ),
        Entity::Enrichments => (
            "enrichments",
            &[
                "id",
                "finding_id",
                "content_hash",
                "enriched_by",
                "model",
                "risk_score",
                "explanation",
                "recommended_actions_json",
                "confidence",
                "prompt",
                "answer",
                "fallback_reason",
                "cached",
                "prompt_tokens",
                "completion_tokens",
                "created_at",
            ],
            &[],
        ),
        Entity::FindingRollup => (
            "finding_rollup",
            &[
                "minute",
                "severity",
                "rule_id",
                "CASE WHEN has_service THEN service END",
                "count",
                "last_seen",
            ],
            &[],
        ),
        Entity::RuleMatches => ("rule_matches", &["rule_id", "count"], &[]),
        Entity::FindingChanges => (
            "finding_changes",
            &["seq", "finding_id", "kind", "status", "at"],
            &[],
        ),
        Entity::IamAudits => (
            "iam_audits",
            &[
                "id",
                "created_at",
                "source",
                "input_format",
                "summary",
                "report",
            ],
            &[],
        ),
        Entity::RuleStates => ("rule_states", &["rule_id", "enabled", "changed_at"], &[]),
        Entity::Pipelines => ("pipelines", &["name", "updates_total"], &[]),
        Entity::PipelineUpdates => (
            "pipeline_updates",
            &["id", "pipeline", "status", "received_at", "payload"],
            &[],
        ),
        Entity::Users => (
            "users",
            &[
                "id",
                "username",
                "role",
                "email",
                "source",
                "oidc_subject",
                "password_hash",
                "disabled",
                "created_at",
                "last_login_at",
                "preferences",
            ],
            &[],
        ),
        Entity::ApiKeys => (
            "api_keys",
            &[
                "id",
                "name",
                "prefix",
                "hash",
                "scopes",
                "created_at",
                "created_by",
                "expires_at",
                "last_used_at",
                "revoked_at",
            ],
            &[4],
        ),
        Entity::Sessions => (
            "sessions",
            &[
                "id",
                "user_id",
                "refresh_hash",
                "created_at",
                "refreshed_at",
                "expires_at",
                "revoked_at",
                "address",
            ],
            &[],
        ),
        Entity::AuditLog => (
            "audit_log",
            &[
                "id", "time", "actor", "action", "target", "address", "details",
            ],
            &[],
        ),
        Entity::DeadLetters => (
            "dead_letters",
            &[
                "id",
                "source",
                "location",
                "reason",
                "raw",
                "meta",
                "received_at",
            ],
            &[],
        ),
        Entity::ConsumerPositions => ("consumer_positions", &["consumer", "position"], &[]),
        Entity::AlertGroups => ("alert_groups", &["key", "state", "updated_at"], &[]),
        Entity::AlertSilences => (
            "alert_silences",
            &[
                "id",
                "matchers",
                "starts_at",
                "ends_at",
                "created_by",
                "comment",
                "created_at",
                "expired_at",
                "start_announced",
                "end_announced",
            ],
            &[],
        ),
        Entity::AlertNotifications => (
            "alert_notifications",
            &[
                "id",
                "receiver",
                "route",
                "group_key",
                "kind",
                "finding_ids",
                "status",
                "attempts",
                "last_error",
                "created_at",
                "sent_at",
                "title",
                "body",
                "silence_id",
            ],
            &[],
        ),
        Entity::DetectionState => ("detection_state", &["watermark"], &[]),
    };
    Source { from, cols, csv }
}

fn corrupt(entity: Entity, col: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{entity}: column {col}: {e}"))
}

/// Column `i` of `row` as the entity's kind for it.
fn decode(entity: Entity, row: &SqliteRow, i: usize, csv: bool) -> Result<Value> {
    let (name, kind) = entity.columns()[i];
    let raw = row.try_get_raw(i).map_err(|e| corrupt(entity, name, e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let bad = |e: sqlx::Error| corrupt(entity, name, e);
    let json = |text: String| -> Result<serde_json::Value> {
        serde_json::from_str(&text).map_err(|e| corrupt(entity, name, e))
    };
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i).map_err(bad)?),
        Kind::Float => Value::Float(row.try_get(i).map_err(bad)?),
        Kind::Bool => Value::Bool(row.try_get::<i64, _>(i).map_err(bad)? != 0),
        Kind::Text => Value::Text(row.try_get(i).map_err(bad)?),
        Kind::Bytes => Value::Bytes(row.try_get(i).map_err(bad)?),
        Kind::Time => Value::Time(row.try_get(i).map_err(bad)?),
        Kind::Json => Value::Json(json(row.try_get(i).map_err(bad)?)?),
        Kind::Texts if csv => {
            let text: String = row.try_get(i).map_err(bad)?;
            Value::Texts(
                text.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            )
        }
        Kind::Texts => Value::Texts(
            serde_json::from_value(json(row.try_get(i).map_err(bad)?)?)
                .map_err(|e| corrupt(entity, name, e))?,
        ),
        Kind::Ints => Value::Ints(
            serde_json::from_value(json(row.try_get(i).map_err(bad)?)?)
                .map_err(|e| corrupt(entity, name, e))?,
        ),
    })
}

fn record(entity: Entity, src: &Source, row: &SqliteRow) -> Result<Record> {
    let values = (0..src.cols.len())
        .map(|i| decode(entity, row, i, src.csv.contains(&i)))
        .collect::<Result<Vec<_>>>()?;
    let key = match (entity.shape(), values.first()) {
        (Shape::State, _) => 0,
        (_, Some(Value::Int(k))) => *k,
        _ => {
            return Err(StorageError::Corrupt(format!(
                "{entity}: a record without a key"
            )));
        }
    };
    Ok(Record { key, values })
}

#[async_trait]
impl Transfer for SqliteStorage {
    async fn export_batch(
        &self,
        entity: Entity,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Record>> {
        if after.is_none()
            && matches!(
                entity,
                Entity::MetricRollupMinute | Entity::MetricRollupHour | Entity::MetricGroups
            )
        {
            crate::events::write_metric_batches(self).await?;
        }
        let src = source(entity);
        let cols = src.cols.join(", ");
        let rows = if entity.shape() == Shape::State {
            if after.is_some() {
                return Ok(Vec::new());
            }
            sqlx::query(&format!("SELECT {cols} FROM {}", src.from))
                .fetch_all(&self.read)
                .await
        } else {
            let key = src.cols[0];
            let from = src.from;
            let after = after.unwrap_or(i64::MIN);
            sqlx::query(&format!(
                "SELECT {cols} FROM {from} WHERE {key} > ?1 AND {key} <= \
                 (SELECT MAX(k) FROM (SELECT {key} AS k FROM {from} WHERE {key} > ?1 \
                 ORDER BY {key} LIMIT ?2)) ORDER BY {key}"
            ))
            .bind(after)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.read)
            .await
        }
        .map_err(db_err("export records"))?;
        rows.iter().map(|r| record(entity, &src, r)).collect()
    }

    async fn import_batch(&self, entity: Entity, _records: &[Record]) -> Result<u64> {
        Err(StorageError::Database(format!(
            "importing {entity} into sqlite is not supported yet: copy from sqlite to postgres"
        )))
    }

    async fn last_key(&self, entity: Entity) -> Result<Option<i64>> {
        if entity.shape() == Shape::State {
            return Ok(None);
        }
        let src = source(entity);
        sqlx::query_scalar(&format!("SELECT MAX({}) FROM {}", src.cols[0], src.from))
            .fetch_one(&self.read)
            .await
            .map_err(db_err("read the last key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_one_expression_per_column() {
        for &e in Entity::ALL {
            assert_eq!(source(e).cols.len(), e.columns().len(), "{e}");
        }
    }
}
