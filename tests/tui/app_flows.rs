//! Key flows driven through `App::update`, without a terminal.

use crate::support::fixture;

use fixture::*;
use fleetdeck::app::keymap::{Key, KeyCode};
use fleetdeck::app::{DataState, Effect, Event, Mode, Scope, ViewKind};
use fleetdeck::fleet::Health;

#[test]
fn starts_on_sites_sorted_worst_first() {
    let app = app(60, 6);
    assert_eq!(app.screen().kind, ViewKind::Sites);
    let first = app.fleet.sites[app.screen().rows[0]].clone();
    // site-02 holds the hot devices (all degraded, throttled); site-03 one
    // down device of ten. Severity, not counts (issue 11): the share of a
    // site's devices in trouble and how far past the thresholds come first.
    assert_eq!(first.name, "site-02", "all hot beats one down: {:?}", first);
    // Then each site by its share in trouble plus its worst figure's excess:
    // every site with something wrong before every site without.
    let troubled: Vec<bool> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.sites[r].attention() > 0)
        .collect();
    assert!(troubled.windows(2).all(|w| w[0] || !w[1]), "{troubled:?}");
    assert_eq!(app.screen().rows.len(), 6);
}

#[test]
fn open_site_then_device_then_back_keeps_selection() {
    let mut app = app(60, 6);
    app.update(key('j')); // second row
    let site = app.selected_key().expect("a site is selected");
    app.update(special(KeyCode::Enter));
    assert_eq!(
        app.screen().kind,
        ViewKind::Devices(Scope::Site(site.clone()))
    );
    assert!(
        app.screen()
            .rows
            .iter()
            .all(|&r| app.fleet.devices[r].site() == site)
    );
    app.update(key('j'));
    let dev = app.selected_key().expect("a device is selected");
    let fx = app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().kind, ViewKind::Device(dev.clone()));
    assert!(fx.is_empty(), "scrape mode keeps history locally: {fx:?}");
    app.update(special(KeyCode::Esc));
    assert_eq!(app.selected_key(), Some(dev));
    app.update(special(KeyCode::Esc));
    assert_eq!(app.selected_key(), Some(site));
    app.update(special(KeyCode::Esc));
    assert_eq!(app.stack.len(), 1, "esc at the root stays at the root");
}

#[test]
fn filter_narrows_live_and_esc_clears() {
    let mut app = app(200, 10);
    app.update(key('3'));
    assert_eq!(app.screen().rows.len(), 200);
    app.update(key('/'));
    type_text(&mut app, "health:degraded");
    assert!(matches!(app.mode, Mode::Filter(_)));
    let n = app.screen().rows.len();
    assert!(n > 0 && n < 200);
    assert!(
        app.screen()
            .rows
            .iter()
            .all(|&r| app.fleet.devices[r].health == Health::Degraded)
    );
    type_text(&mut app, " site:site-02");
    assert!(
        app.screen()
            .rows
            .iter()
            .all(|&r| app.fleet.devices[r].site() == "site-02")
    );
    app.update(special(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.screen().filter.text, "health:degraded site:site-02");
    app.update(special(KeyCode::Esc));
    assert_eq!(app.screen().rows.len(), 200, "esc clears the filter first");
}

#[test]
fn filter_by_text_and_negation() {
    let mut app = app(50, 5);
    app.update(key('3'));
    app.update(key('/'));
    type_text(&mut app, "pi-0001");
    let ids: Vec<String> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.devices[r].id().to_string())
        .collect();
    assert_eq!(ids.len(), 10, "pi-00010..pi-00019 minus none: {ids:?}");
    app.update(special(KeyCode::Esc));
    app.update(key('/'));
    type_text(&mut app, "!group:canary");
    assert!(
        app.screen()
            .rows
            .iter()
            .all(|&r| app.fleet.devices[r].group() != "canary")
    );
    assert_eq!(app.screen().rows.len(), 47);
}

