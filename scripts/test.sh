#!/usr/bin/env bash
# The one test command (README.md, .ci/run): installs what the tests need on a
# fresh Debian machine, then runs formatting, lints and every test.
#
# The tests start their own servers on loopback (a real Prometheus scraping
# the simulated fleet, the simulator, tmux driving the real TUI); they need
# these packages:
#   prometheus  tmux
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package may start a system Prometheus on :9090; the tests use their
# own instances on free ports and never talk to it.

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --locked
