//! Sanitising of text that came from outside the process (labels, device names,
//! error messages, HTTP bodies) before it reaches a terminal.
//!
//! A hostile or broken exporter can put anything in a label value: escape
//! sequences that recolour or clear the operator's terminal, newlines that break
//! a table row, 10 KB strings. Everything drawn goes through [`sanitize`].

use std::borrow::Cow;

/// Longest string kept from outside; longer ones are cut with an ellipsis.
pub const MAX_LEN: usize = 256;

/// Replaces control characters (C0, C1, DEL, and the bidi overrides) with `�`-free
/// visible stand-ins, collapses line breaks to spaces, and truncates to
/// [`MAX_LEN`] characters. Returns the input unchanged (borrowed) when it is clean,
/// which is the common case and costs no allocation.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    sanitize_max(s, MAX_LEN)
}

/// [`sanitize`] with an explicit length limit in characters.
pub fn sanitize_max(s: &str, max: usize) -> Cow<'_, str> {
    let clean = s.chars().all(|c| !is_unsafe(c)) && s.chars().nth(max).is_none();
    if clean {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => out.push('?'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        // bidi embedding/override/isolate controls can reorder what is shown
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(sanitize("pi-0001 ams"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_newlines_are_neutralised() {
        let s = sanitize("a\u{1b}[2Jb\nc\u{7}\u{9b}31m");
        assert_eq!(s, "a?[2Jb c??31m");
        assert!(!s.chars().any(|c| c.is_control()));
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(10_000);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), MAX_LEN + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn wide_unicode_is_kept() {
        assert_eq!(sanitize("東京-1 🚀"), "東京-1 🚀");
    }

    #[test]
    fn bidi_overrides_are_removed() {
        assert_eq!(sanitize("a\u{202E}b"), "a?b");
    }
}
