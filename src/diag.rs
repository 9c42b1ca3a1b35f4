//! Diagnostics for the TOML files fleetdeck reads (config, themes, rollout
//! plans): the located error [`ConfigError`] and its printing, the duration
//! type [`Dur`], and *where* a key is written, from toml's own spans
//! ([`Spans`], [`toml::de::Error::span`]) — no scanning of the text.
//!
//! Everything that prints here may hold outside text; see "Text from
//! outside" in docs/ARCHITECTURE.md.

use crate::text;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

// ---- the located error -----------------------------------------------------

/// A problem in a config, plan or theme file, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a place in the file.
    pub line: usize,
    pub column: usize,
    /// Dotted key path, e.g. `source.kind`.
    pub key: String,
    pub message: String,
    pub hint: String,
}

/// [`text::echo`], bounded in what it prints too: an escape takes up to ten
/// characters (`\u{e007f}`), so 120 input characters could print as 1,200
/// (30 U+2028 printed 240). Cut at [`text::ECHO_LEN`] printed characters,
/// never inside an escape. Every echo of config and theme input uses this.
pub fn echo(s: &str) -> Cow<'_, str> {
    bounded(s, text::ECHO_LEN)
}

/// `s` made safe and cut at `max` *printed* characters, never inside an
/// escape, with `…` when cut.
fn bounded(s: &str, max: usize) -> Cow<'_, str> {
    let e = text::sanitize_max(s, max);
    if e.chars().count() <= max + 1 {
        return e;
    }
    let mut out = String::with_capacity(max * 4);
    let mut n = 0;
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        // One printed unit: a character, or a whole escape (`\u{…}`, `\n`).
        let mut unit = String::from(c);
        if c == '\\' {
            match chars.next() {
                Some('u') if chars.peek() == Some(&'{') => {
                    unit.push('u');
                    for d in chars.by_ref() {
                        unit.push(d);
                        if d == '}' {
                            break;
                        }
                    }
                }
                Some(d) => unit.push(d),
                None => {}
            }
        }
        let len = unit.chars().count();
        if n + len > max {
            out.push('…');
            return Cow::Owned(out);
        }
        n += len;
        out.push_str(&unit);
    }
    Cow::Owned(out)
}

/// A path echoed like [`echo`].
pub fn echo_path(p: &Path) -> String {
    echo(&p.to_string_lossy()).into_owned()
}

/// Longest message or hint shown: values inside are already cut at
/// [`text::ECHO_LEN`]; this bounds whatever a library wrote around them.
const MESSAGE_MAX: usize = 300;

/// Longest line an error prints (its first line: file, key and message).
const LINE_MAX: usize = 300;

