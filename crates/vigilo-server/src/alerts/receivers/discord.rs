//! Discord channel webhooks: one embed with a colour by severity, the
//! facts as inline fields, and the link as the title's URL.

use serde_json::{Value, json};

use super::{Message, clip, colour, facts};

/// Discord's limits: title 256, description 4096, field value 1024, and
/// 6000 characters in all: the description is cut at 3500 so the fields
/// and footer always fit.
pub fn body(m: &Message, title: &str, text: &str) -> Value {
    let fields: Vec<Value> = facts(m)
        .into_iter()
        .map(|(name, value)| {
            json!({
                "name": name,
                "value": clip(if value.is_empty() { "-" } else { &value }, 1024),
                "inline": name != "Link" && name != "Matchers",
            })
        })
        .collect();
    let mut embed = json!({
        "title": clip(title, 256),
        "description": clip(text, 3500),
        "color": colour(m),
        "fields": fields,
        "timestamp": m.created_at,
        "footer": {"text": clip(&format!("Vigilo · {}", m.group_key), 2048)},
    });
    if let Some(l) = &m.link {
        embed["url"] = json!(l);
    }
    json!({
        "username": "Vigilo",
        "embeds": [embed],
        // Never ping anyone from finding text.
        "allowed_mentions": {"parse": []},
    })
}
