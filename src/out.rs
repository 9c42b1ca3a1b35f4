//! The only way the CLI writes to stdout and stderr (docs/ARCHITECTURE.md,
//! "Text from outside").
//!
//! Everything written through [`outln!`](crate::outln) / [`out!`](crate::out)
//! / [`errln!`](crate::errln) passes through [`text::sanitize_block`]: line
//! breaks stay, every control, escape, bidi, separator and zero-width
//! character is shown escaped. `println!`/`eprintln!` are disallowed by
//! `clippy.toml`, so a printer that forgets to clean a field is a lint error,
//! not a terminal hijack. JSON goes through [`json`]: exact, with the
//! characters a terminal would act on written as `\uXXXX` escapes (still the
//! same JSON value).
//!
//! Write errors (a closed pipe, a terminal that went away) are ignored rather
//! than panicking the way `println!` does: the command's exit code still says
//! how it went.

use crate::text;
use std::io::Write;

/// Writes `s` to stdout, sanitised.
pub fn stdout_str(s: &str) {
    let clean = text::sanitize_block(s);
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(clean.as_bytes());
    let _ = o.flush();
}

/// Writes `s` to stderr, sanitised.
pub fn stderr_str(s: &str) {
    let clean = text::sanitize_block(s);
    let mut o = std::io::stderr().lock();
    let _ = o.write_all(clean.as_bytes());
    let _ = o.flush();
}

/// Serialises `v` as pretty JSON with terminal-active characters escaped.
pub fn json_string<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, serde_json::Error> {
    Ok(escape_json(&serde_json::to_string_pretty(v)?))
}

/// Prints `v` as pretty JSON followed by a newline (see [`json_string`]).
pub fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<(), serde_json::Error> {
    let s = json_string(v)?;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
    Ok(())
}

/// serde_json escapes C0 controls but not DEL, C1, bidi or zero-width
/// characters. Outside strings JSON is ASCII, so every such character found is
/// inside a string and `\uXXXX` (a surrogate pair above U+FFFF) denotes the
/// same character: the value parses back identical.
pub fn escape_json(s: &str) -> String {
    use std::fmt::Write as _;
    if !s.chars().any(text::is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if text::is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r') {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{:04x}", unit);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `println!` for the CLI: sanitised, never panics.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::stdout_str("\n") };
    ($($arg:tt)*) => {{
        let mut s = format!($($arg)*);
        s.push('\n');
        $crate::out::stdout_str(&s)
    }};
}

/// `print!` for the CLI: sanitised, never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::out::stdout_str(&format!($($arg)*)) };
}

/// `eprintln!` for the CLI: sanitised, never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        let mut s = format!($($arg)*);
        s.push('\n');
        $crate::out::stderr_str(&s)
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_stays_exact_but_inert() {
        let v = serde_json::json!({"wave": "W\u{1b}]2;X\u{7}\u{9b}\u{202e}\u{2028}\u{7f}", "n": 1});
        let s = json_string(&v).unwrap();
        assert!(!s.chars().any(|c| text::is_unsafe(c) && c != '\n'), "{s:?}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn astral_unsafe_becomes_surrogate_pair() {
        let v = serde_json::json!(["a\u{E0041}"]);
        let s = json_string(&v).unwrap();
        assert!(s.contains("\\udb40\\udc41"), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
