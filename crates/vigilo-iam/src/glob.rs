//! IAM wildcard matching (`*` = any run of characters, `?` = exactly one).

/// Does `text` match the IAM `pattern`? Byte-wise; callers lowercase both
/// sides for case-insensitive matching (actions).
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    match p.iter().position(|&c| c == b'*' || c == b'?') {
        None => return p == t,
        // The common `prefix*` shape.
        Some(i) if i + 1 == p.len() && p[i] == b'*' => return t.starts_with(&p[..i]),
        Some(_) => {}
    }
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) && p[pi] != b'*' {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Case-insensitive match (for actions and service principals).
pub(crate) fn matches_ci(pattern: &str, text: &str) -> bool {
    if pattern.bytes().any(|b| b.is_ascii_uppercase())
        || text.bytes().any(|b| b.is_ascii_uppercase())
    {
        matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
    } else {
        matches(pattern, text)
    }
}

/// Is every string matched by `inner` also matched by `outer`?
///
/// Sound but not complete: a `true` answer is always right; a `false` answer
/// may occasionally miss an inclusion that holds. A `*` in `inner` can only be
/// absorbed by a `*` in `outer`; a `?` in `inner` by `?` or `*`.
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    if outer == "*" || outer == inner {
        return true;
    }
    let (o, i) = (outer.as_bytes(), inner.as_bytes());
    // Dynamic programming over (position in outer, position in inner); too
    // large a table answers "not covered", which is the safe answer.
    let (n, m) = (o.len(), i.len());
    if (n + 1).saturating_mul(m + 1) > 4_000_000 {
        return false;
    }
    // row[j]: does o[k..] cover i[j..] (k is the current row, from n down to 0)?
    let mut next = vec![false; m + 1];
    next[m] = true;
    for k in (0..n).rev() {
        let mut row = vec![false; m + 1];
        for j in (0..=m).rev() {
            row[j] = match o[k] {
                // `*` absorbs nothing (next[j]) or one more symbol of inner (row[j + 1]).
                b'*' => next[j] || (j < m && row[j + 1]),
                oc => {
                    j < m
                        && match i[j] {
                            b'*' => false,
                            b'?' => oc == b'?',
                            ic => oc == b'?' || oc == ic,
                        }
                        && next[j + 1]
                }
            };
        }
        next = row;
    }
    next[0]
}

/// Could some string match both patterns? Conservative (may say yes when no).
pub(crate) fn may_intersect(a: &str, b: &str) -> bool {
    let wild = |s: &str| s.contains(['*', '?']);
    match (wild(a), wild(b)) {
        (false, false) => a == b,
        (true, false) => matches(a, b),
        (false, true) => matches(b, a),
        (true, true) => {
            // Compare the literal prefixes and suffixes.
            let pa = a.split(['*', '?']).next().unwrap_or("");
            let pb = b.split(['*', '?']).next().unwrap_or("");
            let sa = a.rsplit(['*', '?']).next().unwrap_or("");
            let sb = b.rsplit(['*', '?']).next().unwrap_or("");
            (pa.starts_with(pb) || pb.starts_with(pa)) && (sa.ends_with(sb) || sb.ends_with(sa))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark() {
        assert!(matches("*", ""));
        assert!(matches("iam:*", "iam:createuser"));
        assert!(matches("iam:create*", "iam:createuser"));
        assert!(!matches("iam:create*", "iam:deleteuser"));
        assert!(matches("s3:get?bject", "s3:getobject"));
        assert!(!matches("s3:get?bject", "s3:getbject"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches(
            "arn:aws:iam::*:policy/fn2-*",
            "arn:aws:iam::1:policy/fn2-x"
        ));
    }

    #[test]
    fn case_insensitive() {
        assert!(matches_ci("IAM:CreateUser", "iam:createuser"));
        assert!(matches_ci("iam:create*", "IAM:CreateUser"));
    }

    #[test]
    fn coverage() {
        assert!(covers("*", "arn:aws:s3:::b/*"));
        assert!(covers("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/*"));
        assert!(!covers("arn:aws:s3:::b/x/*", "arn:aws:s3:::b/*"));
        assert!(!covers("a?c", "a*c"));
        assert!(covers("a*c", "a?c"));
        assert!(!covers("arn:aws:iam::aws:policy/fp4-*", "*"));
        assert!(covers("a*", "a*b*"));
        assert!(!covers("a*b", "a*"));
        // Pathological patterns stay cheap.
        let outer = "a*".repeat(500) + "b";
        let inner = "a".repeat(3000);
        assert!(!covers(&outer, &inner));
    }

    #[test]
    fn intersection() {
        assert!(may_intersect(
            "arn:aws:iam::*:policy/x",
            "arn:aws:iam::1:policy/*"
        ));
        assert!(!may_intersect("arn:a", "arn:b"));
    }
}
