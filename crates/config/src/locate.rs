//! Where a problem is: `file:line:column: reason` formatting, and finding the line of a key in
//! the YAML text (serde_yaml reports the line of syntax errors only; checks that run on the
//! parsed values look the key up again).

use std::path::Path;

/// `file:line:column: ` formatting shared by every problem type of this crate.
pub(crate) struct Location<'a> {
    file: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl<'a> Location<'a> {
    pub(crate) fn new(file: &'a Path, line: Option<usize>, column: Option<usize>) -> Self {
        Self { file, line, column }
    }

    pub(crate) fn prefix_and(&self, reason: &str) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}: {reason}", self.file.display()),
            (Some(l), None) => format!("{}:{l}: {reason}", self.file.display()),
            _ => format!("{}: {reason}", self.file.display()),
        }
    }
}

/// The line and column of a serde_yaml error, when it has them.
pub(crate) fn yaml_location(e: &serde_yaml::Error) -> (Option<usize>, Option<usize>) {
    e.location()
        .map_or((None, None), |l| (Some(l.line()), Some(l.column())))
}

/// The message of a serde_yaml error without its trailing " at line L column C".
pub(crate) fn yaml_reason(e: &serde_yaml::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) if e.location().is_some() => s.get(..i).unwrap_or(&s).to_owned(),
        _ => s,
    }
}

/// Finds the 1-based line of a nested block-style key, e.g. `["pool", "cidr"]`. An empty path
/// gives `None` (the whole file). If the innermost key is absent, the line of the deepest key
/// found is returned, so a problem with a defaulted value points at its section.
pub(crate) fn find_key_line(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = None;
    // Search window: line indices [start, end) and the indentation the parent key had.
    let mut start = 0usize;
    let mut end = lines.len();
    let mut parent_indent: Option<usize> = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().take(end).skip(start) {
            let Some((indent, rest)) = split_indent(line) else {
                continue;
            };
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            if parent_indent.is_none() && indent > 0 {
                continue;
            }
            if key_matches(rest, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else { return found };
        found = Some(i + 1);
        start = i + 1;
        parent_indent = Some(indent);
        // The window for the next key ends at the next line at this indent or less.
        end = lines
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, l)| split_indent(l).is_some_and(|(ind, _)| ind <= indent))
            .map_or(lines.len(), |(j, _)| j);
        if start >= end {
            // Inline value (`key: value`): no children to search.
            break;
        }
    }
    found
}

/// Indentation and the rest of a line, skipping blank lines, comments and a list dash.
fn split_indent(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
        return None;
    }
    let indent = line.len() - trimmed.len();
    Some((indent, trimmed.strip_prefix("- ").unwrap_or(trimmed)))
}

fn key_matches(rest: &str, key: &str) -> bool {
    let rest = rest.trim_start_matches(['"', '\'']);
    rest.strip_prefix(key).is_some_and(|r| {
        let r = r.trim_start_matches(['"', '\'']);
        r.starts_with(':')
    })
}

/// The 1-based line of the `n`-th (0-based) occurrence of `key:` in the text (block or flow
/// style), used to point at the `n`-th entry of a list of mappings.
pub(crate) fn nth_key_line(text: &str, key: &str, n: usize) -> Option<usize> {
    let mut count = 0usize;
    for (i, line) in text.lines().enumerate() {
        let code = line.split_once(" #").map_or(line, |(c, _)| c);
        if code.trim_start().starts_with('#') {
            continue;
        }
        let mut from = 0usize;
        while let Some(pos) = code.get(from..).and_then(|s| s.find(key)) {
            let at = from + pos;
            let before_ok = at == 0
                || code
                    .get(..at)
                    .and_then(|s| s.chars().next_back())
                    .is_some_and(|c| matches!(c, ' ' | '\t' | '{' | ',' | '-'));
            let after_ok = code
                .get(at + key.len()..)
                .is_some_and(|s| s.starts_with(':'));
            if before_ok && after_ok {
                if count == n {
                    return Some(i + 1);
                }
                count += 1;
            }
            from = at + key.len();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_key_line_walks_nesting() {
        let text = "a:\n  b: 1\n  c:\n    d: 2\n# comment\ne: 3\nc:\n  d: 4\n";
        assert_eq!(find_key_line(text, &["a", "c", "d"]), Some(4));
        assert_eq!(find_key_line(text, &["c", "d"]), Some(8));
        assert_eq!(find_key_line(text, &["e"]), Some(6));
        // Missing leaf: the section's line.
        assert_eq!(find_key_line(text, &["a", "zz"]), Some(1));
        assert_eq!(find_key_line(text, &["zz"]), None);
        assert_eq!(find_key_line(text, &[]), None);
    }

    #[test]
    fn nth_key_line_counts_entries() {
        let text = "users:\n  - name: a\n    password: x\n  - {name: b, password: y}\n  # name: c\n  - name: d\n";
        assert_eq!(nth_key_line(text, "name", 0), Some(2));
        assert_eq!(nth_key_line(text, "name", 1), Some(4));
        assert_eq!(nth_key_line(text, "name", 2), Some(6));
        assert_eq!(nth_key_line(text, "name", 3), None);
    }

    #[test]
    fn locations_format() {
        let f = Path::new("/etc/x.yaml");
        assert_eq!(
            Location::new(f, Some(3), Some(7)).prefix_and("bad"),
            "/etc/x.yaml:3:7: bad"
        );
        assert_eq!(
            Location::new(f, Some(3), None).prefix_and("bad"),
            "/etc/x.yaml:3: bad"
        );
        assert_eq!(
            Location::new(f, None, None).prefix_and("bad"),
            "/etc/x.yaml: bad"
        );
    }
}
