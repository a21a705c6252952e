#!/usr/bin/python3
"""pgmd_dlr_test: pgmd as a Designated Local Repairer with real OpenPGM peers (issue 6,
acceptance 3; RFC 3208 §9.5.2, decisions.md D29).

Topology (every node a network namespace, every link a veth pair):

    src 10.1.0.1 --- up0 [rtr: pgmd, DLR for the group] dn1 10.2.1.1 --- lan1 --- r11
                                                        dn2 10.2.2.1 --- lan2 --- r21, r22, r23

pgmd is the group's only forwarder (no kernel multicast route) and, with `[dlr] group`,
caches the session's ODATA as it forwards it. The loss is between pgmd and lan2: an
nftables rule in rtr's output hook (pgmd re-sends from a raw socket, so its packets pass
output, not forward) drops chosen ODATA sequence numbers on dn2. pgmd received and cached
them on up0, so it must repair them itself.

Asserts, from captures on the source's link (s0) and on dn1/dn2 decoded with pgmdump:
  * every receiver completes;
  * the source's link carries no NAK at all (no NAK for a lost sequence, and pgmd, which
    missed nothing, has no gap of its own to NAK) and no RDATA; it carries NNAKs from pgmd
    that name exactly the lost sequences;
  * for each lost sequence, the NNAKs name it as often as pgmd sent its RDATA onto lan2
    (one NNAK per local answer, for the sequences actually sent: D29), at least once;
  * the RDATA on lan2 are for the lost sequences only, IP source = the data source
    10.1.0.1, destination the group, with Router Alert; lan1 (no loss) gets no RDATA;
  * `pgmctl -j show dlr`: the session, hits = sequences in the NAKs that reached pgmd on
    dn2, naks_answered_locally = those NAK packets (all > 0), rdata_sent = RDATA on lan2,
    nnaks_sent = NNAKs on the source's link, misses and gap NAKs 0; the cache within its
    configured bounds (cache-packets is below the message count, so it evicted);
  * `pgmctl -j show sessions` lists no DLR for the session (pgmd is the DLR; nobody
    announced one to it).

Everything started is stopped and the namespaces deleted, also on failure.
Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Failure, decode, find_sessions, nak_sqns, naks_per_sqn  # noqa: E402
import netlab  # noqa: E402

GROUP = "239.192.0.1"
SOURCE = "10.1.0.1"
DPORT = 7500
LOST = [10, 20, 21, 35, 60, 150, 151, 152, 400]  # ODATA dropped on dn2 (lan2)
COUNT = 600
SIZE = 200
RATE_BPS = 400000
CACHE_PACKETS = 256  # below COUNT: the cache must evict and stay within its bound
CACHE_BYTES = 1 << 20

RECEIVERS = {"r11": "10.2.1.11", "r21": "10.2.2.11", "r22": "10.2.2.12", "r23": "10.2.2.13"}
SEND_EXTRA = ["--linger-ms", "120000", "--start-delay-ms", "1000"]


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", *RECEIVERS)
    lab.source_router()
    lab.lan("rtr", 1, [("r11", 11)])
    lab.lan("rtr", 2, [("r21", 11), ("r22", 12), ("r23", 13)])
    lab.drop_odata("rtr", LOST, family="ip", oif="dn2", hook="output")


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 2), sock, log_level="info",
        timers={"nak-rpt-ivl": "1s"},
        extra=f"[dlr]\ngroup = {GROUP}\ncache-packets = {CACHE_PACKETS}\n"
              f"cache-bytes = {CACHE_BYTES}\n")
    captures = {name: lab.capture(name, ns, dev) for name, ns, dev in
                (("src", "src", "s0"), ("dn1", "rtr", "dn1"), ("dn2", "rtr", "dn2"))}
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    receivers = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT, RECEIVERS)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    sender = lab.start_openpgm_send(args.send, SOURCE, GROUP, DPORT, COUNT, SIZE, RATE_BPS,
                                    SEND_EXTRA)
    failures = lab.finish_receivers(receivers, 90, tail=2000, sep="\n")
    # pgmd's view while the session lives (the sender lingers).
    dlr = netlab.pgmctl(args.pgmctl, sock, "show", "dlr")
    sessions = find_sessions(netlab.pgmctl(args.pgmctl, sock, "show", "sessions"))
    dropped = lab.nft_counter("rtr", "ip", "pgmloss")
    lab.stop_proc(sender)
    for name in captures:
        lab.stop_capture(name)
    if lab.stop_proc(pgmd) != 0:
        failures.append(f"pgmd exit {pgmd.returncode} on SIGTERM")
    lab.raise_problems(failures)

    src = decode(args.pgmdump, captures["src"])
    dn1 = decode(args.pgmdump, captures["dn1"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    problems = []
    if dropped != len(LOST):
        problems.append(f"the loss rule dropped {dropped} packets, want {len(LOST)}")

    # The source's link: no NAK, no RDATA; NNAKs from pgmd naming exactly the lost sqns.
    src_naks = [p for p in src if p.get("type") == "NAK"]
    src_nnaks = [p for p in src if p.get("type") == "NNAK"]
    src_rdata = [p for p in src if p.get("type") == "RDATA"]
    if src_naks:
        problems.append(f"{len(src_naks)} NAKs on the source's link, for "
                        f"{dict(naks_per_sqn(src_naks))}; want none")
    if src_rdata:
        problems.append(f"{len(src_rdata)} RDATA on the source's link; want none")
    nnak_from = {(p["ip_src"], p["ip_dst"]) for p in src_nnaks}
    if nnak_from != {("10.1.0.2", SOURCE)}:
        problems.append(f"NNAKs on the source's link {nnak_from}, want 10.1.0.2 -> {SOURCE}")
    nnak_per_sqn = naks_per_sqn(src_nnaks)

    # lan2: RDATA from the cache, as the source would send it.
    rdata_dn2 = [p for p in dn2 if p.get("type") == "RDATA"]
    rdata_per_sqn = naks_per_sqn(rdata_dn2)
    if sorted(rdata_per_sqn) != sorted(LOST):
        problems.append(f"RDATA on lan2 for {sorted(rdata_per_sqn)}, want {LOST}")
    bad_headers = {(p["ip_src"], p["ip_dst"], p.get("router_alert")) for p in rdata_dn2} - \
        {(SOURCE, GROUP, True)}
    if bad_headers:
        problems.append(f"RDATA on lan2 with (IP source, destination, Router Alert) "
                        f"{bad_headers}, want ({SOURCE}, {GROUP}, True)")
    # One NNAK per local answer, for the sequences actually sent (D29): per lost sequence
    # the NNAKs name it exactly as often as its RDATA went onto lan2.
    if dict(nnak_per_sqn) != dict(rdata_per_sqn):
        problems.append(f"per sequence, NNAKs upstream {dict(nnak_per_sqn)} differ from RDATA "
                        f"on lan2 {dict(rdata_per_sqn)}")
    rdata_dn1 = [p for p in dn1 if p.get("type") == "RDATA"]
    if rdata_dn1:
        problems.append(f"{len(rdata_dn1)} RDATA on the loss-free lan1")
    odata_dn2 = {p["sqn"] for p in dn2 if p.get("type") == "ODATA"}
    if odata_dn2 & set(LOST):
        problems.append(f"ODATA for {sorted(odata_dn2 & set(LOST))} reached lan2 (loss rule)")

    # NAKs from lan2's receivers to pgmd, which pgmd answered.
    naks_dn2 = [p for p in dn2 if p.get("type") == "NAK" and p["ip_dst"] == "10.2.2.1"]
    ncfs_dn2 = {s for p in dn2 if p.get("type") == "NCF" for s in nak_sqns(p)}
    if not set(LOST) <= ncfs_dn2:
        problems.append(f"NCFs on lan2 for {sorted(ncfs_dn2)}, want at least {LOST}")

    # pgmctl show dlr against the captures.
    rows = dlr.get("dlr", [])
    if not dlr.get("enabled") or len(rows) != 1:
        problems.append(f"pgmctl show dlr: {json.dumps(dlr)[:800]}")
        d = {}
    else:
        d = rows[0]
    expect = {
        "hits": sum(len(nak_sqns(p)) for p in naks_dn2),
        "naks_answered_locally": len(naks_dn2),
        "rdata_sent": len(rdata_dn2),
        "nnaks_sent": len(src_nnaks),
        "misses": 0,
        "gap_naks": 0,
    }
    problems += netlab.mismatches("show dlr", d, expect)
    if not d.get("hits", 0) > 0 or not d.get("naks_answered_locally", 0) > 0:
        problems.append(f"show dlr: no NAK answered locally: {d}")
    if d.get("group") != GROUP or d.get("source") != SOURCE:
        problems.append(f"show dlr session {d.get('group')} from {d.get('source')}")
    if not (0 < d.get("cache_packets", 0) <= d.get("cache_span", 0) <= CACHE_PACKETS and
            0 < d.get("cache_bytes", 0) <= CACHE_BYTES):
        problems.append(f"cache occupancy out of bounds: {d}")
    if not d.get("evictions", 0) >= COUNT - CACHE_PACKETS:
        problems.append(f"show dlr evictions {d.get('evictions')}, want at least "
                        f"{COUNT - CACHE_PACKETS} ({COUNT} messages, {CACHE_PACKETS} slots)")
    if len(sessions) != 1 or sessions[0].get("dlrs") != []:
        problems.append(f"show sessions: {json.dumps(sessions)[:800]}")

    print(f"pgmd_dlr: {len(LOST)} ODATA lost on lan2; source's link: {len(src_naks)} NAKs, "
          f"{len(src_nnaks)} NNAKs naming {dict(nnak_per_sqn)}, {len(src_rdata)} RDATA; "
          f"lan2: {len(naks_dn2)} NAKs to pgmd, {len(rdata_dn2)} RDATA; show dlr "
          f"{ {k: d.get(k) for k in ('hits', 'misses', 'naks_answered_locally', 'rdata_sent', 'nnaks_sent', 'naks_ignored', 'evictions', 'cache_packets', 'cache_span', 'cache_bytes')} }")
    if problems:
        raise Failure("\n".join(problems))


def main():
    return netlab.lab_main("pgmd_dlr", "pgmdl", run,
                           ("pgmd", "pgmctl", "pgmdump", "send", "recv"),
                           needs=("ip", "nft", "tcpdump"), tmp_prefix="pgmd_dlr.",
                           catch_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
