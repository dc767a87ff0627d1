//! [`Transfer`] for PostgreSQL: each entity is one table whose columns
//! are the entity's, so records read and write with one statement each.
//!
//! An import keeps the ids (`OVERRIDING SYSTEM VALUE`) and moves each
//! identity sequence past the highest stored id in the same transaction,
//! so the first row the server writes afterwards gets the next id.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row, ValueRef};
use vigilo_core::Severity;
use vigilo_storage::transfer::{Entity, Kind, Record, Shape, Transfer, Value, check_record};
use vigilo_storage::{Result, StorageError};

use crate::{PostgresStorage, db_err};

/// One column: its name in the table, the expression that reads it as
/// the entity's kind, and the expression (`{}` the bound value) that
/// writes it.
struct Col {
    name: &'static str,
    read: &'static str,
    write: &'static str,
}

/// An entity's table.
struct Table {
    name: &'static str,
    cols: Vec<Col>,
    /// The identity column, whose sequence moves past imported ids.
    identity: Option<&'static str>,
    /// For state: the natural key an import overwrites on.
    natural_key: &'static [&'static str],
    /// Columns not in the entity, written from an expression over the
    /// imported values (`v.<column>`).
    derived: Vec<(&'static str, String)>,
}

/// The default read and write of a column named as in the entity.
fn plain(name: &'static str, kind: Kind) -> Col {
    let write = match kind {
        Kind::Int => "{}::bigint",
        Kind::Float => "{}::float8",
        Kind::Bool => "{}::boolean",
        Kind::Text => "{}::text",
        Kind::Bytes => "{}::bytea",
        Kind::Time => "{}::timestamptz",
        Kind::Json => "{}::jsonb",
        Kind::Texts => "{}::text[]",
        Kind::Ints => "{}::bigint[]",
    };
    Col {
        name,
        read: name,
        write,
    }
}

fn table(entity: Entity) -> Table {
    let mut cols: Vec<Col> = entity
        .columns()
        .iter()
        .map(|&(name, kind)| plain(name, kind))
        .collect();
    let mut set = |name: &'static str, read: &'static str, write: &'static str| {
        if let Some(c) = cols
            .iter_mut()
            .find(|c| c.name == name || (name == "user_name" && c.name == "user"))
        {
            c.name = name;
            c.read = read;
            c.write = write;
        }
    };
    let (name, identity, natural_key): (&'static str, Option<&'static str>, &'static [&str]) =
        match entity {
            Entity::Events => {
                set("user_name", "user_name", "{}::text");
                set("payload", "payload::text", "{}::json");
                ("events", Some("id"), &[])
            }
            Entity::StreamPositions => ("stream_positions", None, &["stream"]),
            Entity::EventRollupMinute => {
                set(
                    "minute",
                    "EXTRACT(EPOCH FROM minute)::bigint",
                    "to_timestamp({}::bigint)",
                );
                ("event_rollup_minute", None, &[])
            }
            Entity::EventRollupHour => {
                set(
                    "hour",
                    "EXTRACT(EPOCH FROM hour)::bigint",
                    "to_timestamp({}::bigint)",
                );
                ("event_rollup_hour", None, &[])
            }
            Entity::MetricRollupMinute => {
                set(
                    "minute",
                    "EXTRACT(EPOCH FROM minute)::bigint",
                    "to_timestamp({}::bigint)",
                );
                ("metric_rollup_minute", None, &[])
            }
            Entity::MetricRollupHour => {
                set(
                    "hour",
                    "EXTRACT(EPOCH FROM hour)::bigint",
                    "to_timestamp({}::bigint)",
                );
                ("metric_rollup_hour", None, &[])
            }
            Entity::MetricGroups => ("metric_groups", None, &["group_kind", "group_value"]),
            Entity::Findings => {
                set("user_name", "user_name", "{}::text");
                set("group_values", "group_values::text", "{}::jsonb");
                set("risk_score", "risk_score::bigint", "{}::bigint");
                ("findings", Some("id"), &[])
            }
            Entity::FindingHistory => ("finding_history", Some("id"), &[]),
            Entity::Enrichments => {
                set("risk_score", "risk_score::bigint", "{}::bigint");
                ("enrichments", Some("id"), &[])
            }
            Entity::FindingRollup => {
                set(
                    "minute",
                    "EXTRACT(EPOCH FROM minute)::bigint",
                    "to_timestamp({}::bigint)",
                );
                ("finding_rollup", None, &[])
            }
            Entity::RuleMatches => ("rule_matches", None, &["rule_id"]),
            Entity::FindingChanges => ("finding_changes", Some("seq"), &[]),
            Entity::IamAudits => {
                set("summary", "summary::text", "{}::jsonb");
                set("report", "report::text", "{}::jsonb");
                ("iam_audits", Some("id"), &[])
            }
            Entity::RuleStates => ("rule_states", None, &["rule_id"]),
            Entity::Pipelines => ("pipelines", None, &["name"]),
            Entity::PipelineUpdates => {
                set("payload", "payload::text", "{}::jsonb");
                ("pipeline_updates", Some("id"), &[])
            }
            Entity::Users => {
                set("preferences", "preferences::text", "{}::jsonb");
                ("users", Some("id"), &[])
            }
            Entity::ApiKeys => ("api_keys", Some("id"), &[]),
            Entity::Sessions => ("sessions", None, &["id"]),
            Entity::AuditLog => {
                set("details", "details::text", "{}::jsonb");
                ("audit_log", Some("id"), &[])
            }
            Entity::DeadLetters => {
                set("meta", "meta::text", "{}::jsonb");
                ("dead_letters", Some("id"), &[])
            }
            Entity::ConsumerPositions => ("consumer_positions", None, &["consumer"]),
            Entity::AlertGroups => {
                set("state", "state::text", "{}::jsonb");
                ("alert_groups", None, &["key"])
            }
            Entity::AlertSilences => {
                set("matchers", "matchers::text", "{}::jsonb");
                ("alert_silences", Some("id"), &[])
            }
            Entity::AlertNotifications => {
                set("body", "body::text", "{}::jsonb");
                ("alert_notifications", Some("id"), &[])
            }
            Entity::DetectionState => ("detection_state", None, &["id"]),
        };
    let derived = match entity {
        Entity::Findings => {
            let names: Vec<String> = Severity::ALL
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            vec![(
                "severity_rank",
                format!(
                    "COALESCE(array_position(ARRAY[{}]::text[], v.severity) - 1, 0)::smallint",
                    names.join(", ")
                ),
            )]
        }
        Entity::DetectionState => vec![("id", "1".to_string())],
        _ => Vec::new(),
    };
    Table {
        name,
        cols,
        identity,
        natural_key,
        derived,
    }
}

