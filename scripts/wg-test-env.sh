#!/usr/bin/env bash
# The WireGuard test lab's environment (tests/support/netns.rs).
#
#   scripts/wg-test-env.sh check   fail with the install command when a prerequisite is missing
#   scripts/wg-test-env.sh clean   remove labs left by test processes that no longer exist
#
# The lab names everything after the test's pid: namespace fdk-<pid>-<n>,
# interfaces fdk<pid>{h,d,v,p}<n>, sockets /var/run/wireguard/fdk<pid>*.sock.
# `clean` only touches names whose pid is dead, so labs of tests still running
# (another worktree, another test binary) are left alone. Each WgLab::start
# does the same sweep; this is for a test script's `trap … EXIT`.
set -uo pipefail

INSTALL="apt-get install -y wireguard-tools wireguard-go iproute2 iputils-ping"

owner_dead() { # NAME -> 0 when NAME is one of ours and its pid is gone
    local pid
    pid=$(sed -nE 's/^fdk-?([0-9]+)[-hdvpx].*/\1/p' <<<"$1")
    [ -n "$pid" ] && [ ! -d "/proc/$pid" ]
}

case "${1:-}" in
check)
    missing=()
    for t in ip wg wireguard-go ping; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    if [ ${#missing[@]} -gt 0 ]; then echo "missing ${missing[*]}: $INSTALL" >&2; exit 1; fi
    [ -e /dev/net/tun ] || { echo "no /dev/net/tun: wireguard-go needs it (modprobe tun, or --device /dev/net/tun)" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] || { echo "the WireGuard tests create namespaces and interfaces: run as root" >&2; exit 1; }
    ;;
clean)
    for p in $(pgrep -x wireguard-go); do
        for a in $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null); do
            if owner_dead "$a"; then kill -KILL "$p" 2>/dev/null; fi
        done
    done
    for ns in $(ip netns list | awk '{print $1}'); do
        if owner_dead "$ns"; then
            for p in $(ip netns pids "$ns"); do kill -KILL "$p" 2>/dev/null; done
            ip netns del "$ns"
        fi
    done
    for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1); do
        if owner_dead "$l"; then ip link del "$l" 2>/dev/null; fi
    done
    for s in /var/run/wireguard/fdk*.sock; do
        [ -e "$s" ] || continue
        n=$(basename "$s" .sock)
        if owner_dead "$n"; then rm -f "$s"; fi
    done
    tmp=${TMPDIR:-/tmp}
    for d in "$tmp"/fdk-wglab-[0-9]*; do
        [ -e "$d" ] || continue
        if owner_dead "fdk-${d##*/fdk-wglab-}"; then rm -rf "$d"; fi
    done
    for f in "$tmp"/fdk-wglab-slots/slot-*; do
        [ -e "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null)
        if [ -n "$pid" ] && [ ! -d "/proc/$pid" ]; then rm -f "$f"; fi
    done
    ;;
*)
    echo "usage: $0 check|clean" >&2
    exit 2
    ;;
esac