impl fmt::Display for ConfigError {
    // Everything here may hold outside text (a hostile path, key or value):
    // each part is made safe and cut, whoever built the error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = echo(&self.file);
        let mut head = if self.line > 0 {
            format!("{file}:{}:{}: ", self.line, self.column)
        } else {
            format!("{file}: ")
        };
        if !self.key.is_empty() {
            head.push_str(&format!("key '{}': ", echo(&self.key)));
        }
        // The first line shares its width with the file and the key; a list
        // of what is valid goes on wrapped lines of its own.
        let budget = LINE_MAX.saturating_sub(head.chars().count()).max(80);
        let (first, list) = split_list(&self.message);
        write!(f, "{head}{}", bounded(first, budget))?;
        if let Some(list) = list {
            for l in wrap(&bounded(list, 4000), 96) {
                write!(f, "\n  {l}")?;
            }
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", safe_lines(&self.hint))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A hint over one or more lines: every line made safe and cut at
/// [`MESSAGE_MAX`] printed characters. Values inside were echoed where the
/// text was built, so a line break here is the text's own, never the input's.
fn safe_lines(s: &str) -> String {
    s.split('\n')
        .map(|l| bounded(l, MESSAGE_MAX))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A message whose tail lists what is valid ("…? valid roles are: a, b…",
/// "…; available themes: …"): (head with its ';' or '?', the list).
fn split_list(message: &str) -> (&str, Option<&str>) {
    let at = ["; valid ", "? valid ", "; available "]
        .iter()
        .filter_map(|m| message.find(m))
        .min();
    match at {
        Some(i) => (&message[..=i], Some(&message[i + 2..])),
        None => (message, None),
    }
}

/// Words of `s` in lines of at most `width` characters (a longer word, at
/// most an echo, gets a line of its own).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A library's message about the input, with every quoted part (`…` or
/// "…") echoed: made safe and cut at [`text::ECHO_LEN`], so a 4 MB value is
/// not repeated whole. The rest is made safe too.
pub fn tame(message: &str) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = next_quote(rest) {
        let quote = rest.as_bytes()[i] as char;
        out.push_str(&text::sanitize_max(&rest[..i], UNQUOTED_MAX));
        out.push(quote);
        let after = &rest[i + 1..];
        // Debug-quoted strings escape their quotes: skip `\"`.
        let mut end = None;
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' && quote == '"' {
                escaped = true;
            } else if c == quote && (quote != '\'' || closes(&after[j + 1..])) {
                end = Some(j);
                break;
            }
        }
        match end {
            Some(j) => {
                out.push_str(&echo(&after[..j]));
                out.push(quote);
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&echo(after));
                rest = "";
            }
        }
    }
    out.push_str(&text::sanitize_max(rest, UNQUOTED_MAX));
    out
}

/// The library's own words around quoted input (lists of valid keys): made
/// safe, cut only as a safety net; the printers cut lines further.
const UNQUOTED_MAX: usize = 2000;

/// The next opening quote: ` or " anywhere, ' only where a word starts (not
/// an apostrophe).
fn next_quote(s: &str) -> Option<usize> {
    s.char_indices()
        .find(|&(i, c)| {
            c == '`'
                || c == '"'
                || (c == '\''
                    && s[..i]
                        .chars()
                        .next_back()
                        .is_none_or(|p| p.is_whitespace() || "([{:=".contains(p)))
        })
        .map(|(i, _)| i)
}

/// Whether a ' followed by `rest` closes a quote (end, space or punctuation).
fn closes(rest: &str) -> bool {
    rest.chars()
        .next()
        .is_none_or(|c| c.is_whitespace() || ";,:.)]?!".contains(c))
}

// ---- durations ------------------------------------------------------------

/// A duration written as `"5s"`, `"250ms"`, `"2m"`, `"1h30m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `"5s"`, `"250ms"`, `"2m"`, `"1h30m"`, `"1.5s"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "'{}' is not a duration; write it like '5s', '250ms', '2m' or '1h30m'",
            echo(s)
        )
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += n * factor;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

// ---- where things are written ---------------------------------------------

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Where the keys of a TOML text are written, from the spans toml's parser
/// records for every key and value. Built only when an error needs a place.
pub struct Spans<'a> {
    text: &'a str,
    /// `None` when the text is not TOML: nothing can be located then.
    root: Option<Spanned<DeTable<'a>>>,
}

/// One step of a dotted key path: `name`, `"quoted name"`, then `[n]`s.
struct Step<'k> {
    name: &'k str,
    quoted: bool,
    indices: Vec<usize>,
}

