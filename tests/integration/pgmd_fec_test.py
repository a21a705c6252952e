#!/usr/bin/python3
"""pgmd_fec_test: FEC through pgmd (issue 14 item 3): pgmsend with parity, pgmd's parity
repair state (decisions.md D9), pgmrecv rebuilding losses from parity.

Topology (the lab of pgmd_forwarding_test.py, native PGM):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- bridge lan1 --- r11 .11, r12 .12
                                     dn2 10.2.2.1 --- bridge lan2 --- r21 .11, r22 .12

On lan2's bridge nftables drops chosen ODATA: sequence 10 only towards r21 and 11 only
towards r22 (different losses in one transmission group of 4), 22 and 23 towards both
(the third and fourth packets of their groups, so that no parity packet, which reuses the
first sequence numbers of its group, is dropped). Two sessions, COUNT messages each:

1. pgmsend --fec-k 4 --fec-ondemand. r21 and r22 NAK group 8 for one parity packet and
   group 20 for two, with parity NAKs only (one may be suppressed by pgmd's parity NCF
   answering the other). The source gets no selective NAK and sends
   exactly three parity RDATA: one heals the different losses of r21 and r22. pgmd forwards
   parity NAKs upstream and parity NCFs and parity RDATA onto lan2 only (no RDATA on the
   loss-free lan1); its counters say so.
2. pgmsend --fec-k 4 --fec-proactive 2. Nobody NAKs: r21 and r22 rebuild every loss from
   the parity ODATA that pgmd forwarded to both LANs with the data.

Every receiver must deliver every message in order with nothing unrecoverable.
Everything started is stopped and the namespaces deleted, also on failure.
Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Failure, decode, find_key, last_json  # noqa: E402
import netlab  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 200
SIZE = 200
K = 4
LOST_R21 = [10, 22, 23]
LOST_R22 = [11, 22, 23]
# Parity packets the source must send on demand: group 8 needs one (each receiver misses
# one packet of it, a different one), group 20 two.
PARITY_NEEDED = 1 + 2
RECEIVERS = {"r11": "10.2.1.11", "r12": "10.2.1.12", "r21": "10.2.2.11", "r22": "10.2.2.12"}


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r11", "r12", "r21", "r22")
    lab.source_router()
    for lan in (1, 2):
        lab.lan("rtr", lan, [(f"r{lan}{host}", 10 + host) for host in (1, 2)])
    # Bridge port p1 leads to r21, p2 to r22.
    lab.drop_odata("lan2", LOST_R21, family="bridge", iif="p0", oif="p1", table="lossr21")
    lab.drop_odata("lan2", LOST_R22, family="bridge", iif="p0", oif="p2", table="lossr22")


def is_parity(p):
    return "parity" in str(p.get("opt_flags", ""))


def session(args, lab, sock, tag, fec_args):
    """One pgmsend session to the four receivers; returns the receivers' and the sender's
    JSON, pgmd's counters after it and the decoded captures (src, dn1, dn2)."""
    captures = {}
    for name, ns, dev in (("src", "src", "s0"), ("dn1", "rtr", "dn1"), ("dn2", "rtr", "dn2")):
        captures[name] = lab.capture(f"{name}-{tag}", ns, dev)
    receivers = {}
    for name, addr in RECEIVERS.items():
        receivers[name] = lab.start(f"{name}-{tag}", [
            args.pgmrecv, "--interface", addr, "--group", GROUP, "--port", str(DPORT),
            "--count", str(COUNT), "--timeout", "60", "--verify", "--quiet", "--json",
            "--ready-file", lab.path(f"{name}-{tag}.ready")], name)
    lab.wait_ready({f"{name}-{tag}": p for name, p in receivers.items()})
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    sender = lab.start(f"send-{tag}", [
        args.pgmsend, "--interface", "10.1.0.1", "--group", GROUP, "--port", str(DPORT),
        "--size", str(SIZE), "--count", str(COUNT), "--rate", "50000", "--start-delay", "1",
        "--linger", "8", "--fec-k", str(K), "--json", "--quiet"] + fec_args, "src")
    failures = lab.finish_receivers({f"{n}-{tag}": p for n, p in receivers.items()}, 60)
    counters = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    rc = lab.wait_proc(sender, 30)
    if rc != 0:
        failures.append(f"pgmsend ({tag}) exit {rc}: {lab.text(f'send-{tag}')[-1500:]}")
    for name in captures:
        lab.stop_capture(f"{name}-{tag}")
    lab.raise_problems(failures)
    rx = {name: last_json(lab.text(f"{name}-{tag}", "out")) or {} for name in RECEIVERS}
    tx = last_json(lab.text(f"send-{tag}", "out")) or {}
    decoded = {name: decode(args.pgmdump, pcap) for name, pcap in captures.items()}
    return rx, tx, find_key(counters, "totals") or {}, decoded


def check_delivery(tag, rx, problems):
    for name, j in rx.items():
        if j.get("delivered") != COUNT or j.get("unrecoverable_losses") != 0 or \
                not j.get("in_order") or j.get("bad") != 0:
            problems.append(f"{tag} {name}: {j}")
    for name, lost in (("r21", LOST_R21), ("r22", LOST_R22)):
        if rx[name].get("parity_recovered") != len(lost):
            problems.append(f"{tag} {name} rebuilt {rx[name].get('parity_recovered')} packets "
                            f"from parity, want {len(lost)}")
    for name in ("r11", "r12"):
        if rx[name].get("naks_sent") != 0:
            problems.append(f"{tag} {name} on the loss-free lan1 NAKed: {rx[name]}")


