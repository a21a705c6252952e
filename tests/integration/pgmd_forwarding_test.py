#!/usr/bin/python3
"""pgmd_forwarding_test: pgmd forwarding real OpenPGM traffic between network namespaces
(issue 5, acceptance test 1).

Topology (every node a network namespace, every link a veth pair):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- bridge lan1 --- r11 .11, r12 .12
                                     dn2 10.2.2.1 --- bridge lan2 --- r21 .11, r22 .12

The kernel of rtr has no multicast route, so pgmd is the only forwarder of the group; it
learns the receivers from their IGMP reports. ip_forward=1 in rtr for unicast. On lan2's
bridge an nftables rule (table bridge, forward hook) drops chosen ODATA sequence numbers
on their way to both receivers, so both NAK them to pgmd.

Asserts: every receiver completes; on the source's link the source receives exactly one
NAK per lost sequence number, sent by pgmd (hop by hop); no RDATA leaves pgmd on lan1 (it
has no loss); lan2 gets NCFs from pgmd; on lan2 pgmd's SPMs, NCFs and RDATA carry Router
Alert and the ODATA it switches does not; `pgmctl -j show sessions` shows the session with
up0 as upstream and the source as upstream neighbour; pgmd's counters equal what the
captures show; SIGHUP reloads and a downstream link going down and up keep the session.
A repeated NAK upstream passes only when a NAK reached pgmd after it had already sent that
sequence's RDATA (a new request, see unexplained_repeats()).

--series (acceptance 3): src -- rtra (pgmd) -- rtrb (pgmd) -- lan1, lan2: SPM path
rewritten per hop, NAKs hop by hop (one per lost sequence on each link), NCFs from each
hop, each pgmd's session upstream is the previous hop.

Everything started is stopped and the namespaces deleted, also on failure.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import (Failure, decode, find_key, find_sessions, nak_sqns,  # noqa: E402
                    naks_per_sqn, one_nak_per_loss, wait_until)
import netlab  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
LOST = [10, 20, 21, 35, 60]  # ODATA sequence numbers dropped on lan2
COUNT = 300
SIZE = 200
RATE_BPS = 400000

RECEIVERS = {"r11": "10.2.1.11", "r12": "10.2.1.12", "r21": "10.2.2.11", "r22": "10.2.2.12"}
SEND_EXTRA = ["--linger-ms", "120000", "--start-delay-ms", "1000"]


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r11", "r12", "r21", "r22")
    lab.source_router()
    add_lans(lab, "rtr")


def run(args, lab):
    build(lab)
    tmp = lab.tmp
    sock = os.path.join(tmp, "pgmd.sock")
    conf = netlab.pgmd_conf(
        os.path.join(tmp, "pgmd.conf"), netlab.rtr_interfaces(GROUP, 2), sock,
        log_level="debug", timers={"nak-rpt-ivl": "1s"})
    captures = {}
    for name, ns, dev in (("src", "src", "s0"), ("dn1", "rtr", "dn1"), ("dn2", "rtr", "dn2")):
        captures[name] = lab.capture(name, ns, dev)

    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)

    receivers = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT, RECEIVERS)
    # pgmd has learnt both LANs from the receivers' IGMP reports before any data flows
    # (SIGUSR1 makes it log its state as JSON).
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})

    sender = lab.start_openpgm_send(args.send, "10.1.0.1", GROUP, DPORT, COUNT, SIZE,
                                    RATE_BPS, SEND_EXTRA)
    failures = lab.finish_receivers(receivers, 90, tail=2000, sep="\n")
    # State and counters while the session still lives.
    state = pgmctl(args, sock, "show", "sessions")
    counters = pgmctl(args, sock, "show", "counters")
    # SIGHUP reloads in place: the session survives. A downstream link going down stops
    # its service, coming back up restores it; the session (upstream up0) survives too.
    pgmd.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in lab.text("pgmd"), 10, "the reload")
    lab.pgmd_link_down("pgmd", "rtr", "dn1")
    lab.pgmd_link_up("pgmd", "rtr", "dn1")
    after = find_sessions(pgmctl(args, sock, "show", "sessions"))
    if len(after) != 1 or after[0].get("upstream_interface") != "up0":
        failures.append(f"after reload and dn1 down/up, sessions: {after}")
    lab.stop_proc(sender)
    for name in captures:
        lab.stop_capture(name)
    rc = lab.stop_proc(pgmd)
    if rc != 0:
        failures.append(f"pgmd exit {rc} on SIGTERM")
    if os.path.exists(os.path.join(tmp, "pgmd.pid")) or os.path.exists(sock):
        failures.append("pgmd left its pid file or socket behind")
    lab.raise_problems(failures)

    src = decode(args.pgmdump, captures["src"])
    dn1 = decode(args.pgmdump, captures["dn1"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    problems = []

    naks = [p for p in src if p.get("type") == "NAK"]
    nak_senders = {p["ip_src"] for p in naks}
    if nak_senders != {"10.1.0.2"}:
        problems.append(f"NAKs on the source's link come from {nak_senders}, want pgmd only")
    if (problem := one_nak_per_loss(naks, LOST, dn2, "10.2.2.1")):
        problems.append(f"source's link: {problem}")
    rdata_dn1 = [p for p in dn1 if p.get("type") == "RDATA"]
    if rdata_dn1:
        problems.append(f"{len(rdata_dn1)} RDATA on the loss-free lan1")
    odata_dn1 = {p["sqn"] for p in dn1 if p.get("type") == "ODATA" and p["ip_src"] == "10.1.0.1"}
    if len(odata_dn1) < COUNT:
        problems.append(f"only {len(odata_dn1)} ODATA sequence numbers forwarded onto lan1")
    out_dn2 = [p for p in dn2 if p["ip_dst"] == GROUP]
    ncf_dn2 = [p for p in out_dn2 if p.get("type") == "NCF"]
    rdata_dn2 = [p for p in out_dn2 if p.get("type") == "RDATA"]
    if not ncf_dn2:
        problems.append("no NCF from pgmd on lan2")
    if {p["sqn"] for p in rdata_dn2} != set(LOST):
        problems.append(f"RDATA on lan2 for {sorted({p['sqn'] for p in rdata_dn2})}, want {LOST}")
    # Router Alert (RFC 3208 §4, §2.3; docs/rfc3208-rules.md C2, N-NAK-2, N-RD-2, N-SPM-3):
    # pgmd's SPM, NCF and RDATA copies carry it, the ODATA it switches does not.
    for kind, want in (("SPM", True), ("NCF", True), ("RDATA", True), ("ODATA", False)):
        got = {bool(p.get("router_alert")) for p in out_dn2 if p.get("type") == kind}
        if got != {want}:
            problems.append(f"{kind} on lan2 with Router Alert {sorted(got)}, want {want} only")
    spm_dn2 = [p for p in out_dn2 if p.get("type") == "SPM"]
    paths = {o.get("path") for p in spm_dn2 for o in p.get("options", []) if "path" in o}
    paths |= {p.get("path") for p in spm_dn2 if "path" in p}
    paths.discard(None)
    if paths != {"10.2.2.1"}:
        problems.append(f"SPMs on lan2 carry path {paths}, want pgmd's 10.2.2.1")

    sessions = find_sessions(state)
    if len(sessions) != 1 or sessions[0].get("upstream_interface") != "up0" or \
            sessions[0].get("upstream_neighbour") != "10.1.0.1":
        problems.append(f"pgmctl show sessions: {json.dumps(state)[:800]}")

    totals = find_key(counters, "totals") or {}
    expect = {
        "OutNaks": len(naks),
        "OutRdata": len(rdata_dn2),
        "OutNcfs": len(ncf_dn2),
    }
    problems += netlab.mismatches("counter", totals, expect)
    print(f"pgmd_forwarding: NAKs upstream {dict(naks_per_sqn(naks))}, NCFs on lan2 {len(ncf_dn2)}, "
          f"RDATA on lan2 {len(rdata_dn2)}, RDATA on lan1 {len(rdata_dn1)}, counters "
          f"{ {k: totals.get(k) for k in expect} }")
    if problems:
        raise Failure("\n".join(problems))


def add_lans(lab, rtr):
    """lan1 and lan2 (bridges, two receivers each) behind `rtr`'s dn1/dn2, loss on lan2."""
    for lan in (1, 2):
        lab.lan(rtr, lan, [(f"r{lan}{host}", 10 + host) for host in (1, 2)])
    # Loss on lan2 only, in the bridge, for native ODATA (type 0x04) with chosen sequence
    # numbers: both receivers miss them.
    lab.drop_odata("lan2", LOST, family="bridge", iif="p0")


