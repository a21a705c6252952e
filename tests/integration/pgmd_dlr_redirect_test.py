#!/usr/bin/python3
"""pgmd_dlr_redirect_test: pgmd as a network element redirecting NAKs to an off-tree DLR it
discovers, with real OpenPGM peers and a second pgmd as the DLR (RFC 3208 §9.5.2.2, §9.5.3;
decisions.md D28, D29).

Topology (every node a network namespace, every link a veth pair):

    src 10.1.0.1 --- up0 [rtr: pgmd, discover-dlrs] dn1 10.2.1.1 --- lan1 --- r11, r12, r13
                                                    dn2 10.2.2.1 --- lan2 --- dlr 10.2.2.9

rtr's pgmd is the group's only forwarder (no kernel multicast route); with `[dlr]
discover-dlrs = yes` it POLLs its downstream member interfaces with PGM_POLL_DLR when a NAK
finds no DLR. The DLR is a second pgmd on lan2 with one interface (upstream for the
session) and `[dlr] group`: it joins the group there (join-groups, so its IGMP reports make
rtr forward the session onto lan2), caches the ODATA, and answers the POLL with a unicast
redirecting POLR. The loss is between rtr and lan1: an nftables rule on lan1's bridge (for
ODATA from rtr's dn1, whichever path forwarded it) drops chosen ODATA; the DLR got them on
lan2.

The source pauses (openpgm_send --pause-after/--resume-file) after the first burst, whose
one loss (FIRST_LOST) has no DLR to go to: rtr NAKs the source and runs discovery. Once
`pgmctl -j show sessions` on rtr lists the DLR (a bounded poll), the source resumes; the
losses of the second burst (LATER_LOST) must be repaired by the DLR through rtr.

Asserts, from captures on the source's link (s0) and on rtr's dn1/dn2 decoded with pgmdump:
  * every receiver completes; the loss rule dropped exactly the chosen ODATA;
  * rtr lists exactly one DLR for the session: off-tree, 10.2.2.9 on dn2;
  * the source's link: NAKs (from rtr) name FIRST_LOST only, RDATA only FIRST_LOST; no NAK
    and no RDATA for a LATER_LOST sequence; NNAKs from rtr (forwarded from the DLR) name
    exactly LATER_LOST, each as often as the DLR sent its RDATA;
  * lan2 (dn2): rtr's NAKs to the DLR name exactly LATER_LOST; the DLR's unicast NCFs,
    NNAKs and RDATA go to rtr; its RDATA is for LATER_LOST only; one round of POLL_DLR
    POLLs (IP source = the source, Router Alert) and one redirecting POLR naming the DLR;
    no RDATA from rtr onto lan2;
  * lan1 (dn1): RDATA exactly for the lost sequences; those for LATER_LOST rewritten by rtr
    as the source's multicast (IP source 10.1.0.1, destination the group, Router Alert),
    at most one per DLR RDATA;
  * rtr's counters against the captures: NakForwardedDLR = NAKs to the DLR, InRedirectNcfs
    = the DLR's NCFs, DlrNnaksForwarded = the DLR's NNAKs = NNAKs on s0, DlrRdataRewritten
    = the DLR's RDATA, OutNaks = NAKs on s0 + NAKs to the DLR, PollOriginated = POLLs on
    dn1 + dn2, PolrSuccess 1, NakRetryExpiredDLR and DlrNakFallback 0;
  * the DLR's `pgmctl -j show dlr`: hits = sequences in rtr's NAKs to it,
    naks_answered_locally = those NAKs, rdata_sent = its RDATA, nnaks_sent = its NNAKs,
    redirecting_polrs = its POLRs, misses and gap NAKs 0.

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
RTR_UP = "10.1.0.2"
RTR_DN2 = "10.2.2.1"
DLR = "10.2.2.9"
DPORT = 7500
PAUSE_AFTER = 100                      # the first burst: ODATA 0..99
FIRST_LOST = [40]                      # before discovery: NAKed to the source
LATER_LOST = [150, 151, 152, 200, 260, 261, 330, 390]  # after it: repaired by the DLR
LOST = FIRST_LOST + LATER_LOST         # ODATA dropped on dn1 (lan1)
COUNT = 420
SIZE = 200
RATE_BPS = 400000

RECEIVERS = {"r11": "10.2.1.11", "r12": "10.2.1.12", "r13": "10.2.1.13"}


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "dlr", *RECEIVERS)
    lab.source_router()
    lab.lan("rtr", 1, [(name, int(addr.rsplit(".", 1)[1])) for name, addr in RECEIVERS.items()])
    lab.lan("rtr", 2, [("dlr", int(DLR.rsplit(".", 1)[1]))])
    # On lan1's bridge, where ODATA arrives from rtr whichever path forwarded it (the kernel
    # fast path's copies never pass rtr's netfilter output hook).
    lab.drop_odata("lan1", LOST, family="bridge", iif="p0")


def of_type(packets, kind, ip_src=None, ip_dst=None):
    return [p for p in packets if p.get("type") == kind and
            (ip_src is None or p["ip_src"] == ip_src) and (ip_dst is None or p["ip_dst"] == ip_dst)]


def sqns_of(packets):
    return {s for p in packets for s in nak_sqns(p)}


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 2), sock, log_level="info",
        timers={"nak-rpt-ivl": "1s"},
        extra="[dlr]\ndiscover-dlrs = yes\ndiscovery-interval = 1s\n"
              "discovery-backoff = 100ms\n")
    dlr_sock = lab.path("dlr.sock")
    dlr_conf = netlab.pgmd_conf(
        lab.path("dlr.conf"), {"eth0": {"join-groups": GROUP, "igmp-querier": "no"}}, dlr_sock,
        log_level="info", timers={"nak-rpt-ivl": "1s"}, extra=f"[dlr]\ngroup = {GROUP}\n")
    captures = {name: lab.capture(name, ns, dev) for name, ns, dev in
                (("src", "src", "s0"), ("dn1", "rtr", "dn1"), ("dn2", "rtr", "dn2"))}
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    dlr_pgmd = lab.start_pgmd("dlr", args.pgmd, "dlr", dlr_conf, served=1)
    receivers = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT, RECEIVERS)
    # lan2's membership is the DLR's join: rtr forwards the session there only then.
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    resume = lab.path("resume")
    sender = lab.start_openpgm_send(
        args.send, SOURCE, GROUP, DPORT, COUNT, SIZE, RATE_BPS,
        ["--linger-ms", "120000", "--start-delay-ms", "1000", "--timeout-ms", "90000",
         "--pause-after", str(PAUSE_AFTER), "--resume-file", resume])

    # Discovery: the first loss's NAK has no DLR to go to; rtr POLLs, the DLR answers.
    def discovered():
        if sender.poll() is not None:
            raise Failure(f"the sender exited early: {lab.text('send')[-1500:]}")
        sessions = find_sessions(netlab.pgmctl(args.pgmctl, sock, "show", "sessions"))
        return any(d.get("role") == "off-tree" and d.get("address") == DLR
                   for s in sessions for d in s.get("dlrs", []))
    try:
        netlab.wait_until(discovered, 30, f"rtr to list the off-tree DLR {DLR}", interval_s=0.1)
        netlab.wait_until(lambda: "paused after" in lab.text("send"), 30,
                          "the sender to finish its first burst")
    except Failure as e:
        lab.raise_problems([str(e)])
    with open(resume, "w"):
        pass
    failures = lab.finish_receivers(receivers, 90, tail=2000, sep="\n")
    # Both daemons' views while the session lives (the sender lingers).
    sessions = find_sessions(netlab.pgmctl(args.pgmctl, sock, "show", "sessions"))
    totals = netlab.find_key(netlab.pgmctl(args.pgmctl, sock, "show", "counters"),
                             "totals") or {}
    dlr_view = netlab.pgmctl(args.pgmctl, dlr_sock, "show", "dlr")
    dropped = lab.nft_counter("lan1", "bridge", "pgmloss")
    lab.stop_proc(sender)
    for name in captures:
        lab.stop_capture(name)
    for proc in (dlr_pgmd, pgmd):
        if lab.stop_proc(proc) != 0:
            failures.append(f"pgmd {'dlr' if proc is dlr_pgmd else 'rtr'} exit "
                            f"{proc.returncode} on SIGTERM")
    if failures:
        failures.append("dlr log tail:\n" + lab.text("dlr")[-2000:])
    lab.raise_problems(failures)

    src = decode(args.pgmdump, captures["src"])
    dn1 = decode(args.pgmdump, captures["dn1"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    problems = []
    # The bridge's forward hook sees a multicast frame once per port it floods it to.
    if dropped != len(LOST) * len(RECEIVERS):
        problems.append(f"the loss rule dropped {dropped} packets, want {len(LOST)} "
                        f"to each of {len(RECEIVERS)} receivers")

    # rtr's record of the DLR.
    dlrs = sessions[0].get("dlrs") if len(sessions) == 1 else None
    if not dlrs or len(dlrs) != 1 or \
            {k: dlrs[0].get(k) for k in ("role", "address", "interface")} != \
            {"role": "off-tree", "address": DLR, "interface": "dn2"}:
        problems.append(f"rtr show sessions: {json.dumps(sessions)[:800]}; want one session "
                        f"with one off-tree DLR {DLR} on dn2")

    # The source's link.
    src_naks = of_type(src, "NAK")
    src_nnaks = of_type(src, "NNAK")
    src_rdata = of_type(src, "RDATA")
    if sqns_of(src_naks) != set(FIRST_LOST):
        problems.append(f"NAKs on the source's link for {dict(naks_per_sqn(src_naks))}, want "
                        f"{FIRST_LOST} only (the later losses go to the DLR)")
    if {(p["ip_src"], p["ip_dst"]) for p in src_naks} - {(RTR_UP, SOURCE)}:
        problems.append(f"NAKs on the source's link not from rtr to the source: "
                        f"{ {(p['ip_src'], p['ip_dst']) for p in src_naks} }")
    if sqns_of(src_rdata) != set(FIRST_LOST):
        problems.append(f"RDATA on the source's link for {sorted(sqns_of(src_rdata))}, want "
                        f"{FIRST_LOST} only")
    if {(p["ip_src"], p["ip_dst"]) for p in src_nnaks} != {(RTR_UP, SOURCE)}:
        problems.append(f"NNAKs on the source's link "
                        f"{ {(p['ip_src'], p['ip_dst']) for p in src_nnaks} }, want "
                        f"{RTR_UP} -> {SOURCE}")
    src_nnak_per_sqn = naks_per_sqn(src_nnaks)
    if set(src_nnak_per_sqn) != set(LATER_LOST):
        problems.append(f"NNAKs on the source's link name {dict(src_nnak_per_sqn)}, want "
                        f"exactly {LATER_LOST}")

    # lan2: rtr and the DLR.
    naks_to_dlr = of_type(dn2, "NAK", RTR_DN2, DLR)
    other_naks_dn2 = [p for p in of_type(dn2, "NAK") if p not in naks_to_dlr]
    ncfs_from_dlr = of_type(dn2, "NCF", DLR, RTR_DN2)
    nnaks_from_dlr = of_type(dn2, "NNAK", DLR, RTR_DN2)
    rdata_from_dlr = of_type(dn2, "RDATA", DLR, RTR_DN2)
    other_rdata_dn2 = [p for p in of_type(dn2, "RDATA") if p not in rdata_from_dlr]
    polls_dn2 = of_type(dn2, "POLL")
    polrs_from_dlr = of_type(dn2, "POLR", DLR, RTR_DN2)
    if sqns_of(naks_to_dlr) != set(LATER_LOST):
        problems.append(f"rtr's NAKs to the DLR name {dict(naks_per_sqn(naks_to_dlr))}, want "
                        f"exactly {LATER_LOST}")
    if other_naks_dn2:
        problems.append(f"other NAKs on lan2: "
                        f"{[(p['ip_src'], p['ip_dst'], nak_sqns(p)) for p in other_naks_dn2]}")
    if not set(LATER_LOST) <= sqns_of(ncfs_from_dlr):
        problems.append(f"the DLR's NCFs name {sorted(sqns_of(ncfs_from_dlr))}, want at least "
                        f"{LATER_LOST}")
    rdata_per_sqn = naks_per_sqn(rdata_from_dlr)
    if set(rdata_per_sqn) != set(LATER_LOST):
        problems.append(f"the DLR's RDATA for {dict(rdata_per_sqn)}, want exactly {LATER_LOST}")
    # One NNAK per local answer, for the sequences sent (D29), forwarded unchanged by rtr.
    if dict(naks_per_sqn(nnaks_from_dlr)) != dict(rdata_per_sqn) or \
            dict(src_nnak_per_sqn) != dict(rdata_per_sqn):
        problems.append(f"per sequence: the DLR's NNAKs {dict(naks_per_sqn(nnaks_from_dlr))}, "
                        f"NNAKs on the source's link {dict(src_nnak_per_sqn)}, the DLR's RDATA "
                        f"{dict(rdata_per_sqn)}; want all equal")
    if other_rdata_dn2:
        problems.append(f"{len(other_rdata_dn2)} other RDATA on lan2 (nobody there NAKed)")
    bad_polls = {(p["ip_src"], p["ip_dst"], p.get("router_alert"), p.get("subtype"))
                 for p in polls_dn2 + of_type(dn1, "POLL")} - {(SOURCE, GROUP, True, 1)}
    if not polls_dn2 or bad_polls:
        problems.append(f"{len(polls_dn2)} POLLs on lan2; (IP source, destination, Router "
                        f"Alert, sub-type) {bad_polls} want ({SOURCE}, {GROUP}, True, 1)")
    redirects = {o.get("dlr") for p in polrs_from_dlr for o in p.get("options", [])
                 if "dlr" in o}
    if len(polrs_from_dlr) != 1 or redirects != {DLR}:
        problems.append(f"{len(polrs_from_dlr)} POLRs from the DLR redirecting to {redirects}, "
                        f"want one naming {DLR}")

    # lan1: the repairs, the later ones rewritten from the DLR's unicast RDATA.
    rdata_dn1 = of_type(dn1, "RDATA")
    if sqns_of(rdata_dn1) != set(LOST):
        problems.append(f"RDATA on lan1 for {sorted(sqns_of(rdata_dn1))}, want {LOST}")
    rewritten = [p for p in rdata_dn1 if p["sqn"] in LATER_LOST]
    bad_headers = {(p["ip_src"], p["ip_dst"], p.get("router_alert")) for p in rewritten} - \
        {(SOURCE, GROUP, True)}
    if bad_headers:
        problems.append(f"RDATA from the DLR on lan1 with (IP source, destination, Router "
                        f"Alert) {bad_headers}, want ({SOURCE}, {GROUP}, True)")
    if len(rewritten) > len(rdata_from_dlr):
        problems.append(f"{len(rewritten)} RDATA on lan1 for the later losses, more than the "
                        f"{len(rdata_from_dlr)} the DLR sent")

    # rtr's counters against the captures.
    expect = {
        "NakForwardedDLR": len(naks_to_dlr),
        "InRedirectNcfs": len(ncfs_from_dlr),
        "DlrNnaksForwarded": len(nnaks_from_dlr),
        "DlrRdataRewritten": len(rdata_from_dlr),
        "OutNaks": len(src_naks) + len(naks_to_dlr),
        "OutNnaks": len(src_nnaks),
        "PollOriginated": len(polls_dn2) + len(of_type(dn1, "POLL")),
        "PolrSuccess": 1,
        "NakRetryExpiredDLR": 0,
        "DlrNakFallback": 0,
    }
    problems += netlab.mismatches("rtr counter", totals, expect)

    # The DLR's own account.
    rows = dlr_view.get("dlr", [])
    d = rows[0] if dlr_view.get("enabled") and len(rows) == 1 else {}
    if not d:
        problems.append(f"the DLR's show dlr: {json.dumps(dlr_view)[:800]}")
    dlr_expect = {
        "hits": sum(len(nak_sqns(p)) for p in naks_to_dlr),
        "naks_answered_locally": len(naks_to_dlr),
        "rdata_sent": len(rdata_from_dlr),
        "nnaks_sent": len(nnaks_from_dlr),
        "redirecting_polrs": len(polrs_from_dlr),
        "misses": 0,
        "gap_naks": 0,
        "group": GROUP,
        "source": SOURCE,
    }
    problems += netlab.mismatches("the DLR's show dlr", d, dlr_expect)

    print(f"pgmd_dlr_redirect: lost {FIRST_LOST} before discovery, {LATER_LOST} after; "
          f"source's link: NAKs {dict(naks_per_sqn(src_naks))}, {len(src_nnaks)} NNAKs, RDATA "
          f"{sorted(sqns_of(src_rdata))}; lan2: {len(polls_dn2)} POLLs, {len(polrs_from_dlr)} "
          f"POLRs, {len(naks_to_dlr)} NAKs to the DLR, {len(ncfs_from_dlr)} NCFs, "
          f"{len(nnaks_from_dlr)} NNAKs and {len(rdata_from_dlr)} RDATA from it; lan1: "
          f"{len(rdata_dn1)} RDATA; rtr {({k: totals.get(k) for k in expect})}; DLR "
          f"{ {k: d.get(k) for k in dlr_expect} }")
    if problems:
        raise Failure("\n".join(problems))


def main():
    return netlab.lab_main("pgmd_dlr_redirect", "pgmdr", run,
                           ("pgmd", "pgmctl", "pgmdump", "send", "recv"),
                           needs=("ip", "nft", "tcpdump"), tmp_prefix="pgmd_dlr_redirect.",
                           catch_interrupt=True)


if __name__ == "__main__":
    sys.exit(main())
