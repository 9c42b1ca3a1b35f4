//! Remote-access flows driven through `App::update`, without a terminal:
//! tunnel readings in the table (cells, sort), `s` on a device whose tunnel
//! is not live (asks; `allow_offline_shell` skips the question; no interface
//! or nothing known never blocks), read errors as messages, and the host-key
//! questions (unknown → accept → `ShellAcceptKey`; changed → warning only).

use crate::support::fixture;
use crate::support::tunnels;

use fixture::*;
use fleetdeck::app::keymap::KeyCode;
use fleetdeck::app::{AskKind, DeviceCol, Effect, Event, HostKeyProblem, Level, Mode, ViewKind};
use std::time::Duration;

/// `fixture::app(n, sites)` with an interface configured and one reading.
fn tunnel_app(n: usize) -> fleetdeck::app::App {
    let mut app = app(n, 3);
    app.tunnels.interface = Some("wg-fleet".into());
    let now = app.now;
    app.update(Event::Tunnels {
        result: Ok(tunnels::reading(n, now)),
    });
    app
}

/// Selects device `id` in the all-devices table (filtered down to it).
fn select(app: &mut fleetdeck::app::App, id: &str) {
    app.update(key('3'));
    app.update(key('/'));
    app.update(special(KeyCode::Esc)); // clears a previous filter
    app.update(key('/'));
    type_text(app, id);
    app.update(special(KeyCode::Enter));
    assert_eq!(app.selected_key().as_deref(), Some(id));
}

#[test]
fn tunnel_cells_follow_the_reading_and_age_with_the_clock() {
    let mut app = tunnel_app(20);
    let now = app.now;
    let t = &app.tunnels;
    assert_eq!(t.cell("pi-00001", now), "live 12s");
    assert_eq!(t.cell("pi-00002", now), "stale 7m");
    assert_eq!(t.cell("pi-00003", now), "not live");
    assert_eq!(t.cell("pi-00004", now), "no addr");
    assert_eq!(t.cell("pi-00009", now), "no peer");
    assert_eq!(t.cell("pi-00005", now), "live 95s");
    assert_eq!(t.cell("pi-99999", now), "…", "not in the reading yet");
    assert_eq!(t.is_live("pi-00001", now), Some(true));
    assert_eq!(t.is_live("pi-00002", now), Some(false));
    // Between two reads the handshake ages: 95 s + 90 s > 180 s is stale.
    app.update(Event::Tick(now + Duration::from_secs(90)));
    let later = app.now;
    assert_eq!(app.tunnels.cell("pi-00005", later), "stale 3m"); // 185 s
    assert_eq!(app.tunnels.is_live("pi-00005", later), Some(false));
    assert_eq!(app.tunnels.cell("pi-00001", later), "live 102s");
    // Without an interface every cell is a dash.
    let plain = fixture::app(5, 1);
    assert_eq!(plain.tunnels.cell("pi-00001", plain.now), "—");
}

#[test]
fn sorting_by_tunnel_puts_dead_tunnels_first_and_unknown_last() {
    let mut app = tunnel_app(20);
    app.update(key('3'));
    // Cycle to the tunnel column.
    let tunnel_col = DeviceCol::ALL
        .iter()
        .position(|c| *c == DeviceCol::Tunnel)
        .expect("a tunnel column");
    for _ in 0..tunnel_col {
        app.update(key('>'));
    }
    assert_eq!(app.screen().sort.column, tunnel_col);
    assert!(app.screen().sort.descending, "worst first");
    let ids: Vec<String> = app
        .screen()
        .rows
        .iter()
        .map(|&r| app.fleet.devices[r].id().to_string())
        .collect();
    // Never a handshake first (pi-00003, -08, -13, -18), then the oldest
    // handshakes (7 min), then no peer, no address, and live last.
    assert_eq!(
        &ids[..4],
        &["pi-00003", "pi-00008", "pi-00013", "pi-00018"],
        "{ids:?}"
    );
    assert_eq!(
        &ids[4..8],
        &["pi-00002", "pi-00007", "pi-00012", "pi-00017"],
        "{ids:?}"
    );
    assert_eq!(ids.last().map(String::as_str), Some("pi-00016"), "{ids:?}");
    // A device the reading does not know sinks to the end either way.
    let mut r = tunnels::reading(20, app.now);
    r.tunnels.remove("pi-00010");
    app.update(Event::Tunnels { result: Ok(r) });
    assert_eq!(
        app.fleet.devices[*app.screen().rows.last().expect("rows")].id(),
        "pi-00010"
    );
    app.update(key('O'));
    assert!(!app.screen().sort.descending);
    assert_eq!(
        app.fleet.devices[*app.screen().rows.last().expect("rows")].id(),
        "pi-00010"
    );
    assert_eq!(
        app.fleet.devices[app.screen().rows[0]].id(),
        "pi-00001",
        "youngest live handshake first"
    );
}

