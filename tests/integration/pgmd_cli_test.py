#!/usr/bin/python3
"""pgmd_cli_test: pgmd's command line, start-up, reload and exit as an operator meets them
(issue 15's bug list).

--part check (no root needed): `pgmd -F` on
  * a directory: one line naming the file and the reason (strerror), exit 78 like every
    other unusable configuration file, never an abort;
  * a positional argument (`pgmd -F ok.conf`): a usage error (exit 2) naming the argument,
    instead of checking /etc/pgmd.conf;
  * `[control] group = nosuchgroup`, `[timer]`, a mistyped `[interfaces eth1]`, a link-local
    static group: exit 78 with FILE:LINE: reason.

--part daemon (root: a network namespace with a veth pair, pgmd serving one end, the fast
path off):
  * pgmd -n logs with sd-daemon priority prefixes (`<5>` notice, `<3>` err) on stderr;
  * a second pgmd with its own socket but the first's pid file is refused (exit 1, naming
    the first pgmd's pid) before serving anything, and the pid file is left to the first;
    one with its own pid file but the first's live socket is refused too;
  * `pgmctl reload` of a file with `[control] group = nosuchgroup` fails (exit 1) and says
    why; a reload that changes `[control] mode` says that it needs a restart, in the reply,
    the log and `show running-config`'s overrides;
  * SIGTERM: exit 0, pid file removed;
  * a daemonised pgmd (no -n: chdir /) started with a relative -f reloads;
  * pgmd run as nobody without CAP_NET_RAW exits 1 with the missing capability and how to
    run it;
  * the operator's views of a real pgmd (issue 15): `show status` (pid, configuration file,
    version, interfaces served, log level, last reload), the interface state column (d0
    served, d2 down, d9 absent), `show groups` (the static group, pgmd the IGMP querier, the
    joined group, a member learnt from IGMP and gone after its leave), a session from raw SPMs
    sent from the second namespace (created, ended by FIN, expired: logged at info one line
    each, FIN in `show sessions`), `set log-level` / `debug` seen in `show status` and the log,
    and a reload reporting the key it changed; `show running-config` (text accepted by
    `pgmd -F`, every key in force, the run-time log level as an override, the reload's new
    value and load time).

Every wait is bounded; every process started is killed and the namespace deleted at the end.
Exit status 0 pass, 1 fail, 77 skipped (not root, or a tool missing).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

NAME = "pgmd_cli"
FAILURES = []


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def check(condition, message):
    log(("ok   " if condition else "FAIL ") + message)
    if not condition:
        FAILURES.append(message)
    return condition


def wait_until(cond, limit_s, interval_s=0.05):
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval_s)
    return cond()


def run(argv, timeout=20, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def part_check(a, tmp):
    r = run([a.pgmd, "-F", "-f", tmp])
    check(r.returncode == 78 and r.stderr == f"pgmd: {tmp}: cannot be read: Is a directory\n",
          f"-F -f DIRECTORY: exit {r.returncode}, stderr {r.stderr!r}")

    ok = write(os.path.join(tmp, "ok.conf"), "[interface eth0]\n")
    r = run([a.pgmd, "-F", ok])
    check(r.returncode == 2 and "ok.conf" in r.stderr and "-f" in r.stderr
          and "/etc/pgmd.conf" not in r.stdout + r.stderr,
          f"-F FILE (positional): exit {r.returncode}, stdout {r.stdout!r}, "
          f"stderr {r.stderr!r}")

    cases = (
        ("group.conf", "[interface eth0]\n[control]\ngroup = nosuchgroup\n",
         ":3: group: no group named 'nosuchgroup'"),
        ("timer.conf", "[timer]\nnak-rpt-ivl = 2s\n[interface eth0]\n",
         ":1: unknown section [timer]"),
        ("iface.conf", "[interface eth0]\n[interfaces eth1]\n",
         ":2: unknown section [interfaces eth1]"),
        ("linklocal.conf", "[interface eth0]\nstatic-groups = 224.0.0.5\n",
         ":2: static-groups: '224.0.0.5' is link-local"),
    )
    for name, text, expected in cases:
        path = write(os.path.join(tmp, name), text)
        r = run([a.pgmd, "-F", "-f", path])
        check(r.returncode == 78 and r.stderr.startswith(f"pgmd: {path}{expected}"),
              f"-F {name}: exit {r.returncode}, stderr {r.stderr!r}")


class Namespace:
    def __init__(self):
        self.name = f"pgmdcli-{os.getpid()}"
        self.peer = f"pgmdcli-{os.getpid()}-h"
        self.procs = []

    def setup(self):
        run(["ip", "netns", "add", self.name], check=True)
        run(["ip", "netns", "add", self.peer], check=True)
        self.sh("ip", "link", "set", "lo", "up")
        self.sh("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        self.sh("ip", "link", "set", "d1", "netns", self.peer)
        self.sh("ip", "addr", "add", "10.99.0.1/24", "dev", "d0")
        self.sh("ip", "link", "set", "d0", "up")
        # The peer: a host behind d0 (IGMP member, PGM source).
        run(["ip", "netns", "exec", self.peer, "ip", "addr", "add", "10.99.0.2/24", "dev", "d1"],
            check=True)
        run(["ip", "netns", "exec", self.peer, "ip", "link", "set", "d1", "up"], check=True)
        run(["ip", "netns", "exec", self.peer, "ip", "route", "add", "224.0.0.0/4", "dev", "d1"],
            check=True)
        # d2: configured, but its link stays down.
        self.sh("ip", "link", "add", "d2", "type", "veth", "peer", "name", "d3")

    def sh(self, *argv):
        return run(["ip", "netns", "exec", self.name, *argv], check=True)

    def argv(self, *argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def start(self, argv, stderr_path, **kwargs):
        err = open(stderr_path, "w")
        p = subprocess.Popen(self.argv(*argv), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, **kwargs)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        for name in (self.name, self.peer):
            r = run(["ip", "netns", "pids", name])
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", name])


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def stop(p, timeout=10):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
        return None


def conf_text(extra_control="", rpt_ivl="1s"):
    return ("log-level = info\n[dataplane]\nfast-path = off\n[timers]\nsession-lifetime = 3s\n"
            f"nak-rpt-ivl = {rpt_ivl}\n[control]\n" + extra_control +
            "[interface d0]\nstatic-groups = 239.192.0.1\njoin-groups = 239.192.0.9\n"
            "[interface d2]\n[interface d9]\n")


def part_daemon(a, tmp):
    ns = Namespace()
    try:
        ns.setup()
        daemon_tests(a, tmp, ns)
    finally:
        ns.cleanup()


def ping(a, ns, sock):
    return run(ns.argv(a.pgmctl, "-u", sock, "ping"), timeout=10).returncode == 0


def daemon_tests(a, tmp, ns):
    os.chmod(tmp, 0o755)
    conf = write(os.path.join(tmp, "pgmd.conf"), conf_text())
    sock1, pid1 = os.path.join(tmp, "one.sock"), os.path.join(tmp, "one.pid")
    err1 = os.path.join(tmp, "one.err")
    first = ns.start([a.pgmd, "-n", "-f", conf, "-u", sock1, "-P", pid1], err1)
    if not check(wait_until(lambda: ping(a, ns, sock1), 15), "the first pgmd answers"):
        log(read(err1))
        return
    started = [line for line in read(err1).splitlines() if "started," in line]
    check(len(started) == 1 and started[0].startswith("<5>pgmd: notice: started,"),
          f"-n: notice lines carry <5>: {started!r}")
    check(all(re.match(r"<[0-7]>pgmd: ", line) for line in read(err1).splitlines()),
          f"-n: every line has a priority prefix: {read(err1)!r}")
    check(read(pid1).strip() == str(first.pid), f"pid file holds {read(pid1).strip()!r}")

    # A second pgmd on the same pid file, with its own socket.
    err2 = os.path.join(tmp, "two.err")
    sock2 = os.path.join(tmp, "two.sock")
    second = ns.start([a.pgmd, "-n", "-f", conf, "-u", sock2, "-P", pid1], err2)
    ended = wait_until(lambda: second.poll() is not None, 10)
    check(ended and second.returncode == 1,
          f"a second pgmd on the same pid file is refused: "
          f"{'exit ' + str(second.returncode) if ended else 'still running'}")
    stop(second)
    check(f"pid {first.pid}" in read(err2) and "<3>" in read(err2),
          f"the refusal names the running pgmd's pid {first.pid} at err: {read(err2)!r}")
    check("serving d0" not in read(err2), f"the second pgmd served nothing: {read(err2)!r}")
    check(read(pid1).strip() == str(first.pid) and first.poll() is None,
          f"the pid file still holds the first pgmd's pid: {read(pid1)!r}")

    # A second pgmd on the same (live) socket, with its own pid file.
    err3 = os.path.join(tmp, "three.err")
    third = ns.start([a.pgmd, "-n", "-f", conf, "-u", sock1, "-P",
                      os.path.join(tmp, "three.pid")], err3)
    ended = wait_until(lambda: third.poll() is not None, 10)
    check(ended and third.returncode == 1 and "serving d0" not in read(err3)
          and "already running" in read(err3),
          f"a second pgmd on the same live socket is refused before serving: "
          f"{third.returncode} {read(err3)!r}")
    stop(third)
    check(ping(a, ns, sock1), "the first pgmd's socket still answers")

    operator_views(a, tmp, ns, conf, sock1, err1, first)

    # Reload of a file whose control group does not exist.
    write(conf, conf_text("group = nosuchgroup\n"))
    r = run(ns.argv(a.pgmctl, "-u", sock1, "reload"))
    check(r.returncode == 1 and "no group named 'nosuchgroup'" in r.stderr,
          f"reload with a bad control group fails and says why: {r.returncode} "
          f"{r.stdout!r} {r.stderr!r}")
    check(re.search(r"^<3>pgmd: err: reload refused.*no group named", read(err1), re.M),
          "the refused reload is logged at err (<3>)")

    # Reload that changes a [control] key: applied only at the next start.
    write(conf, conf_text("mode = 0600\n"))
    r = run(ns.argv(a.pgmctl, "-u", sock1, "reload"))
    check(r.returncode == 0 and "control.mode" in r.stdout and "restart" in r.stdout,
          f"reload changing control.mode says it needs a restart: {r.returncode} "
          f"{r.stdout!r} {r.stderr!r}")
    check(re.search(r"control\.mode.*restart", read(err1)),
          f"... and the log says so: {read(err1)[-400:]!r}")
    running = ctl_json(a, ns, sock1, "show", "running-config")
    check(any(o.startswith("control.mode not applied until pgmd restarts")
              for o in running.get("overrides", []))
          and "mode = 0600" in running.get("text", "").splitlines(),
          f"show running-config: the file's mode, waiting for a restart: {running}")

    rc = stop(first)
    check(rc == 0, f"SIGTERM: exit {rc}")
    check(not os.path.exists(pid1) and not os.path.exists(sock1),
          "the pid file and socket are removed at exit")

    # A daemonised pgmd (chdir /) started with a relative -f can reload.
    write(conf, conf_text())
    sock4, pid4 = os.path.join(tmp, "four.sock"), os.path.join(tmp, "four.pid")
    r = run(ns.argv(a.pgmd, "-f", "pgmd.conf", "-u", sock4, "-P", pid4), cwd=tmp)
    check(r.returncode == 0, f"daemonised start: exit {r.returncode} {r.stderr!r}")
    if check(wait_until(lambda: ping(a, ns, sock4) and read(pid4).strip(), 15),
             "the daemonised pgmd answers"):
        r = run(ns.argv(a.pgmctl, "-u", sock4, "reload"))
        check(r.returncode == 0, f"relative -f: reload after daemonising: {r.returncode} "
              f"{r.stdout!r} {r.stderr!r}")
        pid = int(read(pid4).strip())
        os.kill(pid, signal.SIGTERM)
        check(wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10),
              "the daemonised pgmd stops on SIGTERM")

    # Without CAP_NET_RAW.
    if shutil.which("setpriv") is None:
        log("setpriv not found: the capability case is not run")
        return
    run_dir = os.path.join(tmp, "nobody")
    os.mkdir(run_dir)
    os.chmod(run_dir, 0o777)
    os.chmod(conf, 0o644)
    r = run(ns.argv("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                    "--inh-caps=-all", a.pgmd, "-n", "-f", conf, "-u",
                    os.path.join(run_dir, "s.sock"), "-P", os.path.join(run_dir, "p.pid")))
    check(r.returncode == 1 and "CAP_NET_RAW" in r.stderr and "setcap" in r.stderr
          and "AmbientCapabilities" in r.stderr,
          f"without CAP_NET_RAW: exit {r.returncode}, the capability and how to run: "
          f"{r.stderr!r}")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spm(sqn, fin=False):
    """An SPM of TSI 0000000000aa.1000 from 10.99.0.2, with OPT_FIN when `fin`."""
    options = b""
    if fin:  # OPT_LENGTH, then OPT_FIN with the end bit (RFC 3208 §9.1, §9.4)
        options = struct.pack("!BBH", 0x00, 4, 8) + struct.pack("!BBBB", 0x8E, 4, 0, 0)
    body = struct.pack("!III", sqn, 1, 0) + struct.pack("!HH4s", 1, 0,
                                                         socket.inet_aton("10.99.0.2"))
    header = struct.pack("!HHBBH6sH", 1000, 7500, 0x00, 0x01 if fin else 0, 0,
                         bytes.fromhex("0000000000aa"), 0)
    packet = header + body + options
    return packet[:6] + struct.pack("!H", checksum(packet)) + packet[8:]


SEND_SPM = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 113)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.99.0.2"))
s.sendto(bytes.fromhex(sys.argv[1]), ("239.192.0.1", 0))
"""

