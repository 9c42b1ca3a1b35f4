//! `fleetdeck alerts`, `fleetdeck silence add|list|expire` against a real
//! Alertmanager: alerts posted to it directly appear at their site and
//! device; silences made by the CLI are what Alertmanager's own API shows;
//! read-only refuses; hostile label values print inert; an Alertmanager
//! that is down or hangs fails fast, naming the URL.

use crate::support::alertmanager::{AlertmanagerProcess, TestAlert};
use crate::support::prometheus::{HttpServer, Reply};
use crate::support::run::{CHILD_LIMIT, Deadline};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs the binary with no terminal, an empty home and no git identity.
fn fleetdeck(home: &Path, config: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("no-gitconfig"))
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL")
        .env_remove("TERM")
        .output_within(CHILD_LIMIT)
        .expect("run fleetdeck");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let p = dir.join("config.toml");
    std::fs::write(
        &p,
        format!("[alertmanager]\nurl = \"{url}\"\ntimeout = \"2s\"\n{extra}"),
    )
    .expect("write config");
    p
}

fn fleet_alerts() -> Vec<TestAlert<'static>> {
    vec![
        (
            vec![
                ("alertname", "FleetDeviceHot"),
                ("severity", "critical"),
                ("device", "pi-0001"),
                ("site", "lab-1"),
                ("group", "canary"),
            ],
            vec![("summary", "pi-0001 at 85 °C")],
        ),
        (
            vec![
                ("alertname", "FleetDeviceDown"),
                ("severity", "warning"),
                ("device", "pi-0002"),
                ("site", "lab-1"),
            ],
            vec![("summary", "pi-0002 does not answer")],
        ),
        (
            vec![
                ("alertname", "FleetDeviceThrottled"),
                ("severity", "warning"),
                ("device", "pi-0100"),
                ("site", "ams-1"),
            ],
            vec![("description", "throttled")],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_listed_by_site_then_device() {
    let am = AlertmanagerProcess::start();
    am.post_alerts(&fleet_alerts()).await;
    am.wait_for_alerts(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "");

    let r = fleetdeck(dir.path(), &cfg, &["alerts", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
    let alerts = v.as_array().expect("array");
    assert_eq!(alerts.len(), 3, "{v}");
    let order: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["site"].as_str().unwrap_or(""),
                a["device"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            ("ams-1", "pi-0100"),
            ("lab-1", "pi-0001"),
            ("lab-1", "pi-0002")
        ]
    );
    let hot = &alerts[1];
    assert_eq!(hot["alertname"], "FleetDeviceHot");
    assert_eq!(hot["severity"], "critical");
    assert_eq!(hot["state"], "active");
    assert_eq!(hot["group"], "canary");
    assert_eq!(hot["summary"], "pi-0001 at 85 °C");
    assert!(hot["age_seconds"].as_u64().is_some(), "{hot}");
    assert_eq!(alerts[0]["summary"], "throttled");

    let r = fleetdeck(dir.path(), &cfg, &["alerts"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let pos = |s: &str| {
        r.out
            .find(s)
            .unwrap_or_else(|| panic!("'{s}' missing:\n{}", r.out))
    };
    assert!(pos("ams-1") < pos("pi-0100"));
    assert!(pos("pi-0100") < pos("lab-1"));
    assert!(pos("lab-1") < pos("pi-0001"));
    assert!(pos("pi-0001") < pos("pi-0002"));
    let hot_line = r
        .out
        .lines()
        .find(|l| l.contains("FleetDeviceHot"))
        .expect("hot line");
    for part in ["critical", "active", "pi-0001 at 85 °C"] {
        assert!(hot_line.contains(part), "{hot_line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silence_is_made_listed_and_expired_in_alertmanager() {
    let am = AlertmanagerProcess::start();
    am.post_alerts(&fleet_alerts()).await;
    am.wait_for_alerts(3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "author = \"alice@example.com\"\n");

    // No confirmation without a terminal and without --yes.
    let r = fleetdeck(
        dir.path(),
        &cfg,
        &["silence", "add", "--device", "pi-0001", "--comment", "c"],
    );
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("--yes"), "{}", r.err);

    let r = fleetdeck(
        dir.path(),
        &cfg,
        &[
            "silence",
            "add",
            "--device",
            "pi-0001",
            "--alertname",
            "FleetDeviceHot",
            "--for",
            "1h",
            "--comment",
            "fan replaced, noisy",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("device=\"pi-0001\""), "{}", r.out);
    assert!(r.out.contains("alertname=\"FleetDeviceHot\""), "{}", r.out);

    let silences = am.get_json("/api/v2/silences").await;
    let list = silences.as_array().expect("array");
    assert_eq!(list.len(), 1, "{silences}");
    let s = &list[0];
    let id = s["id"].as_str().expect("id").to_string();
    assert!(r.out.contains(&id), "the id is printed: {}", r.out);
    assert_eq!(s["createdBy"], "alice@example.com");
    assert_eq!(s["comment"], "fan replaced, noisy");
    assert_eq!(s["status"]["state"], "active");
    let mut matchers: Vec<(String, String, bool)> = s["matchers"]
        .as_array()
        .expect("matchers")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m["value"].as_str().unwrap_or("").to_string(),
                m["isRegex"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    matchers.sort();
    assert_eq!(
        matchers,
        [
            ("alertname".into(), "FleetDeviceHot".into(), false),
            ("device".into(), "pi-0001".into(), false)
        ]
    );

    // The alert shows silenced, with the silence and who made it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = fleetdeck(dir.path(), &cfg, &["alerts", "--json"]);
        assert_eq!(r.code, 0, "{}", r.err);
        let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
        let hot = v
            .as_array()
            .and_then(|a| a.iter().find(|a| a["alertname"] == "FleetDeviceHot"))
            .cloned()
            .expect("hot alert");
        if hot["state"] == "silenced" {
            assert_eq!(hot["silenced_by"][0]["id"], id.as_str(), "{hot}");
            assert_eq!(hot["silenced_by"][0]["created_by"], "alice@example.com");
            let text = fleetdeck(dir.path(), &cfg, &["alerts"]).out;
            let line = text
                .lines()
                .find(|l| l.contains("FleetDeviceHot"))
                .expect("line");
            assert!(
                line.contains("silenced") && line.contains("alice@example.com"),
                "{line}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never silenced: {hot}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let r = fleetdeck(dir.path(), &cfg, &["silence", "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
    assert_eq!(v[0]["id"], id.as_str(), "{v}");
    let r = fleetdeck(dir.path(), &cfg, &["silence", "list"]);
    assert!(
        r.out.contains(&id) && r.out.contains("fan replaced"),
        "{}",
        r.out
    );

    let r = fleetdeck(dir.path(), &cfg, &["silence", "expire", &id, "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let s = am.get_json(&format!("/api/v2/silence/{id}")).await;
    assert_eq!(s["status"]["state"], "expired", "{s}");

    let r = fleetdeck(
        dir.path(),
        &cfg,
        &["silence", "expire", "no-such-id", "--yes"],
    );
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_silences_and_nothing_reaches_alertmanager() {
    let am = AlertmanagerProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "author = \"bob\"\n");
    let r = fleetdeck(
        dir.path(),
        &cfg,
        &[
            "--read-only",
            "silence",
            "add",
            "--site",
            "lab-1",
            "--comment",
            "x",
            "--yes",
        ],
    );
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    assert!(r.err.contains("read-only"), "{}", r.err);
    let r = fleetdeck(
        dir.path(),
        &cfg,
        &["--read-only", "silence", "expire", "abc", "--yes"],
    );
    assert_eq!(r.code, 4, "{}{}", r.out, r.err);
    let silences = am.get_json("/api/v2/silences").await;
    assert_eq!(silences.as_array().map(Vec::len), Some(0), "{silences}");
    // Reading stays allowed.
    let r = fleetdeck(dir.path(), &cfg, &["--read-only", "alerts"]);
    assert_eq!(r.code, 0, "{}", r.err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_identity_a_silence_is_refused_saying_what_to_set() {
    let am = AlertmanagerProcess::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "");
    let r = fleetdeck(
        dir.path(),
        &cfg,
        &[
            "silence",
            "add",
            "--site",
            "lab-1",
            "--comment",
            "x",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("[alertmanager] author"), "{}", r.err);
    let silences = am.get_json("/api/v2/silences").await;
    assert_eq!(silences.as_array().map(Vec::len), Some(0), "{silences}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_label_values_print_inert_and_json_stays_exact() {
    let am = AlertmanagerProcess::start();
    let evil_device = "pi-\u{1b}]2;PWNED\u{7}\u{202e}x";
    let evil_summary = "line1\n\u{1b}[31mred\u{9b}2J";
    am.post_alerts(&[(
        vec![
            ("alertname", "Evil\u{200b}Name"),
            ("device", evil_device),
            ("site", "s\u{1b}[2Jite"),
        ],
        vec![("summary", evil_summary)],
    )])
    .await;
    am.wait_for_alerts(1).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "");
    let r = fleetdeck(dir.path(), &cfg, &["alerts"]);
    assert_eq!(r.code, 0, "{}", r.err);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{9b}', '\u{200b}'] {
        assert!(!r.out.contains(bad), "{bad:?} printed raw: {:?}", r.out);
    }
    assert!(r.out.contains("\\u{1b}]2;PWNED"), "{}", r.out);
    // The summary's line break does not start a line of its own.
    assert!(
        !r.out
            .lines()
            .any(|l| l.starts_with("\u{1b}") || l.trim_start().starts_with("\\u{1b}[31mred")),
        "{}",
        r.out
    );
    let r = fleetdeck(dir.path(), &cfg, &["alerts", "--json"]);
    assert!(!r.out.contains('\u{1b}'), "{:?}", r.out);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
    assert_eq!(v[0]["device"], evil_device);
    assert_eq!(v[0]["summary"], evil_summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_down_or_hung_fails_fast_naming_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("http://127.0.0.1:{port}");
    let cfg = config(dir.path(), &url, "");
    let started = Instant::now();
    let r = fleetdeck(dir.path(), &cfg, &["alerts"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.err.contains(&url), "{}", r.err);
    assert!(r.err.contains("cannot reach"), "{}", r.err);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Accepts and never answers: fails at the 2 s timeout.
    let hung = HttpServer::start(|_| Reply::never());
    let cfg = config(dir.path(), &hung.url, "author = \"a\"\n");
    for args in [
        &["alerts"][..],
        &["silence", "list"][..],
        &["silence", "add", "--site", "x", "--comment", "c", "--yes"][..],
    ] {
        let started = Instant::now();
        let r = fleetdeck(dir.path(), &cfg, args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(&hung.url), "{}", r.err);
        assert!(r.err.contains("did not answer within 2s"), "{}", r.err);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_alertmanager_configured_the_commands_say_what_to_add() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "read_only = false\n").expect("write");
    let r = fleetdeck(dir.path(), &cfg, &["alerts"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("[alertmanager]"), "{}", r.err);
}

/// The `[source]` auth keys work for Alertmanager too: a recording proxy in
/// front of the real Alertmanager sees the bearer token and the tenant on
/// every request fleetdeck makes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_and_tenant_are_sent_on_every_call() {
    let am = AlertmanagerProcess::start();
    am.post_alerts(&fleet_alerts()).await;
    am.wait_for_alerts(3).await;
    let proxy = crate::support::prometheus::CountingProxy::start(&am.url);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("am.token"), "t0ken-xyz\n").expect("token");
    let cfg = config(
        dir.path(),
        proxy.url(),
        "bearer_token_file = \"am.token\"\ntenant = \"edge\"\nauthor = \"carol\"\n",
    );
    let r = fleetdeck(dir.path(), &cfg, &["alerts", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = fleetdeck(
        dir.path(),
        &cfg,
        &[
            "silence",
            "add",
            "--site",
            "ams-1",
            "--comment",
            "maintenance",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let reqs = proxy.server.requests();
    assert!(reqs.iter().any(|r| r.method == "POST"), "{reqs:?}");
    for req in &reqs {
        assert_eq!(
            req.header("authorization"),
            Some("Bearer t0ken-xyz"),
            "{req:?}"
        );
        assert_eq!(req.header("x-scope-orgid"), Some("edge"), "{req:?}");
    }
    let silences = am.get_json("/api/v2/silences").await;
    assert_eq!(silences[0]["createdBy"], "carol", "{silences}");
}

/// A silence made by someone else with hostile fields lists inert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_silence_fields_list_inert() {
    let am = AlertmanagerProcess::start();
    let now = std::time::SystemTime::now();
    let body = serde_json::json!({
        "matchers": [{"name": "device", "value": "pi-\u{1b}[2J", "isRegex": false, "isEqual": true}],
        "startsAt": fleetdeck::alerts::model::format_time(now),
        "endsAt": fleetdeck::alerts::model::format_time(now + Duration::from_secs(3600)),
        "createdBy": "mallory\u{1b}]2;PWNED\u{7}",
        "comment": "ok\n\u{202e}evil",
    });
    let (status, text) = am
        .request(reqwest::Method::POST, "/api/v2/silences", Some(body))
        .await;
    assert_eq!(status, 200, "{text}");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &am.url, "");
    let r = fleetdeck(dir.path(), &cfg, &["silence", "list"]);
    assert_eq!(r.code, 0, "{}", r.err);
    for bad in ['\u{1b}', '\u{7}', '\u{202e}'] {
        assert!(!r.out.contains(bad), "{bad:?} printed raw: {:?}", r.out);
    }
    assert!(r.out.contains("mallory\\u{1b}]2;PWNED"), "{}", r.out);
    let r = fleetdeck(dir.path(), &cfg, &["silence", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("JSON");
    assert_eq!(v[0]["createdBy"], "mallory\u{1b}]2;PWNED\u{7}");
}