def run_series(args, lab):
    """Acceptance 3: src -- rtra (pgmd) -- rtrb (pgmd) -- lan1, lan2 (loss on lan2)."""
    for n in ("src", "rtra", "rtrb", "lan1", "lan2", "r11", "r12", "r21", "r22"):
        lab.add_ns(n)
    lab.veth("src", "s0", "rtra", "up0")
    lab.veth("rtra", "dn0", "rtrb", "up0")
    lab.sh("ip", "addr", "add", "10.1.0.1/24", "dev", "s0", ns="src")
    lab.sh("ip", "addr", "add", "10.1.0.2/24", "dev", "up0", ns="rtra")
    lab.sh("ip", "addr", "add", "10.3.0.1/24", "dev", "dn0", ns="rtra")
    lab.sh("ip", "addr", "add", "10.3.0.2/24", "dev", "up0", ns="rtrb")
    lab.sh("ip", "route", "add", "10.2.0.0/16", "via", "10.1.0.2", ns="src")
    lab.sh("ip", "route", "add", "10.3.0.0/24", "via", "10.1.0.2", ns="src")
    lab.sh("ip", "route", "add", "224.0.0.0/4", "dev", "s0", ns="src")
    lab.sh("ip", "route", "add", "10.2.0.0/16", "via", "10.3.0.2", ns="rtra")
    lab.sh("ip", "route", "add", "default", "via", "10.3.0.1", ns="rtrb")
    for r in ("rtra", "rtrb"):
        lab.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=r)
        lab.sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", ns=r)
    add_lans(lab, "rtrb")
    tmp = lab.tmp
    confs = {
        "rtra": "[interface up0]\njoin-groups = %s\nigmp-querier = no\n[interface dn0]\n" % GROUP,
        "rtrb": "[interface up0]\njoin-groups = %s\nigmp-querier = no\n[interface dn1]\n"
                "[interface dn2]\n" % GROUP,
    }
    captures = {}
    for name, ns, dev in (("src", "src", "s0"), ("mid", "rtra", "dn0"), ("dn2", "rtrb", "dn2")):
        captures[name] = lab.capture(name, ns, dev)
    daemons = {}
    for r, body in confs.items():
        conf = os.path.join(tmp, f"{r}.conf")
        with open(conf, "w") as f:
            f.write(f"log-level = debug\n[control]\nsocket = {tmp}/{r}.sock\n{body}")
        daemons[r] = lab.start_pgmd(r, args.pgmd, r, conf)
    receivers = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT, RECEIVERS)

    lab.wait_pgmd_groups("rtrb", GROUP, {"dn1", "dn2"})
    lab.wait_pgmd_groups("rtra", GROUP, {"dn0"})
    sender = lab.start_openpgm_send(args.send, "10.1.0.1", GROUP, DPORT, COUNT, SIZE,
                                    RATE_BPS, SEND_EXTRA)
    failures = lab.finish_receivers(receivers, 90, tail=0)
    sessions = {r: find_sessions(pgmctl(args, f"{tmp}/{r}.sock", "show", "sessions"))
                for r in daemons}
    lab.stop_proc(sender)
    for name in captures:
        lab.stop_capture(name)
    for r, p in daemons.items():
        if lab.stop_proc(p) != 0:
            failures.append(f"pgmd in {r}: exit {p.returncode} on SIGTERM")
    if failures:
        raise Failure("\n".join(failures))

    problems = []
    for r, upstream in (("rtra", "10.1.0.1"), ("rtrb", "10.3.0.1")):
        s = sessions[r]
        if len(s) != 1 or s[0].get("upstream_interface") != "up0" or \
                s[0].get("upstream_neighbour") != upstream:
            problems.append(f"{r} sessions {s}, want upstream up0 via {upstream}")
    src = decode(args.pgmdump, captures["src"])
    mid = decode(args.pgmdump, captures["mid"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    for where, packets, nak_from, nak_to, spm_path, ncf_where, below, router in (
            ("source link", src, "10.1.0.2", "10.1.0.1", None, None, mid, "10.3.0.1"),
            ("middle link", mid, "10.3.0.2", "10.3.0.1", "10.3.0.1", "rtra", dn2, "10.2.2.1"),
            ("lan2", dn2, None, None, "10.2.2.1", "rtrb", None, None)):
        naks = [p for p in packets if p.get("type") == "NAK" and p["ip_dst"] != GROUP]
        if nak_from is not None:
            senders = {(p["ip_src"], p["ip_dst"]) for p in naks}
            if senders != {(nak_from, nak_to)}:
                problems.append(f"{where}: NAKs {senders}, want {nak_from} -> {nak_to} only")
            if (problem := one_nak_per_loss(naks, LOST, below, router)):
                problems.append(f"{where}: {problem}")
        if spm_path is not None:
            paths = {p["path"] for p in packets if p.get("type") == "SPM" and "path" in p}
            if paths != {spm_path}:
                problems.append(f"{where}: SPM path {paths}, want {spm_path}")
        if ncf_where is not None:
            ncfs = {s for p in packets if p.get("type") == "NCF" for s in nak_sqns(p)}
            if not set(LOST) <= ncfs:
                problems.append(f"{where}: NCFs (from {ncf_where}) for {sorted(ncfs)}, "
                                f"want {LOST}")
    print("pgmd_forwarding --series: upstream " + ", ".join(
        f"{r} {s[0]['upstream_interface']} via {s[0]['upstream_neighbour']}"
        for r, s in sessions.items() if s))
    if problems:
        raise Failure("\n".join(problems))


def pgmctl(args, sock, *command):
    return netlab.pgmctl(args.pgmctl, sock, *command)


def add_args(ap):
    ap.add_argument("--series", action="store_true",
                    help="acceptance 3: two pgmd in series instead of one")


def main():
    return netlab.lab_main("pgmd_forwarding", "pgmdf",
                           lambda args, lab: (run_series if args.series else run)(args, lab),
                           ("pgmd", "pgmctl", "pgmdump", "send", "recv"),
                           needs=("ip", "nft", "tcpdump"), add_args=add_args,
                           tmp_prefix="pgmd_forwarding.", catch_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
