//! Config fixtures: the example and every valid fixture load; each invalid
//! fixture fails with an error naming the file, line:column, the key and a fix.
//! The binary is run too, so `check-config` and the TUI refuse the same files.

use fleetdeck::config::Config;
use fleetdeck::metrics::SourceConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(p)
}

/// The example names `inventory.json` next to itself: a copy in a temporary
/// directory with a real inventory beside it (the inventory must exist now).
fn example_with_inventory() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let copy = dir.path().join("config.toml");
    std::fs::copy(&example, &copy).expect("copy the example");
    std::fs::copy(
        fixture("files/inventory.json"),
        dir.path().join("inventory.json"),
    )
    .expect("copy the inventory");
    (dir, copy)
}

#[test]
fn the_example_config_loads_and_matches_the_defaults() {
    let (_dir, path) = example_with_inventory();
    let cfg = Config::load(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
    let defaults = Config::default();
    assert_eq!(
        cfg.defs, defaults.defs,
        "the example documents the built-in metric definitions"
    );
    assert_eq!(cfg.thresholds, defaults.thresholds);
    assert_eq!(cfg.labels, defaults.labels);
    assert_eq!(cfg.history, defaults.history);
    assert!(matches!(cfg.source, SourceConfig::Scrape(_)));
    // Every key binding in the example is the default one.
    let km = fleetdeck::app::keymap::Keymap::from_config(&cfg.keys).expect("example keymap");
    let default = fleetdeck::app::keymap::Keymap::default();
    assert_eq!(km.help_rows(), default.help_rows());
    // Every action is listed in the example.
    for b in fleetdeck::app::keymap::BINDINGS {
        assert!(
            cfg.keys.contains_key(b.name),
            "config.example.toml lacks keys.{}",
            b.name
        );
    }
}

#[test]
fn full_prometheus_config_loads() {
    let cfg = Config::load(Some(&fixture("valid/prometheus-full.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    match &cfg.source {
        SourceConfig::Prometheus(p) => {
            assert_eq!(p.url, "https://mimir.example:8443/prometheus");
            assert_eq!(p.tenant.as_deref(), Some("edge"));
            assert!(p.recording_rules);
            assert_eq!(p.bearer_token.as_deref(), Some("s3cr3t-token"));
            assert_eq!(p.labels.device, "node");
            assert_eq!(p.timeout, std::time::Duration::from_secs(3));
        }
        other => panic!("expected prometheus, got {other:?}"),
    }
    assert!(cfg.read_only);
    assert_eq!(cfg.refresh, std::time::Duration::from_secs(10));
}

/// (fixture, line, column, key, phrases that must be in the message)
const INVALID: &[(&str, usize, usize, &str, &[&str])] = &[
    (
        "unknown-key.toml",
        4,
        1,
        "source.refersh",
        &["unknown field `refersh`", "fix its spelling"],
    ),
    (
        "bad-kind.toml",
        3,
        8,
        "source.kind",
        &["promethues", "prometheus", "scrape"],
    ),
    (
        "bad-duration.toml",
        4,
        11,
        "source.timeout",
        &["'5 seconds' is not a duration", "'5s'"],
    ),
    ("syntax.toml", 1, 8, "", &["hint:"]),
    (
        "prometheus-without-url.toml",
        1,
        1,
        "source.url",
        &["needs a url", "url = "],
    ),
    (
        "scrape-with-url.toml",
        4,
        1,
        "source.url",
        &["belongs to kind = \"prometheus\""],
    ),
    (
        "bad-quantile.toml",
        4,
        1,
        "metrics.latency_p95.quantile",
        &["'95' is not between 0 and 1"],
    ),
    (
        "unknown-figure.toml",
        1,
        10,
        "metrics.latency_p42",
        &["unknown field `latency_p42`", "latency_p95"],
    ),
    (
        "bad-metric-name.toml",
        2,
        1,
        "metrics.cpu_temp.metric",
        &["'cpu-temp' is not a valid Prometheus metric name"],
    ),
    (
        "error-rate-percent.toml",
        2,
        1,
        "thresholds.error_rate",
        &["'3' is not a share", "0.03"],
    ),
    (
        "wrong-type.toml",
        1,
        13,
        "read_only",
        &["invalid type", "boolean"],
    ),
    (
        "missing-token-file.toml",
        4,
        1,
        "source.bearer_token_file",
        &["does-not-exist.token", "cannot read"],
    ),
    (
        "bad-mirror.toml",
        4,
        13,
        "registry.mirrors.\"registry.local\"",
        &["mirror 'http://127.0.0.1:5000' has a scheme", "insecure"],
    ),
];

#[test]
fn invalid_configs_are_located_and_explained() {
    let dir = fixture("invalid");
    let mut seen = 0;
    for (file, line, col, key, phrases) in INVALID {
        let path = dir.join(file);
        let e = match Config::load(Some(&path)) {
            Ok(_) => panic!("{file} should be rejected"),
            Err(e) => e,
        };
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{}:{line}:{col}: ", path.display())),
            "{file}: {text}"
        );
        assert_eq!(e.key, *key, "{file}: {text}");
        for p in *phrases {
            assert!(text.contains(p), "{file}: '{p}' missing from: {text}");
        }
        assert!(!e.hint.is_empty(), "{file} has no hint");
        seen += 1;
    }
    assert_eq!(seen, INVALID.len());
}

/// Runs the binary with no terminal (stdin from /dev/null), killed after
/// 30 s: a command that hangs fails the test instead of stalling it.
fn fleetdeck(args: &[&str]) -> (i32, String, String) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env("HOME", "/nonexistent")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env_remove("TERM")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let _ = out.read_to_end(&mut o);
        o
    });
    let err_reader = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = err.read_to_end(&mut e);
        e
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleetdeck {args:?} did not finish within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&reader.join().expect("stdout reader")).into_owned(),
        String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
    )
}