impl<'a> Spans<'a> {
    pub fn parse(text: &'a str) -> Spans<'a> {
        Spans {
            text,
            root: DeTable::parse(text).ok(),
        }
    }

    /// Line and column of a dotted key (`source.kind`, `signing.keys[1]`,
    /// `registry.mirrors."registry.local"`, `waves[2].sites[0]`):
    ///
    /// - a `key = value` → the key as written (a dotted `source.timeout = …`
    ///   where it starts);
    /// - a table with a header (`[metrics.cpu]`, the n-th `[[waves]]`) → its header;
    /// - an element of an inline array → the array's key (a field of an
    ///   inline table in it → that field);
    /// - a key that is not written (a missing key) → the nearest enclosing
    ///   table or key that is; `None` when nothing of it is written.
    ///
    /// Names holding dots may be written unquoted (`registry.auth.ghcr.io`,
    /// as serde writes paths): every way of grouping the parts is tried.
    pub fn locate(&self, key: &str) -> Option<(usize, usize)> {
        self.find(key, None)
            .map(|offset| line_col(self.text, offset))
    }

    /// Line and column of the string `value` at `key` (the value itself, or
    /// the element of the array there that equals it); `None` when `key`
    /// holds no such string.
    pub fn locate_value(&self, key: &str, value: &str) -> Option<(usize, usize)> {
        self.find(key, Some(value))
            .map(|offset| line_col(self.text, offset))
    }

    fn find(&self, key: &str, value: Option<&str>) -> Option<usize> {
        let root = self.root.as_ref()?;
        let steps = steps(key)?;
        let mut best = None;
        let found = walk(root.get_ref(), &steps, value, &mut best, None);
        match value {
            Some(_) => found,
            None => found.or(best),
        }
    }
}

/// Shorthand for [`Spans::locate`] on `text`.
pub fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    Spans::parse(text).locate(key)
}

/// `a."b.c"[1].d` → steps; `None` for an empty key.
fn steps(key: &str) -> Option<Vec<Step<'_>>> {
    if key.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = key;
    loop {
        let (name, quoted, after) = match rest.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (&q[..end], true, &q[end + 1..]),
                None => (q, true, ""),
            },
            None => {
                let end = rest.find('.').unwrap_or(rest.len());
                (&rest[..end], false, &rest[end..])
            }
        };
        // Trailing `[n]` indices belong to this step.
        let (name, mut indices) = if quoted {
            (name, Vec::new())
        } else {
            split_indices(name)
        };
        let mut after = after;
        if quoted {
            let (more, tail) = leading_indices(after);
            indices = more;
            after = tail;
        }
        out.push(Step {
            name,
            quoted,
            indices,
        });
        match after.strip_prefix('.') {
            Some(next) => rest = next,
            None => break,
        }
    }
    Some(out)
}

/// `keys[1][2]` → (`keys`, [1, 2]); brackets not holding a number stay in the name.
fn split_indices(name: &str) -> (&str, Vec<usize>) {
    let mut end = name.len();
    let mut indices = Vec::new();
    while name[..end].ends_with(']') {
        let Some(open) = name[..end].rfind('[') else {
            break;
        };
        match name[open + 1..end - 1].parse::<usize>() {
            Ok(i) if open > 0 => {
                indices.push(i);
                end = open;
            }
            _ => break,
        }
    }
    indices.reverse();
    (&name[..end], indices)
}

/// `[1][2].rest` → ([1, 2], `.rest`).
fn leading_indices(mut s: &str) -> (Vec<usize>, &str) {
    let mut indices = Vec::new();
    while let Some(inner) = s.strip_prefix('[') {
        let Some(close) = inner.find(']') else { break };
        let Ok(i) = inner[..close].parse::<usize>() else {
            break;
        };
        indices.push(i);
        s = &inner[close + 1..];
    }
    (indices, s)
}

