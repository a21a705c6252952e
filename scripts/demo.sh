#!/usr/bin/env bash
# demo.sh: the main job, from a fresh Debian 12 machine (as root).
#
# Installs the packages and builds (scripts/setup.sh, into build/), then runs
# tests/integration/demo.py: an OpenPGM source, a router namespace and two bridged LANs of
# OpenPGM receivers, with chosen ODATA dropped on one LAN, run twice: once through pgmd,
# once with the kernel forwarding the group with no PGM knowledge (kernel multicast routing
# by an smcroute static route where the kernel has it, else a tc mirred fan-out; the demo
# says which). It prints
# `pgmctl show sessions`, `show counters` and `show fastpath` from the pgmd run, one line per
# receiver for each run, and a before/after table (NAKs reaching the source, repairs per
# LAN) from tcpdump captures decoded by pgmdump. Everything it creates (namespaces,
# processes, files) is removed on exit, also on failure, Ctrl-C or SIGTERM.
#
#   scripts/demo.sh [demo.py options, e.g. --receivers-per-lan 4 --count 2000 --keep-tmp]
#
# Exit status: 0 when every receiver completed in both runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: installing packages and network namespaces need root" >&2
  exit 1
fi

log=$(mktemp /tmp/pgmd-demo-setup.XXXXXX)
trap 'rm -f "$log"' EXIT
echo "demo.sh: scripts/setup.sh: packages and build in build/ (minutes the first time; log $log)"
if ! scripts/setup.sh --build-dir build --build-type RelWithDebInfo >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "demo.sh: scripts/setup.sh failed (above: the end of its output)" >&2
  exit 1
fi
rm -f "$log"
trap - EXIT

# exec: Ctrl-C and SIGTERM go straight to demo.py, which cleans up after itself.
exec /usr/bin/python3 tests/integration/demo.py --build-dir build "$@"
