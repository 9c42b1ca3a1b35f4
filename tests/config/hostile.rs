//! Issue 9 case 2 (config part): 15 of 19 hostile config and theme values came
//! back raw in error messages (theme name, durations, keys, URLs, unknown
//! keys, a hostile `--config` path, the `check-config` ok line, `fleetdeck
//! themes` listing a user theme file name), and a 50 MB value was echoed
//! whole. Every value, key, path and file name echoed is now made safe and
//! cut (`text::echo`). This runs the real binary on every hostile value in
//! every position and checks what reaches the terminal.

use fleetdeck::text::is_unsafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest line allowed on stdout/stderr: a file path, a key and a value, each
/// echoed at most 120 characters, with the words around them.
const MAX_LINE: usize = 320;

/// The hostile corpus: escape sequences, line breaks, separators, bidi and
/// invisible characters, C1 controls, and long values.
fn corpus() -> Vec<(&'static str, String)> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("osc-title", "x\u{1b}]2;PWNED\u{7}".into()),
        ("clear-screen", "\u{1b}[2J\u{1b}[H".into()),
        ("wave", "WAVE\u{1b}]2;PWNED\u{7}\u{1b}[2J".into()),
        ("sgr", "\u{1b}[31;1mred\u{1b}[0m".into()),
        ("cr", "ok\rEVIL".into()),
        ("lf", "one\ntwo".into()),
        ("crlf", "one\r\nX-Evil: 1".into()),
        ("line-sep", format!("pi-evil{}", "\u{2028}".repeat(30))),
        ("para-sep", "a\u{2029}b".into()),
        ("rlo", "\u{202e}lmth.exe".into()),
        ("isolate", "\u{2066}iso\u{2069}".into()),
        ("zwsp", "pi\u{200b}-0001".into()),
        ("zwj", "pi\u{200d}x".into()),
        ("bom", "\u{feff}bom".into()),
        ("word-joiner", "w\u{2060}j".into()),
        ("alm", "a\u{061c}lm".into()),
        ("c1-csi", "\u{9b}31mC1".into()),
        ("nel", "n\u{85}el".into()),
        ("del-bell", "d\u{7f}e\u{7}l".into()),
        ("dcs", "\u{1b}P+q544e\u{1b}\\".into()),
        ("tab-backspace", "t\tb\u{8}\u{8}X".into()),
    ];
    // Long: under the config cap, so it is parsed and must be echoed cut.
    v.push(("600k", format!("\u{1b}[31m{}", "A".repeat(600_000))));
    v
}

/// 50 MB: refused by the size cap before anything is parsed (the old code
/// echoed it whole). Only in the positions where a file carries it.
fn fifty_mb() -> String {
    format!("\u{1b}]2;PWNED\u{7}{}", "B".repeat(50 << 20))
}

/// A TOML basic string (or quoted key) holding exactly `s`.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A value short enough for the command line (ARG_MAX) and file names.
fn for_argv(v: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

struct Out {
    stdout: String,
    stderr: String,
}

fn run(xdg: &Path, args: &[&std::ffi::OsStr]) -> Out {
    use std::io::Read;
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
        .args(args)
        .env("HOME", xdg)
        .env("XDG_CONFIG_HOME", xdg)
        .env_remove("TERM")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fleetdeck");
    let mut o = child.stdout.take().expect("stdout");
    let mut e = child.stderr.take().expect("stderr");
    let ro = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = (&mut o).take(8 << 20).read_to_end(&mut b);
        b
    });
    let re = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = (&mut e).take(8 << 20).read_to_end(&mut b);
        b
    });
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fleetdeck {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Out {
        stdout: String::from_utf8_lossy(&ro.join().expect("stdout")).into_owned(),
        stderr: String::from_utf8_lossy(&re.join().expect("stderr")).into_owned(),
    }
}

/// Nothing a terminal would act on, and no line longer than [`MAX_LINE`].
fn assert_inert(what: &str, out: &Out) {
    for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        if let Some(c) = text.chars().find(|&c| c != '\n' && is_unsafe(c)) {
            panic!(
                "{what}: {stream} carries U+{:04X}: {:?}",
                c as u32,
                text.chars().take(400).collect::<String>()
            );
        }
        if let Some(l) = text.lines().find(|l| l.chars().count() > MAX_LINE) {
            panic!(
                "{what}: {stream} has a line of {} characters: {:?}…",
                l.chars().count(),
                l.chars().take(200).collect::<String>()
            );
        }
    }
}

