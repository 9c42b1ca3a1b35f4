//! Issue 9, "Also": a hostile corpus through every printing command of the
//! real binary, asserting that no character a terminal would act on (C0/C1
//! controls, ESC, DEL, bidi overrides and isolates, U+2028/2029, zero-width
//! and invisible characters: `fleetdeck::text::is_unsafe`) reaches stdout or
//! stderr, other than the line break.
//!
//! Everything is real: the simulator's exporters (in this process) scraped by
//! the child through a file_sd inventory whose labels are hostile, the
//! simulator's OCI registry, a bare git origin and an operator's clone holding
//! a good plan and hostile ones, and a hostile hand edit in its history.

use crate::support;

use fleetdeck::rollout::plan::Plan;
use fleetdeck::sim::{SimHandle, SimOptions, release_spec_for};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::config::{RegistryToml, signing_toml};
use support::git::{git, origin_with_plan};

const DEADLINE: Duration = Duration::from_secs(90);

/// The corpus: every kind of text a terminal acts on or draws misleadingly.
fn corpus() -> Vec<String> {
    vec![
        "csi\u{1b}[2J\u{1b}[31mred\u{1b}[0m".into(),
        "osc\u{1b}]2;PWNED\u{7}title".into(),
        "osc8\u{1b}]8;;http://evil.example/\u{1b}\\link\u{1b}]8;;\u{1b}\\".into(),
        "bel\u{7}\u{7}".into(),
        "c1\u{9b}31m\u{9d}0;x\u{9c}\u{85}".into(),
        "cr\rlf\nboth\r\n".into(),
        "del\u{7f}nul\u{0}bs\u{8}".into(),
        "pi-evil\u{2028}\u{2029}".repeat(4),
        "bidi\u{202e}txt.exe\u{202a}\u{202b}\u{202c}\u{202d}".into(),
        "iso\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}".into(),
        "pi\u{200b}-e\u{200d}v\u{feff}i\u{2060}l".into(),
        "alm\u{61c}x".into(),
        "tag\u{e0041}\u{e007f}".into(),
        format!("big-{}\u{1b}[2J", "x".repeat(1_000_000)),
    ]
}

/// The corpus without what an argument or a file name cannot hold (NUL,
/// `/`), and cut to what one argument may be (128 KiB on Linux).
fn arg_corpus() -> Vec<String> {
    corpus()
        .into_iter()
        .map(|s| {
            s.replace(['\0', '/'], "")
                .chars()
                .take(100_000)
                .collect::<String>()
        })
        .collect()
}

fn unsafe_char(s: &str) -> Option<(usize, char)> {
    s.char_indices()
        .find(|&(_, c)| c != '\n' && fleetdeck::text::is_unsafe(c))
}

