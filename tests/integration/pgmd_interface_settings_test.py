#!/usr/bin/python3
"""pgmd_interface_settings_test: per-interface settings on the wire and across a reload
(issue 17 item 4; decisions.md D38).

Topology: src 10.1.0.1 --- up0 [rtr: pgmd] dn1 --- lan1 (r1 10.2.1.11),
dn2 --- lan2 (r2 10.2.2.11). Each LAN's bridge drops two ODATA towards its receiver, so
that each NAKs (3 and 5 on lan1, 7 and 9 on lan2: the RDATA a NAK on one LAN brings is
forwarded onto the other LAN where router assist is off, and must not answer a loss there
before it is NAKed). static-groups make dn1 and dn2 members.

Phase 1: dn1 `router-assist = no` and `max-naks-per-second = 77`, up0 `nak-rdata-ivl = 5s`,
dn2 the defaults. A session from pgmsend to pgmrecv on r1 and r2 completes on both; on dn1
every SPM pgmd forwards keeps the source's SPM_PATH (10.1.0.1) and r1 NAKs the source
directly (pgmd counts no NAK on dn1, sends no NCF of its own there: every NCF on dn1 is
the source's, for r1's sequences); on dn2 SPM_PATH is pgmd's 10.2.2.1, r2 NAKs pgmd, which
confirms. `pgmctl show interfaces -j` shows the settings in force per interface.
`pgmctl reload` of a file that swaps router-assist and drops dn1's cap reports those keys
changed; phase 2 (a second session, new receivers) sees dn1 and dn2 swapped, and
`show interfaces` the new values. Run with --fast-path on and off (ODATA forwarded by the
kernel program or by pgmd: D38 changes nothing there).

Everything started is stopped and the namespaces deleted, also on failure.
Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Failure, decode, nak_sqns, when  # noqa: E402
import netlab  # noqa: E402

NAME = "pgmd_interface_settings"
GROUP = "239.192.0.8"
DPORT = 7500
COUNT = 40
LOST = {"dn1": [3, 5], "dn2": [7, 9]}  # per LAN: the other LAN's RDATA cannot hide a NAK
SOURCE = "10.1.0.1"
RTR = {"dn1": "10.2.1.1", "dn2": "10.2.2.1"}
RECEIVERS = {"dn1": ("r1", "10.2.1.11"), "dn2": ("r2", "10.2.2.11")}


def config(args, lab, sock, off):
    """pgmd.conf with router-assist = no on `off`, which also has its own NAK cap."""
    interfaces = netlab.rtr_interfaces(GROUP, 2)
    interfaces["up0"]["nak-rdata-ivl"] = "5s"
    for dn in ("dn1", "dn2"):
        interfaces[dn] = {"static-groups": GROUP, "igmp-querier": "no"}
    interfaces[off]["router-assist"] = "no"
    if off == "dn1":
        interfaces[off]["max-naks-per-second"] = "77"
    return netlab.pgmd_conf(lab.path("pgmd.conf"), interfaces, sock,
                            extra=f"[dataplane]\nfast-path = {args.fast_path}\n")


def session(args, lab, tag):
    receivers = {}
    for dn, (host, addr) in RECEIVERS.items():
        receivers[f"recv-{tag}-{host}"] = lab.start(f"recv-{tag}-{host}", [
            args.pgmrecv, "--interface", addr, "--group", GROUP, "--port", str(DPORT),
            "--count", str(COUNT), "--timeout", "30", "--verify", "--quiet", "--json",
            "--ready-file", lab.path(f"recv-{tag}-{host}.ready")], host)
    lab.wait_ready(receivers)
    sender = lab.start(f"send-{tag}", [
        args.pgmsend, "--interface", SOURCE, "--group", GROUP, "--port", str(DPORT),
        "--size", "100", "--count", str(COUNT), "--rate", "20000", "--linger", "3",
        "--quiet"], "src")
    problems = lab.finish_receivers(receivers, 40)
    rc = lab.wait_proc(sender, 30)
    if rc != 0:
        problems.append(f"pgmsend ({tag}) exit {rc}: {lab.text(f'send-{tag}')[-1500:]}")
    return problems


def settings(args, sock):
    j = netlab.pgmctl(args.pgmctl, sock, "show", "interfaces")
    return {i["name"]: i for i in j["interfaces"]}


def expect_settings(label, got, want):
    problems = []
    for name, keys in want.items():
        s = got.get(name, {}).get("settings", {})
        for k, v in keys.items():
            if s.get(k) != v:
                problems.append(f"{label}: show interfaces {name} settings.{k} = {s.get(k)}, "
                                f"want {v}")
    return problems


def check_phase(phase, off, packets, counters_before, counters_after):
    """The captures of `phase` on dn1 and dn2: assist off on `off`, on on the other."""
    problems = []
    for dn in ("dn1", "dn2"):
        p = packets[dn]
        spm_paths = {x.get("path") for x in p if x.get("type") == "SPM"}
        naks = [x for x in p if x.get("type") == "NAK"]
        nak_dsts = {x.get("ip_dst") for x in naks}
        ncfs = [x for x in p if x.get("type") == "NCF"]
        in_naks = (counters_after[dn].get("InNaks", 0) - counters_before[dn].get("InNaks", 0))
        out_ncfs = (counters_after[dn].get("OutNcfs", 0) -
                    counters_before[dn].get("OutNcfs", 0))
        if dn == off:
            want_path, want_dst = SOURCE, SOURCE
            if in_naks != 0:
                problems.append(f"phase {phase}: pgmd counted {in_naks} NAKs on {dn} "
                                "(assist off: the receivers NAK the source)")
        else:
            want_path, want_dst = RTR[dn], RTR[dn]
            if in_naks != len(naks):
                problems.append(f"phase {phase}: pgmd counted {in_naks} NAKs on {dn}, "
                                f"{len(naks)} captured")
        if spm_paths != {want_path}:
            problems.append(f"phase {phase}: SPM_PATH on {dn} {sorted(map(str, spm_paths))}, "
                            f"want {want_path} only")
        if not naks or nak_dsts != {want_dst}:
            problems.append(f"phase {phase}: {len(naks)} NAKs on {dn} to "
                            f"{sorted(map(str, nak_dsts))}, want some, all to {want_dst}")
        lost = set(LOST[dn])
        nakked = {s for x in naks for s in nak_sqns(x)}
        if nakked != lost:
            problems.append(f"phase {phase}: NAKs on {dn} for {sorted(nakked)}, "
                            f"want {sorted(lost)}")
        # Assist off: the source's NCFs for every NAK upstream (the other LAN's too).
        ncf_sqns = {s for x in ncfs for s in nak_sqns(x)}
        if not lost <= ncf_sqns or (dn != off and ncf_sqns != lost):
            problems.append(f"phase {phase}: NCFs on {dn} for {sorted(ncf_sqns)}, want "
                            f"{sorted(lost)}" + (" and the other LAN's" if dn == off else ""))
        # Assist off: every NCF there is one of the source's, forwarded (OutNcfs counts
        # them); on: pgmd's own, one per NAK at most.
        assist_off_naks = (counters_after[dn].get("AssistOffNaks", 0) -
                           counters_before[dn].get("AssistOffNaks", 0))
        if assist_off_naks != 0:
            problems.append(f"phase {phase}: {assist_off_naks} NAKs to pgmd relayed from {dn} "
                            "(its receivers NAK their parent, never pgmd)")
        if dn == off and out_ncfs != len(ncfs):
            problems.append(f"phase {phase}: pgmd counted {out_ncfs} NCFs out on {dn}, "
                            f"{len(ncfs)} captured (all the source's, forwarded)")
        if dn != off and out_ncfs > len(naks):
            problems.append(f"phase {phase}: {out_ncfs} NCFs from pgmd on {dn} for "
                            f"{len(naks)} NAKs")
    return problems


def run(args, lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r1", "r2")
    lab.source_router()
    lab.lan("rtr", 1, [("r1", 11)])
    lab.lan("rtr", 2, [("r2", 11)])
    for n in (1, 2):
        lab.drop_odata(f"lan{n}", LOST[f"dn{n}"], family="bridge", iif="p0", oif="p1",
                       table=f"loss{n}")
    sock = lab.path("pgmd.sock")
    conf = config(args, lab, sock, off="dn1")
    captures = {dn: lab.capture(dn, "rtr", dn) for dn in ("dn1", "dn2")}
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    problems = []

    before = settings(args, sock)
    problems += expect_settings("phase 1", before, {
        "dn1": {"router_assist": False, "max_naks_per_second": 77, "router_alert": True},
        "dn2": {"router_assist": True, "max_naks_per_second": 50000},
        "up0": {"router_assist": True, "nak_rdata_ivl": 5.0, "nak_elim_ivl": 1.0}})
    problems += session(args, lab, "1")
    middle = settings(args, sock)

    config(args, lab, sock, off="dn2")
    reloaded_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    reply = netlab.pgmctl(args.pgmctl, sock, "reload")
    changed = set(reply.get("changed", []))
    want_changed = {"interface dn1.router-assist", "interface dn2.router-assist",
                    "interface dn1.max-naks-per-second"}
    if not want_changed <= changed:
        problems.append(f"reload reported {sorted(changed)}, want {sorted(want_changed)}")
    after_reload = settings(args, sock)
    problems += expect_settings("phase 2", after_reload, {
        "dn1": {"router_assist": True, "max_naks_per_second": 50000},
        "dn2": {"router_assist": False, "max_naks_per_second": 50000},
        "up0": {"nak_rdata_ivl": 5.0}})
    problems += session(args, lab, "2")
    end = settings(args, sock)
    for dn in captures:
        lab.stop_capture(dn)
    if lab.stop_proc(pgmd) != 0:
        problems.append("pgmd did not exit 0 on SIGTERM")

    phases = {"1": {}, "2": {}}
    for dn in captures:
        decoded = [p for p in decode(args.pgmdump, captures[dn])]
        for phase in phases:
            phases[phase][dn] = [p for p in decoded if (when(p) < reloaded_at) == (phase == "1")]

    def counters(snapshot):
        return {dn: snapshot.get(dn, {}).get("counters", {}) for dn in ("dn1", "dn2")}
    problems += check_phase("1", "dn1", phases["1"], counters(before), counters(middle))
    problems += check_phase("2", "dn2", phases["2"], counters(after_reload), counters(end))
    if problems:
        raise Failure("\n".join(problems))
    print(f"{NAME} (fast path {args.fast_path}): router assist off on dn1, then dn2 after a "
          "reload: SPM_PATH kept and NAKs to the source there, pgmd's path and NAKs to pgmd "
          "on the other; both receivers complete; show interfaces follows the reload")


def add_args(ap):
    ap.add_argument("--fast-path", choices=("on", "off"), required=True)


def main():
    return netlab.lab_main(NAME, "pgif", run,
                           ("pgmd", "pgmctl", "pgmdump", "pgmsend", "pgmrecv"),
                           needs=("ip", "nft", "tcpdump"), add_args=add_args)


if __name__ == "__main__":
    sys.exit(main())
