//! `[alertmanager]`: unset means no alerts; every key is checked where it is
//! written (file:line:column, key, hint), by `Config::load` and by
//! `check-config` alike.

use crate::support::run::{CHILD_LIMIT, Deadline};
use fleetdeck::config::Config;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("config.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn unset_means_no_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config::load(Some(&write(dir.path(), "read_only = false\n"))).expect("loads");
    assert_eq!(cfg.alertmanager, None);
}

#[test]
fn every_key_resolves() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("am.pw"), "hunter2\n").expect("pw");
    let text = "[labels]\ndevice = \"node\"\n\n[alertmanager]\nurl = \"http://127.0.0.1:9093/\"\n\
                tenant = \"edge\"\ntimeout = \"2s\"\nauthor = \"alice@example.com\"\n\
                basic_auth = { username = \"fd\", password_file = \"am.pw\" }\n";
    let cfg = Config::load(Some(&write(dir.path(), text))).unwrap_or_else(|e| panic!("{e}"));
    let am = cfg.alertmanager.expect("set");
    assert_eq!(am.url, "http://127.0.0.1:9093");
    assert_eq!(am.tenant.as_deref(), Some("edge"));
    assert_eq!(am.timeout, Duration::from_secs(2));
    assert_eq!(am.author.as_deref(), Some("alice@example.com"));
    let auth = am.basic_auth.expect("basic auth");
    assert_eq!(
        (auth.username.as_str(), auth.password.as_str()),
        ("fd", "hunter2")
    );
    assert_eq!(am.labels.device, "node");
}

/// (config text, line, column, key, phrases)
const REFUSED: &[(&str, usize, usize, &str, &[&str])] = &[
    (
        "[alertmanager]\ntimeout = \"5s\"\n",
        1,
        1,
        "alertmanager",
        &["needs a url", "url = \"http://127.0.0.1:9093\""],
    ),
    (
        "[alertmanager]\nurl = \"127.0.0.1:9093\"\n",
        2,
        1,
        "alertmanager.url",
        &["not an http:// or https:// URL", "base URL of Alertmanager"],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\ntimeout = \"0s\"\n",
        3,
        1,
        "alertmanager.timeout",
        &["0s"],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\nbearer_token_file = \"missing.token\"\n",
        3,
        1,
        "alertmanager.bearer_token_file",
        &["missing.token", "cannot read"],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\ntenant = \"a b\"\n",
        3,
        1,
        "alertmanager.tenant",
        &["X-Scope-OrgID"],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\nca_file = \"nope.pem\"\n",
        3,
        1,
        "alertmanager.ca_file",
        &["nope.pem"],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\nauthor = \"  \"\n",
        3,
        1,
        "alertmanager.author",
        &["author = "],
    ),
    (
        "[alertmanager]\nurl = \"http://am\"\nuser = \"x\"\n",
        3,
        1,
        "alertmanager.user",
        &["unknown field `user`"],
    ),
];

#[test]
fn bad_values_are_located_by_load_and_check_config() {
    for (text, line, col, key, phrases) in REFUSED {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), text);
        let e = match Config::load(Some(&path)) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e,
        };
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}:{line}:{col}: ", path.display())),
            "{text}: {shown}"
        );
        assert_eq!(e.key, *key, "{text}: {shown}");
        for p in *phrases {
            assert!(shown.contains(p), "'{p}' missing: {shown}");
        }
        assert!(!e.hint.is_empty(), "{text}");
        let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["check-config", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .output_within(CHILD_LIMIT)
            .expect("run fleetdeck");
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(":{line}:{col}: key '{key}'")),
            "{err}"
        );
    }
}

#[test]
fn a_ca_file_that_is_no_pem_is_refused_by_check_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ca.pem"), "not a certificate").expect("ca");
    let path = write(
        dir.path(),
        "[alertmanager]\nurl = \"https://am:9093\"\nca_file = \"ca.pem\"\n",
    );
    let e = Config::load(Some(&path)).expect_err("not PEM");
    assert_eq!(e.key, "alertmanager.ca_file", "{e}");
    assert_eq!(e.line, 3, "{e}");
}
