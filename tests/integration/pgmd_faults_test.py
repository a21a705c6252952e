#!/usr/bin/python3
"""pgmd_faults_test: a downstream link flap and a pgmd crash + restart in the middle of a
transfer (issue 5, acceptance 4).

Topology (netlab.py):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- lan1 --- r11
                                     dn2 10.2.2.1 --- lan2 --- r21

An OpenPGM source (ambient SPM interval SPM_S, transmit window holding the whole
transfer) sends COUNT messages over ~12 s to two OpenPGM receivers (receive windows as
large), no injected loss. During the transfer:

1. Link flap: `ip link set dn1 down`, then up, in the router's namespace. pgmd must stop
   serving dn1 and serve it again, keep running, keep the session (its upstream is up0),
   relearn lan1's membership (IGMP querier, query-response-interval 1 s) and forward ODATA
   onto lan1 again; r11 recovers what it missed with NAKs through pgmd.
2. Crash: SIGKILL pgmd (pid file and control socket are left behind), start it again with
   the same configuration: it must start (stale socket replaced), `pgmctl -j show sessions`
   must show the session again within one ambient SPM interval of pgmd answering (bound:
   SPM_S + RELEARN_SLACK_S), with up0 as upstream and the source as neighbour.

Asserts also: RDATA went out of dn1 after the flap (r11's gap was repaired through pgmd)
and out of both dn1 and dn2 of the restarted pgmd (the gaps of the crash were repaired
through it: the kernel does not route the group) on the user-space path; with the kernel
fast path there is no gap to repair (the dead pgmd's program goes on forwarding, then
fails open, and the new pgmd takes over), so the restarted pgmd's kernel copies on dn1 and
dn2 are asserted instead; both receivers get every message; the
restarted pgmd exits 0 on SIGTERM. While data flows, OpenPGM sends only ambient SPMs (each
ODATA restarts its heartbeat schedule), so SPM_S is the real relearning bound.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, find_sessions, wait_until  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 3000
SIZE = 200
RATE_BPS = 400000  # ~250 messages/s with headers: ~12 s of data
SPM_S = 1.0  # the source's ambient SPM interval
RELEARN_SLACK_S = 0.5  # polling and scheduling on a loaded 2-core machine
NAME = "pgmd_faults"


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r11", "r21")
    lab.source_router()
    for lan in (1, 2):
        lab.lan("rtr", lan, [(f"r{lan}1", 11)])


def sessions(args, sock, timeout_s=3):
    try:
        return find_sessions(netlab.pgmctl(args.pgmctl, sock, "show", "sessions",
                                           timeout_s=timeout_s))
    except (Failure, OSError, ValueError) as e:  # not answering yet
        return e


def good_session(s):
    return isinstance(s, list) and len(s) == 1 and s[0].get("upstream_interface") == "up0" \
        and s[0].get("upstream_neighbour") == "10.1.0.1"


def dn1_counter(args, sock, key):
    c = netlab.pgmctl(args.pgmctl, sock, "show", "counters", "interface", "dn1")
    return [i["counters"].get(key) for i in c.get("interfaces", []) if i.get("name") == "dn1"
            ][0] if c.get("interfaces") else None


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 2), sock, log_level="info",
        timers={"nak-rpt-ivl": "1s"}, extra="[igmp]\nquery-response-interval = 1s\n")
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    receivers = lab.start_openpgm_receivers(
        args.recv, GROUP, DPORT, COUNT, {"r11": "10.2.1.11", "r21": "10.2.2.11"},
        ["--rxw-sqns", str(2 * COUNT)])
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    lab.start_openpgm_send(args.send, "10.1.0.1", GROUP, DPORT, COUNT, SIZE, RATE_BPS, [
        "--txw-sqns", str(2 * COUNT), "--ambient-spm-ms", str(int(SPM_S * 1000)),
        "--linger-ms", "60000", "--start-delay-ms", "1000"])
    wait_until(lambda: good_session(sessions(args, sock)), 5, "pgmd to learn the session")
    problems = []
    pgmd = lab.proc("pgmd")

    # 1. Link flap of a downstream link, ~2 s into the data.
    time.sleep(2.5)
    lab.pgmd_link_down("pgmd", "rtr", "dn1", limit_s=5)
    time.sleep(0.5)  # data flows on lan2 meanwhile; r11 misses it
    t_up = time.monotonic()
    lab.pgmd_link_up("pgmd", "rtr", "dn1", limit_s=5)
    if pgmd.poll() is not None:
        raise Failure(f"pgmd died in the link flap (exit {pgmd.returncode}):\n"
                      + lab.text("pgmd")[-3000:])
    s = sessions(args, sock)
    if not good_session(s):
        problems.append(f"after the dn1 flap, sessions: {s}")
    # lan1's receiver answers the start-up General Query within query-response-interval.
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1"}, limit_s=5)
    flap_relearn = time.monotonic() - t_up
    log(f"link flap: dn1 served again and its membership relearnt {flap_relearn:.2f}s "
        "after link up")

    # r11 missed what was sent while dn1 was down: it was repaired through pgmd (lan1 has
    # no other loss, so any RDATA out of dn1 is that repair).
    time.sleep(2.0)
    flap_rdata = dn1_counter(args, sock, "OutRdata")
    if not flap_rdata:
        problems.append("no RDATA out of dn1 after the flap: r11 was not repaired via pgmd")

    # 2. SIGKILL pgmd and start it again with the same configuration.
    pgmd.send_signal(signal.SIGKILL)
    pgmd.wait(5)
    if not os.path.exists(sock):
        problems.append("the killed pgmd's control socket is not there (test assumption)")
    time.sleep(0.3)  # a real crash: traffic goes on without pgmd for a moment
    lab.start_pgmd("pgmd2", args.pgmd, "rtr", conf, served=3)
    wait_until(lambda: not isinstance(sessions(args, sock, timeout_s=1), Exception), 5,
               "the restarted pgmd to answer pgmctl")
    t_ready = time.monotonic()
    bound = SPM_S + RELEARN_SLACK_S
    try:
        wait_until(lambda: good_session(sessions(args, sock, timeout_s=1)), bound,
                   f"the restarted pgmd to relearn the session (one SPM interval, {SPM_S}s)",
                   interval_s=0.02)
        relearn = time.monotonic() - t_ready
        log(f"restart: session relearnt {relearn:.2f}s after pgmd answered (bound {bound}s)")
    except Failure as e:
        problems.append(f"{e}: {sessions(args, sock)}")
    lab.wait_pgmd_groups("pgmd2", GROUP, {"dn1", "dn2"}, limit_s=5)

    problems += lab.finish_receivers(receivers, 60)
    # The gap while pgmd was down was repaired through the restarted pgmd (the kernel does
    # not route the group), on both LANs.
    counters = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    restart_rdata = {i["name"]: i["counters"]["OutRdata"] for i in counters["interfaces"]
                     if i.get("name") in ("dn1", "dn2")}
    fast = netlab.pgmctl(args.pgmctl, sock, "show", "fastpath")
    if fast.get("mode") == "kernel":
        # With the kernel fast path the dead pgmd's program went on forwarding the session's
        # ODATA (its heartbeat was not stale yet, then it failed open) and the new pgmd took
        # over without a gap: repairs are not needed, the kernel must have done the work.
        out = {i["name"]: i.get("out_packets", 0) for i in fast.get("interfaces", [])}
        log(f"restart with the fast path: RDATA out of the restarted pgmd {restart_rdata}, "
            f"kernel copies since it started {out}")
        if not (out.get("dn1") and out.get("dn2")):
            problems.append(f"the restarted pgmd's fast path forwarded nothing: {fast}")
    elif not all(restart_rdata.values()) or len(restart_rdata) != 2:
        problems.append(f"RDATA out of the restarted pgmd: {restart_rdata}, want some on both")
    if lab.proc("pgmd2").poll() is not None:
        problems.append(f"the restarted pgmd died (exit {lab.proc('pgmd2').returncode})")
    lab.stop_proc("send")
    rc = lab.stop_proc("pgmd2")
    if rc != 0:
        problems.append(f"the restarted pgmd exit {rc} on SIGTERM")
    lab.raise_problems(problems, log="pgmd2", tail=2000)
    print(f"{NAME}: flap relearn {flap_relearn:.2f}s (RDATA to lan1 after it: {flap_rdata}), "
          f"restart relearn {relearn:.2f}s (RDATA after it: {restart_rdata}), receivers "
          "complete")


def main():
    return netlab.lab_main(NAME, "pgmdk", run, ("pgmd", "pgmctl", "send", "recv"))


if __name__ == "__main__":
    sys.exit(main())
