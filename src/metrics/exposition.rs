//! A careful tokenizer for the sample lines of the Prometheus text exposition
//! format (0.0.4), in front of prometheus-parse.
//!
//! prometheus-parse stays the parser (types, histograms, summaries), but its
//! label handling splits on `,` and `=` and stops at the first `}`: a value
//! holding one of them lost its label or the whole series, and the escapes
//! `\\`, `\"` and `\n` were kept as written. So each sample line is first
//! tokenized here with the format's quoting rules, values are decoded, and the
//! line handed to prometheus-parse is rewritten in a form it cannot misread:
//! every value that is not plain is replaced by a placeholder ([`MARK`] + an
//! index into an [`Interner`]) and put back, decoded, after parsing. A line this
//! tokenizer refuses is counted as skipped, with the reason, never dropped in
//! silence.

use std::borrow::Cow;
use std::collections::HashMap;

/// First character of a placeholder value (a private-use code point): no
/// value is ever passed through raw when it contains it.
pub const MARK: char = '\u{E000}';

/// One sample line, tokenized. Label values are decoded.
#[derive(Debug, PartialEq)]
pub struct SampleLine<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: &'a str,
    pub timestamp: Option<&'a str>,
}

fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && is_ws(b[*i]) {
        *i += 1;
    }
}

fn name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A sample value as Prometheus writes it, read the way prometheus-parse reads
/// it (`NaN`, `+Inf`, `-Inf`, decimal and exponent forms).
pub fn parse_value(s: &str) -> Option<f64> {
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    s.parse::<f64>().ok()
}

/// Decodes the escapes of a label value: `\\`, `\"` and `\n`. Any other
/// backslash is kept as written, as the Prometheus server's parser does.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Tokenizes one sample line (not a comment, not empty). The error says what
/// is wrong, for the skipped-lines warning.
pub fn parse_sample(line: &str) -> Result<SampleLine<'_>, &'static str> {
    let mut labels = Vec::new();
    let (name, value, timestamp) = scan(line, Some(&mut labels))?;
    Ok(SampleLine {
        name,
        labels,
        value,
        timestamp,
    })
}

/// Checks a sample line and returns its metric name, without collecting or
/// decoding its labels (for the lines of metrics nobody reads: most of a
/// node_exporter page). Duplicate label names are not looked for.
pub fn check_sample(line: &str) -> Result<&str, &'static str> {
    scan(line, None).map(|(name, _, _)| name)
}

