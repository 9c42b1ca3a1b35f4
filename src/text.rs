//! Text that came from outside the process (labels, device names, plan fields,
//! error messages, HTTP bodies, git and SSH output, config values) made safe
//! before it reaches a terminal or a commit message.
//!
//! A hostile or broken exporter can put anything in a label value: escape
//! sequences that recolour or clear the operator's terminal, newlines that break
//! a table row, line separators and zero-width characters that shift columns or
//! make two device names look alike, 10 KB strings. The rule (see
//! docs/ARCHITECTURE.md, "Text from outside"):
//!
//! - [`sanitize`] / [`Clean`] for one field shown on one line: every C0/C1
//!   control, DEL, ESC, bidi embedding/override/isolate/mark, U+2028/U+2029 and
//!   zero-width or invisible format character is shown *visibly* as an escape
//!   (`\u{1b}`, `\n`, `\u{200b}`), and the text is cut at [`MAX_LEN`] characters
//!   with an ellipsis.
//! - [`echo`] for input repeated back in an error message (a config value, a
//!   path, an argument): the same, cut shorter.
//! - [`sanitize_block`] for multi-line text printed as it is (a report, a
//!   table): line breaks kept, everything else as above, no length cut.
//!
//! The CLI prints only through [`crate::out`], which applies
//! [`sanitize_block`] to everything it writes, so a printer that forgets a
//! field still cannot send an escape to the terminal.

use std::borrow::Cow;
use std::fmt;

/// Longest string kept from outside; longer ones are cut with an ellipsis.
pub const MAX_LEN: usize = 256;

/// Longest echo of input in an error message.
pub const ECHO_LEN: usize = 120;

/// One field of outside text, safe to show on one line of a terminal or in a
/// commit message. Built only through [`Clean::new`] (or `From<&str>`), which
/// sanitises; views and printers that take a `Clean` cannot receive raw text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Clean(String);

impl Clean {
    /// Sanitises `s` for one line, cut at [`MAX_LEN`].
    pub fn new(s: &str) -> Self {
        Clean(sanitize(s).into_owned())
    }

    /// Sanitises `s` for one line, cut at `max` characters.
    pub fn with_max(s: &str, max: usize) -> Self {
        Clean(sanitize_max(s, max).into_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Clean {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<&str> for Clean {
    fn from(s: &str) -> Self {
        Clean::new(s)
    }
}

impl From<&String> for Clean {
    fn from(s: &String) -> Self {
        Clean::new(s)
    }
}

impl AsRef<str> for Clean {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Makes `s` safe for one line (see the module documentation) and cuts it at
/// [`MAX_LEN`] characters. Returns the input unchanged (borrowed) when it is
/// clean, which is the common case and costs no allocation.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    sanitize_max(s, MAX_LEN)
}

/// Input repeated back in an error message: sanitised, cut at [`ECHO_LEN`].
pub fn echo(s: &str) -> Cow<'_, str> {
    sanitize_max(s, ECHO_LEN)
}

/// A path repeated back in a message: sanitised, cut at [`ECHO_LEN`].
pub fn echo_path(p: &std::path::Path) -> String {
    echo(&p.to_string_lossy()).into_owned()
}

/// [`sanitize`] with an explicit length limit in characters.
pub fn sanitize_max(s: &str, max: usize) -> Cow<'_, str> {
    // Fast path: clean and short enough (checked without a second pass when
    // the byte length already proves the character count).
    let short = s.len() <= max || s.chars().nth(max).is_none();
    if short && !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)) + 8);
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Multi-line text printed as it is: `\n` is kept as a line break (a `\r\n`
/// pair becomes `\n`), a tab as a tab; every other unsafe character is shown
/// escaped. No length cut: callers that echo input use [`echo`] on the field.
pub fn sanitize_block(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && c != '\t' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            c => push_visible(&mut out, c),
        }
    }
    Cow::Owned(out)
}

/// True when `s` holds nothing [`sanitize`] would change (length aside).
pub fn is_clean(s: &str) -> bool {
    !s.chars().any(is_unsafe)
}

fn push_visible(out: &mut String, c: char) {
    use std::fmt::Write as _;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if is_unsafe(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// A character that must not reach a terminal or a commit as it is.
pub fn is_unsafe(c: char) -> bool {
    c.is_control() // C0, DEL, C1 (ESC and CSI included)
        || matches!(c,
            // bidi: embeddings, overrides, isolates, marks (LRM, RLM, ALM)
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            // line and paragraph separators: a terminal may break the line
            | '\u{2028}' | '\u{2029}'
            // zero-width and invisible format characters: look-alike names,
            // widths the terminal does not agree on
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
            | '\u{180E}' | '\u{00AD}' | '\u{034F}' | '\u{115F}' | '\u{1160}'
            | '\u{3164}' | '\u{FFA0}' | '\u{17B4}' | '\u{17B5}'
            // interlinear annotations, object replacement
            | '\u{FFF9}'..='\u{FFFB}'
            // tags (invisible), private-use planes are left alone
            | '\u{E0000}'..='\u{E007F}'
            // noncharacters and specials that terminals draw inconsistently
            | '\u{FFFE}' | '\u{FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(sanitize("pi-0001 ams"), Cow::Borrowed(_)));
        assert!(matches!(sanitize_block("a\n\tb"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_and_newlines_are_shown_escaped() {
        let s = sanitize("a\u{1b}[2Jb\nc\u{7}\u{9b}31m");
        assert_eq!(s, "a\\u{1b}[2Jb\\nc\\u{7}\\u{9b}31m");
        assert!(!s.chars().any(is_unsafe));
    }

    #[test]
    fn osc_title_sequence_is_neutralised() {
        let s = sanitize("WAVE\u{1b}]2;PWNED\u{7}\u{1b}[2J");
        assert_eq!(s, "WAVE\\u{1b}]2;PWNED\\u{7}\\u{1b}[2J");
    }

    #[test]
    fn long_text_is_cut() {
        let long = "x".repeat(10_000);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), MAX_LEN + 1);
        assert!(s.ends_with('…'));
        assert_eq!(echo(&long).chars().count(), ECHO_LEN + 1);
    }

    #[test]
    fn wide_unicode_is_kept() {
        assert_eq!(sanitize("東京-1 🚀"), "東京-1 🚀");
    }

    #[test]
    fn bidi_separators_and_zero_width_are_made_visible() {
        assert_eq!(sanitize("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(
            sanitize("pi-evil\u{2028}\u{2029}"),
            "pi-evil\\u{2028}\\u{2029}"
        );
        assert_eq!(sanitize("pi\u{200B}-1\u{FEFF}"), "pi\\u{200b}-1\\u{feff}");
        assert_eq!(
            sanitize("x\u{061C}\u{2060}\u{200D}"),
            "x\\u{61c}\\u{2060}\\u{200d}"
        );
        // a look-alike is no longer equal to the name it imitates
        assert_ne!(sanitize("pi-e\u{200B}vil"), sanitize("pi-evil"));
    }

    #[test]
    fn block_keeps_line_breaks_only() {
        assert_eq!(
            sanitize_block("a\r\nb\n\u{1b}[31mc\rd"),
            "a\nb\n\\u{1b}[31mc\\rd"
        );
    }

    #[test]
    fn clean_type_sanitises_and_pads() {
        let c = Clean::new("ab\u{1b}");
        assert_eq!(c.as_str(), "ab\\u{1b}");
        assert_eq!(format!("[{:<10}]", c), "[ab\\u{1b}  ]");
    }
}
