//! Slack incoming webhooks: a header, the text as a section, the facts as
//! fields and a button to the finding, in an attachment whose colour bar
//! shows the severity; `text` is the notification fallback.

use serde_json::{Value, json};

use super::{Message, clip, colour, facts};

/// Slack's control characters in mrkdwn and `text`: `<!channel>`,
/// `<@U123>` and links start with `<`, so finding text is escaped and can
/// never ping anyone or forge a link.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack's limits: header 150, section text 3000, field 2000, 10 fields.
pub fn body(m: &Message, title: &str, text: &str) -> Value {
    let text = &escape(text);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(title, 150), "emoji": true}}),
    ];
    if !text.is_empty() {
        blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}));
    }
    let context = if m.group_key.is_empty() {
        "Vigilo".to_string()
    } else {
        format!("Vigilo · group `{}`", escape(&m.group_key))
    };
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(&context, 3000)}]}),
    );
    let fields: Vec<Value> = facts(m)
        .into_iter()
        .filter(|(name, _)| *name != "Link")
        .take(10)
        .map(|(name, value)| json!({"type": "mrkdwn", "text": clip(&format!("*{name}*\n{}", escape(&value)), 2000)}))
        .collect();
    let mut inner = Vec::new();
    if !fields.is_empty() {
        inner.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(l) = &m.link {
        inner.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Open in Vigilo"},
            "url": l,
        }]}));
    }
    json!({
        "text": clip(&escape(title), 3000),
        "blocks": blocks,
        "attachments": [{"color": format!("#{:06X}", colour(m)), "blocks": inner}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_links_are_escaped() {
        assert_eq!(
            escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
