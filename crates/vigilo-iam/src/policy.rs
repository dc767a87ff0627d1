//! IAM policy documents: the model and its parser.

use serde::Serialize;
use serde_json::Value;

use crate::error::{InputError, Path};
use crate::glob;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// `Action` / `Resource` (Only) or `NotAction` / `NotResource` (Except).
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Only(Vec<String>),
    Except(Vec<String>),
}

impl Matcher {
    /// Actions: `patterns` are stored lowercased; `action` must be lowercase.
    pub fn matches_action(&self, action: &str) -> bool {
        match self {
            Matcher::Only(p) => p.iter().any(|p| glob::matches(p, action)),
            Matcher::Except(p) => !p.iter().any(|p| glob::matches(p, action)),
        }
    }

    pub fn patterns(&self) -> &[String] {
        match self {
            Matcher::Only(p) | Matcher::Except(p) => p,
        }
    }

    pub fn is_negated(&self) -> bool {
        matches!(self, Matcher::Except(_))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// The `Principal` element of a statement.
#[derive(Debug, Clone)]
pub(crate) enum PrincipalSpec {
    /// `"Principal": "*"`
    Wildcard,
    /// `{"AWS": [...], "Service": [...], "Federated": [...], "CanonicalUser": [...]}`
    Typed(Vec<(String, Vec<String>)>),
}

#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub index: usize,
    pub sid: Option<String>,
    pub effect: Effect,
    pub actions: Matcher,
    /// Original spelling of the action patterns, for evidence.
    pub actions_raw: Vec<String>,
    /// `None` when the statement has no Resource element (trust policies).
    pub resources: Option<Matcher>,
    pub principal: Option<PrincipalSpec>,
    pub not_principal: bool,
    pub conditions: Vec<Condition>,
}

impl Statement {
    /// "Sid" when present, else "#<index>".
    pub fn label(&self) -> String {
        match &self.sid {
            Some(s) if !s.is_empty() => s.clone(),
            _ => format!("#{}", self.index),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PolicyDocument {
    pub statements: Vec<Statement>,
}

/// Decode `%XX` escapes (AWS returns URL-encoded policy documents from the raw API).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a policy document given as a JSON object or as a (possibly
/// URL-encoded) JSON string.
pub(crate) fn parse_document(v: &Value, path: &Path<'_>) -> Result<PolicyDocument, InputError> {
    match v {
        Value::Object(_) => parse_document_object(v, path),
        Value::String(s) => {
            let text = if s.trim_start().starts_with('{') {
                s.clone()
            } else {
                percent_decode(s)
            };
            let inner: Value = serde_json::from_str(&text).map_err(|e| {
                InputError::field(
                    path,
                    format!("policy document string is neither JSON nor URL-encoded JSON ({e})"),
                )
            })?;
            if !inner.is_object() {
                return Err(InputError::field(path, "expected a policy document object"));
            }
            parse_document_object(&inner, path)
        }
        _ => Err(InputError::field(
            path,
            "expected a policy document (object or URL-encoded JSON string)",
        )),
    }
}

fn parse_document_object(v: &Value, path: &Path<'_>) -> Result<PolicyDocument, InputError> {
    let Some(obj) = v.as_object() else {
        return Err(InputError::field(path, "expected an object"));
    };
    let sp = path.key("Statement");
    let statements = match obj.get("Statement") {
        None => return Err(InputError::field(&sp, "missing field")),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| parse_statement(s, i, &sp.index(i)))
            .collect::<Result<Vec<_>, _>>()?,
        Some(s @ Value::Object(_)) => vec![parse_statement(s, 0, &sp)?],
        Some(_) => return Err(InputError::field(&sp, "expected an object or an array")),
    };
    Ok(PolicyDocument { statements })
}

/// A string or an array of strings.
pub(crate) fn string_or_list(v: &Value, path: &Path<'_>) -> Result<Vec<String>, InputError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(InputError::field(&path.index(i), "expected a string")),
            })
            .collect(),
        _ => Err(InputError::field(
            path,
            "expected a string or an array of strings",
        )),
    }
}

fn scalar_list(v: &Value, path: &Path<'_>) -> Result<Vec<String>, InputError> {
    let one = |x: &Value, p: &Path<'_>| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(InputError::field(p, "expected a string, number or boolean")),
    };
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| one(x, &path.index(i)))
            .collect(),
        _ => Ok(vec![one(v, path)?]),
    }
}

