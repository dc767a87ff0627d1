//! Plain-text tables that fit a width: columns aligned, the widest text
//! column cut with an ellipsis when the rows are too wide, optional columns
//! left out when even that is not enough.

const GAP: usize = 2;

/// Columns narrower than this are never cut further.
const FLOOR: usize = 4;

pub struct Column {
    pub header: &'static str,
    /// Numbers: aligned right.
    pub right: bool,
    /// A text column may be cut down to this width (`None`: never cut).
    pub shrink_to: Option<usize>,
    /// Left out when the table does not fit otherwise (rightmost first).
    pub optional: bool,
}

impl Column {
    pub fn text(header: &'static str, shrink_to: usize) -> Column {
        Column {
            header,
            right: false,
            shrink_to: Some(shrink_to),
            optional: false,
        }
    }

    pub fn fixed(header: &'static str) -> Column {
        Column {
            header,
            right: false,
            shrink_to: None,
            optional: false,
        }
    }

    pub fn number(header: &'static str) -> Column {
        Column {
            right: true,
            ..Column::fixed(header)
        }
    }

    pub fn optional(self) -> Column {
        Column {
            optional: true,
            ..self
        }
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn total(widths: &[Option<usize>]) -> usize {
    let shown: Vec<usize> = widths.iter().flatten().copied().collect();
    shown.iter().sum::<usize>() + GAP * shown.len().saturating_sub(1)
}

/// Narrow the widest cuttable column, one character at a time, until the
/// table fits `width` or every cuttable column is at its limit.
fn shrink(widths: &mut [Option<usize>], limits: &[Option<usize>], width: usize) {
    while total(widths) > width {
        let widest = widths
            .iter()
            .zip(limits)
            .enumerate()
            .filter_map(|(i, (w, limit))| match (w, limit) {
                (Some(w), Some(limit)) if w > limit => Some((i, *w)),
                _ => None,
            })
            .max_by_key(|&(i, w)| (w, std::cmp::Reverse(i)));
        let Some((i, _)) = widest else {
            return;
        };
        if let Some(w) = widths[i].as_mut() {
            *w -= 1;
        }
    }
}

/// Column widths (`None`: left out) for rows to fit `width`.
fn layout(columns: &[Column], rows: &[Vec<String>], width: usize) -> Vec<Option<usize>> {
    let natural: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| chars(cell))
                .chain([chars(c.header)])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let limits: Vec<Option<usize>> = columns
        .iter()
        .map(|c| c.shrink_to.map(|n| n.max(FLOOR)))
        .collect();
    let mut widths: Vec<Option<usize>> = natural.iter().map(|&n| Some(n)).collect();
    loop {
        let mut tried = widths.clone();
        shrink(&mut tried, &limits, width);
        if total(&tried) <= width {
            return tried;
        }
        let droppable = columns
            .iter()
            .enumerate()
            .rev()
            .find(|(i, c)| c.optional && widths[*i].is_some());
        match droppable {
            Some((i, _)) => widths[i] = None,
            None => {
                // Still too wide: cut text columns down to the floor.
                let floor: Vec<Option<usize>> =
                    columns.iter().map(|c| c.shrink_to.map(|_| FLOOR)).collect();
                shrink(&mut tried, &floor, width);
                return tried;
            }
        }
    }
}

/// `text` in exactly `width` characters: cut with `…`, or padded.
fn fit(text: &str, width: usize, right: bool, out: &mut String) {
    let n = chars(text);
    if n > width {
        out.extend(text.chars().take(width.saturating_sub(1)));
        out.push('…');
    } else if right {
        out.extend(std::iter::repeat_n(' ', width - n));
        out.push_str(text);
    } else {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', width - n));
    }
}

/// The table with a header row, every line at most `width` characters
/// (unless the fixed columns alone are wider), no trailing spaces.
pub fn render(columns: &[Column], rows: &[Vec<String>], width: usize) -> String {
    let widths = layout(columns, rows, width);
    let header: Vec<String> = columns.iter().map(|c| c.header.to_string()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (c, w)) in columns.iter().zip(&widths).enumerate() {
            let Some(w) = *w else { continue };
            if !line.is_empty() {
                line.extend(std::iter::repeat_n(' ', GAP));
            }
            let cell = row.get(i).map(String::as_str).unwrap_or("");
            fit(cell, w, c.right, &mut line);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<Column> {
        vec![
            Column::fixed("SEVERITY"),
            Column::text("RULE", 20),
            Column::text("GROUP", 10),
            Column::number("EVENTS"),
            Column::fixed("LAST SEEN").optional(),
        ]
    }

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec![
                "high".into(),
                "anomaly.a_rather_long_rule_identifier".into(),
                "service=api,user=someone@example.com".into(),
                "12".into(),
                "2025-01-01T00:00:00Z".into(),
            ],
            vec![
                "low".into(),
                "x.short".into(),
                "".into(),
                "3".into(),
                "2025-01-01T00:00:01Z".into(),
            ],
        ]
    }

    #[test]
    fn wide_enough_keeps_everything_aligned() {
        let t = render(&columns(), &rows(), 200);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(t.contains("service=api,user=someone@example.com"));
        let col = |l: &str, s: &str| l.find(s).expect(s);
        assert_eq!(col(lines[0], "RULE"), col(lines[1], "anomaly"));
        assert_eq!(col(lines[1], "anomaly"), col(lines[2], "x.short"));
        // EVENTS is right-aligned under its header.
        assert_eq!(
            col(lines[0], "EVENTS") + "EVENTS".len(),
            col(lines[1], "12") + 2
        );
    }

    #[test]
    fn narrow_cuts_the_widest_text_column_then_drops_optional_ones() {
        for width in [100, 80, 60, 40] {
            let t = render(&columns(), &rows(), width);
            for l in t.lines() {
                assert!(l.chars().count() <= width, "{width}: {l:?}\n{t}");
                assert_eq!(l, l.trim_end());
            }
            assert!(t.contains('…'), "{width}: {t}");
        }
        let t = render(&columns(), &rows(), 80);
        assert!(t.contains("LAST SEEN"), "{t}");
        let t = render(&columns(), &rows(), 60);
        assert!(!t.contains("LAST SEEN"), "{t}");
    }
}
