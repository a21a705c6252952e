#!/usr/bin/env python3
"""pgmctl against fake_pgmd (a real router behind the real control server, frozen clock).

Checks exit codes (3 without a daemon, 2 on bad usage, 1 on a refused request, 0 ok), the
-j JSON against the values fake_pgmd's packets must produce (compared FRR-topotest style:
expected is a subset of what was received, retried a bounded number of times), that the
text tables show the same values, that clear and reload need permission (pgmctl run as
nobody through setpriv when the test runs as root), and that watch mode (-m) draws frames
until SIGINT. Waits are on events (the daemon's "ready" line, pgmctl's output) with
deadlines, never bare sleeps.
"""
import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL: " + message, flush=True)
    return condition


def json_cmp(got, expected, path="$"):
    """None when `expected` is contained in `got` (dicts: subset of keys; lists: same
    length, element by element), else a description of the first difference."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{path}: expected an object, got {got!r}"
        for key, value in expected.items():
            if key not in got:
                return f"{path}: missing key {key!r}"
            diff = json_cmp(got[key], value, f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(expected, list):
        if not isinstance(got, list) or len(got) != len(expected):
            return f"{path}: expected {len(expected)} entries, got {got!r}"
        for i, (g, e) in enumerate(zip(got, expected)):
            diff = json_cmp(g, e, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if got != expected:
        return f"{path}: expected {expected!r}, got {got!r}"
    return None


class Pgmctl:
    def __init__(self, binary, socket_path):
        self.binary = binary
        self.socket = socket_path

    def run(self, *args, user=None, socket_path=None, timeout=10):
        command = [self.binary, "-u", socket_path or self.socket, *args]
        if user:
            command = user + command
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C"})

    def json(self, *args, **kwargs):
        r = self.run("-j", *args, **kwargs)
        if r.returncode != 0:
            return None, r
        return json.loads(r.stdout), r

    def run_and_expect(self, args, expected, count=20, wait=0.1, **kwargs):
        """FRR topotest run_and_expect: retry until the -j output contains `expected`."""
        diff = None
        for _ in range(count):
            got, r = self.json(*args, **kwargs)
            diff = json_cmp(got, expected) if got is not None else \
                f"exit {r.returncode}: {r.stderr.strip()}"
            if diff is None:
                return None
            time.sleep(wait)
        return diff


def start_daemon(fake, socket_path, *extra):
    proc = subprocess.Popen([fake, "--socket", socket_path, *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"fake_pgmd did not start: {line!r} {proc.stderr.read()}")
    return proc


def stop_daemon(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


COUNTERS_ZERO = "InPolls"  # a counter nothing in fake_pgmd touches

EXPECTED_SESSIONS = {"sessions": [
    {"tsi": "0a0b0c0d0e0f.1000", "gsi": "0a0b0c0d0e0f", "source_port": 1000,
     "source": "10.0.0.1", "group": "239.1.2.3", "data_destination_port": 7500,
     "upstream_neighbour": "10.0.0.1", "upstream_ifindex": 1, "upstream_interface": "up0",
     "last_spm_sqn": 5, "trail": 1, "lead": 100, "window_size": 100,
     "age_s": 1.05, "last_spm_age_s": 1.05, "expires_in_s": 298.95,
     "encapsulation": "native", "udp_port": None, "last_ttl": 16, "repair_states": 2,
     "dlrs": [],
     "counters": {"InSpms": 1, "OutSpms": 2, "InNaks": 1, "OutNaks": 1, "OutNcfs": 1,
                  "NcfAnticipated": 1}},
    {"tsi": "112233445566.2000", "source": "10.0.0.7", "group": "239.1.2.4",
     "data_destination_port": 7600, "upstream_interface": "up0", "last_spm_sqn": 9,
     "encapsulation": "udp", "udp_port": 3055, "repair_states": 1,
     "counters": {"InSpms": 1, "InNnaks": 1, "OutNnaks": 1}},
]}

EXPECTED_REPAIR = {"repair": [
    {"tsi": "0a0b0c0d0e0f.1000", "sqn": 42, "parity": False, "phase": "pending",
     "interfaces": [{"ifindex": 2, "name": "down1"}],
     "timers": {"nak_repeat": 0.05, "nak_rpt_ivl": 0.95}},
    {"tsi": "0a0b0c0d0e0f.1000", "sqn": 50, "phase": "anticipated", "interfaces": [],
     "timers": {"nak_elim_ivl": 4.95, "nak_rdata_ivl": 9.95}},
    {"tsi": "112233445566.2000", "sqn": 7, "phase": "null-nak", "interfaces": [],
     "timers": {"nak_elim_ivl": 4.95}},
]}

EXPECTED_COUNTERS = {
    "totals": {"InSpms": 2, "OutSpms": 4, "InNaks": 1, "InNnaks": 1, "Malformed": 1,
               COUNTERS_ZERO: 0, "CaptureDrops": 591, "CaptureIfDrops": 0},
    "interfaces": [
        {"ifindex": 1, "name": "up0", "counters": {"InSpms": 2, "OutNaks": 1, "OutNnaks": 1,
                                                   "CaptureDrops": 0}},
        {"ifindex": 2, "name": "down1", "counters": {"InNaks": 1, "OutNcfs": 1,
                                                     "CaptureDrops": 591}},
        {"ifindex": 3, "name": "down2", "counters": {"InNnaks": 1, "Malformed": 1}},
    ],
    "malformed_by_reason": {"BadChecksum": 1, "Truncated": 0},
}


def test_without_daemon(ctl, workdir):
    missing = os.path.join(workdir, "missing.sock")
    r = ctl.run("ping", socket_path=missing)
    check(r.returncode == 3, f"no daemon: exit {r.returncode}, want 3")
    check(f"pgmd is not running (no control socket at {missing})" in r.stderr,
          f"no daemon: message {r.stderr!r}")
    stale = os.path.join(workdir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()  # bound, never listening: refuses, like a socket left by a dead daemon
    r = ctl.run("show", "sessions", socket_path=stale)
    check(r.returncode == 3, f"stale socket: exit {r.returncode}, want 3")
    check("pgmd is not running" in r.stderr, f"stale socket: message {r.stderr!r}")
    hung = os.path.join(workdir, "hung.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(hung)
        s.listen(4)  # connects, never answers: a hung daemon
        started = time.monotonic()
        r = ctl.run("--timeout", "0.5", "ping", socket_path=hung)
        elapsed = time.monotonic() - started
    check(r.returncode == 4 and "no reply from pgmd within 0.5 s" in r.stderr,
          f"hung daemon: exit {r.returncode} {r.stderr!r}")
    check(elapsed < 3, f"hung daemon: pgmctl took {elapsed:.1f} s with --timeout 0.5")


def test_usage(ctl):
    for args in ([], ["show"], ["show", "bogus"], ["show", "counters", "group", "239.1.1.1"],
                 ["show", "sessions", "group"], ["show", "sessions", "tsi", "a", "tsi", "b"],
                 ["clear"], ["clear", "sessions"], ["reload", "now"], ["--frobnicate", "ping"],
                 ["-m", "clear", "counters"], ["-m", "0", "show", "sessions"],
                 ["-m", "abc", "show", "sessions"], ["--timeout", "0", "ping"]):
        r = ctl.run(*args)
        check(r.returncode == 2, f"usage {args}: exit {r.returncode}, want 2")
        check("Usage: pgmctl" in r.stderr, f"usage {args}: no usage text")
    r = ctl.run("--help")
    check(r.returncode == 0 and "show sessions" in r.stdout, "--help")


def test_show(ctl):
    r = ctl.run("ping")
    check(r.returncode == 0 and "pgmd is running (you may change state)" in r.stdout,
          f"ping: {r.returncode} {r.stdout!r}")
    for args, expected in ((["show", "sessions"], EXPECTED_SESSIONS),
                           (["show", "repair"], EXPECTED_REPAIR),
                           (["show", "counters"], EXPECTED_COUNTERS),
                           (["show", "dlr"], {"dlr": []}),
                           (["show", "sessions", "group", "239.1.2.4"],
                            {"sessions": [{"tsi": "112233445566.2000"}]}),
                           (["show", "repair", "interface", "down1"],
                            {"repair": [{"sqn": 42}]}),
                           (["show", "repair", "tsi", "112233445566.2000"],
                            {"repair": [{"sqn": 7}]}),
                           (["show", "interfaces", "interface", "3"],
                            {"interfaces": [{"name": "down2", "repair_states": 0}]}),
                           (["show", "interfaces"],
                            {"interfaces": [{"name": "up0", "upstream_sessions": 2},
                                            {"name": "down1", "repair_states": 1},
                                            {"name": "down2"}]})):
        diff = ctl.run_and_expect(args, expected)
        check(diff is None, f"{' '.join(args)} -j: {diff}")

    # The text tables show the same values.
    text = ctl.run("show", "sessions").stdout
    for value in ("TSI", "0a0b0c0d0e0f.1000", "112233445566.2000", "10.0.0.1", "239.1.2.3",
                  "up0", "udp:3055", "native", "7500", "1.05s", "4m59s"):
        check(value in text, f"show sessions text lacks {value!r}:\n{text}")
    header = text.splitlines()[0].split()
    check(header[:3] == ["TSI", "SOURCE", "GROUP"], f"sessions header {header}")
    text = ctl.run("show", "repair").stdout
    for value in ("pending", "anticipated", "null-nak", "down1", "nak_repeat=50ms",
                  "nak_rdata_ivl=9.95s", "nak_elim_ivl=4.95s", " 42 "):
        check(value in text, f"show repair text lacks {value!r}:\n{text}")
    text = ctl.run("show", "counters").stdout
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    check(rows.get("COUNTER") == ["TOTAL", "up0", "down1", "down2"],
          f"counters header {rows.get('COUNTER')}")
    check(rows.get("InSpms") == ["2", "2", "0", "0"], f"InSpms row {rows.get('InSpms')}")
    check(rows.get("CaptureDrops") == ["591", "0", "591", "0"],
          f"CaptureDrops row {rows.get('CaptureDrops')}")
    check(rows.get("BadChecksum") == ["1"], f"BadChecksum row {rows.get('BadChecksum')}")
    check(COUNTERS_ZERO not in rows, "zero counters hidden without -a")
    text = ctl.run("-a", "show", "counters").stdout
    check(any(line.split()[:1] == [COUNTERS_ZERO] for line in text.splitlines()),
          "zero counters shown with -a")
    text = ctl.run("show", "counters", "interface", "down1").stdout
    check(text.splitlines()[0].split() == ["COUNTER", "down1"],
          f"filtered counters header: {text.splitlines()[:1]}")
    text = ctl.run("show", "interfaces").stdout
    lines = [line.split() for line in text.splitlines()]
    check(lines[0][-1] == "CaptureDrops" and lines[2][0] == "down1" and lines[2][-1] == "591",
          f"show interfaces text: CaptureDrops column\n{text}")
    check("no designated local repairers" in ctl.run("show", "dlr").stdout, "show dlr text")
    diff = ctl.run_and_expect(["show", "fastpath"], {
        "mode": "kernel", "program_id": 42,
        "interfaces": [{"name": "up0", "forwarded_packets": 1234},
                       {"name": "tun0", "mode": "user space"}]})
    check(diff is None, f"show fastpath -j: {diff}")
    text = ctl.run("show", "fastpath").stdout
    lines = text.splitlines()
    check(lines[0] == "fast path: kernel", f"show fastpath first line {lines[:1]}")
    check("fp_sessions=7" in text and "fails open after 1000 ms" in text,
          f"show fastpath summary:\n{text}")
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith(("up0", "tun0"))}
    check(rows.get("up0", [])[:3] == ["kernel", "1234", "1234000"],
          f"show fastpath up0 row {rows.get('up0')}")
    check(rows.get("tun0", [])[:2] == ["user", "space"], f"show fastpath tun0 row {rows.get('tun0')}")

    r = ctl.run("show", "sessions", "group", "not-an-address")
    check(r.returncode == 1 and "filter group must be an IPv4 or IPv6 address" in r.stderr,
          f"daemon error: exit {r.returncode} {r.stderr!r}")


def test_permissions(ctl):
    if os.geteuid() != 0:
        print("SKIP: permission checks need root (to run pgmctl as nobody)")
        return
    nobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    r = ctl.run("ping", user=nobody)
    check(r.returncode == 0 and "read-only access" in r.stdout,
          f"nobody ping: {r.returncode} {r.stdout!r} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "sessions"], EXPECTED_SESSIONS, user=nobody)
    check(diff is None, f"nobody show sessions: {diff}")
    for args in (["clear", "counters"], ["clear", "repair"], ["reload"]):
        r = ctl.run(*args, user=nobody)
        check(r.returncode == 1 and "permission denied" in r.stderr,
              f"nobody {args}: exit {r.returncode} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "counters"], EXPECTED_COUNTERS)
    check(diff is None, f"counters after refused clear: {diff}")


def test_changes(ctl):
    r = ctl.run("reload")
    check(r.returncode == 0 and "reloaded: fake reload 1" in r.stdout, f"reload: {r.stdout!r}")
    r = ctl.run("clear", "counters")
    check(r.returncode == 0 and "cleared counters" in r.stdout, f"clear counters: {r.stdout!r}")
    diff = ctl.run_and_expect(["show", "counters"],
                              {"totals": {"InSpms": 0, "Malformed": 0, "CaptureDrops": 0},
                               "malformed_by_reason": {"BadChecksum": 0}})
    check(diff is None, f"counters after clear: {diff}")
    text = ctl.run("show", "counters").stdout
    check(text.strip() == "COUNTER  TOTAL  up0  down1  down2",
          f"all-zero counters: only the header\n{text}")
    diff = ctl.run_and_expect(["show", "sessions"], {"sessions": [{"last_spm_sqn": 5},
                                                                  {"last_spm_sqn": 9}]})
    check(diff is None, f"sessions survive clear counters: {diff}")
    r = ctl.run("clear", "repair")
    check(r.returncode == 0 and "cleared repair (3 entries)" in r.stdout,
          f"clear repair: {r.stdout!r}")
    diff = ctl.run_and_expect(["show", "repair"], {"repair": []})
    check(diff is None, f"repair after clear: {diff}")


def test_group_member_may_change_state(ctl, fake, workdir):
    if os.geteuid() != 0:
        return
    path = os.path.join(workdir, "group.sock")
    proc = start_daemon(fake, path, "--mode", "0660", "--group", "65534")
    try:
        member = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
        r = ctl.run("clear", "counters", user=member, socket_path=path)
        check(r.returncode == 0, f"group member clear: exit {r.returncode} {r.stderr!r}")
        outsider = ["setpriv", "--reuid", "nobody", "--regid", "daemon", "--clear-groups"]
        r = ctl.run("ping", user=outsider, socket_path=path)
        check(r.returncode == 4 and "Permission denied" in r.stderr,
              f"outsider cannot connect to a 0660 socket: exit {r.returncode} {r.stderr!r}")
    finally:
        stop_daemon(proc)


def watch(ctl, monitor_args, frames_wanted, title):
    """Runs pgmctl in watch mode until it has drawn `frames_wanted` frames, then SIGINT."""
    proc = subprocess.Popen([ctl.binary, "-u", ctl.socket, *monitor_args, "show", "sessions"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output = b""
    deadline = time.monotonic() + 10
    while output.count(b"\x1b[H\x1b[2J") < frames_wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            output += chunk
    frames = output.count(b"\x1b[H\x1b[2J")
    check(frames >= frames_wanted, f"watch {monitor_args}: {frames} frames in 10 s")
    check(b"0a0b0c0d0e0f.1000" in output and title.encode() in output,
          f"watch {monitor_args} frame content: {output[-400:]!r}")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=5)
        check(code == 0, f"watch {monitor_args}: exit {code} after SIGINT")
        check(time.monotonic() - started < 3, f"watch {monitor_args}: slow to stop")
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        check(False, f"watch {monitor_args}: still running 5 s after SIGINT")


def test_watch(ctl):
    watch(ctl, ["-m", "0.2"], 3, "Every 0.2s: pgmctl show sessions")
    watch(ctl, ["-m"], 1, "Every 1s: pgmctl show sessions")  # the default interval


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pgmctl", required=True)
    parser.add_argument("--fake-pgmd", required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pgmctl_test.") as workdir:
        os.chmod(workdir, 0o755)  # nobody must reach the socket
        path = os.path.join(workdir, "pgmd.sock")
        ctl = Pgmctl(args.pgmctl, path)
        test_without_daemon(ctl, workdir)
        test_usage(ctl)
        daemon = start_daemon(args.fake_pgmd, path, "--mode", "0666")
        try:
            test_show(ctl)
            test_permissions(ctl)
            test_watch(ctl)
            test_changes(ctl)
        finally:
            code = stop_daemon(daemon)
        check(code == 0, f"fake_pgmd exit {code}")
        check(not os.path.exists(path), "socket removed when the daemon stops")
        r = ctl.run("ping")
        check(r.returncode == 3, f"after stop: exit {r.returncode}, want 3")
        test_group_member_may_change_state(ctl, args.fake_pgmd, workdir)

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("pgmctl_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