fn parse_statement(v: &Value, index: usize, path: &Path<'_>) -> Result<Statement, InputError> {
    let Some(obj) = v.as_object() else {
        return Err(InputError::field(path, "expected a statement object"));
    };
    let sid = match obj.get("Sid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(InputError::field(&path.key("Sid"), "expected a string")),
    };
    let ep = path.key("Effect");
    let effect = match obj.get("Effect") {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("allow") => Effect::Allow,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("deny") => Effect::Deny,
        Some(Value::String(_)) => {
            return Err(InputError::field(&ep, "expected \"Allow\" or \"Deny\""));
        }
        Some(_) => return Err(InputError::field(&ep, "expected a string")),
        None => return Err(InputError::field(&ep, "missing field")),
    };
    let (actions_raw, negated) = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(a), None) => (string_or_list(a, &path.key("Action"))?, false),
        (None, Some(a)) => (string_or_list(a, &path.key("NotAction"))?, true),
        (Some(_), Some(_)) => {
            return Err(InputError::field(
                path,
                "statement has both Action and NotAction",
            ));
        }
        (None, None) => {
            return Err(InputError::field(
                &path.key("Action"),
                "missing field (a statement needs Action or NotAction)",
            ));
        }
    };
    let lowered: Vec<String> = actions_raw.iter().map(|a| a.to_ascii_lowercase()).collect();
    let actions = if negated {
        Matcher::Except(lowered)
    } else {
        Matcher::Only(lowered)
    };
    let resources = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(r), None) => Some(Matcher::Only(string_or_list(r, &path.key("Resource"))?)),
        (None, Some(r)) => Some(Matcher::Except(string_or_list(
            r,
            &path.key("NotResource"),
        )?)),
        (Some(_), Some(_)) => {
            return Err(InputError::field(
                path,
                "statement has both Resource and NotResource",
            ));
        }
        (None, None) => None,
    };
    let (principal, not_principal) = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(p), None) => (Some(parse_principal(p, &path.key("Principal"))?), false),
        (None, Some(p)) => (Some(parse_principal(p, &path.key("NotPrincipal"))?), true),
        (Some(_), Some(_)) => {
            return Err(InputError::field(
                path,
                "statement has both Principal and NotPrincipal",
            ));
        }
        (None, None) => (None, false),
    };
    let mut conditions = Vec::new();
    match obj.get("Condition") {
        None | Some(Value::Null) => {}
        Some(Value::Object(ops)) => {
            let cp = path.key("Condition");
            for (op, keys) in ops {
                let opp = cp.key(op);
                let Some(keys) = keys.as_object() else {
                    return Err(InputError::field(
                        &opp,
                        "expected an object of condition keys",
                    ));
                };
                for (key, values) in keys {
                    let values = scalar_list(values, &opp.key(key))?;
                    conditions.push(Condition {
                        operator: op.clone(),
                        key: key.clone(),
                        values,
                    });
                }
            }
        }
        Some(_) => {
            return Err(InputError::field(
                &path.key("Condition"),
                "expected an object",
            ));
        }
    }
    Ok(Statement {
        index,
        sid,
        effect,
        actions,
        actions_raw,
        resources,
        principal,
        not_principal,
        conditions,
    })
}

fn parse_principal(v: &Value, path: &Path<'_>) -> Result<PrincipalSpec, InputError> {
    match v {
        Value::String(s) if s == "*" => Ok(PrincipalSpec::Wildcard),
        // A bare account id or ARN string is accepted by some tools; treat as AWS.
        Value::String(s) => Ok(PrincipalSpec::Typed(vec![("AWS".into(), vec![s.clone()])])),
        Value::Object(map) => {
            let mut out = Vec::new();
            for (kind, vals) in map {
                out.push((kind.clone(), string_or_list(vals, &path.key(kind))?));
            }
            Ok(PrincipalSpec::Typed(out))
        }
        _ => Err(InputError::field(path, "expected \"*\" or an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_strings_and_arrays() {
        let d = parse_document(
            &json!({"Statement": {"Effect": "Allow", "Action": "S3:GetObject", "Resource": "*"}}),
            &Path::Root,
        )
        .unwrap();
        assert_eq!(d.statements.len(), 1);
        assert!(d.statements[0].actions.matches_action("s3:getobject"));
        let d = parse_document(
            &json!({"Statement": [{"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": ["arn:x"]}]}),
            &Path::Root,
        )
        .unwrap();
        assert!(d.statements[0].actions.is_negated());
        assert!(matches!(
            d.statements[0].resources,
            Some(Matcher::Except(_))
        ));
    }

    #[test]
    fn url_encoded_document() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        let d = parse_document(&json!(enc), &Path::Root).unwrap();
        assert_eq!(d.statements.len(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse_document(
            &json!({"Statement": [{"Effect": "Allow", "Action": ["s3:Get*", 3], "Resource": "*"}]}),
            &Path::Root,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "$.Statement[0].Action[1]: expected a string");
        let e = parse_document(
            &json!({"Statement": [{"Effect": "Maybe", "Action": "*"}]}),
            &Path::Root,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "$.Statement[0].Effect: expected \"Allow\" or \"Deny\""
        );
    }
}