/// Issue 9 case 6: values `check-config` accepted and the console then
/// refused. Each is now refused by `check-config` with file:line:column and
/// the key, and the console and `status` refuse with the very same message
/// (one validation path), before touching the terminal.
/// (fixture, line, column, key, phrases)
const REFUSED_AT_START: &[(&str, usize, usize, &str, &[&str])] = &[
    ("timeout-zero.toml", 4, 1, "source.timeout", &["0s"]),
    (
        "ca-not-pem.toml",
        4,
        1,
        "source.ca_file",
        &["not-a-cert.pem", "PEM"],
    ),
    (
        "registry-ca-not-pem.toml",
        3,
        1,
        "registry.ca_file",
        &["not-a-cert.pem", "PEM"],
    ),
    (
        "tenant-crlf.toml",
        4,
        1,
        "source.tenant",
        &["edge\\r\\nX-Evil: 1", "header"],
    ),
    (
        "signing-key-missing.toml",
        3,
        1,
        "signing.keys[0]",
        &["does-not-exist.pub", "signing key", "No such file"],
    ),
    (
        "signing-key-directory.toml",
        3,
        1,
        "signing.keys[0]",
        &["files'", "not a regular file (a directory)"],
    ),
    (
        "signing-key-dev-zero.toml",
        2,
        1,
        "signing.keys[0]",
        &["/dev/zero", "not a regular file (a character device)"],
    ),
    (
        "bad-subject-regex.toml",
        2,
        57,
        "signing.identities[0].subject_regex",
        &[
            "(release@example\\.com",
            "not a valid regular expression",
            "unclosed group",
        ],
    ),
    (
        "inventory-dev-zero.toml",
        3,
        1,
        "source.inventory",
        &["/dev/zero", "not a regular file"],
    ),
    (
        "inventory-missing.toml",
        4,
        1,
        "source.inventory",
        &["no-such-inventory.json", "no such file"],
    ),
    (
        "quit-j.toml",
        2,
        8,
        "keys.quit",
        &["'j' is already the key of 'down'"],
    ),
    (
        "abort-q.toml",
        3,
        9,
        "keys.abort",
        &["'q' is the default key of 'quit'", "destructive"],
    ),
];