#[test]
fn command_mode_navigates_and_reports_unknown() {
    let mut app = app(30, 3);
    app.update(key(':'));
    type_text(&mut app, "device pi-00004");
    app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().kind, ViewKind::Device("pi-00004".into()));
    app.update(key(':'));
    type_text(&mut app, "groups");
    app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().kind, ViewKind::Groups);
    assert_eq!(app.stack.len(), 1);
    app.update(key(':'));
    type_text(&mut app, "device nope");
    app.update(special(KeyCode::Enter));
    let flash = app.flash.clone().expect("an error is shown");
    assert!(flash.text.contains("no device 'nope'"), "{}", flash.text);
    app.update(key(':'));
    type_text(&mut app, "frobnicate");
    app.update(special(KeyCode::Enter));
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("unknown command"))
    );
    app.update(key(':'));
    type_text(&mut app, "theme light");
    let fx = app.update(special(KeyCode::Enter));
    assert_eq!(
        fx,
        vec![Effect::LoadTheme {
            name: "light".into()
        }]
    );
    app.update(key(':'));
    type_text(&mut app, "q");
    let fx = app.update(special(KeyCode::Enter));
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn sorting_cycles_columns_and_reverses() {
    let mut app = app(40, 4);
    app.update(key('3'));
    // Default: health, worst first.
    let first = app.screen().rows[0];
    assert_eq!(app.fleet.devices[first].health, Health::Down);
    app.update(key('>')); // device id, A→Z
    let ids: Vec<&str> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.devices[r].id())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    app.update(key('O'));
    let ids: Vec<&str> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.devices[r].id())
        .collect();
    assert_eq!(ids[0], "pi-00040");
    // p95, worst first, n/a last
    app.update(key('>'));
    app.update(key('>'));
    app.update(key('>'));
    let top = app.screen().rows[0];
    assert_eq!(
        app.fleet.devices[top].id(),
        "pi-00007",
        "the slow device first"
    );
    let last = *app.screen().rows.last().expect("rows");
    assert_eq!(
        app.fleet.devices[last].id(),
        "pi-00003",
        "the down device (n/a) last"
    );
}

#[test]
fn selection_follows_the_device_across_refreshes() {
    let mut app = app(100, 5);
    app.update(key('3'));
    for _ in 0..10 {
        app.update(key('j'));
    }
    let before = app.selected_key();
    app.update(Event::Fleet {
        generation: 2,
        result: Ok(fleet(100, 5)),
        warnings: Vec::new(),
    });
    assert_eq!(app.selected_key(), before);
}

#[test]
fn a_failed_refresh_keeps_data_marked_stale() {
    let mut app = app(20, 2);
    assert!(!app.is_stale());
    app.update(Event::Fleet {
        generation: 2,
        result: Err("cannot reach http://127.0.0.1:9: connection refused".into()),
        warnings: Vec::new(),
    });
    assert!(matches!(app.data, DataState::Failed { .. }));
    assert!(app.is_stale());
    assert_eq!(app.fleet.devices.len(), 20, "last good data kept");
    assert!(
        app.fleet
            .devices
            .iter()
            .all(|d| matches!(d.health, Health::Stale | Health::Down))
    );
    // An older result arriving late is dropped.
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet(5, 1)),
        warnings: Vec::new(),
    });
    assert_eq!(app.fleet.devices.len(), 20);
    // Recovery.
    app.update(Event::Fleet {
        generation: 3,
        result: Ok(fleet(20, 2)),
        warnings: Vec::new(),
    });
    assert_eq!(app.data, DataState::Loaded);
}

#[test]
fn paging_and_bounds() {
    let mut app = app(500, 10);
    app.update(key('3'));
    app.update(Event::Viewport { rows: 20 });
    app.update(special(KeyCode::PageDown));
    assert_eq!(app.screen().selected, 20);
    app.update(key('G'));
    assert_eq!(app.screen().selected, 499);
    assert!(app.screen().offset <= 499 && app.screen().offset + 20 > 499);
    app.update(key('j'));
    assert_eq!(app.screen().selected, 499, "no wrap past the end");
    app.update(key('g'));
    assert_eq!((app.screen().selected, app.screen().offset), (0, 0));
    app.update(key('k'));
    assert_eq!(app.screen().selected, 0);
}

#[test]
fn help_opens_and_closes_and_ctrl_c_quits() {
    let mut app = app(10, 2);
    app.update(key('?'));
    assert_eq!(app.mode, Mode::Help { scroll: 0 });
    app.update(special(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    let fx = app.update(Event::Key(Key::ctrl('c')));
    assert_eq!(fx, vec![Effect::Quit]);
}

#[test]
fn prometheus_mode_asks_for_history_when_a_device_opens() {
    let mut s = settings();
    s.remote_history = true;
    let mut app =
        fleetdeck::app::App::new(s, Default::default(), "p".into(), "default".into(), t(T0));
    app.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet(10, 2)),
        warnings: vec![],
    });
    app.update(key('3'));
    let fx = app.update(special(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::FetchHistory { device }] if device.starts_with("pi-")),
        "{fx:?}"
    );
}