def run(args, lab):
    build(lab)
    tmp = lab.tmp
    sock = os.path.join(tmp, "pgmd.sock")
    conf = netlab.pgmd_conf(os.path.join(tmp, "pgmd.conf"), netlab.rtr_interfaces(GROUP, 2),
                            sock, log_level="debug")
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    problems = []

    # 1. On-demand parity.
    rx, tx, totals, cap = session(args, lab, sock, "ondemand", ["--fec-ondemand"])
    check_delivery("on-demand", rx, problems)
    # Each NAKs with parity NAKs only, unless pgmd's parity NCF for the other's NAK of the
    # same group suppressed its own (R8, R11).
    for name in ("r21", "r22"):
        j = rx[name]
        if j.get("naks_sent") != j.get("parity_naks_sent"):
            problems.append(f"on-demand {name}: NAKs {j.get('naks_sent')}, parity NAKs "
                            f"{j.get('parity_naks_sent')}: want parity NAKs only")
    if rx["r21"].get("parity_naks_sent", 0) + rx["r22"].get("parity_naks_sent", 0) < 1:
        problems.append("on-demand: neither r21 nor r22 sent a parity NAK")
    if tx.get("naks_received") != 0 or tx.get("parity_rdata") != PARITY_NEEDED or \
            tx.get("rdata") != PARITY_NEEDED:
        problems.append(f"on-demand pgmsend: selective NAKs {tx.get('naks_received')}, parity "
                        f"RDATA {tx.get('parity_rdata')} of RDATA {tx.get('rdata')}, want 0 and "
                        f"{PARITY_NEEDED} of {PARITY_NEEDED}: {tx}")
    naks_up = [p for p in cap["src"] if p.get("type") == "NAK"]
    if not naks_up or not all(is_parity(p) and p["ip_src"] == "10.1.0.2" for p in naks_up):
        problems.append(f"on-demand NAKs upstream: {naks_up[:4]}: want parity NAKs from pgmd")
    if [p for p in cap["dn1"] if p.get("type") == "RDATA"]:
        problems.append("on-demand: RDATA on the loss-free lan1")
    rdata_dn2 = [p for p in cap["dn2"] if p.get("type") == "RDATA" and p["ip_dst"] == GROUP]
    if len(rdata_dn2) != PARITY_NEEDED or not all(is_parity(p) for p in rdata_dn2):
        problems.append(f"on-demand RDATA on lan2: {len(rdata_dn2)}, want {PARITY_NEEDED} "
                        f"parity RDATA")
    ncf_dn2 = [p for p in cap["dn2"] if p.get("type") == "NCF" and p["ip_dst"] == GROUP]
    if not ncf_dn2 or not all(is_parity(p) for p in ncf_dn2):
        problems.append(f"on-demand NCFs on lan2: {ncf_dn2[:4]}: want parity NCFs")
    expect = {"OutParityNaks": len(naks_up), "OutParityRdata": len(rdata_dn2),
              "OutRdata": len(rdata_dn2)}
    problems += netlab.mismatches("on-demand counter", totals, expect)
    print(f"pgmd_fec: on demand: parity NAKs upstream {len(naks_up)}, parity RDATA on lan2 "
          f"{len(rdata_dn2)}, rebuilt r21 {rx['r21'].get('parity_recovered')} r22 "
          f"{rx['r22'].get('parity_recovered')}, counters { {k: totals.get(k) for k in expect} }")
    before = totals

    # 2. Proactive parity: two parity ODATA per group, forwarded with the data.
    rx, tx, totals, cap = session(args, lab, sock, "proactive", ["--fec-proactive", "2"])
    check_delivery("proactive", rx, problems)
    for name, j in rx.items():
        if j.get("naks_sent") != 0:
            problems.append(f"proactive {name} NAKed: {j}")
    groups = COUNT // K
    if tx.get("parity_odata") != 2 * groups or tx.get("naks_received") != 0 or \
            tx.get("parity_naks_received") != 0:
        problems.append(f"proactive pgmsend: {tx}")
    for lan in ("dn1", "dn2"):
        parity_odata = [p for p in cap[lan] if p.get("type") == "ODATA" and is_parity(p)]
        if len(parity_odata) != 2 * groups:
            problems.append(f"proactive: {len(parity_odata)} parity ODATA onto {lan}, want "
                            f"{2 * groups}")
    if totals.get("OutRdata") != before.get("OutRdata"):
        problems.append(f"proactive: pgmd sent RDATA: {before} -> {totals}")
    print(f"pgmd_fec: proactive: parity ODATA {tx.get('parity_odata')}, rebuilt r21 "
          f"{rx['r21'].get('parity_recovered')} r22 {rx['r22'].get('parity_recovered')}, "
          f"no NAK")

    if lab.stop_proc(pgmd) != 0:
        problems.append("pgmd did not exit 0 on SIGTERM")
    if problems:
        raise Failure("\n".join(problems))


def main():
    return netlab.lab_main("pgmd_fec", "pgfec", run,
                           ("pgmd", "pgmctl", "pgmdump", "pgmsend", "pgmrecv"),
                           needs=("ip", "nft", "tcpdump"))


if __name__ == "__main__":
    sys.exit(main())