#[test]
fn check_config_refuses_what_the_console_would_refuse() {
    for (file, line, col, key, phrases) in REFUSED_AT_START {
        let f = fixture("invalid").join(file);
        let f = f.to_string_lossy();
        let (code, out, err) = fleetdeck(&["check-config", "--config", &f]);
        assert_eq!(code, 2, "{file} accepted by check-config: {out}{err}");
        let located = format!("fleetdeck: {f}:{line}:{col}: key '{key}': ");
        assert!(
            err.starts_with(&located),
            "{file}: wanted {located}…, got: {err}"
        );
        for p in *phrases {
            assert!(err.contains(p), "{file}: '{p}' missing from: {err}");
        }
        assert!(err.contains("hint: "), "{file} has no hint: {err}");
        // The console (no subcommand) and a command refuse the same way.
        for args in [vec!["--config", &f], vec!["status", "--config", &f]] {
            let (code2, _, err2) = fleetdeck(&args);
            assert_eq!(code2, 2, "{file}: {args:?} did not refuse: {err2}");
            assert_eq!(err2, err, "{file}: {args:?} refuses differently");
        }
    }
}

#[test]
fn check_config_accepts_and_refuses() {
    let (_dir, example) = example_with_inventory();
    let (code, out, err) = fleetdeck(&["check-config", "--config", &example.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok (scrape "), "{out}");

    // The global option also works before the subcommand.
    let (code, _, _) = fleetdeck(&["--config", &example.to_string_lossy(), "check-config"]);
    assert_eq!(code, 0);

    // Every fixture in the invalid directory is refused by the binary (keymap and theme too).
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("invalid"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert!(files.len() >= INVALID.len() + 4);
    for f in files {
        let (code, out, err) = fleetdeck(&["check-config", "--config", &f.to_string_lossy()]);
        assert_eq!(code, 2, "{} accepted: {out}{err}", f.display());
        assert!(
            err.contains(&f.display().to_string()),
            "error names the file: {err}"
        );
    }
}

#[test]
fn keymap_and_theme_errors_point_into_the_config() {
    let cases = [
        (
            "unknown-action.toml",
            "keys.explode",
            "'explode' is not an action",
        ),
        (
            "key-conflict.toml",
            "keys.quit",
            "'x' is already bound to 'help'",
        ),
        ("bad-key.toml", "keys.quit", "'hyper-q' is not a key"),
        ("unknown-theme.toml", "solarised-nope", "default"),
    ];
    for (file, key, phrase) in cases {
        let f = fixture("invalid").join(file);
        let (code, _, err) = fleetdeck(&["check-config", "--config", &f.to_string_lossy()]);
        assert_eq!(code, 2, "{file}");
        assert!(err.contains(key) && err.contains(phrase), "{file}: {err}");
        // The column points at the key in the list when one key is the problem.
        let (line, col) = match file {
            "key-conflict.toml" => (3, 8),
            "bad-key.toml" => (2, 8),
            "unknown-theme.toml" => (1, 1),
            _ => (2, 1),
        };
        assert!(
            err.contains(&format!("{}:{line}:{col}:", f.display())),
            "{file} is located: {err}"
        );
    }
}

#[test]
fn a_missing_explicit_config_is_an_error_but_no_default_file_is_fine() {
    let (code, _, err) = fleetdeck(&["check-config", "--config", "/nonexistent/fleetdeck.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/fleetdeck.toml") && err.contains("--config"),
        "{err}"
    );
    let (code, out, _) = fleetdeck(&["check-config"]);
    assert_eq!(code, 0);
    assert!(out.contains("built-in defaults"), "{out}");
}

#[test]
fn the_console_does_not_start_on_a_bad_config() {
    let f = fixture("invalid/unknown-key.toml");
    let (code, _, err) = fleetdeck(&["--config", &f.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(err.contains("refersh"), "{err}");
    // No source configured: a clear pointer to what to do.
    let (code, _, err) = fleetdeck(&["status"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("[source]") && err.contains("fleetdeck demo"),
        "{err}"
    );
}

#[test]
fn read_only_and_theme_are_global_after_the_subcommand() {
    let (_dir, example) = example_with_inventory();
    let (code, out, err) = fleetdeck(&[
        "check-config",
        "--read-only",
        "--theme",
        "ansi16",
        "--config",
        &example.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = fleetdeck(&[
        "check-config",
        "--theme",
        "nope",
        "--config",
        &example.to_string_lossy(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("nope") && err.contains("colorblind"),
        "lists the available themes: {err}"
    );
}