/// The key column as written in a WHERE clause, and how a bound key
/// becomes comparable with it.
fn key_sql(t: &Table) -> (&'static str, &'static str) {
    let first = &t.cols[0];
    (first.name, first.write)
}

fn corrupt(entity: Entity, col: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("{entity}: column {col}: {e}"))
}

fn decode(entity: Entity, row: &PgRow, i: usize) -> Result<Value> {
    let (name, kind) = entity.columns()[i];
    let raw = row.try_get_raw(i).map_err(|e| corrupt(entity, name, e))?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let bad = |e: sqlx::Error| corrupt(entity, name, e);
    Ok(match kind {
        Kind::Int => Value::Int(row.try_get(i).map_err(bad)?),
        Kind::Float => Value::Float(row.try_get(i).map_err(bad)?),
        Kind::Bool => Value::Bool(row.try_get(i).map_err(bad)?),
        Kind::Text => Value::Text(row.try_get(i).map_err(bad)?),
        Kind::Bytes => Value::Bytes(row.try_get(i).map_err(bad)?),
        Kind::Time => Value::Time(
            row.try_get::<DateTime<Utc>, _>(i)
                .map_err(bad)?
                .timestamp_micros(),
        ),
        Kind::Json => {
            let text: String = row.try_get(i).map_err(bad)?;
            Value::Json(serde_json::from_str(&text).map_err(|e| corrupt(entity, name, e))?)
        }
        Kind::Texts => Value::Texts(row.try_get(i).map_err(bad)?),
        Kind::Ints => Value::Ints(row.try_get(i).map_err(bad)?),
    })
}

