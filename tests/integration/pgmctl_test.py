#!/usr/bin/env python3
"""pgmctl against fake_pgmd (a real router behind the real control server, frozen clock).

Checks exit codes (3 without a daemon, 2 on bad usage, with one line on stderr, 1 on a
refused request, 0 ok), the -j JSON against the values fake_pgmd's packets must produce
(compared FRR-topotest style: expected is a subset of what was received, retried a bounded
number of times), that the text tables show the same values (the compact `show sessions`
within 100 columns, FIN marked, `detail` with every field), show status and show groups,
abbreviations (`sh ses`), the trailing json word, --version, describe, an unknown interface
refused, scoped clears, set log-level and debug, that clear, set and reload need permission
(pgmctl run as nobody through setpriv when the test runs as root), and that watch mode (-m)
draws frames until SIGINT, with escape codes on a terminal only, and counters per second.
Waits are on events (the daemon's "ready" line, pgmctl's output) with deadlines, never bare
sleeps.
"""
import argparse
import json
import os
import pty
import re
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
     "dlrs": [], "fin": False,
     "outgoing_interfaces": [{"ifindex": 2, "name": "down1"}, {"ifindex": 3, "name": "down2"}],
     "counters": {"InSpms": 1, "OutSpms": 2, "InNaks": 1, "OutNaks": 1, "OutNcfs": 1,
                  "NcfAnticipated": 1}},
    {"tsi": "112233445566.2000", "source": "10.0.0.7", "group": "239.1.2.4",
     "data_destination_port": 7600, "upstream_interface": "up0", "last_spm_sqn": 9,
     "encapsulation": "udp", "udp_port": 3055, "repair_states": 1, "fin": True,
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
    """Usage errors: exit 2 and one line naming the problem, never the whole usage text."""
    for args, message in (
            ([], "no command given"), (["show"], "show what?"),
            (["show", "bogus"], 'show: unknown "bogus"'),
            (["show", "counters", "group", "239.1.1.1"], 'unknown "group"'),
            (["show", "sessions", "group"], "group needs a value"),
            (["show", "sessions", "tsi", "0a0b0c0d0e0f.1", "tsi", "0a0b0c0d0e0f.2"],
             "tsi given twice"),
            (["clear"], "clear what?"), (["clear", "sessions"], 'clear: unknown "sessions"'),
            (["reload", "now"], 'unexpected "now" after reload'),
            (["--frobnicate", "ping"], "frobnicate"),
            (["-m", "clear", "counters"], "-m repeats show and ping only"),
            (["-m", "0", "show", "sessions"], "-m needs a positive number"),
            (["-m", "abc", "show", "sessions"], ""), (["--timeout", "0", "ping"], "--timeout"),
            (["s", "sessions"], 'command: "s" is ambiguous (show, set)'),
            (["sh", "s"], 'show: "s" is ambiguous (sessions, status)'),
            (["show", "sessions", "group", "banana"],
             'group "banana" is not an IPv4 or IPv6 address'),
            (["show", "groups", "group", "banana"],
             'group "banana" is not an IPv4 or IPv6 address'),
            (["show", "repair", "tsi", "xyz"], 'tsi "xyz" is not GSI.PORT'),
            (["set", "log-level", "loud"], 'set log-level: unknown "loud"'),
            (["debug"], "debug on or debug off?"),
            (["describe", "NoSuchCounter"], 'no counter "NoSuchCounter"'),
            (["clear", "counters", "interface", "up0", "tsi", "0a0b0c0d0e0f.1000"],
             "an interface or a tsi, not both"),
            (["show", "status", "detail"], 'takes nothing more, not "detail"')):
        r = ctl.run(*args)
        check(r.returncode == 2, f"usage {args}: exit {r.returncode}, want 2")
        check(r.stderr.count("\n") == 1 and r.stderr.startswith("pgmctl: ")
              and message in r.stderr and "Usage:" not in r.stderr,
              f"usage {args}: one line with {message!r}: {r.stderr!r}")
    r = ctl.run("--help")
    check(r.returncode == 0 and "show sessions" in r.stdout and "show groups" in r.stdout,
          "--help")
    r = ctl.run("--version")
    check(r.returncode == 0 and re.fullmatch(r"pgmctl \d+\.\d+\.\d+\n", r.stdout),
          f"--version: {r.returncode} {r.stdout!r}")
    # describe needs no daemon (ctl's socket does not exist yet).
    r = ctl.run("describe", "OdataNo")
    check(r.returncode == 0 and r.stdout.splitlines() == [
        "COUNTER         UNIT     DESCRIPTION",
        "OdataNoMembers  packets  ODATA from upstream not sent on: no member interface for its "
        "group"], f"describe OdataNo: {r.returncode} {r.stdout!r} {r.stderr!r}")
    r = ctl.run("describe", "json")
    described = json.loads(r.stdout)["counters"] if r.returncode == 0 else []
    names = [c["name"] for c in described]
    check("InSpms" in names and "CaptureDrops" in names
          and all(c["unit"] and c["description"] for c in described),
          f"describe json: every counter with a unit and description: {r.stdout[:300]!r}")


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
                            {"interfaces": [{"name": "up0", "state": "served",
                                             "upstream_sessions": 2},
                                            {"name": "down1", "repair_states": 1},
                                            {"name": "down2", "state": "served"},
                                            {"name": "gone0", "ifindex": None,
                                             "state": "absent"}]}),
                           (["show", "status"],
                            {"version": "0.0-fake", "pid": 4242, "config_file": "/etc/fake.conf",
                             "last_reload": None, "log_level": "notice", "fast_path": "kernel",
                             "interfaces_configured": 4, "interfaces_served": 3,
                             "sessions": 2, "sessions_fin": 1, "repair_states": 3}),
                           (["show", "groups", "interface", "down1", "group", "239.1.2.4"],
                            {"interfaces": [{"name": "down1",
                                             "igmp_querier": {"role": "querier"},
                                             "groups": [{"group": "239.1.2.4",
                                                         "source": "igmp"}]}]})):
        diff = ctl.run_and_expect(args, expected)
        check(diff is None, f"{' '.join(args)} -j: {diff}")

    # The text tables show the same values. show sessions: compact, a FIN session says so.
    text = ctl.run("show", "sessions").stdout
    lines = text.splitlines()
    check([line.split() for line in lines] == [
        ["TSI", "SOURCE", "GROUP", "UPSTREAM", "OUT", "LEAD", "EXPIRES", "STATE"],
        ["0a0b0c0d0e0f.1000", "10.0.0.1", "239.1.2.3", "up0", "down1,down2", "100", "4m59s",
         "live"],
        ["112233445566.2000", "10.0.0.7", "239.1.2.4", "up0", "down1,down2", "100", "4m59s",
         "FIN"]], f"show sessions text:\n{text}")
    check(all(len(line) <= 100 for line in lines), f"show sessions wider than 100:\n{text}")
    detail = ctl.run("show", "sessions", "detail").stdout
    for value in ("session 0a0b0c0d0e0f.1000: 10.0.0.1 -> 239.1.2.3 port 7500, live",
                  "session 112233445566.2000: 10.0.0.7 -> 239.1.2.4 port 7600, "
                  "ended by its source (FIN)",
                  "  upstream:     up0, neighbour 10.0.0.1, native, TTL 16",
                  "  upstream:     up0, neighbour 10.0.0.7, udp:3055, TTL 16",
                  "  outgoing:     down1,down2", "  last SPM:     sqn 5, 1.05s ago",
                  "  age:          1.05s, expires in 4m59s", "  repair state: 2 entries",
                  "  counters:     InSpms=1 OutSpms=2 InNaks=1 OutNaks=1"):
        check(value in detail.splitlines() or any(line.startswith(value)
                                                 for line in detail.splitlines()),
              f"show sessions detail lacks {value!r}:\n{detail}")
    # Abbreviations and the json word give the same as the full words and -j.
    check(ctl.run("sh", "ses").stdout == text, "sh ses = show sessions")
    check(ctl.run("sh", "ses", "det").stdout == detail, "sh ses det = show sessions detail")
    r = ctl.run("sh", "ses", "gr", "239.1.2.4", "json")
    got = json.loads(r.stdout) if r.returncode == 0 else None
    check(got is not None and [x["tsi"] for x in got["sessions"]] == ["112233445566.2000"],
          f"sh ses gr G json: {r.returncode} {r.stdout[:200]!r} {r.stderr!r}")
    # show status and show groups as text.
    text = ctl.run("show", "status").stdout
    for line in ("pgmd            0.0-fake, pid 4242",
                 "started         2026-01-02T03:04:05Z, up 1h02m",
                 "config file     /etc/fake.conf", "last reload     never",
                 "log level       notice", "fast path       kernel (configured auto)",
                 "interfaces      3 served of 4 configured", "sessions        2 (1 ended by FIN)",
                 "repair states   3"):
        check(line in text.splitlines(), f"show status lacks {line!r}:\n{text}")
    # show running-config: the daemon's text as it is, abbreviated as IOS's `sh run`; -j the
    # file, the time and the text.
    running = ("# pgmd running configuration: /etc/fake.conf as loaded at 2026-01-01T00:00:00Z\n"
               "log-level = notice\n\n[interface up0]\n")
    r = ctl.run("sh", "run")
    check(r.returncode == 0 and r.stdout == running, f"sh run: {r.returncode} {r.stdout!r}")
    r = ctl.run("-j", "show", "running-config")
    got = json.loads(r.stdout) if r.returncode == 0 else {}
    check(got.get("file") == "/etc/fake.conf" and got.get("text") == running and
          got.get("loaded_at") == "2026-01-01T00:00:00Z",
          f"show running-config -j: {r.returncode} {r.stdout!r}")
    text = ctl.run("sh", "gro").stdout
    check([line.split() for line in text.splitlines()] == [
        ["INTERFACE", "STATE", "QUERIER", "GROUP", "MEMBERS", "EXPIRES", "JOINED"],
        ["up0", "served", "non-querier", "10.0.0.1", "239.1.2.3", "-", "-", "yes"],
        ["down1", "served", "querier", "10.1.0.1", "239.1.2.3", "static", "-", "no"],
        ["down1", "served", "querier", "10.1.0.1", "239.1.2.4", "igmp", "4m11s", "no"]],
        f"show groups text:\n{text}")
    # An interface nobody knows is an error, not an empty table.
    for what in ("interfaces", "sessions", "counters", "groups", "repair"):
        r = ctl.run("show", what, "interface", "nosuch")
        check(r.returncode == 1 and r.stderr ==
              'pgmctl: no interface "nosuch" (known: up0, down1, down2, gone0)\n',
              f"show {what} interface nosuch: {r.returncode} {r.stdout!r} {r.stderr!r}")
    r = ctl.run("show", "sessions", "interface", "gone0")
    check(r.returncode == 0 and r.stdout.splitlines()[1:] == [],
          f"a configured but absent interface: an empty table: {r.stdout!r} {r.stderr!r}")
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
    text = ctl.run("show", "counters", "detail").stdout
    check("InSpms              2    2      0      0  packets  SPMs received" in text.splitlines(),
          f"show counters detail: unit and description:\n{text}")
    text = ctl.run("show", "interfaces").stdout
    lines = [line.split() for line in text.splitlines()]
    check(lines[0][-1] == "CaptureDrops" and lines[2][0] == "down1" and lines[2][-1] == "591",
          f"show interfaces text: CaptureDrops column\n{text}")
    check(lines[0][:3] == ["INTERFACE", "IFINDEX", "STATE"] and lines[1][:3] ==
          ["up0", "1", "served"] and lines[4][:3] == ["gone0", "-", "absent"],
          f"show interfaces text: STATE column\n{text}")
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

    r = ctl.run("clear", "counters", "tsi", "999999999999.1")
    check(r.returncode == 1 and r.stderr == "pgmctl: no session 999999999999.1\n",
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
    for args in (["clear", "counters"], ["clear", "repair"], ["reload"],
                 ["clear", "counters", "interface", "down1"], ["set", "log-level", "debug"],
                 ["debug", "on"]):
        r = ctl.run(*args, user=nobody)
        check(r.returncode == 1 and "permission denied" in r.stderr,
              f"nobody {args}: exit {r.returncode} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "counters"], EXPECTED_COUNTERS)
    check(diff is None, f"counters after refused clear: {diff}")


def test_changes(ctl):
    r = ctl.run("reload")
    check(r.returncode == 0 and "reloaded: fake reload 1" in r.stdout, f"reload: {r.stdout!r}")
    # Run-time log level (birdc debug, vtysh debug pim), seen in show status.
    r = ctl.run("set", "log", "debug")
    check(r.returncode == 0 and r.stdout == "log level debug (configured notice)\n",
          f"set log-level debug: {r.returncode} {r.stdout!r} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "status"], {"log_level": "debug"})
    check(diff is None, f"show status after set log-level: {diff}")
    r = ctl.run("debug", "off")
    check(r.returncode == 0 and r.stdout == "log level notice (configured notice)\n",
          f"debug off: {r.returncode} {r.stdout!r}")
    r = ctl.run("debug", "on")
    check(r.returncode == 0 and "log level debug" in r.stdout, f"debug on: {r.stdout!r}")
    ctl.run("set", "log-level", "default")

    # Scoped clears: one interface's counters (IOS clear ip pgm router traffic IF).
    r = ctl.run("clear", "counters", "interface", "down1")
    check(r.returncode == 0 and r.stdout == "cleared counters of interface down1\n",
          f"clear counters interface down1: {r.stdout!r} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "counters"], {"interfaces": [
        {"name": "up0", "counters": {"InSpms": 2, "OutNaks": 1}},
        {"name": "down1", "counters": {"InNaks": 0, "OutNcfs": 0, "CaptureDrops": 0}},
        {"name": "down2", "counters": {"InNnaks": 1, "Malformed": 1}}]})
    check(diff is None, f"counters after clear counters interface down1: {diff}")
    r = ctl.run("clear", "counters", "tsi", "0a0b0c0d0e0f.1000")
    check(r.returncode == 0 and r.stdout == "cleared counters of session 0a0b0c0d0e0f.1000\n",
          f"clear counters tsi: {r.stdout!r} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "sessions"], {"sessions": [
        {"counters": {"InSpms": 0, "OutSpms": 0}}, {"counters": {"InSpms": 1}}]})
    check(diff is None, f"session counters after clear counters tsi: {diff}")
    # One group's repair state (IOS clear ip pgm router rtx-state GROUP).
    r = ctl.run("clear", "rtx-state", "group", "239.1.2.4")
    check(r.returncode == 0 and r.stdout == "cleared repair of group 239.1.2.4 (1 entries)\n",
          f"clear rtx-state group: {r.stdout!r} {r.stderr!r}")
    diff = ctl.run_and_expect(["show", "repair"], {"repair": [{"sqn": 42}, {"sqn": 50}]})
    check(diff is None, f"repair after clearing 239.1.2.4: {diff}")
    r = ctl.run("clear", "counters", "interface", "nosuch")
    check(r.returncode == 1 and "no interface" in r.stderr, f"clear unknown interface: {r.stderr!r}")

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
    check(r.returncode == 0 and "cleared repair (2 entries)" in r.stdout,
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


def watch(ctl, monitor_args, frames_wanted, title, terminal, what=("show", "sessions"),
          socket_path=None):
    """Runs pgmctl in watch mode, its stdout a pseudo-terminal or a pipe, until it has drawn
    `frames_wanted` frames, then SIGINT. Returns the output."""
    if terminal:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    proc = subprocess.Popen([ctl.binary, "-u", socket_path or ctl.socket, *monitor_args, *what],
                            stdout=writer, stderr=subprocess.PIPE)
    os.close(writer)
    output = b""
    marker = title.encode()
    deadline = time.monotonic() + 10
    while output.count(marker) < frames_wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([reader], [], [], max(0, deadline - time.monotonic()))
        if ready:
            try:
                chunk = os.read(reader, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    frames = output.count(marker)
    check(frames >= frames_wanted, f"watch {monitor_args}: {frames} frames in 10 s")
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
    os.close(reader)
    return output


def test_watch(ctl, fake, workdir):
    # On a terminal: each frame clears the screen.
    out = watch(ctl, ["-m", "0.2"], 3, "Every 0.2s: pgmctl show sessions", terminal=True)
    check(out.count(b"\x1b[H\x1b[2J") >= 3 and b"0a0b0c0d0e0f.1000" in out,
          f"watch on a terminal: escape codes and content: {out[-400:]!r}")
    out = watch(ctl, ["-m"], 1, "Every 1s: pgmctl show sessions", terminal=True)  # default
    # Into a pipe: no escape codes, frames a blank line apart.
    out = watch(ctl, ["-m", "0.2"], 3, "Every 0.2s: pgmctl show sessions", terminal=False)
    check(b"\x1b" not in out and b"\n\nEvery 0.2s: pgmctl show sessions" in out
          and b"0a0b0c0d0e0f.1000" in out, f"watch into a pipe: {out[-400:]!r}")
    # Rates: from the second frame on, counters per second (a fake_pgmd whose ODATA keeps
    # arriving, 20 a second).
    path = os.path.join(workdir, "moving.sock")
    proc = start_daemon(fake, path, "--odata-every-ms", "50")
    try:
        out = watch(ctl, ["-m", "0.5"], 3, "Every 0.5s: pgmctl show counters", terminal=False,
                    what=("show", "counters"), socket_path=path).decode()
        frames = out.split("Every 0.5s: pgmctl show counters")[1:]
        first = [line.split() for line in frames[0].splitlines()]
        check(["COUNTER", "TOTAL", "up0", "down1", "down2"] in first,
              f"first frame: no rates yet:\n{frames[0]}")
        third = {line.split()[0]: line.split()[1:] for line in frames[2].splitlines()[1:]
                 if line.strip()}
        check(third.get("COUNTER") == ["TOTAL", "/s", "up0", "/s", "down1", "/s", "down2", "/s"],
              f"later frames: a /s column beside each: {third.get('COUNTER')}")
        row = third.get("InOdata", [])
        rate = float(row[1]) if len(row) > 1 and re.fullmatch(r"[0-9.]+", row[1]) else -1
        check(0 < rate <= 40 and row[3] == row[1],
              f"InOdata per second (20 sent a second): {row}\n{frames[2]}")
        out = watch(ctl, ["-m", "0.5"], 2, "Every 0.5s: pgmctl show sessions", terminal=False,
                    socket_path=path).decode()
        last = out.split("Every 0.5s: pgmctl show sessions")[2]
        check("ODATA/s" in last, f"watch show sessions: ODATA/s column:\n{last}")
    finally:
        stop_daemon(proc)


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
            test_watch(ctl, args.fake_pgmd, workdir)
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
