//! Strings from the wire, made safe to print.
//!
//! Host names (the L2TP Host Name AVP, RFC 2661 §4.4.3), vendor names, user names (CHAP
//! Name, RFC 1994 §4.1) and LCP Identification texts (RFC 1570 §2.3) are chosen by the
//! client. Printed raw, a name holding a newline forges a log line and one holding an escape
//! sequence rewrites an admin's terminal. [`Printable`] shows control characters and escapes
//! as Rust escapes (`\n`, `\u{1b}`), keeps ordinary Unicode readable, and caps the length.

use std::fmt;

/// The most characters of a peer-chosen string we print (longer ones end in `…`).
const MAX_CHARS: usize = 128;

/// A peer-chosen string, displayed escaped and capped (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_CHARS {
                return f.write_str("…");
            }
            if c.is_control() || c == '\\' || is_invisible(c) {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Characters that are not control characters but change how text looks: bidirectional
/// overrides (the "Trojan Source" characters) and zero-width marks.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `.printable()` on peer-chosen strings.
pub trait Printable {
    /// The string, escaped and capped for logs and terminals.
    fn printable(&self) -> Escaped<'_>;
}

impl Printable for str {
    fn printable(&self) -> Escaped<'_> {
        Escaped(self)
    }
}

impl Printable for String {
    fn printable(&self) -> Escaped<'_> {
        Escaped(self)
    }
}

/// The string, escaped and capped, as an owned `String`.
pub fn escaped(s: &str) -> String {
    s.printable().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_escapes_are_shown_not_interpreted() {
        assert_eq!(escaped("XPBOX"), "XPBOX");
        assert_eq!(escaped("a\nb"), "a\\nb");
        assert_eq!(escaped("\x1b[2Jgone"), "\\u{1b}[2Jgone");
        assert_eq!(escaped("back\\slash"), "back\\\\slash");
        assert_eq!(escaped("Grüße, Ōsaka"), "Grüße, Ōsaka");
        assert_eq!(escaped("evil\u{202e}txt"), "evil\\u{202e}txt");
        let long = "x".repeat(1000);
        assert_eq!(escaped(&long).chars().count(), MAX_CHARS + 1);
    }
}