fn record(entity: Entity, row: &PgRow) -> Result<Record> {
    let values = (0..entity.columns().len())
        .map(|i| decode(entity, row, i))
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

/// Push `template` with `{}` replaced by a bind of `v`.
fn push_value(qb: &mut QueryBuilder<'_, Postgres>, template: &str, v: &Value) -> Result<()> {
    let (pre, post) = template.split_once("{}").unwrap_or((template, ""));
    qb.push(pre);
    match v {
        Value::Null => qb.push_bind(None::<String>),
        Value::Int(n) => qb.push_bind(*n),
        Value::Float(x) => qb.push_bind(*x),
        Value::Bool(b) => qb.push_bind(*b),
        Value::Text(s) => qb.push_bind(s.clone()),
        Value::Bytes(b) => qb.push_bind(b.clone()),
        Value::Time(us) => qb.push_bind(
            DateTime::<Utc>::from_timestamp_micros(*us)
                .ok_or_else(|| StorageError::Database(format!("time {us} is out of range")))?,
        ),
        Value::Json(j) => qb.push_bind(j.to_string()),
        Value::Texts(list) => qb.push_bind(list.clone()),
        Value::Ints(list) => qb.push_bind(list.clone()),
    };
    qb.push(post);
    Ok(())
}

/// Most bound values in one statement (PostgreSQL allows 65,535).
const MAX_BINDS: usize = 30_000;

#[async_trait]
impl Transfer for PostgresStorage {
    async fn export_batch(
        &self,
        entity: Entity,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Record>> {
        let t = table(entity);
        let cols: Vec<&str> = t.cols.iter().map(|c| c.read).collect();
        let mut qb =
            QueryBuilder::<Postgres>::new(format!("SELECT {} FROM {}", cols.join(", "), t.name));
        if entity.shape() == Shape::State {
            if after.is_some() {
                return Ok(Vec::new());
            }
        } else {
            let (key, bind) = key_sql(&t);
            let after_clause = |qb: &mut QueryBuilder<'_, Postgres>| -> Result<()> {
                match after {
                    Some(a) => {
                        qb.push(format!(" WHERE {key} > "));
                        push_value(qb, bind, &Value::Int(a))
                    }
                    None => {
                        qb.push(" WHERE TRUE");
                        Ok(())
                    }
                }
            };
            after_clause(&mut qb)?;
            qb.push(format!(
                " AND {key} <= (SELECT MAX(k) FROM (SELECT {key} AS k FROM {}",
                t.name
            ));
            after_clause(&mut qb)?;
            qb.push(format!(" ORDER BY {key} LIMIT "));
            qb.push_bind(i64::from(limit.max(1)));
            qb.push(format!(") s) ORDER BY {key}"));
        }
        let rows = qb
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("export records"))?;
        rows.iter().map(|r| record(entity, r)).collect()
    }

    async fn import_batch(&self, entity: Entity, records: &[Record]) -> Result<u64> {
        for r in records {
            check_record(entity, r)?;
        }
        if records.is_empty() {
            return Ok(0);
        }
        let t = table(entity);
        let names: Vec<&str> = t.cols.iter().map(|c| c.name).collect();
        let mut all_cols: Vec<&str> = names.clone();
        all_cols.extend(t.derived.iter().map(|(n, _)| *n));
        let mut select: Vec<String> = names.iter().map(|n| format!("v.{n}")).collect();
        select.extend(t.derived.iter().map(|(_, e)| e.clone()));
        let updates: Vec<String> = all_cols
            .iter()
            .filter(|c| !t.natural_key.contains(c))
            .map(|c| format!("{c} = EXCLUDED.{c}"))
            .collect();
        let conflict = if t.natural_key.is_empty() || updates.is_empty() {
            " ON CONFLICT DO NOTHING".to_string()
        } else {
            format!(
                " ON CONFLICT ({}) DO UPDATE SET {}",
                t.natural_key.join(", "),
                updates.join(", ")
            )
        };
        let per_statement = (MAX_BINDS / names.len().max(1)).max(1);
        let mut tx = self.pool.begin().await.map_err(db_err("begin import"))?;
        let mut written = 0u64;
        for chunk in records.chunks(per_statement) {
            let mut qb = QueryBuilder::<Postgres>::new(format!(
                "INSERT INTO {} ({}){} SELECT {} FROM (VALUES ",
                t.name,
                all_cols.join(", "),
                if t.identity.is_some() {
                    " OVERRIDING SYSTEM VALUE"
                } else {
                    ""
                },
                select.join(", ")
            ));
            for (ri, r) in chunk.iter().enumerate() {
                qb.push(if ri == 0 { "(" } else { ", (" });
                for (ci, (c, v)) in t.cols.iter().zip(&r.values).enumerate() {
                    if ci > 0 {
                        qb.push(", ");
                    }
                    push_value(&mut qb, c.write, v)?;
                }
                qb.push(")");
            }
            qb.push(format!(") AS v ({}){conflict}", names.join(", ")));
            written += qb
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err("import records"))?
                .rows_affected();
        }
        if let Some(id) = t.identity {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{0}', '{id}'), m) \
                 FROM (SELECT MAX({id}) AS m FROM {0}) s WHERE m IS NOT NULL",
                t.name
            ))
            .execute(&mut *tx)
            .await
            .map_err(db_err("move the id sequence"))?;
        }
        tx.commit().await.map_err(db_err("commit import"))?;
        tracing::trace!(entity = entity.name(), written, "records imported");
        Ok(written)
    }

    async fn last_key(&self, entity: Entity) -> Result<Option<i64>> {
        if entity.shape() == Shape::State {
            return Ok(None);
        }
        let t = table(entity);
        sqlx::query_scalar(&format!("SELECT MAX({}) FROM {}", t.cols[0].read, t.name))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("read the last key"))
    }

    /// `ANALYZE` of the schema's tables: a bulk load leaves them without
    /// statistics until autovacuum gets to them (never, where it is off),
    /// and the dashboard's queries are planned from those statistics.
    async fn finish_import(&self) -> Result<()> {
        // Only this schema's tables (a partitioned table's statistics
        // cover its partitions), never the rest of the database.
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             AND NOT c.relispartition \
             ORDER BY c.relname",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("list the copied tables"))?;
        if tables.is_empty() {
            return Ok(());
        }
        sqlx::query(&format!("ANALYZE {}", tables.join(", ")))
            .execute(&self.pool)
            .await
            .map_err(db_err("analyze the copied tables"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_one_column_per_entity_column() {
        for &e in Entity::ALL {
            let t = table(e);
            assert_eq!(t.cols.len(), e.columns().len(), "{e}");
            if e.shape() == Shape::State {
                assert!(!t.natural_key.is_empty(), "{e} has no natural key");
            }
        }
    }
}
