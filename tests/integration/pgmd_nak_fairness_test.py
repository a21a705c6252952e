#!/usr/bin/python3
"""pgmd_nak_fairness_test: one host flooding NAKs past the interface's NAK rate cap does not
take the NAK budget of the receivers on its LAN (issue 17 item 5, decisions.md D36).

Topology (netlab.py):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- lan1 --- r11 .11, r12 .12, evil .99

pgmd runs with max-naks-per-second-per-interface IF_CAP and
max-naks-per-second-per-neighbour NBR_CAP. The host `evil` sends NAKs to pgmd
(hostile_packets --kind unknown-tsi: valid NAKs for random TSIs) at FLOOD_PPS, several
times IF_CAP; once pgmd is seen shedding them, pgmsend sends COUNT messages from src to
pgmrecv on r11 and r12, and lan1's bridge drops chosen ODATA towards each (LOST_R11,
LOST_R12), so that each receiver NAKs while the flood goes on.

Asserts (counters and captures, no timing):
* the flood lasted the whole transfer (hostile_packets still running when both receivers
  are done) and was shed at evil's own rate: ShedNakNeighbour on dn1 > 0;
* nothing was shed by the interface cap on dn1 (ShedNakRate = 0), and every receiver NAK
  that reached dn1 (captured there, from .11/.12) was admitted: InNaks - flood NAKs
  (InNakNoSessionErrors + ShedNakNeighbour, the flood's TSIs being unknown) = those NAKs;
* promptly: each receiver NAKed each of its lost sequence numbers exactly once (pgmrecv's
  nak_sqns_sent: a NAK that pgmd had shed would get no NCF and be repeated), pgmd
  confirmed each (NCFs on dn1) and sent each sequence upstream (NAKs from pgmd to the
  source captured on up0; OutNaks on up0 = those NAK packets);
* `pgmctl show interfaces` shows dn1's three NAK sources (nak_neighbours: r11, r12, evil);
* both receivers deliver every message in order, nothing unrecoverable; pgmd exits 0.

With --per-neighbour 0 (no per-source cap, the behaviour before D36) the same run fails:
the flood empties dn1's bucket, ShedNakRate counts receiver NAKs, receivers repeat them.

Runs with the kernel fast path and without (PGMD_FAST_PATH, scripts/test.sh), as the other
pgmd_* tests. Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, decode, last_json, nak_sqns, wait_until  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 400
SIZE = 200
RATE_BPS = 25000  # pgmsend --rate (bytes/s): ~4 s of data
LOST_R11 = [60, 150, 260]
LOST_R12 = [100, 200, 330]
IF_CAP = 500
NBR_CAP = 100
FLOOD_PPS = 2000  # 4 x IF_CAP
FLOOD_LIMIT_S = 60  # hostile_packets' count / rate: it is stopped long before
# pgmrecv repeats a NAK without NCF after NAK_RPT_IVL, one with NCF but no RDATA after
# NAK_RDATA_IVL: both well above what pgmd and pgmsend take on a loaded machine, so that a
# repeat means a NAK shed, never a slow answer.
NAK_RPT_IVL_MS = 1000
NAK_RDATA_IVL_MS = 2000
RECEIVERS = {"r11": "10.2.1.11", "r12": "10.2.1.12"}
EVIL = "10.2.1.99"
RTR_DN1 = "10.2.1.1"
NAME = "pgmd_nak_fairness"


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "r11", "r12", "evil")
    lab.source_router()
    lab.lan("rtr", 1, [("r11", 11), ("r12", 12), ("evil", 99)])
    # Bridge port p1 leads to r11, p2 to r12.
    lab.drop_odata("lan1", LOST_R11, family="bridge", iif="p0", oif="p1", table="lossr11")
    lab.drop_odata("lan1", LOST_R12, family="bridge", iif="p0", oif="p2", table="lossr12")


def interface_counters(args, sock, name, must=True):
    c = netlab.pgmctl(args.pgmctl, sock, "show", "counters", "interface", name)
    for i in c.get("interfaces", []):
        if i.get("name") == name:
            return i["counters"]
    if must:
        raise Failure(f"pgmctl show counters interface {name}: no such interface: {c}")
    return {}


def nak_neighbours(args, sock, name):
    j = netlab.pgmctl(args.pgmctl, sock, "show", "interfaces", "interface", name)
    return [i.get("nak_neighbours") for i in j.get("interfaces", []) if i.get("name") == name]


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 1), sock, log_level="info",
        extra=f"[limits]\nmax-naks-per-second-per-interface = {IF_CAP}\n"
              f"max-naks-per-second-per-neighbour = {args.per_neighbour}\n")
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=2)
    receivers = {}
    for name, addr in RECEIVERS.items():
        receivers[name] = lab.start(name, [
            args.pgmrecv, "--interface", addr, "--group", GROUP, "--port", str(DPORT),
            "--count", str(COUNT), "--timeout", "60", "--verify", "--quiet", "--json",
            "--nak-rpt-ivl-ms", str(NAK_RPT_IVL_MS), "--nak-rdata-ivl-ms",
            str(NAK_RDATA_IVL_MS), "--ready-file", lab.path(f"{name}.ready")], name)
    lab.wait_ready(receivers)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1"})
    # Receiver NAKs arriving at dn1 (the flood left out: it is counted by pgmd), and
    # everything on pgmd's upstream link.
    lab.capture("dn1", "rtr", "dn1", bpf=f"ip proto 113 and not src host {EVIL}")
    lab.capture("up0", "rtr", "up0")

    flood = lab.start("flood", [
        args.hostile, "--src", EVIL, "--dst", RTR_DN1, "--kind", "unknown-tsi",
        "--count", str(FLOOD_PPS * FLOOD_LIMIT_S), "--rate", str(FLOOD_PPS)], "evil")
    # The flood is on, and over a source's share, before the first ODATA.
    wait_until(lambda: interface_counters(args, sock, "dn1", must=False).get("InNaks", 0) > IF_CAP
               and flood.poll() is None, 10, "pgmd to count more flood NAKs than the cap")
    sender = lab.start("send", [
        args.pgmsend, "--interface", "10.1.0.1", "--group", GROUP, "--port", str(DPORT),
        "--size", str(SIZE), "--count", str(COUNT), "--rate", str(RATE_BPS),
        "--start-delay", "1", "--linger", "5", "--json", "--quiet"], "src")
    problems = lab.finish_receivers(receivers, 60)
    if flood.poll() is not None:
        problems.append(f"the flood ended (exit {flood.returncode}) before the receivers: "
                        f"{lab.text('flood', 'out')} {lab.text('flood')[-500:]}")
    dn1 = interface_counters(args, sock, "dn1")
    up0 = interface_counters(args, sock, "up0")
    sources = nak_neighbours(args, sock, "dn1")
    lab.stop_proc(flood)
    rc = lab.wait_proc(sender, 30)
    if rc != 0:
        problems.append(f"pgmsend exit {rc}: {lab.text('send')[-1500:]}")
    for name in ("dn1", "up0"):
        lab.stop_capture(name)
    lab.raise_problems(problems)

    rx = {name: last_json(lab.text(name, "out")) or {} for name in RECEIVERS}
    for name, lost in (("r11", LOST_R11), ("r12", LOST_R12)):
        j = rx[name]
        if j.get("delivered") != COUNT or j.get("unrecoverable_losses") != 0 or \
                not j.get("in_order") or j.get("bad") != 0:
            problems.append(f"{name}: {j}")
        if j.get("nak_sqns_sent") != len(lost):
            problems.append(f"{name} NAKed {j.get('nak_sqns_sent')} sequence numbers for "
                            f"{len(lost)} losses: a NAK was repeated (not confirmed at once)")

    cap_dn1 = decode(args.pgmdump, lab.path("dn1.pcap"))
    cap_up0 = decode(args.pgmdump, lab.path("up0.pcap"))
    receiver_naks = [p for p in cap_dn1 if p.get("type") == "NAK"
                     and p["ip_src"] in RECEIVERS.values() and p["ip_dst"] == RTR_DN1]
    ncf_sqns = {s for p in cap_dn1 if p.get("type") == "NCF" for s in nak_sqns(p)}
    upstream_naks = [p for p in cap_up0 if p.get("type") == "NAK"
                     and p["ip_src"] == "10.1.0.2" and p["ip_dst"] == "10.1.0.1"]
    upstream_sqns = {s for p in upstream_naks for s in nak_sqns(p)}
    lost = set(LOST_R11) | set(LOST_R12)

    flood_naks = dn1.get("InNakNoSessionErrors", 0) + dn1.get("ShedNakNeighbour", 0)
    admitted = dn1.get("InNaks", 0) - flood_naks - dn1.get("ShedNakRate", 0)
    if dn1.get("ShedNakNeighbour", 0) <= 0:
        problems.append(f"the flood was not shed at evil's rate (ShedNakNeighbour 0): {dn1}")
    if dn1.get("ShedNakRate") != 0:
        problems.append(f"dn1's interface cap shed {dn1.get('ShedNakRate')} NAKs: the flood "
                        "took the receivers' budget")
    if admitted != len(receiver_naks):
        problems.append(f"dn1 admitted {admitted} NAKs besides the flood, the receivers sent "
                        f"{len(receiver_naks)} (captured on dn1)")
    receiver_sqns = {s for p in receiver_naks for s in nak_sqns(p)}
    if receiver_sqns != lost:
        problems.append(f"receiver NAKs on dn1 for {sorted(receiver_sqns)}, losses "
                        f"{sorted(lost)}")
    if not lost <= ncf_sqns:
        problems.append(f"NCFs on dn1 for {sorted(ncf_sqns)}, losses {sorted(lost)}")
    if upstream_sqns != lost:
        problems.append(f"NAKs upstream for {sorted(upstream_sqns)}, losses {sorted(lost)}")
    problems += netlab.mismatches("up0 counter", up0, {"OutNaks": len(upstream_naks)})
    if sources != [3]:
        problems.append(f"show interfaces dn1: nak_neighbours {sources}, want [3] (r11, r12, "
                        "evil)")
    print(f"{NAME}: flood at dn1 {flood_naks} NAKs ({FLOOD_PPS}/s): shed at its share "
          f"{dn1.get('ShedNakNeighbour')}, admitted {dn1.get('InNakNoSessionErrors')}; "
          f"interface cap {IF_CAP}/s shed {dn1.get('ShedNakRate')}; receiver NAKs "
          f"{len(receiver_naks)} (captured), {admitted} admitted; sequences upstream "
          f"{sorted(upstream_sqns)} in {len(upstream_naks)} NAKs")

    if lab.stop_proc(pgmd) != 0:
        problems.append("pgmd did not exit 0 on SIGTERM")
    if problems:
        raise Failure("\n".join(problems))


def add_args(ap):
    ap.add_argument("--per-neighbour", type=int, default=NBR_CAP,
                    help="max-naks-per-second-per-neighbour (0: the behaviour before D36, "
                         "which this test must fail)")


def main():
    return netlab.lab_main(NAME, "pgfair", run,
                           ("pgmd", "pgmctl", "pgmdump", "pgmsend", "pgmrecv", "hostile"),
                           needs=("ip", "nft", "tcpdump"), add_args=add_args)


if __name__ == "__main__":
    sys.exit(main())