JOIN = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("239.192.0.2") + socket.inet_aton("10.99.0.2"))
print("joined", flush=True)
sys.stdin.read()
"""


def ctl_json(a, ns, sock, *args):
    r = run(ns.argv(a.pgmctl, "-u", sock, *args, "json"), timeout=10)
    return json.loads(r.stdout) if r.returncode == 0 else {"error": r.stderr}


def running_config(a, tmp, ns, sock, conf, name):
    """`show running-config` as text: written to a file, that `pgmd -F` must accept."""
    r = run(ns.argv(a.pgmctl, "-u", sock, "show", "running-config"), timeout=10)
    check(r.returncode == 0 and r.stdout.startswith(
        f"# pgmd running configuration: {conf} as loaded at "),
        f"show running-config: {r.returncode} {r.stdout[:300]!r} {r.stderr!r}")
    path = write(os.path.join(tmp, name), r.stdout)
    checked = run([a.pgmd, "-F", "-f", path])
    check(checked.returncode == 0, f"pgmd -F on show running-config's text: "
          f"{checked.returncode} {checked.stderr!r}\n{r.stdout}")
    return r.stdout


def operator_views(a, tmp, ns, conf, sock, err, first):
    status = ctl_json(a, ns, sock, "show", "status")
    check(status.get("pid") == first.pid and status.get("config_file") == conf
          and re.fullmatch(r"\d+\.\d+\.\d+", str(status.get("version")))
          and status.get("interfaces_configured") == 3 and status.get("interfaces_served") == 1
          and status.get("log_level") == "info" and status.get("last_reload") is None
          and status.get("fast_path") == "off",
          f"show status: {status}")
    interfaces = ctl_json(a, ns, sock, "show", "interfaces").get("interfaces", [])
    states = {i["name"]: (i["state"], i["ifindex"] is None) for i in interfaces}
    check(states == {"d0": ("served", False), "d2": ("down", False), "d9": ("absent", True)},
          f"show interfaces: state column: {states}")
    r = run(ns.argv(a.pgmctl, "-u", sock, "sh", "int", "int", "d9"))
    check(r.returncode == 0 and r.stdout.splitlines()[1].split()[:3] == ["d9", "-", "absent"],
          f"show interfaces interface d9 (text): {r.stdout!r} {r.stderr!r}")
    r = run(ns.argv(a.pgmctl, "-u", sock, "show", "interfaces", "interface", "nosuch"))
    check(r.returncode == 1 and r.stderr == 'pgmctl: no interface "nosuch" (known: d0, d2, d9)\n',
          f"show interfaces interface nosuch: {r.returncode} {r.stderr!r}")

    def d0_groups():
        g = ctl_json(a, ns, sock, "show", "groups", "interface", "d0").get("interfaces", [{}])
        return g[0] if g else {}

    d0 = d0_groups()
    check(d0.get("igmp_querier", {}).get("role") == "querier"
          and d0.get("igmp_querier", {}).get("address") == "10.99.0.1"
          and {"group": "239.192.0.1", "source": "static", "expires_in_s": None}
          in d0.get("groups", []) and d0.get("joined") == ["239.192.0.9"],
          f"show groups interface d0: {d0}")

    # A member learnt from IGMP, logged when it comes and when it goes.
    joiner = subprocess.Popen(["ip", "netns", "exec", ns.peer, sys.executable, "-c", JOIN],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ns.procs.append(joiner)
    learnt = wait_until(lambda: "d0: members of 239.192.0.2 (IGMP)" in read(err), 15)
    check(learnt, f"the IGMP member is logged at info: {read(err)[-600:]!r}")
    check(any(g["group"] == "239.192.0.2" and g["source"] == "igmp"
              for g in d0_groups().get("groups", [])), f"show groups: the IGMP member: {d0_groups()}")
    joiner.stdin.close()  # it exits, the kernel sends a leave
    joiner.wait(timeout=10)
    check(wait_until(lambda: "d0: no more members of 239.192.0.2" in read(err), 15),
          f"the member's leave is logged: {read(err)[-600:]!r}")

    # A session: created, ended by FIN, expired (session-lifetime 3s), one info line each.
    def send(packet):
        run(["ip", "netns", "exec", ns.peer, sys.executable, "-c", SEND_SPM, packet.hex()],
            check=True)

    send(spm(1))
    prefix = "session 0000000000aa.1000 10.99.0.2 -> 239.192.0.1 from d0: "
    check(wait_until(lambda: prefix + "created" in read(err), 10),
          f"session created, logged: {read(err)[-600:]!r}")
    send(spm(2, fin=True))
    send(spm(3, fin=True))
    check(wait_until(lambda: prefix + "ended by its source (FIN)" in read(err), 10),
          f"FIN logged: {read(err)[-600:]!r}")
    r = run(ns.argv(a.pgmctl, "-u", sock, "show", "sessions"))
    rows = [line.split() for line in r.stdout.splitlines()]
    check(len(rows) == 2 and rows[1][0] == "0000000000aa.1000" and rows[1][-1] == "FIN",
          f"show sessions: the session marked FIN: {r.stdout!r}")
    check(wait_until(lambda: prefix + "expired" in read(err), 10),
          f"expiry logged: {read(err)[-600:]!r}")
    check(read(err).count(prefix) == 3, f"one line per change: {read(err).count(prefix)}")

    # The running configuration: every key in force, defaults and -u included, as a file.
    text = running_config(a, tmp, ns, sock, conf, "running-1.conf")
    for line in ("log-level = info", "fast-path = off", "session-lifetime = 3s",
                 "nak-rpt-ivl = 1s", "nak-rdata-ivl = 10s", f"socket = {sock}",
                 "[interface d0]", "static-groups = 239.192.0.1", "join-groups = 239.192.0.9",
                 "[interface d2]", "[interface d9]", "# textfile ="):
        check(line in text.splitlines(), f"show running-config lacks {line!r}:\n{text}")
    before = ctl_json(a, ns, sock, "show", "running-config")
    check(before.get("file") == conf and before.get("overrides") == []
          and before.get("text") == text, f"show running-config json: {before}")

    # The log level at run time.
    r = run(ns.argv(a.pgmctl, "-u", sock, "set", "log-level", "debug"))
    check(r.returncode == 0 and r.stdout == "log level debug (configured info)\n",
          f"set log-level debug: {r.returncode} {r.stdout!r} {r.stderr!r}")
    text = running_config(a, tmp, ns, sock, conf, "running-2.conf")
    check("# run-time override: log-level is debug (pgmctl set log-level; the configured level "
          "is below)" in text.splitlines() and "log-level = info" in text.splitlines(),
          f"show running-config: the run-time log level: {text[:400]!r}")
    check(ctl_json(a, ns, sock, "show", "status").get("log_level") == "debug",
          "show status: log_level debug")
    check(wait_until(lambda: "log level debug (was info, set by pgmctl)" in read(err), 5),
          f"the change is logged: {read(err)[-300:]!r}")
    r = run(ns.argv(a.pgmctl, "-u", sock, "debug", "off"))
    check(r.returncode == 0 and ctl_json(a, ns, sock, "show", "status").get("log_level") ==
          "info", f"debug off: back to the configured level: {r.stdout!r}")

    # A reload names what it changed.
    write(conf, conf_text(rpt_ivl="2s"))
    r = run(ns.argv(a.pgmctl, "-u", sock, "reload", "json"))
    reply = json.loads(r.stdout) if r.returncode == 0 else {}
    check(reply.get("changed") == ["timers.nak-rpt-ivl"] and "restart_needed" not in reply,
          f"reload reply: {r.stdout!r} {r.stderr!r}")
    check(f"reload of {conf}: changed timers.nak-rpt-ivl" in read(err),
          f"the reload's changes are logged: {read(err)[-400:]!r}")
    last = ctl_json(a, ns, sock, "show", "status").get("last_reload") or {}
    check(last.get("ok") is True and last.get("changed") == ["timers.nak-rpt-ivl"],
          f"show status: last reload: {last}")
    text = running_config(a, tmp, ns, sock, conf, "running-3.conf")
    after = ctl_json(a, ns, sock, "show", "running-config")
    check("nak-rpt-ivl = 2s" in text.splitlines() and "nak-rpt-ivl = 1s" not in text.splitlines()
          and after.get("loaded_at", "") > before.get("loaded_at", "~"),
          f"show running-config after the reload: {after.get('loaded_at')} "
          f"(before {before.get('loaded_at')}):\n{text}")
    write(conf, conf_text())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgmd", required=True)
    ap.add_argument("--pgmctl")
    ap.add_argument("--part", choices=("check", "daemon"), required=True)
    a = ap.parse_args()
    a.pgmd = os.path.abspath(a.pgmd)
    if a.pgmctl:
        a.pgmctl = os.path.abspath(a.pgmctl)
    if a.part == "daemon":
        if os.geteuid() != 0:
            log("needs root (a network namespace); skipped")
            return 77
        if shutil.which("ip") is None or not a.pgmctl:
            log("needs ip and --pgmctl; skipped")
            return 77
    tmp = tempfile.mkdtemp(prefix="pgmd_cli.")
    try:
        (part_check if a.part == "check" else part_daemon)(a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(FAILURES)} failed" + (": " + "; ".join(FAILURES) if FAILURES else ""))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
