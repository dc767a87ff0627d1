//! Message titles and texts, rendered with minijinja from the message's
//! variables (see `docs/connectors/alerts.md`). A receiver may override
//! either template.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// The title of a firing, repeat or resolved message.
pub const DEFAULT_TITLE: &str = "{% if status == 'resolved' %}[RESOLVED]\
{% elif kind == 'repeat' %}[STILL FIRING · {{ severity|upper }}]\
{% elif kind == 'test' %}[TEST]\
{% elif kind == 'silence_started' %}[SILENCE STARTED]\
{% elif kind == 'silence_ended' %}[SILENCE ENDED]\
{% else %}[{{ severity|upper }}]{% endif %} {{ summary }}";

/// The text of a message: one line per finding, or the silence.
pub const DEFAULT_BODY: &str = "{% if silence %}Silence #{{ silence.id }} by {{ silence.created_by }}: \
{{ silence.matchers_text }}, from {{ silence.starts_at }} to {{ silence.ends_at }}.\
{% if silence.comment %} {{ silence.comment }}{% endif %}\
{% else %}{% for f in findings %}\
{% if not loop.first %}\n{% endif %}• {{ f.rule_title }} ({{ f.severity }}, risk {{ f.risk_score }})\
{% if f.service %} on {{ f.service }}{% endif %}{% if f.user %} for {{ f.user }}{% endif %}: \
{{ f.event_count }} event{% if f.event_count != 1 %}s{% endif %}, \
first {{ f.first_seen }}, last {{ f.last_seen }}{% if f.link %} {{ f.link }}{% endif %}\
{% endfor %}{% if more %}\n…and {{ more }} more{% endif %}{% endif %}";

/// Fuel for one render: bounds a template's loops.
const FUEL: u64 = 200_000;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env
}

/// Does the template parse?
pub fn check(source: &str) -> Result<(), String> {
    env()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Render `source` with `ctx`; a template error renders as its message
/// so a message is still sent.
pub fn render(source: &str, ctx: &impl Serialize) -> String {
    let env = env();
    match env.render_str(source, ctx) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "alert template failed to render");
            format!("(template error: {e})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Numbers from `json!` serialize oddly with serde_json's
    // arbitrary_precision (on in this workspace): typed contexts, as the
    // alerter's own `Message`.
    #[derive(Serialize)]
    struct F {
        rule_title: &'static str,
        severity: &'static str,
        risk_score: u8,
        service: &'static str,
        user: &'static str,
        event_count: i64,
        first_seen: &'static str,
        last_seen: &'static str,
        link: &'static str,
    }

    #[derive(Serialize)]
    struct Ctx {
        status: &'static str,
        kind: &'static str,
        severity: &'static str,
        summary: &'static str,
        findings: Vec<F>,
        silence: Option<S>,
    }

    #[derive(Serialize)]
    struct S {
        id: i64,
        created_by: &'static str,
        matchers_text: &'static str,
        starts_at: &'static str,
        ends_at: &'static str,
        comment: &'static str,
    }

    #[test]
    fn defaults_render_findings_and_silences() {
        let ctx = Ctx {
            status: "firing",
            kind: "firing",
            severity: "critical",
            summary: "Admin token on api",
            findings: vec![F {
                rule_title: "Admin token",
                severity: "critical",
                risk_score: 90,
                service: "api",
                user: "trent",
                event_count: 2,
                first_seen: "a",
                last_seen: "b",
                link: "http://x/findings/1",
            }],
            silence: None,
        };
        assert_eq!(render(DEFAULT_TITLE, &ctx), "[CRITICAL] Admin token on api");
        assert_eq!(
            render(DEFAULT_BODY, &ctx),
            "• Admin token (critical, risk 90) on api for trent: 2 events, first a, last b http://x/findings/1"
        );
        let s = Ctx {
            kind: "silence_started",
            summary: "s",
            findings: vec![],
            silence: Some(S {
                id: 3,
                created_by: "al",
                matchers_text: "service=api",
                starts_at: "a",
                ends_at: "b",
                comment: "deploy",
            }),
            ..ctx
        };
        assert_eq!(render(DEFAULT_TITLE, &s), "[SILENCE STARTED] s");
        assert_eq!(
            render(DEFAULT_BODY, &s),
            "Silence #3 by al: service=api, from a to b. deploy"
        );
        assert!(check("{{ oops").is_err());
        assert!(render("{% for i in range(100000000) %}{% endfor %}", &s).contains("error"));
    }
}