#[test]
fn s_opens_a_shell_on_the_selected_device_unless_forbidden() {
    let mut app = app(30, 3);
    app.update(key('s'));
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("select a device")),
        "no device in the sites view"
    );
    app.update(key('3'));
    let dev = app.selected_key().expect("a device");
    let fx = app.update(key('s'));
    assert_eq!(
        fx,
        vec![Effect::Shell {
            device: dev.clone()
        }]
    );
    app.update(Event::ShellEnded {
        device: dev.clone(),
        message: "session ended: exit status 0".into(),
        ok: true,
    });
    assert_eq!(app.selected_key(), Some(dev), "back on the same selection");
    let mut s = settings();
    s.read_only = true;
    s.allow_shell_read_only = false;
    let mut ro =
        fleetdeck::app::App::new(s, Default::default(), "p".into(), "default".into(), t(T0));
    ro.update(Event::Fleet {
        generation: 1,
        result: Ok(fleet(10, 2)),
        warnings: vec![],
    });
    ro.update(key('3'));
    assert!(ro.update(key('s')).is_empty());
    assert!(
        ro.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("read-only"))
    );
}

fn ctrl(c: char) -> Event {
    Event::Key(Key::ctrl(c))
}

/// Issue 9, case 1: the footer says `q/ctrl-c quit`, but ctrl-c did nothing
/// in the filter, command and help modes. esc and ctrl-c now leave every
/// input line and overlay without doing anything else; a ctrl-c outside them
/// quits.
#[test]
fn ctrl_c_and_esc_leave_filter_command_and_help_without_effect() {
    for cancel in [ctrl('c'), special(KeyCode::Esc)] {
        let mut app = app(60, 6);
        app.update(key('3'));
        // The filter line: typed text is dropped, the table is whole again.
        app.update(key('/'));
        type_text(&mut app, "health:down");
        assert!(app.screen().rows.len() < 60);
        let fx = app.update(cancel_copy(&cancel));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.screen().rows.len(), 60);
        // The command line: `:q` typed, then cancelled, does not quit.
        app.update(key(':'));
        type_text(&mut app, "q");
        let fx = app.update(cancel_copy(&cancel));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(app.mode, Mode::Normal);
        assert!(!app.quit);
        // The help overlay.
        app.update(key('?'));
        assert!(matches!(app.mode, Mode::Help { .. }));
        let fx = app.update(cancel_copy(&cancel));
        assert!(fx.is_empty(), "{fx:?}");
        assert_eq!(app.mode, Mode::Normal);
        assert!(!app.quit);
        assert_eq!(app.screen().kind, ViewKind::Devices(Scope::All));
    }
    // Outside dialogs, ctrl-c quits as it always did.
    let mut app = app(60, 6);
    assert_eq!(app.update(ctrl('c')), vec![Effect::Quit]);
}

fn cancel_copy(e: &Event) -> Event {
    match e {
        Event::Key(k) => Event::Key(*k),
        other => panic!("not a key: {other:?}"),
    }
}

/// The shell questions (unknown host key, changed host key) are closed by
/// esc and ctrl-c without opening a shell or accepting a key.
#[test]
fn ctrl_c_and_esc_answer_no_to_host_key_questions() {
    use fleetdeck::app::HostKeyProblem;
    let problems = || {
        [
            HostKeyProblem::Unknown {
                addr: "10.8.0.1:22".into(),
                fingerprint: "SHA256:Qx4rZ0bYq0R0y1o3g3w0Zb3gkq2XbH6c3Jc2m1s1V2A".into(),
            },
            HostKeyProblem::Changed {
                addr: "10.8.0.1:22".into(),
                old: "SHA256:old".into(),
                new: "SHA256:new".into(),
                known_hosts_line: "/home/a/.ssh/known_hosts:3".into(),
            },
        ]
    };
    for cancel in [ctrl('c'), special(KeyCode::Esc)] {
        for problem in problems() {
            let mut app = app(20, 2);
            app.update(key('3'));
            app.update(Event::HostKey {
                device: "pi-00001".into(),
                problem,
            });
            assert!(matches!(app.mode, Mode::Ask(_)), "{:?}", app.mode);
            let fx = app.update(cancel_copy(&cancel));
            assert!(fx.is_empty(), "{fx:?}");
            assert_eq!(app.mode, Mode::Normal);
            assert!(!app.quit);
        }
    }
}
