//! `vigilo user …` and `vigilo apikey …`: accounts on the data directory,
//! with no server running (the server reads them on its next request).

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use serde_json::json;
use vigilo_auth::Role;
use vigilo_storage::{NewAuditEntry, NewUser, Storage, UserPatch};

use crate::cli::{ApikeyCommand, OutputFormat, ServerArgs, UserCommand};
use crate::table::{Column, render};

async fn open(args: &ServerArgs) -> anyhow::Result<Arc<dyn Storage>> {
    let loaded = crate::config::load(args)?;
    crate::logging::init(&loaded.config.log);
    let storage = crate::cmd::serve::open_storage(&loaded.config).await?;
    storage.migrate().await?;
    Ok(storage)
}

async fn audit(storage: &dyn Storage, action: &str, target: &str, details: serde_json::Value) {
    let entry = NewAuditEntry {
        time: Utc::now(),
        actor: "cli".into(),
        action: action.into(),
        target: Some(target.into()),
        address: None,
        details,
    };
    if let Err(e) = storage.insert_audit(entry).await {
        tracing::warn!(error = %e, "cannot record audit entry");
    }
}

fn time(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

pub async fn user(cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Create {
            server,
            username,
            role,
            email,
            password_stdin,
        } => {
            let storage = open(&server).await?;
            let username = vigilo_server::auth::admin::check_username(&username)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (vigilo_auth::random_token(18), true)
            };
            let hash = vigilo_server::auth::admin::hash_password(&username, &password)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let created = storage
                .create_user(NewUser {
                    username: username.clone(),
                    role: role.as_str().into(),
                    email,
                    source: "password".into(),
                    oidc_subject: None,
                    password_hash: Some(hash),
                    created_at: Utc::now(),
                })
                .await;
            let user = match created {
                Ok(u) => u,
                Err(vigilo_storage::StorageError::Conflict { .. }) => {
                    bail!("a user named `{username}` exists")
                }
                Err(e) => return Err(e.into()),
            };
            audit(
                storage.as_ref(),
                "user_created",
                &username,
                json!({"role": role}),
            )
            .await;
            crate::out::outln!(
                "created user {} (id {}, role {role})",
                user.username,
                user.id
            )?;
            if generated {
                crate::out::outln!("password (shown once):")?;
                crate::out::outln!("{password}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { server, format } => {
            let storage = open(&server).await?;
            let users = storage.list_users().await?;
            if format == OutputFormat::Json {
                let v: Vec<_> = users
                    .iter()
                    .map(|u| {
                        json!({"id": u.id, "username": u.username, "role": u.role,
                               "email": u.email, "source": u.source, "disabled": u.disabled,
                               "created_at": u.created_at, "last_login_at": u.last_login_at})
                    })
                    .collect();
                crate::out::line(&serde_json::to_string_pretty(&v)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let cols = [
                Column::number("ID"),
                Column::text("USERNAME", 8),
                Column::fixed("ROLE"),
                Column::fixed("SOURCE"),
                Column::fixed("STATUS"),
                Column::fixed("LAST SIGN-IN"),
            ];
            let rows: Vec<Vec<String>> = users
                .iter()
                .map(|u| {
                    vec![
                        u.id.to_string(),
                        u.username.clone(),
                        u.role.clone(),
                        u.source.clone(),
                        if u.disabled { "disabled" } else { "active" }.into(),
                        time(u.last_login_at),
                    ]
                })
                .collect();
            crate::out::print(&render(&cols, &rows, crate::out::width()))?;
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::SetRole {
            server,
            username,
            role,
        } => {
            let storage = open(&server).await?;
            let Some(user) = storage.get_user_by_name(&username).await? else {
                bail!("no user named `{username}`");
            };
            let was = Role::parse(&user.role);
            if was == Some(Role::Admin)
                && role != Role::Admin
                && !user.disabled
                && storage.count_admins().await? <= 1
            {
                bail!("`{username}` is the last admin: make another user admin first");
            }
            storage
                .update_user(
                    user.id,
                    UserPatch {
                        role: Some(role.as_str().into()),
                        ..UserPatch::default()
                    },
                )
                .await?;
            storage.revoke_user_sessions(user.id, Utc::now()).await?;
            audit(
                storage.as_ref(),
                "role_changed",
                &username,
                json!({"from": user.role, "to": role}),
            )
            .await;
            crate::out::outln!("{username} is now {role}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn apikey(cmd: ApikeyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ApikeyCommand::Create {
            server,
            name,
            scopes,
            expires_in,
        } => {
            let storage = open(&server).await?;
            let lifetime = expires_in
                .as_deref()
                .map(vigilo_server::auth::admin::parse_lifetime)
                .transpose()
                .map_err(|e| anyhow::anyhow!(e.message.replace("`expires_in`", "--expires-in")))?;
            let (rec, secret) = vigilo_server::auth::admin::make_key(
                storage.as_ref(),
                &name,
                &scopes,
                lifetime,
                "cli",
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            audit(
                storage.as_ref(),
                "api_key_created",
                &rec.name,
                json!({"prefix": rec.prefix, "scopes": rec.scopes}),
            )
            .await;
            crate::out::outln!(
                "created API key {} ({}, scopes {}{}); the secret, shown once:",
                rec.name,
                rec.prefix,
                rec.scopes.join(","),
                rec.expires_at
                    .map(|e| format!(", expires {}", e.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            )?;
            crate::out::outln!("{secret}")?;
            Ok(ExitCode::SUCCESS)
        }
        ApikeyCommand::List { server, format } => {
            let storage = open(&server).await?;
            let keys = storage.list_api_keys().await?;
            if format == OutputFormat::Json {
                let v: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": k.scopes,
                               "created_at": k.created_at, "created_by": k.created_by,
                               "expires_at": k.expires_at, "last_used_at": k.last_used_at,
                               "revoked_at": k.revoked_at})
                    })
                    .collect();
                crate::out::line(&serde_json::to_string_pretty(&v)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let cols = [
                Column::number("ID"),
                Column::text("NAME", 8),
                Column::fixed("PREFIX"),
                Column::fixed("SCOPES"),
                Column::fixed("LAST USED"),
                Column::fixed("EXPIRES"),
                Column::fixed("STATUS"),
            ];
            let now = Utc::now();
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    let status = if k.revoked_at.is_some() {
                        "revoked"
                    } else if k.expires_at.is_some_and(|e| e <= now) {
                        "expired"
                    } else {
                        "active"
                    };
                    vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.prefix.clone(),
                        k.scopes.join(","),
                        time(k.last_used_at),
                        time(k.expires_at),
                        status.into(),
                    ]
                })
                .collect();
            crate::out::print(&render(&cols, &rows, crate::out::width()))?;
            Ok(ExitCode::SUCCESS)
        }
        ApikeyCommand::Revoke { server, key } => {
            let storage = open(&server).await?;
            let keys = storage.list_api_keys().await?;
            let found = keys.iter().find(|k| {
                k.id.to_string() == key
                    || k.prefix == key
                    || key.starts_with(&format!("{}_", k.prefix))
            });
            let Some(k) = found else {
                bail!("no API key with id or prefix `{key}`");
            };
            storage.revoke_api_key(k.id, Utc::now()).await?;
            audit(
                storage.as_ref(),
                "api_key_revoked",
                &k.name,
                json!({"prefix": k.prefix}),
            )
            .await;
            crate::out::outln!("revoked API key {} ({})", k.name, k.prefix)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