/// Finds `steps` under `table`; `best` is the nearest enclosing place found
/// so far, `anchor` where the dotted key that opened `table` starts (when
/// one did). With `value`, the string equal to it at the end of the path.
fn walk(
    table: &DeTable<'_>,
    steps: &[Step<'_>],
    value: Option<&str>,
    best: &mut Option<usize>,
    anchor: Option<usize>,
) -> Option<usize> {
    let first = steps.first()?;
    // An unquoted name may hold dots: `a.b.c` may be the key "a.b" then "c".
    let groupings = if first.quoted {
        1
    } else {
        steps.iter().take_while(|s| !s.quoted).count()
    };
    // Grown one part at a time, never past the longest key of the table: a
    // hostile key of many dots costs its length, not its length squared.
    let longest = table.keys().map(|k| k.get_ref().len()).max().unwrap_or(0);
    let mut name = String::new();
    for take in 1..=groupings {
        let part = &steps[take - 1];
        if take > 1 {
            // Only the last part of a grouping may carry indices.
            if !steps[take - 2].indices.is_empty() {
                break;
            }
            name.push('.');
        }
        name.push_str(part.name);
        if name.len() > longest {
            break;
        }
        let Some((k, v)) = table.get_key_value(name.as_str()) else {
            continue;
        };
        let rest = &steps[take..];
        if let Some(found) = entry((k, v), &part.indices, rest, value, best, anchor) {
            return Some(found);
        }
    }
    None
}

/// The place of one `key = value` (or header table), then of `indices` and
/// `rest` inside its value.
fn entry(
    (key, value): (&Spanned<Cow<'_, str>>, &Spanned<DeValue<'_>>),
    indices: &[usize],
    rest: &[Step<'_>],
    want: Option<&str>,
    best: &mut Option<usize>,
    anchor: Option<usize>,
) -> Option<usize> {
    let (k, v) = (key.span().start, value.span().start);
    // A header (`[a.b]`, `[[a]]`) starts before the key it names; a
    // `key = value` starts at its key, the first part of a dotted one
    // (`source.timeout = …`).
    let header = v < k;
    let start = if header { v } else { anchor.unwrap_or(k) };
    *best = Some(start);
    // A table no header or value opened (the `source` of `source.timeout`,
    // the `metrics` of `[metrics.cpu]`) has the span of its key.
    let implicit = v == k && indices.is_empty();
    let mut at: &Spanned<DeValue<'_>> = value;
    for (n, &i) in indices.iter().enumerate() {
        let DeValue::Array(items) = at.get_ref() else {
            return None;
        };
        let item = items.get(i)?;
        // The n-th `[[a]]` has a header of its own; an element of an inline
        // array is shown at the array's key.
        if header && n == 0 {
            *best = Some(item.span().start);
        }
        at = item;
    }
    if rest.is_empty() {
        return match want {
            None => *best,
            Some(s) => string_at(at, s),
        };
    }
    match at.get_ref() {
        DeValue::Table(t) => walk(t, rest, want, best, implicit.then_some(start)),
        _ => None,
    }
}

/// Offset of the string `s` in `value` (itself, or an element of it).
fn string_at(value: &Spanned<DeValue<'_>>, s: &str) -> Option<usize> {
    match value.get_ref() {
        DeValue::String(v) if v == s => Some(value.span().start),
        DeValue::Array(items) => items
            .iter()
            .find(|i| i.get_ref().as_str() == Some(s))
            .map(|i| i.span().start),
        _ => None,
    }
}

// ---- deserialising ----------------------------------------------------------

/// A toml or serde failure, located: toml's span when it gives one, else the
/// span of the key path serde was at (toml gives no span for some errors a
/// `Deserialize` impl raises after the value was read).
pub struct TomlFailure {
    pub line: usize,
    pub column: usize,
    /// Dotted key path, `""` at the top; an unknown field is named itself.
    pub key: String,
    /// The library's message, untouched: callers [`tame`] it.
    pub message: String,
    /// The text is not TOML (rather than TOML holding a wrong value).
    pub syntax: bool,
}

/// Deserialises TOML `text` into `T`, locating any failure.
pub fn deserialize_located<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, TomlFailure> {
    let de = toml::Deserializer::parse(text).map_err(|e| failure(text, "", &e, true))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        failure(text, &path, e.inner(), false)
    })
}

