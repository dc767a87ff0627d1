//! Logsource routing: which detection rules an event is evaluated against.
//!
//! A rule applies to an event unless their logsources **conflict**: a
//! dimension (`product`, `category`, `service`) that both name with
//! different values (compared ASCII case-insensitively, the event's value
//! trimmed; a blank value names nothing). A dimension only one side names
//! never conflicts:
//!
//! - the event leaves it unnamed: a source that does not say its category
//!   (a plain CloudTrail stream is `product: aws, service: cloudtrail`, with
//!   no category) still gets its product's category-specific rules, whose
//!   own conditions then decide; requiring every dimension of the rule
//!   would silently drop those detections;
//! - the rule leaves it unnamed: a rule for `product: aws` covers every AWS
//!   service, and a rule for `category: proxy` any proxy product.
//!
//! This is what rsigma's conflict-based pruning (`logsource_compatible`,
//! behind `rsigma engine eval --logsource-routing`) decides for the three
//! standard dimensions, so both evaluation paths agree on it: the native
//! path routes through [`Route`], the engine path gives rsigma the event's
//! logsource through reserved field names (see [`EXTRACT_FIELDS`]).

use rsigma_eval::LogSourceExtractor;
use vigilo_core::event::Logsource;

/// Reserved field names under which the engine path's event view reports
/// the event's own logsource to rsigma's extractor (product, service,
/// category). They start with a NUL character, which no rule field names.
pub(crate) const EXTRACT_FIELDS: [&str; 3] = [
    "\u{0}vigilo.logsource.product",
    "\u{0}vigilo.logsource.service",
    "\u{0}vigilo.logsource.category",
];

/// rsigma's extractor reading [`EXTRACT_FIELDS`].
pub(crate) fn extractor() -> LogSourceExtractor {
    let [p, s, c] = EXTRACT_FIELDS;
    LogSourceExtractor::new().with_field_names(p, s, c)
}

/// A dimension as routing compares it: trimmed, blank as unnamed.
fn named(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Whether a rule with logsource `rule` is evaluated for an event with
/// logsource `event`: no dimension is named by both with different values.
pub fn compatible(rule: &Logsource, event: &Logsource) -> bool {
    let agree = |r: &Option<String>, e: &Option<String>| match (r.as_deref(), named(e)) {
        (Some(r), Some(e)) => r.eq_ignore_ascii_case(e),
        _ => true,
    };
    agree(&rule.product, &event.product)
        && agree(&rule.category, &event.category)
        && agree(&rule.service, &event.service)
}

/// An event's logsource as a routing key: each named dimension trimmed and
/// ASCII lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    pub(crate) product: Option<String>,
    pub(crate) category: Option<String>,
    pub(crate) service: Option<String>,
}

impl Route {
    pub(crate) fn of(ls: &Logsource) -> Route {
        let key = |v: &Option<String>| named(v).map(str::to_ascii_lowercase);
        Route {
            product: key(&ls.product),
            category: key(&ls.category),
            service: key(&ls.service),
        }
    }

    /// Whether `self` (an event's key) equals `ls` without allocating.
    pub(crate) fn is(&self, ls: &Logsource) -> bool {
        let same = |k: &Option<String>, v: &Option<String>| match (k.as_deref(), named(v)) {
            (None, None) => true,
            (Some(k), Some(v)) => k.eq_ignore_ascii_case(v),
            _ => false,
        };
        same(&self.product, &ls.product)
            && same(&self.category, &ls.category)
            && same(&self.service, &ls.service)
    }

    /// [`compatible`] for a rule logsource against this event key.
    pub(crate) fn admits(&self, rule: &Logsource) -> bool {
        let agree = |r: &Option<String>, e: &Option<String>| match (r.as_deref(), e.as_deref()) {
            (Some(r), Some(e)) => r.eq_ignore_ascii_case(e),
            _ => true,
        };
        agree(&rule.product, &self.product)
            && agree(&rule.category, &self.category)
            && agree(&rule.service, &self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> Logsource {
        Logsource {
            product: product.map(str::to_string),
            category: category.map(str::to_string),
            service: service.map(str::to_string),
        }
    }

    #[test]
    fn rule_logsources_against_event_logsources() {
        let aws_ct = ls(Some("aws"), None, Some("cloudtrail"));
        let win_proc = ls(Some("windows"), Some("process_creation"), None);
        #[rustfmt::skip]
        let table: &[(&str, Logsource, Logsource, bool)] = &[
            // Match: every dimension both name is equal.
            ("same", aws_ct.clone(), aws_ct.clone(), true),
            ("same, case differs", ls(Some("AWS"), None, Some("CloudTrail")), aws_ct.clone(), true),
            ("same, event padded", aws_ct.clone(), ls(Some(" aws "), None, Some("cloudtrail\t")), true),
            // Conflict: a dimension both name differs.
            ("product differs", ls(Some("windows"), None, None), aws_ct.clone(), false),
            ("service differs", ls(Some("aws"), None, Some("s3")), aws_ct.clone(), false),
            ("category differs", win_proc.clone(), ls(Some("windows"), Some("file_event"), None), false),
            ("one of three differs", ls(Some("vigilo"), Some("authentication"), Some("okta")),
                ls(Some("vigilo"), Some("authentication"), Some("github")), false),
            // Rule broader than event: the rule leaves a dimension unnamed.
            ("rule names product only", ls(Some("aws"), None, None), aws_ct.clone(), true),
            ("rule names category only", ls(None, Some("proxy"), None), ls(Some("zscaler"), Some("proxy"), None), true),
            ("rule names nothing", Logsource::default(), aws_ct.clone(), true),
            ("rule names category only, event another", ls(None, Some("proxy"), None),
                ls(Some("vigilo"), Some("application"), None), false),
            // Event broader than rule: the event leaves a dimension unnamed.
            ("event names no category", win_proc.clone(), ls(Some("windows"), None, None), true),
            ("event names no service", aws_ct.clone(), ls(Some("aws"), None, None), true),
            ("event names nothing", win_proc.clone(), Logsource::default(), true),
            ("event's blank category names nothing", win_proc.clone(), ls(Some("windows"), Some("  "), None), true),
            ("event broader, but product differs", win_proc.clone(), ls(Some("linux"), None, None), false),
            // Both broader in different dimensions.
            ("crossed", ls(None, Some("process_creation"), None), ls(Some("windows"), None, None), true),
        ];
        for (name, rule, event, want) in table {
            assert_eq!(compatible(rule, event), *want, "{name}");
            assert_eq!(Route::of(event).admits(rule), *want, "{name} (route)");
            assert!(Route::of(event).is(event), "{name}: key of itself");
        }
    }

    #[test]
    fn routing_keys_fold_case_and_blanks() {
        let a = ls(Some("AWS"), Some(""), Some(" CloudTrail"));
        let b = ls(Some("aws"), None, Some("cloudtrail"));
        assert_eq!(Route::of(&a), Route::of(&b));
        assert!(Route::of(&a).is(&b));
        assert!(!Route::of(&a).is(&ls(Some("aws"), None, None)));
        assert!(!Route::of(&a).is(&ls(Some("aws"), Some("x"), Some("cloudtrail"))));
    }
}
