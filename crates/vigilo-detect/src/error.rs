use std::fmt;

/// One problem found while compiling rule sources.
///
/// Displayed as `origin:line: rule `x`: message`; the line and rule parts are
/// left out when unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The source's label, usually its file path.
    pub origin: String,
    /// The rule's id (Sigma `name`, else `id`, else `title`) when it could be read.
    pub rule: Option<String>,
    /// 1-based line in the source text.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`: ")?;
        }
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_parts() {
        let e = RuleError {
            origin: "rules/a.yml".into(),
            rule: Some("x".into()),
            line: Some(7),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "rules/a.yml:7: rule `x`: bad");
        let e = RuleError {
            origin: "rules/a.yml".into(),
            rule: None,
            line: None,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "rules/a.yml: bad");
    }
}