fn failure(text: &str, path: &str, e: &toml::de::Error, syntax: bool) -> TomlFailure {
    let (line, column) = e
        .span()
        .map(|s: Range<usize>| line_col(text, s.start))
        // No span from toml: where serde was, found by the spans of the text.
        .or_else(|| locate(text, path))
        .unwrap_or((0, 0));
    let message = e.message().trim().to_string();
    // For an unknown field, serde's path stops at the table: add the field itself.
    let key = match (unknown_field_name(&message), path.is_empty()) {
        (Some(f), true) => f,
        (Some(f), false) if !path.ends_with(&f) => format!("{path}.{f}"),
        _ => path.to_string(),
    };
    TomlFailure {
        line,
        column,
        key,
        message,
        syntax,
    }
}

/// Deserialises TOML text into `T`, turning any error into a [`ConfigError`]
/// located in `file` with the dotted key path (config and plan files).
pub fn deserialize<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, ConfigError> {
    deserialize_located(text).map_err(|f| config_error(file, f))
}

fn config_error(file: &str, f: TomlFailure) -> ConfigError {
    let raw = f.message.as_str();
    // serde lists what is valid after the value: that goes to the hint, so the
    // first line stays short whatever was written.
    let (head, valid) = match raw.split_once(", expected ") {
        Some((h, v)) if raw.starts_with("unknown field") || raw.starts_with("unknown variant") => {
            (h, Some(v))
        }
        _ => (raw, None),
    };
    let message = tame(head);
    let mut hint = hint_for(&message);
    if let Some(v) = valid {
        let v = v.strip_prefix("one of ").unwrap_or(v).replace('`', "");
        hint = if message.starts_with("unknown field") {
            format!("valid here: {v}; remove this key or fix its spelling")
        } else {
            format!("use one of: {v}")
        };
    }
    ConfigError {
        file: file.to_string(),
        line: f.line,
        column: f.column,
        key: f.key,
        message,
        hint,
    }
}

fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn hint_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove this key or fix its spelling; config.example.toml documents every key".into()
    } else if message.starts_with("unknown variant") {
        "use one of the values listed above".into()
    } else if message.starts_with("invalid type") {
        "change the value to the type shown above; strings need quotes, durations are strings like '5s'".into()
    } else if message.contains("is not a duration") {
        "durations are strings like '5s', '250ms', '2m'".into()
    } else if message.contains("sha256") || message.contains("digest") {
        "pin images by digest: REPO@sha256:<64 hex digits>".into()
    } else if message.starts_with("missing field") {
        "add the missing key".into()
    } else {
        "see config.example.toml for the expected form".into()
    }
}

/// A TOML text and the name of its file: builds errors located at a key.
pub struct Located<'a> {
    pub text: &'a str,
    pub file: &'a str,
}