type Labels<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// The tokenizer: (name, value, timestamp); labels decoded into `labels`
/// when given.
fn scan<'a>(
    line: &'a str,
    mut labels: Option<&mut Labels<'a>>,
) -> Result<(&'a str, &'a str, Option<&'a str>), &'static str> {
    let s = line.trim_start_matches([' ', '\t']);
    let b = s.as_bytes();
    let mut i = 0;
    if i >= b.len() || !(name_start(b[i]) || b[i] == b':') {
        return Err("no metric name");
    }
    while i < b.len() && (name_char(b[i]) || b[i] == b':') {
        i += 1;
    }
    let name = &s[..i];
    if i < b.len() && b[i] == b'{' {
        i += 1;
        loop {
            skip_ws(b, &mut i);
            if i >= b.len() {
                return Err("unterminated label set");
            }
            if b[i] == b'}' {
                i += 1;
                break;
            }
            if !name_start(b[i]) {
                return Err("invalid label name");
            }
            let start = i;
            while i < b.len() && name_char(b[i]) {
                i += 1;
            }
            let label = &s[start..i];
            skip_ws(b, &mut i);
            if i >= b.len() || b[i] != b'=' {
                return Err("expected '=' after a label name");
            }
            i += 1;
            skip_ws(b, &mut i);
            if i >= b.len() || b[i] != b'"' {
                return Err("label value not quoted");
            }
            i += 1;
            let vstart = i;
            let mut escaped = false;
            loop {
                match b.get(i) {
                    None => return Err("unterminated label value"),
                    Some(b'\\') => {
                        escaped = true;
                        // The escaped character is ASCII in every escape the
                        // format knows; any other byte is a continuation of a
                        // multi-byte character, never a quote.
                        i += 2;
                    }
                    Some(b'"') => break,
                    Some(_) => i += 1,
                }
            }
            let raw = &s[vstart..i];
            i += 1;
            if let Some(labels) = labels.as_deref_mut() {
                if labels.iter().any(|(l, _)| *l == label) {
                    return Err("duplicate label name");
                }
                let value = if escaped {
                    Cow::Owned(unescape(raw))
                } else {
                    Cow::Borrowed(raw)
                };
                labels.push((label, value));
            }
            skip_ws(b, &mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err("expected ',' or '}' after a label value"),
            }
        }
    } else if i < b.len() && !is_ws(b[i]) {
        return Err("invalid character in the metric name");
    }
    skip_ws(b, &mut i);
    let rest = &s[i..];
    let mut words = rest.split([' ', '\t']).filter(|w| !w.is_empty());
    let value = words.next().ok_or("no value")?;
    if parse_value(value).is_none() {
        return Err("value is not a number");
    }
    let timestamp = match words.next() {
        None => None,
        // OpenMetrics exemplar after the value: not part of the sample.
        Some(w) if w.starts_with('#') => None,
        Some(w) => {
            if w.parse::<i64>().is_err() {
                return Err("timestamp is not an integer");
            }
            match words.next() {
                None => {}
                Some(e) if e.starts_with('#') => {}
                Some(_) => return Err("unexpected text after the timestamp"),
            }
            Some(w)
        }
    };
    Ok((name, value, timestamp))
}

/// A value prometheus-parse reads back unchanged: none of the characters its
/// label splitting trips on, no control character (a decoded `\n` would
/// split the line), and not a placeholder.
fn plain(v: &str) -> bool {
    !v.chars()
        .any(|c| matches!(c, '"' | '\\' | ',' | '=' | '{' | '}' | MARK) || c.is_control())
}

/// Label values that had to be replaced by placeholders, by index.
#[derive(Debug, Default)]
pub struct Interner {
    values: Vec<String>,
    index: HashMap<String, usize>,
}

impl Interner {
    fn placeholder(&mut self, v: &str) -> String {
        let n = match self.index.get(v) {
            Some(&n) => n,
            None => {
                let n = self.values.len();
                self.values.push(v.to_string());
                self.index.insert(v.to_string(), n);
                n
            }
        };
        format!("{MARK}{n}")
    }

    /// The value prometheus-parse returned, with any placeholder put back.
    pub fn resolve<'a>(&'a self, v: &'a str) -> &'a str {
        v.strip_prefix(MARK)
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| self.values.get(n))
            .map_or(v, String::as_str)
    }

    /// The sample rewritten for prometheus-parse: `name{k="v",...} value [ts]`.
    pub fn canonical(&mut self, s: &SampleLine<'_>) -> String {
        let mut out = String::with_capacity(64);
        out.push_str(s.name);
        if !s.labels.is_empty() {
            out.push('{');
            for (n, (k, v)) in s.labels.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push_str("=\"");
                if plain(v) {
                    out.push_str(v);
                } else {
                    out.push_str(&self.placeholder(v));
                }
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        out.push_str(s.value);
        if let Some(t) = s.timestamp {
            out.push(' ');
            out.push_str(t);
        }
        out
    }
}

/// Lines of one exposition that could not be read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Skipped {
    pub count: usize,
    /// The first one: `line N: reason: text` (text sanitised and cut).
    pub first: Option<String>,
}