/// Config files, one per position, each holding the value `v`.
fn config_positions(v: &str, dir: &Path) -> Vec<(&'static str, String)> {
    let q = toml_str(v);
    let inv = dir.join("inventory.json");
    let inv = toml_str(inv.to_str().expect("utf-8"));
    let scrape = format!("[source]\nkind = \"scrape\"\ninventory = {inv}\n");
    let prom = "[source]\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9\"\n";
    vec![
        ("theme name", format!("theme = {q}\n")),
        ("duration", format!("{scrape}timeout = {q}\n")),
        ("ui duration", format!("[ui]\nhistory = {q}\n")),
        ("key spec", format!("[keys]\nquit = [{q}]\n")),
        ("action name", format!("[keys]\n{q} = \"x\"\n")),
        (
            "url",
            format!("[source]\nkind = \"prometheus\"\nurl = {q}\n"),
        ),
        (
            "url suffix",
            format!(
                "[source]\nkind = \"prometheus\"\nurl = {}\n",
                toml_str(&format!("http://h/{v}"))
            ),
        ),
        ("unknown top-level key", format!("{q} = 1\n")),
        ("unknown key in a table", format!("{scrape}{q} = \"x\"\n")),
        ("unknown table", format!("[{q}]\nx = 1\n")),
        ("source kind", format!("[source]\nkind = {q}\n")),
        ("wrong type", format!("read_only = {q}\n")),
        ("label name", format!("[labels]\ndevice = {q}\n")),
        ("metric name", format!("[metrics.cpu_temp]\nmetric = {q}\n")),
        ("branch", format!("[rollout]\nbranch = {q}\n")),
        (
            "mirror source",
            format!("[registry.mirrors]\n{q} = \"127.0.0.1:5000\"\n"),
        ),
        (
            "mirror target",
            format!("[registry.mirrors]\n\"registry.local\" = {q}\n"),
        ),
        (
            "auth host",
            format!("[registry.auth.{q}]\ntoken_file = \"/nonexistent/token\"\n"),
        ),
        ("tenant", format!("{prom}tenant = {q}\n")),
        (
            "bearer_token_file",
            format!(
                "{prom}bearer_token_file = {}\n",
                toml_str(&format!("/nonexistent/{v}"))
            ),
        ),
        (
            "ca_file",
            format!(
                "[registry]\nca_file = {}\n",
                toml_str(&format!("/nonexistent/{v}"))
            ),
        ),
        (
            "signing key",
            format!(
                "[signing]\nkeys = [{}]\n",
                toml_str(&format!("/nonexistent/{v}"))
            ),
        ),
        (
            "subject_regex",
            format!(
                "[signing]\nidentities = [{{ issuer = \"https://i\", subject_regex = {} }}]\n",
                toml_str(&format!("({v}"))
            ),
        ),
        (
            "inventory path",
            format!(
                "[source]\nkind = \"scrape\"\ninventory = {}\n",
                toml_str(&format!("/nonexistent/{v}"))
            ),
        ),
        (
            "theme path",
            format!("theme = {}\n", toml_str(&format!("/nonexistent/{v}.toml"))),
        ),
    ]
}

/// Theme files, one per position, each holding `v`.
fn theme_positions(v: &str) -> Vec<(&'static str, String)> {
    let q = toml_str(v);
    vec![
        ("colour", format!("[roles]\ntext = {q}\n")),
        ("role name", format!("[roles]\n{q} = \"red\"\n")),
        (
            "flag",
            format!("[roles]\ntext = {{ fg = \"red\", bold = {q} }}\n"),
        ),
        ("inherits", format!("inherits = {q}\n")),
        ("unknown key", format!("{q} = 1\n")),
        ("wrong type", format!("name = [{q}]\n")),
    ]
}