impl Located<'_> {
    /// A [`ConfigError`] at `key` (0:0 when the key is not written).
    pub fn err(
        &self,
        key: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = locate(self.text, key).unwrap_or((0, 0));
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn locate_finds_keys_and_tables() {
        let t = "# c\n[source]\nkind = \"x\"\n\n[metrics.cpu]\n  metric = \"y\"\n";
        assert_eq!(locate(t, "source.kind"), Some((3, 1)));
        assert_eq!(locate(t, "metrics.cpu"), Some((5, 1)));
        assert_eq!(locate(t, "metrics.cpu.metric"), Some((6, 3)));
        assert_eq!(locate(t, "metrics.cpu.quantile"), Some((5, 1)));
        assert_eq!(locate(t, "nothing"), None);
        assert_eq!(locate("not = = toml", "not"), None);
    }

    #[test]
    fn locate_points_into_arrays_and_inline_tables() {
        let t = "[signing]\nkeys = [\"a.pub\", \"b.pub\"]\nidentities = [{ subject = \"x\", subject_regex = \"(\" }]\n";
        assert_eq!(locate(t, "signing.keys[1]"), Some((2, 1)));
        assert_eq!(
            locate(t, "signing.identities[0].subject_regex"),
            Some((3, 32))
        );
        // The element asked for, not the first field of that name on the line.
        let t = "ids = [{ s = 1 }, { s = 2 }]\n";
        assert_eq!(locate(t, "ids[1].s"), Some((1, 21)));
        assert_eq!(locate_value("k = [\"x\", \"j\"]\n", "k"), None);
        assert_eq!(
            Spans::parse("k = [\"x\", 'j']\n").locate_value("k", "j"),
            Some((1, 11))
        );
    }

    fn locate_value(t: &str, k: &str) -> Option<(usize, usize)> {
        Spans::parse(t).locate_value(k, "nope")
    }

    #[test]
    fn locate_reads_quoted_and_dotted_names() {
        let t = "[registry.auth.\"ghcr.io\"]\nusername = \"u\"\ntoken_file = \"t\"\n\n[registry.mirrors]\n\"reg.local\" = \"h:1\"\n";
        assert_eq!(locate(t, "registry.auth.ghcr.io.token_file"), Some((3, 1)));
        assert_eq!(
            locate(t, "registry.auth.\"ghcr.io\".token_file"),
            Some((3, 1))
        );
        assert_eq!(locate(t, "registry.auth.ghcr.io"), Some((1, 1)));
        assert_eq!(locate(t, "registry.mirrors.\"reg.local\""), Some((6, 1)));
        let waves = "name = \"x\"\n[[waves]]\nsites = [\"a\"]\n\n  [[waves]]\n  sites = [\"b\"]\n";
        assert_eq!(locate(waves, "waves[1]"), Some((5, 3)));
        assert_eq!(locate(waves, "waves[1].sites[0]"), Some((6, 3)));
        assert_eq!(locate(waves, "waves[0].percent"), Some((2, 1)));
        assert_eq!(locate(waves, "waves[7].sites"), Some((2, 1)));
    }

    #[test]
    fn a_dotted_key_is_located_where_it_starts() {
        let t = "[a]\nx = 1\nsource.timeout = \"0s\"\n[b.c]\nd.e = 1\n";
        assert_eq!(locate(t, "a.source.timeout"), Some((3, 1)));
        assert_eq!(locate(t, "b.c.d.e"), Some((5, 1)));
        assert_eq!(locate(t, "b.c"), Some((4, 1)));
        let t = "t = { x.y = 1, z = 2 }\n";
        assert_eq!(locate(t, "t.x.y"), Some((1, 7)));
        assert_eq!(locate(t, "t.z"), Some((1, 16)));
    }

    #[test]
    fn a_key_of_many_dots_is_looked_up_in_linear_time() {
        // Every grouping of 100,000 parts joined anew was quadratic.
        let key = format!("{}b", "a.".repeat(100_000));
        let t = "[a]\nx = 1\n";
        let started = std::time::Instant::now();
        assert_eq!(locate(t, &key), Some((1, 1)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn echo_is_bounded_in_printed_characters() {
        // 120 escapes would print as 1,000+ characters through text::echo.
        let seps = "\u{2028}".repeat(500);
        let e = echo(&seps);
        assert!(e.chars().count() <= text::ECHO_LEN + 1, "{e}");
        assert!(e.ends_with("\\u{2028}…"), "never cut inside an escape: {e}");
        assert_eq!(echo("plain"), "plain");
    }

    #[test]
    fn tame_echoes_quoted_input() {
        let m = format!(
            "invalid type: string \"{}\u{1b}\", expected a boolean",
            "y".repeat(5000)
        );
        let t = tame(&m);
        assert!(text::is_clean(&t), "{t}");
        assert!(t.chars().count() < 200, "{t}");
        assert!(t.ends_with("expected a boolean"), "{t}");
    }

    #[test]
    fn locations_count_characters_not_bytes() {
        assert_eq!(line_col("a = \"é\"\nbé = 1", 12), (2, 3));
    }
}