#[test]
fn s_on_a_dead_tunnel_asks_and_y_opens_anyway() {
    let mut app = tunnel_app(20);
    select(&mut app, "pi-00002");
    let fx = app.update(key('s'));
    assert!(fx.is_empty(), "no shell without asking: {fx:?}");
    let Mode::Ask(ask) = &app.mode else {
        panic!("no question: {:?}", app.mode);
    };
    assert_eq!(ask.kind, AskKind::OfflineShell);
    assert_eq!(
        ask.question,
        "pi-00002: tunnel not live (last handshake 7m ago) — open a shell anyway? y/N"
    );
    let flash = app.flash.as_ref().expect("a reason in the status line");
    assert_eq!(flash.level, Level::Error);
    assert!(flash.text.contains("tunnel not live"), "{}", flash.text);
    let fx = app.update(key('y'));
    assert_eq!(
        fx,
        vec![Effect::Shell {
            device: "pi-00002".into()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);

    // Any other key cancels, and the selection stays.
    app.update(key('s'));
    assert!(matches!(app.mode, Mode::Ask(_)));
    assert!(app.update(special(KeyCode::Enter)).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("no shell opened"))
    );
    assert_eq!(app.selected_key().as_deref(), Some("pi-00002"));

    // Never a handshake, and no peer at all: asked too, with the reason.
    select(&mut app, "pi-00003");
    app.update(key('s'));
    assert!(
        matches!(&app.mode, Mode::Ask(a) if a.question.contains("tunnel not live (no handshake yet)")),
        "{:?}",
        app.mode
    );
    app.update(key('n'));
    select(&mut app, "pi-00009");
    app.update(key('s'));
    assert!(
        matches!(&app.mode, Mode::Ask(a) if a.question.contains("no WireGuard peer routes 10.8.0.9")),
        "{:?}",
        app.mode
    );
    app.update(special(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn live_unknown_and_unconfigured_tunnels_never_block_the_shell() {
    let shell = |id: &str| {
        vec![Effect::Shell {
            device: id.to_string(),
        }]
    };
    // Live.
    let mut app = tunnel_app(20);
    select(&mut app, "pi-00001");
    assert_eq!(app.update(key('s')), shell("pi-00001"));
    // No tunnel address: the connection attempt says what is wrong.
    select(&mut app, "pi-00004");
    assert_eq!(app.update(key('s')), shell("pi-00004"));
    // From the device detail too.
    select(&mut app, "pi-00001");
    app.update(special(KeyCode::Enter));
    assert_eq!(app.screen().kind, ViewKind::Device("pi-00001".into()));
    assert_eq!(app.update(key('s')), shell("pi-00001"));

    // Configured, nothing read yet.
    let mut pending = fixture::app(20, 3);
    pending.tunnels.interface = Some("wg-fleet".into());
    select(&mut pending, "pi-00002");
    assert_eq!(pending.update(key('s')), shell("pi-00002"));
    // No interface configured.
    let mut plain = fixture::app(20, 3);
    select(&mut plain, "pi-00002");
    assert_eq!(plain.update(key('s')), shell("pi-00002"));
    // allow_offline_shell: no question, but a word about it.
    let mut offline = tunnel_app(20);
    offline.tunnels.allow_offline_shell = true;
    select(&mut offline, "pi-00002");
    assert_eq!(offline.update(key('s')), shell("pi-00002"));
    assert!(
        offline
            .flash
            .as_ref()
            .is_some_and(|f| f.text.contains("allow_offline_shell"))
    );
    // Read-only without shells stays forbidden, tunnel or not.
    let mut ro = tunnel_app(20);
    ro.settings.read_only = true;
    ro.settings.allow_shell_read_only = false;
    select(&mut ro, "pi-00001");
    assert!(ro.update(key('s')).is_empty());
    assert!(
        ro.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("read-only"))
    );
    assert_eq!(ro.mode, Mode::Normal);
}

#[test]
fn a_read_error_is_a_message_not_a_crash_and_clears_when_readable_again() {
    let mut app = tunnel_app(20);
    let err = "permission denied reading WireGuard interface 'wg-fleet': run as a user that can read /var/run/wireguard/wg-fleet.sock".to_string();
    app.update(Event::Tunnels {
        result: Err(err.clone()),
    });
    assert_eq!(app.tunnels.error.as_deref(), Some(err.as_str()));
    assert_eq!(app.tunnels.cell("pi-00001", app.now), "?");
    let flash = app.flash.clone().expect("the error is shown");
    assert_eq!(flash.level, Level::Error);
    assert!(flash.text.contains("permission denied"), "{}", flash.text);
    // The same error again is not flashed again (it comes every few seconds).
    app.flash = None;
    app.update(Event::Tunnels {
        result: Err(err.clone()),
    });
    assert!(app.flash.is_none());
    // Unknown state does not block a shell.
    select(&mut app, "pi-00002");
    assert_eq!(
        app.update(key('s')),
        vec![Effect::Shell {
            device: "pi-00002".into()
        }]
    );
    // Readable again.
    let now = app.now;
    app.update(Event::Tunnels {
        result: Ok(tunnels::reading(20, now)),
    });
    assert!(app.tunnels.error.is_none());
    assert_eq!(app.tunnels.cell("pi-00001", now), "live 12s");
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("readable again"))
    );
}

#[test]
fn unknown_host_key_asks_and_y_reconnects_accepting_that_fingerprint() {
    let mut app = tunnel_app(20);
    select(&mut app, "pi-00001");
    let fx = app.update(key('s'));
    assert_eq!(
        fx,
        vec![Effect::Shell {
            device: "pi-00001".into()
        }]
    );
    // The loop's connection attempt met an unknown key.
    let fp = "SHA256:Qx4rZ0bYq0R0y1o3g3w0Zb3gkq2XbH6c3Jc2m1s1V2A";
    app.update(Event::HostKey {
        device: "pi-00001".into(),
        problem: HostKeyProblem::Unknown {
            addr: "10.8.0.1:22".into(),
            fingerprint: fp.into(),
        },
    });
    let Mode::Ask(ask) = &app.mode else {
        panic!("no question: {:?}", app.mode);
    };
    assert_eq!(
        ask.question,
        format!(
            "unknown host key for pi-00001 (10.8.0.1:22) {fp} — accept and record in known_hosts? y/N"
        )
    );
    assert!(
        ask.detail.iter().any(|l| l.contains(fp)),
        "{:?}",
        ask.detail
    );
    // n: nothing happens, and nothing is recorded.
    assert!(app.update(key('n')).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    // Again, and y this time.
    app.update(Event::HostKey {
        device: "pi-00001".into(),
        problem: HostKeyProblem::Unknown {
            addr: "10.8.0.1:22".into(),
            fingerprint: fp.into(),
        },
    });
    assert_eq!(
        app.update(key('y')),
        vec![Effect::ShellAcceptKey {
            device: "pi-00001".into(),
            fingerprint: fp.into(),
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    app.update(Event::ShellEnded {
        device: "pi-00001".into(),
        message: "session ended: exit status 0".into(),
        ok: true,
    });
    assert_eq!(app.selected_key().as_deref(), Some("pi-00001"));
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.text == "pi-00001: session ended: exit status 0")
    );
}

#[test]
fn changed_host_key_is_a_warning_with_nothing_to_accept() {
    let mut app = tunnel_app(20);
    select(&mut app, "pi-00001");
    app.update(Event::HostKey {
        device: "pi-00001".into(),
        problem: HostKeyProblem::Changed {
            addr: "10.8.0.1:22".into(),
            old: "SHA256:old0000000000000000000000000000000000000000".into(),
            new: "SHA256:new1111111111111111111111111111111111111111".into(),
            known_hosts_line: "/root/.ssh/known_hosts:3".into(),
        },
    });
    let Mode::Ask(ask) = &app.mode else {
        panic!("no warning: {:?}", app.mode);
    };
    assert_eq!(ask.kind, AskKind::HostKeyChanged);
    assert!(ask.question.contains("CHANGED"), "{}", ask.question);
    assert!(ask.question.contains("SHA256:old0000"), "{}", ask.question);
    assert!(ask.question.contains("SHA256:new1111"), "{}", ask.question);
    assert!(
        ask.detail
            .iter()
            .any(|l| l.contains("/root/.ssh/known_hosts:3"))
    );
    // y accepts nothing.
    assert!(app.update(key('y')).is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.flash
            .as_ref()
            .is_some_and(|f| f.level == Level::Error && f.text.contains("refused"))
    );
}
