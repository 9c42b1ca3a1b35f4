//! Every view rendered into a TestBackend at 80×24 and 160×48, compared with
//! insta snapshots (review changes with `cargo insta review` or by reading the
//! .snap files). Plus tiny sizes, which must not panic.

use crate::support::fixture;
use crate::support::tunnels;

use fixture::*;
use fleetdeck::app::keymap::KeyCode;
use fleetdeck::app::{App, Event};
use fleetdeck::tui::theme::Theme;
use fleetdeck::tui::views;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn render(app: &mut App, w: u16, h: u16) -> String {
    let rows = views::table_rows_for(app, w, h);
    app.update(Event::Viewport { rows });
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    let theme = Theme::builtin_default();
    term.draw(|f| views::draw(f, app, &theme)).expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn both(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = app(120, 8);
        setup(&mut app);
        let screen = render(&mut app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
    }
}

#[test]
fn sites() {
    both("sites", |_| {});
}

#[test]
fn groups() {
    both("groups", |a| {
        a.update(key('2'));
    });
}

#[test]
fn devices() {
    both("devices", |a| {
        a.update(key('3'));
    });
}

#[test]
fn devices_filtered() {
    both("devices_filtered", |a| {
        a.update(key('3'));
        a.update(key('/'));
        type_text(a, "health:degraded");
    });
}

#[test]
fn site_devices() {
    both("site_devices", |a| {
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn device_detail() {
    both("device_detail", |a| {
        a.update(key(':'));
        type_text(a, "device pi-00002");
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn down_device_detail() {
    both("down_device_detail", |a| {
        a.update(key(':'));
        type_text(a, "device pi-00003");
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn help() {
    both("help", |a| {
        a.update(key('?'));
    });
}

#[test]
fn command_line() {
    both("command_line", |a| {
        a.update(key(':'));
        type_text(a, "dev");
    });
}

#[test]
fn stale_after_failed_refresh() {
    both("stale", |a| {
        a.update(Event::Fleet {
            generation: 2,
            result: Err("cannot reach http://127.0.0.1:9090: connection refused".into()),
            warnings: vec![],
        });
        a.update(Event::Tick(t(T0 + 95)));
    });
}

#[test]
fn tiny_sizes_do_not_panic() {
    for (w, h) in [
        (1, 1),
        (0, 0),
        (10, 3),
        (20, 5),
        (80, 4),
        (3, 80),
        (250, 70),
    ] {
        for setup in ['1', '2', '3'] {
            let mut app = app(30, 3);
            app.update(key(setup));
            render(&mut app, w, h);
            app.update(special(KeyCode::Enter));
            render(&mut app, w, h);
            app.update(key('?'));
            render(&mut app, w, h);
        }
    }
}

#[test]
fn hostile_labels_never_reach_the_screen_raw() {
    let mut snap = snapshot(5, 1);
    snap.devices[0].id =
        "evil\u{1b}[2J\u{1b}]0;pwned\u{7}\n東京🚀".to_string() + &"x".repeat(10_000);
    snap.devices[0].site = "site\r\n\u{9b}31m".into();
    snap.devices[0]
        .labels
        .insert("note".into(), "\u{1b}[31mred\u{202e}".into());
    let fleet = std::sync::Arc::new(fleetdeck::fleet::Fleet::build(
        snap,
        None,
        &Default::default(),
    ));
    let mut app = app(1, 1);
    app.update(Event::Fleet {
        generation: 5,
        result: Ok(fleet),
        warnings: vec!["\u{1b}[5mblink".into()],
    });
    for view in ['1', '3'] {
        app.update(key(view));
        for (w, h) in [(80, 24), (250, 70)] {
            let s = render(&mut app, w, h);
            assert!(
                !s.chars().any(|c| c.is_control() && c != '\n'),
                "control character drawn:\n{s}"
            );
            assert!(!s.contains('\u{202e}'));
        }
    }
    app.update(key('3'));
    app.update(key('/'));
    type_text(&mut app, "evil");
    app.update(special(KeyCode::Enter));
    app.update(special(KeyCode::Enter));
    let s = render(&mut app, 160, 48);
    assert!(
        s.contains("evil\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\n東"),
        "{s}"
    );
    assert!(
        s.contains('東') && s.contains('🚀'),
        "wide characters are kept: {s}"
    );
    assert!(!s.chars().any(|c| c.is_control() && c != '\n'));
}

fn rollout_both(name: &str, setup: impl Fn(&mut App)) {
    use fleetdeck::rollout::plan::Status;
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = rollout_app(rollout_plan(1, Status::Progressing), false);
        setup(&mut app);
        let screen = render(&mut app, w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
    }
}

#[test]
fn rollouts_list() {
    rollout_both("rollouts", |_| {});
}

#[test]
fn rollout_matrix_and_gates() {
    rollout_both("rollout_detail", |a| {
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn rollout_group_matrix() {
    rollout_both("rollout_groups", |a| {
        a.update(special(KeyCode::Enter));
        a.update(special(KeyCode::Tab));
    });
}

#[test]
fn rollout_confirm_dialog() {
    rollout_both("rollout_confirm", |a| {
        a.update(special(KeyCode::Enter));
        a.update(key('A'));
        type_text(a, "p95 regression on canaries");
    });
}

/// The fixture app with a WireGuard interface configured and one reading.
fn with_tunnels(a: &mut App) {
    a.tunnels.interface = Some("wg-fleet".into());
    let now = a.now;
    a.update(Event::Tunnels {
        result: Ok(tunnels::reading(120, now)),
    });
}

#[test]
fn devices_with_tunnels() {
    both("devices_tunnels", |a| {
        with_tunnels(a);
        a.update(key('3'));
    });
}

#[test]
fn device_detail_with_tunnel() {
    both("device_detail_tunnel", |a| {
        with_tunnels(a);
        a.update(key(':'));
        type_text(a, "device pi-00002");
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn device_detail_tunnel_read_failed() {
    both("device_detail_tunnel_failed", |a| {
        a.tunnels.interface = Some("wg-fleet".into());
        a.update(Event::Tunnels {
            result: Err("no WireGuard interface 'wg-fleet': is wireguard-go running?".into()),
        });
        a.update(key(':'));
        type_text(a, "device pi-00001");
        a.update(special(KeyCode::Enter));
    });
}

#[test]
fn shell_question_tunnel_not_live() {
    both("shell_ask_offline", |a| {
        with_tunnels(a);
        a.update(key(':'));
        type_text(a, "device pi-00002");
        a.update(special(KeyCode::Enter));
        a.update(key('s'));
    });
}

#[test]
fn shell_question_unknown_host_key() {
    both("shell_ask_host_key", |a| {
        a.update(key('3'));
        a.update(Event::HostKey {
            device: "pi-00001".into(),
            problem: fleetdeck::app::HostKeyProblem::Unknown {
                addr: "10.8.0.1:22".into(),
                fingerprint: "SHA256:Qx4rZ0bYq0R0y1o3g3w0Zb3gkq2XbH6c3Jc2m1s1V2A".into(),
            },
        });
    });
}

#[test]
fn shell_warning_changed_host_key() {
    both("shell_host_key_changed", |a| {
        a.update(key('3'));
        a.update(Event::HostKey {
            device: "pi-00001\x1b[31m".into(),
            problem: fleetdeck::app::HostKeyProblem::Changed {
                addr: "10.8.0.1:22".into(),
                old: "SHA256:old0000000000000000000000000000000000000000".into(),
                new: "SHA256:new1111111111111111111111111111111111111111".into(),
                known_hosts_line: "/root/.ssh/known_hosts:3".into(),
            },
        });
    });
}

#[test]
fn inspector_of_a_rollout() {
    rollout_both("inspect_rollout", |a| {
        a.update(key('i'));
    });
}

#[test]
fn inspector_of_a_device() {
    rollout_both("inspect_device", |a| {
        a.update(key('3'));
        a.update(key('j')); // the first row is the down device, which reports nothing
        a.update(key('i'));
    });
}

#[test]
fn unsigned_promote_refused() {
    use fleetdeck::rollout::plan::Status;
    for (w, h) in [(80, 24), (160, 48)] {
        let mut p = rollout_plan(1, Status::Progressing);
        p.state.wave_started = Some(t(T0 - 7200));
        let mut app = fixture::rollout_app_signed(p, false, |r| !r.contains("efefefef"));
        app.update(special(KeyCode::Enter));
        app.update(key('p'));
        let screen = render(&mut app, w, h);
        insta::assert_snapshot!(format!("unsigned_promote_{w}x{h}"), screen);
    }
}

/// Issue 9, case 3: line separators and zero-width characters in a device id
/// are drawn as visible escapes, so the width ratatui computes is the width
/// drawn: every row keeps its borders at the same columns.
#[test]
fn separators_and_zero_width_ids_keep_every_row_in_its_columns() {
    let mut snap = snapshot(6, 2);
    snap.devices[0].id = format!("pi-evil{}", "\u{2028}".repeat(30));
    snap.devices[1].id = "pi-e\u{200b}vil".into();
    snap.devices[2].id = "pi-\u{200d}x\u{feff}\u{2060}\u{61c}y".into();
    snap.devices[3].site = "s\u{2029}\u{202e}ite".into();
    let fleet = std::sync::Arc::new(fleetdeck::fleet::Fleet::build(
        snap,
        None,
        &Default::default(),
    ));
    let mut app = app(1, 1);
    app.update(Event::Fleet {
        generation: 5,
        result: Ok(fleet),
        warnings: vec![],
    });
    for view in ['1', '3'] {
        app.update(key(view));
        for (w, h) in [(80, 24), (160, 48)] {
            let s = render(&mut app, w, h);
            let lines: Vec<&str> = s.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                assert!(
                    !l.chars().any(fleetdeck::text::is_unsafe),
                    "row {i} holds a raw unsafe character:\n{s}"
                );
                // A bordered row ends with its border in the last column.
                if l.starts_with('│') {
                    assert_eq!(
                        l.chars().count(),
                        usize::from(w),
                        "row {i} is shifted:\n{s}"
                    );
                    assert!(l.ends_with('│'), "row {i} lost its border:\n{s}");
                }
            }
            if view == '3' && w == 160 {
                assert!(s.contains("pi-evil\\u{2028}\\u{2028}"), "{s}");
                assert!(s.contains("pi-e\\u{200b}vil"), "{s}");
                assert!(
                    s.contains("pi-\\u{200d}x\\u{feff}\\u{2060}\\u{61c}y"),
                    "{s}"
                );
            }
        }
    }
}

/// Issue 9, case 9: below a workable size the console said nothing and drew
/// empty panes; it now says how much it needs.
#[test]
fn below_a_workable_size_the_console_says_how_much_it_needs() {
    let mut app = app(30, 3);
    let (w, h) = views::min_size(&app);
    let s = render(&mut app, w - 1, h + 5);
    assert!(
        s.contains(&format!(
            "terminal too small (need {w}×{h}; now {}×{})",
            w - 1,
            h + 5
        )),
        "{s}"
    );
    let s = render(&mut app, w + 20, h - 1);
    assert!(s.contains("terminal too small"), "{s}");
    // At the minimum: the view, with at least one table row.
    let s = render(&mut app, w, h);
    assert!(!s.contains("terminal too small"), "{s}");
    assert!(
        s.contains("site-0"),
        "a table row is shown at {w}×{h}:\n{s}"
    );
    // The rollout detail needs its header, matrix and gate panel.
    use fleetdeck::rollout::plan::Status;
    let mut app = rollout_app(rollout_plan(1, Status::Progressing), false);
    app.update(special(KeyCode::Enter));
    let (w, h) = views::min_size(&app);
    assert!(h > 20, "{h}");
    let s = render(&mut app, w, h - 1);
    assert!(s.contains("terminal too small"), "{s}");
    let s = render(&mut app, w, h);
    assert!(
        !s.contains("terminal too small") && s.contains("verdict"),
        "{s}"
    );
}

/// A rollout's history as `git log --pretty=raw` gives it (fleetdeck's
/// messages, an old-style init, a hostile hand edit), newest first.
fn history_answer(app: &mut App) {
    let commit = |n: u32, secs: u64, author: &str, message: &str| {
        let mut s = format!(
            "commit {}\ntree {:040x}\nauthor {author} {secs} +0000\ncommitter {author} {secs} +0000\n\n",
            format!("{:02x}", (n * 7 + 160) % 256).repeat(20),
            0
        );
        for l in message.lines() {
            s.push_str(&format!("    {l}\n"));
        }
        s.push('\n');
        s
    };
    let mut raw = commit(
        20,
        1_800_003_000,
        "Eve\u{1b}[31m <eve@x>",
        "tweak \u{1b}]2;PWNED\u{7}soak\u{202e}\n\nReason: \u{1b}[2J",
    );
    raw += &commit(
        19,
        1_800_002_400,
        "Bob <bob@example.com>",
        "rollout vision-1.5.0: halt — wave 2/4 (25%) paused\n\nAction: halt\nRollout: vision-1.5.0\nWave: 2/4 (25%) → 2/4 (25%)\nStatus: progressing → paused\nBy: bob@bastion\nReason: latency spike in ams-1\nForced: no",
    );
    raw += &commit(
        18,
        1_800_001_800,
        "Alice <alice@example.com>",
        "rollout vision-1.5.0: promote — wave 2/4 (25%) progressing [FORCED]\n\nAction: promote\nRollout: vision-1.5.0\nWave: 1/4 (canary) → 2/4 (25%)\nStatus: progressing → progressing\nBy: alice@bastion\nReason: FORCED: crash fix, canary fine (overrode: soak time not over: 12m of 30m left in wave 1 (canary))\nForced: yes\nOverrode: soak check forced: soak time not over: 12m of 30m left in wave 1 (canary)",
    );
    for i in 0..12u32 {
        let (act, status) = if i % 2 == 0 {
            ("resume", "paused → progressing")
        } else {
            ("halt", "progressing → paused")
        };
        raw += &commit(
            17 - i,
            1_800_001_000 - u64::from(i) * 60,
            "Carol <carol@example.com>",
            &format!(
                "rollout vision-1.5.0: {act} — wave 1/4 (canary)\n\nAction: {act}\nWave: 1/4 (canary) → 1/4 (canary)\nStatus: {status}\nBy: carol\nReason: drill {i}\nForced: no"
            ),
        );
    }
    raw += &commit(
        2,
        1_800_000_060,
        "Alice <alice@example.com>",
        "rollout vision-1.5.0: promote — wave 1/4 (canary) progressing\n\nAction: promote\nWave: 0/4 (none released) → 1/4 (canary)\nStatus: progressing → progressing\nBy: alice@bastion\nReason: (none given)\nForced: no",
    );
    raw += &commit(
        1,
        1_800_000_000,
        "test <test@test>",
        "rollout vision-1.5.0: init",
    );
    let entries = fleetdeck::rollout::history::parse_raw_log(&raw, |_| true);
    app.update(Event::RolloutHistory {
        rollout: "vision-1.5.0".into(),
        result: Ok(entries),
    });
}

#[test]
fn rollout_history() {
    rollout_both("rollout_history", |a| {
        a.update(special(KeyCode::Enter));
        a.update(key('H'));
        history_answer(a);
        // The forced promote, selected.
        a.update(key('j'));
        a.update(key('j'));
    });
}

#[test]
fn rollout_history_loading() {
    rollout_both("rollout_history_loading", |a| {
        a.update(special(KeyCode::Enter));
        a.update(key('H'));
    });
}