impl Skipped {
    pub fn note(&mut self, line_no: usize, line: &str, why: &str) {
        self.count += 1;
        if self.first.is_none() {
            let shown = crate::text::sanitize_max(line.trim(), 80);
            self.first = Some(format!("line {line_no}: {why}: {shown}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels<'a>(s: &'a SampleLine<'a>) -> Vec<(&'a str, &'a str)> {
        s.labels.iter().map(|(k, v)| (*k, v.as_ref())).collect()
    }

    #[test]
    fn escapes_are_decoded_and_quoted_delimiters_kept() {
        let s = parse_sample(r#"info{a="x\ny",b="back\\slash",c="say \"hi\"",d="k=v, w}",e=""} 1"#)
            .unwrap();
        assert_eq!(s.name, "info");
        assert_eq!(
            labels(&s),
            [
                ("a", "x\ny"),
                ("b", "back\\slash"),
                ("c", "say \"hi\""),
                ("d", "k=v, w}"),
                ("e", "")
            ]
        );
        assert_eq!(s.value, "1");
        // Unknown escapes stay as written.
        let s = parse_sample(r#"m{a="\t\x"} 2"#).unwrap();
        assert_eq!(labels(&s), [("a", r"\t\x")]);
    }

    #[test]
    fn format_details() {
        let s = parse_sample("  up  3.5   1700000000000  ").unwrap();
        assert_eq!(
            (s.name, s.value, s.timestamp),
            ("up", "3.5", Some("1700000000000"))
        );
        let s = parse_sample("m{ a = \"1\" , b=\"2\", } NaN").unwrap();
        assert_eq!(labels(&s), [("a", "1"), ("b", "2")]);
        assert!(parse_sample("m{} +Inf").unwrap().labels.is_empty());
        assert!(parse_sample("m{}-Inf").is_ok());
        assert!(parse_sample("ns:rule:rate5m 1").is_ok());
        assert!(parse_sample("m 1 # {trace_id=\"x\"} 1").is_ok());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(check_sample("m{a=\"x,}\"} 1"), Ok("m"));
        for (line, why) in [
            ("<html>", "no metric name"),
            ("m{a=\"b} 1", "unterminated label value"),
            ("m{a=\"b\" 1", "expected ',' or '}' after a label value"),
            ("m{a=b} 1", "label value not quoted"),
            ("m{1a=\"b\"} 1", "invalid label name"),
            ("m{a=\"1\",a=\"2\"} 1", "duplicate label name"),
            ("m{a", "expected '=' after a label name"),
            ("m{", "unterminated label set"),
            ("m", "no value"),
            ("m one", "value is not a number"),
            ("m 1 soon", "timestamp is not an integer"),
            ("m 1 2 3", "unexpected text after the timestamp"),
            ("m-x 1", "invalid character in the metric name"),
            ("m{a=\"\\", "unterminated label value"),
            ("m{a=\"\\\"} 1", "unterminated label value"),
        ] {
            assert_eq!(parse_sample(line).map(|_| ()), Err(why), "{line}");
            if why != "duplicate label name" {
                assert_eq!(check_sample(line).map(|_| ()), Err(why), "{line}");
            }
        }
    }

    #[test]
    fn canonical_lines_survive_prometheus_parse() {
        let text = r#"fleet_release_info{version="1.4.2\n",release="r=17",image_digest="sha256:a,b}c",model_digest="\"q\"",x="\\"} 1 5"#;
        let s = parse_sample(text).unwrap();
        let mut table = Interner::default();
        let line = table.canonical(&s);
        assert!(!line.contains('\n'));
        let scrape = prometheus_parse::Scrape::parse(std::iter::once(Ok(line))).unwrap();
        let got = &scrape.samples[0];
        let get = |k: &str| table.resolve(got.labels.get(k).unwrap()).to_string();
        assert_eq!(get("version"), "1.4.2\n");
        assert_eq!(get("release"), "r=17");
        assert_eq!(get("image_digest"), "sha256:a,b}c");
        assert_eq!(get("model_digest"), "\"q\"");
        assert_eq!(get("x"), "\\");
        // A value that merely looks like a placeholder is not one.
        let s = parse_sample("m{a=\"\u{E000}0\"} 1").unwrap();
        let mut t = Interner::default();
        let line = t.canonical(&s);
        let scrape = prometheus_parse::Scrape::parse(std::iter::once(Ok(line))).unwrap();
        assert_eq!(
            t.resolve(scrape.samples[0].labels.get("a").unwrap()),
            "\u{E000}0"
        );
    }

    #[test]
    fn never_panics_on_any_text() {
        // Every prefix of a hostile line, byte by byte where it is a char boundary.
        let line = "m{a=\"é\\\u{1b}]2;x\u{7}\\\",b=\"\\n}\"} 1 2";
        for end in 0..=line.len() {
            if line.is_char_boundary(end) {
                let _ = parse_sample(&line[..end]);
            }
        }
    }
}
