#!/usr/bin/python3
"""pgmd_notify_test: pgmd's systemd notifications (sd_notify, Type=notify; issue 15) without
systemd: the test is the service manager, listening on the Unix datagram socket it names in
NOTIFY_SOCKET.

In a network namespace with a veth pair, pgmd -n serves one end (fast path off), started
with NOTIFY_SOCKET and WATCHDOG_USEC=400000. Asserts:
  * READY=1 arrives once, and only when pgmd is serving: at that moment the control socket
    already answers and the log already says `serving d0`; its STATUS= says how many
    interfaces are served;
  * WATCHDOG=1 keep-alives arrive every half WATCHDOG_USEC (at least 4 in 1.2 s);
  * `pgmctl reload` and SIGHUP each send RELOADING=1, then READY=1; a refused reload too,
    with the refusal in STATUS=;
  * SIGTERM sends STOPPING=1 and pgmd exits 0;
  * a pgmd that cannot start (a pid file another pgmd holds) exits 1 without READY=1.

Every wait is bounded; every process started is killed and the namespace deleted at the end.
Exit status 0 pass, 1 fail, 77 skipped (not root, or a tool missing).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

NAME = "pgmd_notify"
FAILURES = []


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def check(condition, message):
    log(("ok   " if condition else "FAIL ") + message)
    if not condition:
        FAILURES.append(message)
    return condition


def run(argv, timeout=20, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class Listener:
    """The service manager's end: a bound AF_UNIX datagram socket, one message a datagram."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def next(self, limit_s, skip_watchdog=True):
        """The next message (dict of its KEY=VALUE lines), or None after limit_s."""
        end = time.monotonic() + limit_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                return None
            fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
            if skip_watchdog and set(fields) == {"WATCHDOG"}:
                continue
            return fields

    def close(self):
        self.sock.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgmd", required=True)
    ap.add_argument("--pgmctl", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root (a network namespace); skipped")
        return 77
    if shutil.which("ip") is None:
        log("needs ip; skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="pgmd_notify.")
    ns = f"pgmdnotify-{os.getpid()}"
    procs = []
    try:
        run(["ip", "netns", "add", ns], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"],
                    ["ip", "addr", "add", "10.99.0.1/24", "dev", "d0"],
                    ["ip", "link", "set", "d0", "up"], ["ip", "link", "set", "d1", "up"]):
            run(["ip", "netns", "exec", ns, *cmd], check=True)
        tests(a, tmp, ns, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        run(["ip", "netns", "del", ns])
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(FAILURES)} failed" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    return 1 if FAILURES else 0


def tests(a, tmp, ns, procs):
    conf = os.path.join(tmp, "pgmd.conf")

    def write_conf(extra=""):
        with open(conf, "w") as f:
            f.write("[dataplane]\nfast-path = off\n" + extra +
                    "[interface d0]\nstatic-groups = 239.192.0.1\n")
    write_conf()
    sock, pid, err = (os.path.join(tmp, n) for n in ("pgmd.sock", "pgmd.pid", "pgmd.err"))
    listener = Listener(os.path.join(tmp, "notify.sock"))
    env = dict(os.environ, NOTIFY_SOCKET=listener.path, WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    with open(err, "w") as e:
        p = subprocess.Popen(["ip", "netns", "exec", ns, a.pgmd, "-n", "-f", conf, "-u", sock,
                              "-P", pid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=e, env=env)
    procs.append(p)

    def ping():
        return run(["ip", "netns", "exec", ns, a.pgmctl, "-u", sock, "ping"]).returncode == 0

    msg = listener.next(15)
    if not check(msg is not None and msg.get("READY") == "1",
                 f"the first message (watchdog aside) is READY=1: {msg}"):
        log(read(err))
        return
    # Checked at once, without waiting: pgmd said READY, so it must already be serving.
    check(ping(), "at READY=1 the control socket answers")
    check("serving d0" in read(err) and "started," in read(err),
          f"at READY=1 the log says d0 is served: {read(err)!r}")
    check(msg.get("STATUS") == "serving 1 of 1 interfaces", f"READY's STATUS: {msg}")

    # Watchdog keep-alives: every 200 ms.
    end = time.monotonic() + 1.2
    keep_alives = 0
    others = []
    while time.monotonic() < end:
        m = listener.next(end - time.monotonic(), skip_watchdog=False)
        if m is None:
            break
        if set(m) == {"WATCHDOG"}:
            keep_alives += m["WATCHDOG"] == "1"
        else:
            others.append(m)
    check(keep_alives >= 4 and not others,
          f"{keep_alives} WATCHDOG=1 in 1.2 s with WATCHDOG_USEC=400000, others {others}")

    def reload_messages(action, label):
        action()
        first, second = listener.next(10), listener.next(10)
        check(first is not None and first.get("RELOADING") == "1",
              f"{label}: RELOADING=1 first: {first}")
        # systemd >= 253 needs CLOCK_MONOTONIC in microseconds with it (Type=notify-reload).
        usec = (first or {}).get("MONOTONIC_USEC", "")
        check(usec.isdigit() and abs(int(usec) - time.monotonic_ns() // 1000) < 10_000_000,
              f"{label}: MONOTONIC_USEC with RELOADING=1, now: {first}")
        check(second is not None and second.get("READY") == "1",
              f"{label}: READY=1 after it: {second}")
        return second or {}

    reload_messages(lambda: run(["ip", "netns", "exec", ns, a.pgmctl, "-u", sock, "reload"]),
                    "pgmctl reload")
    reload_messages(lambda: p.send_signal(signal.SIGHUP), "SIGHUP")
    write_conf("[timers]\nnak-rpt-ivl = 100\n")
    ready = reload_messages(lambda: p.send_signal(signal.SIGHUP), "a refused reload")
    check("refused" in ready.get("STATUS", "") and "nak-rpt-ivl" in ready.get("STATUS", ""),
          f"a refused reload says so in STATUS: {ready}")
    write_conf()

    # A second pgmd on the first one's pid file cannot start: no READY=1.
    second_listener = Listener(os.path.join(tmp, "notify2.sock"))
    env2 = dict(env, NOTIFY_SOCKET=second_listener.path)
    r = run(["ip", "netns", "exec", ns, a.pgmd, "-n", "-f", conf, "-u",
             os.path.join(tmp, "two.sock"), "-P", pid], env=env2)
    messages = []
    while (m := second_listener.next(0.3)) is not None:
        messages.append(m)
    check(r.returncode == 1 and not any(m.get("READY") for m in messages),
          f"a pgmd that cannot start exits 1 without READY=1: exit {r.returncode}, "
          f"messages {messages}")
    second_listener.close()

    p.send_signal(signal.SIGTERM)
    m = listener.next(10)
    check(m is not None and m.get("STOPPING") == "1", f"SIGTERM: STOPPING=1: {m}")
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 0, f"pgmd exits 0 after STOPPING=1: {rc}")
    listener.close()


if __name__ == "__main__":
    sys.exit(main())