fn assert_safe(what: &str, s: &str) {
    if let Some((at, c)) = unsafe_char(s) {
        let context: String = s[at..].chars().take(80).collect();
        panic!("{what} carries {c:?} at byte {at}: {context:?}…");
    }
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs the real binary with a deadline, `HOME` and the config dirs inside
/// the test's directory.
async fn fleetdeck(home: &Path, config: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"));
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let child = cmd
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("USER", "ops")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let shown: Vec<String> = args.iter().map(|a| a.chars().take(60).collect()).collect();
    let out = tokio::time::timeout(DEADLINE, child)
        .await
        .unwrap_or_else(|_| panic!("fleetdeck {shown:?} did not finish within {DEADLINE:?}"))
        .expect("run fleetdeck");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_safe(&format!("stdout of {shown:?}"), &run.out);
    assert_safe(&format!("stderr of {shown:?}"), &run.err);
    run
}

struct World {
    dir: tempfile::TempDir,
    sim: SimHandle,
    config: PathBuf,
}

impl World {
    fn home(&self) -> &Path {
        self.dir.path()
    }
}

/// The simulator with one device per corpus string, an inventory whose
/// device, site and group labels are the corpus, and a rollout repository
/// with a good plan, a plan with a hostile wave name, one with a 1 MB wave
/// name and a file whose name is hostile.
async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = corpus();
    let sim = SimHandle::start(
        SimOptions {
            devices: hostile.len(),
            sites: 2,
            ..SimOptions::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("simulator");
    let target = sim.addr().to_string();
    let groups: Vec<serde_json::Value> = sim
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            serde_json::json!({
                "targets": [target],
                "labels": {
                    "__metrics_path__": sim.metrics_path(&d.id),
                    "device": format!("pi-{i}-{}", hostile[i]),
                    "site": hostile[i],
                    "group": hostile[(i + 1) % hostile.len()],
                }
            })
        })
        .collect();
    let inventory = dir.path().join("inventory.json");
    std::fs::write(
        &inventory,
        serde_json::to_vec(&groups).expect("inventory JSON"),
    )
    .expect("inventory");

    let good = Plan::new(
        "vision-1.5.0",
        release_spec_for("1.5.0"),
        release_spec_for("1.4.0"),
    );
    let (_origin, ops) = origin_with_plan(dir.path(), &good);
    let wave = |name: &str| {
        let text = Plan::new("x", release_spec_for("1.5.0"), release_spec_for("1.4.0")).to_toml();
        let v = toml::Value::String(name.to_string()).to_string();
        text.replacen("name = \"canary\"", &format!("name = {v}"), 1)
    };
    std::fs::write(
        ops.join("rollouts/evil.toml"),
        wave("WAVE\u{1b}]2;PWNED\u{7}\u{1b}[2J").replacen("name = \"x\"", "name = \"evil\"", 1),
    )
    .expect("evil plan");
    let big = format!("{}\u{1b}[2J", "w".repeat(1_000_000));
    std::fs::write(
        ops.join("rollouts/big.toml"),
        wave(&big).replacen("name = \"x\"", "name = \"big\"", 1),
    )
    .expect("big plan");
    std::fs::write(
        ops.join("rollouts/esc\u{1b}]2;PWNED\u{7}\u{202e}.toml"),
        good.to_toml(),
    )
    .expect("hostile file name");
    git(&ops, &["add", "rollouts"]);
    git(&ops, &["commit", "-q", "-m", "hostile plans"]);
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);

    let key = dir.path().join("cosign.pub");
    std::fs::write(&key, sim.signing_public_key_pem()).expect("key");
    let registry = sim.registry_addr().to_string();
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\nkind = \"scrape\"\ninventory = \"{}\"\ntimeout = \"2s\"\n\n\
             [rollout]\nrepo = \"{}\"\ngit_timeout = \"30s\"\nauthor_name = \"ops\"\nauthor_email = \"ops@test\"\n\n\
             {}\n{}\n\
             [remote]\nwireguard_interface = \"wg-fd-absent\"\n",
            inventory.display(),
            ops.display(),
            signing_toml(&[&key]),
            RegistryToml::mirror(&registry).to_toml(),
        ),
    )
    .expect("config");
    World { dir, sim, config }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_through_every_printing_command() {
    let w = world().await;
    let (home, cfg) = (w.home(), Some(w.config.as_path()));

    // status: the hostile labels reach the table and the JSON, made safe.
    let r = fleetdeck(home, cfg, &["status", "--sample", "1s"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    assert!(
        r.out.contains("\\u{1b}"),
        "the hostile site names are shown escaped: {}",
        r.out
    );
    let r = fleetdeck(home, cfg, &["status", "--json", "--sample", "1s"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("status JSON");
    assert!(
        v["devices"]
            .as_array()
            .is_some_and(|d| d.len() == corpus().len()),
        "every hostile device is in the JSON"
    );

    // rollout list and show, good and hostile plans.
    let r = fleetdeck(home, cfg, &["rollout", "list"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    for name in ["evil ", "big ", "vision-1.5.0 "] {
        assert!(
            r.out.lines().any(|l| l.starts_with(name)),
            "{name} listed: {}",
            r.out
        );
    }
    assert!(
        r.out.len() < 20_000,
        "the 1 MB wave name is not echoed whole"
    );
    let r = fleetdeck(home, cfg, &["rollout", "list", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    serde_json::from_str::<serde_json::Value>(&r.out).expect("list JSON");
    let r = fleetdeck(home, cfg, &["rollout", "show", "vision-1.5.0"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    assert!(
        r.out.contains("\\u{"),
        "the per-site table shows hostile sites escaped: {}",
        r.out
    );
    let r = fleetdeck(home, cfg, &["rollout", "show", "vision-1.5.0", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    serde_json::from_str::<serde_json::Value>(&r.out).expect("show JSON");
    for bad in ["evil", "big"] {
        let r = fleetdeck(home, cfg, &["rollout", "show", bad]).await;
        assert_eq!(r.code, 2, "{bad}: {}\n{}", r.out, r.err);
        assert!(
            r.err.len() < 5_000,
            "{bad}: the error is cut: {} bytes",
            r.err.len()
        );
    }

    // gate: details name hostile sites and groups; hostile plans refuse.
    let r = fleetdeck(home, cfg, &["gate", "vision-1.5.0"]).await;
    assert!([0, 1, 3].contains(&r.code), "{}\n{}", r.out, r.err);
    assert!(r.out.contains("verdict:"), "{}", r.out);
    let r = fleetdeck(home, cfg, &["gate", "evil"]).await;
    assert_eq!(r.code, 2, "{}", r.err);

    // history: a hand edit with a hostile message and author, listed safely;
    // JSON keeps it exactly.
    let ops = home.join("ops");
    let plan_file = ops.join("rollouts/vision-1.5.0.toml");
    let text = std::fs::read_to_string(&plan_file).expect("plan") + "\n# edit\n";
    std::fs::write(&plan_file, text).expect("edit");
    let hostile: Vec<String> = arg_corpus()
        .into_iter()
        .filter(|h| h.len() < 1000)
        .collect();
    let message = format!(
        "{}\n\nAction: promote\nReason: {}",
        hostile.join(" "),
        hostile.join(" ")
    );
    git(
        &ops,
        &[
            "-c",
            &format!("user.name=Eve{}", hostile[0]),
            "commit",
            "-q",
            "-a",
            "-m",
            &message,
        ],
    );
    git(&ops, &["push", "-q", "origin", "HEAD:main"]);
    let r = fleetdeck(home, cfg, &["rollout", "history", "vision-1.5.0"]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    assert!(r.out.contains("\\u{1b}"), "shown escaped: {}", r.out);
    let r = fleetdeck(home, cfg, &["rollout", "history", "vision-1.5.0", "--json"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    let v: serde_json::Value = serde_json::from_str(&r.out).expect("history JSON");
    assert_eq!(
        v["commits"][0]["author"].as_str(),
        Some(format!("Eve{} <test@test>", hostile[0]).as_str())
    );

    // Error paths with hostile arguments.
    for h in arg_corpus() {
        let r = fleetdeck(home, cfg, &["rollout", "history", &h]).await;
        assert_ne!(r.code, 0, "unknown rollout {h:?}");
        assert!(
            r.err.len() < 10_000,
            "the echo is cut: {} bytes",
            r.err.len()
        );
        let r = fleetdeck(home, cfg, &["rollout", "show", &h]).await;
        assert_ne!(r.code, 0, "unknown rollout {h:?}");
        assert!(
            r.err.len() < 10_000,
            "the echo is cut: {} bytes",
            r.err.len()
        );
        let r = fleetdeck(home, cfg, &["rollout", "halt", &h, "--yes", "--reason", &h]).await;
        assert_ne!(r.code, 0, "unknown rollout {h:?}");
        let r = fleetdeck(home, cfg, &["ssh", &h]).await;
        assert_ne!(r.code, 0, "unknown device {h:?}");
        assert!(
            r.err.len() < 10_000,
            "the echo is cut: {} bytes",
            r.err.len()
        );
        let r = fleetdeck(
            home,
            cfg,
            &[
                "verify",
                &format!("registry.local/x{h}@sha256:{}", "a".repeat(64)),
            ],
        )
        .await;
        assert_ne!(r.code, 0, "hostile reference {h:?}");
        assert!(
            r.err.len() < 10_000,
            "the echo is cut: {} bytes",
            r.err.len()
        );
        let r = fleetdeck(home, cfg, &["verify", "--json", &h]).await;
        assert_ne!(r.code, 0, "hostile reference {h:?}");
    }

    // verify of a real signed release, text and JSON.
    let image = release_spec_for("1.5.0").image.to_string();
    let r = fleetdeck(home, cfg, &["verify", &image]).await;
    assert_eq!(r.code, 0, "{}\n{}", r.out, r.err);
    let r = fleetdeck(home, cfg, &["verify", "--json", &image]).await;
    assert_eq!(r.code, 0, "{}", r.err);

    // tunnels: the interface does not exist here (no root needed): its error path.
    let r = fleetdeck(home, cfg, &["tunnels"]).await;
    assert_ne!(r.code, 0, "{}", r.out);
    assert!(r.err.contains("wg-fd-absent"), "{}", r.err);
    let r = fleetdeck(home, cfg, &["tunnels", "--json"]).await;
    assert_ne!(r.code, 0, "{}", r.out);
    w.sim.shutdown().await;
}

/// `check-config` and `themes` with a hostile config path, theme file name
/// and config values. Their printers belong to the config work of issue 9
/// (the `config` branch); this test holds them to the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_through_check_config_and_themes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let themes = home.join(".config/fleetdeck/themes");
    std::fs::create_dir_all(&themes).expect("themes dir");
    for h in arg_corpus().iter().take(13) {
        let name: String = h.chars().take(60).collect();
        let _ = std::fs::write(themes.join(format!("{name}.toml")), "");
    }
    let r = fleetdeck(home, None, &["themes"]).await;
    assert_eq!(r.code, 0, "{}", r.err);
    for h in arg_corpus().iter().take(13) {
        let cdir = home.join(format!("c-{}", h.chars().take(60).collect::<String>()));
        std::fs::create_dir_all(&cdir).expect("config dir");
        let config = cdir.join("fleetdeck.toml");
        std::fs::write(&config, "").expect("config");
        let r = fleetdeck(home, Some(&config), &["check-config"]).await;
        assert_eq!(r.code, 0, "{}", r.err);
        let value = toml::Value::String(h.clone()).to_string();
        std::fs::write(&config, format!("theme = {value}\nrefresh = {value}\n")).expect("config");
        let r = fleetdeck(home, Some(&config), &["check-config"]).await;
        assert_ne!(r.code, 0, "{}", r.out);
        let r = fleetdeck(home, Some(&config), &["--theme", h, "check-config"]).await;
        assert_ne!(r.code, 0, "{}", r.out);
    }
}