#[test]
fn hostile_config_and_theme_values_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("fleetdeck/themes")).expect("xdg");
    std::fs::write(
        dir.path().join("inventory.json"),
        "[{\"targets\": [\"127.0.0.1:9\"], \"labels\": {\"device\": \"pi-1\"}}]",
    )
    .expect("inventory");
    let cfg = dir.path().join("config.toml");
    let theme = dir.path().join("theme.toml");
    let mut runs = 0;
    for (name, v) in corpus() {
        // In the config file: check-config, the console and a command.
        for (pos, text) in config_positions(&v, dir.path()) {
            std::fs::write(&cfg, &text).expect("write config");
            let what = format!("{name} as {pos}");
            for args in [vec!["check-config", "--config"], vec!["--config"]] {
                let mut a: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_ref()).collect();
                a.push(cfg.as_os_str());
                assert_inert(&format!("{what}: {args:?}"), &run(&xdg, &a));
                runs += 1;
            }
        }
        // In a theme file given by path.
        for (pos, text) in theme_positions(&v) {
            std::fs::write(&theme, &text).expect("write theme");
            let out = run(
                &xdg,
                &[
                    "check-config".as_ref(),
                    "--theme".as_ref(),
                    theme.as_os_str(),
                ],
            );
            assert_inert(&format!("{name} in a theme file as {pos}"), &out);
            runs += 1;
        }
        // On the command line: --config and --theme (argv is bounded by the
        // kernel: the long value is cut to 100 KB there).
        let short = for_argv(&v, 100_000);
        let missing = PathBuf::from(format!("/nonexistent/{short}"));
        let out = run(
            &xdg,
            &[
                "check-config".as_ref(),
                "--config".as_ref(),
                missing.as_os_str(),
            ],
        );
        assert!(
            out.stderr.contains("/nonexistent/"),
            "{name}: {}",
            out.stderr
        );
        assert_inert(&format!("{name} in the --config path"), &out);
        let out = run(
            &xdg,
            &["check-config".as_ref(), "--theme".as_ref(), short.as_ref()],
        );
        assert_inert(&format!("{name} as --theme"), &out);
        runs += 2;

        // In file names (at most 255 bytes): a valid config whose own name
        // and inventory name are hostile, for the ok line; a user theme for
        // `themes` and for the list of available themes.
        let file_name = for_argv(&v, 200);
        if !file_name.contains('/') && !file_name.is_empty() {
            let sub = dir.path().join(format!("{file_name}.d"));
            std::fs::create_dir_all(&sub).expect("mkdir");
            let inv = sub.join(format!("{file_name}.json"));
            std::fs::copy(dir.path().join("inventory.json"), &inv).expect("inventory");
            let named = sub.join(format!("{file_name}.toml"));
            std::fs::write(
                &named,
                format!(
                    "[source]\nkind = \"scrape\"\ninventory = {}\n",
                    toml_str(inv.to_str().expect("utf-8"))
                ),
            )
            .expect("write config");
            let out = run(
                &xdg,
                &[
                    "check-config".as_ref(),
                    "--config".as_ref(),
                    named.as_os_str(),
                ],
            );
            assert!(
                out.stdout.contains(": ok (scrape "),
                "{name}: {}{}",
                out.stdout,
                out.stderr
            );
            assert_inert(
                &format!("{name} in the config and inventory file names"),
                &out,
            );
            let user_theme = xdg
                .join("fleetdeck/themes")
                .join(format!("{file_name}.toml"));
            std::fs::write(&user_theme, "inherits = \"default\"\n").expect("user theme");
            let out = run(&xdg, &["themes".as_ref()]);
            assert!(out.stdout.contains("colorblind"), "{name}: {}", out.stdout);
            assert_inert(&format!("{name} as a user theme file name (themes)"), &out);
            let out = run(
                &xdg,
                &["check-config".as_ref(), "--theme".as_ref(), "nope".as_ref()],
            );
            assert_inert(&format!("{name} in the list of available themes"), &out);
            std::fs::remove_file(&user_theme).expect("rm user theme");
            runs += 3;
        }
    }
    // 50 MB, in a config file and in a theme file: refused by the cap, fast,
    // naming the file, echoing nothing of the value.
    let huge = fifty_mb();
    std::fs::write(&cfg, format!("theme = {}\n", toml_str(&huge))).expect("write");
    let t = Instant::now();
    let out = run(
        &xdg,
        &[
            "check-config".as_ref(),
            "--config".as_ref(),
            cfg.as_os_str(),
        ],
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
    assert!(out.stderr.contains("larger than"), "{}", out.stderr);
    assert_inert("50 MB value in a config file", &out);
    std::fs::write(&theme, format!("[roles]\ntext = {}\n", toml_str(&huge))).expect("write");
    let out = run(
        &xdg,
        &[
            "check-config".as_ref(),
            "--theme".as_ref(),
            theme.as_os_str(),
        ],
    );
    assert!(out.stderr.contains("larger than"), "{}", out.stderr);
    assert_inert("50 MB value in a theme file", &out);
    assert!(runs >= 19 * 30, "{runs} runs");
}
