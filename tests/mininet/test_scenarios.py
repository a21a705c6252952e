"""The Mininet scenarios of issue 7: pgmd on every router of a topology, pgmsend/pgmrecv
(and a ZeroMQ PUB) on the hosts, loss by a tc-BPF drop on egress, assertions on
`pgmctl -j` (expected JSON, polled until it matches within a bound) and on
pgmdump-decoded captures.

One topology per test; make_lab (conftest.py) tears it down whatever happens.
"""
import os

import pytest

import pgmtopo
from pgmtopo import DPORT, Topology, netlab
from netlab import decode, nak_sqns, naks_per_sqn, one_nak_per_loss

COUNT = 300  # messages per transfer: ~0.4 s at RATE, long enough for the chosen losses
SIZE = 200
RATE = 200000  # bytes/s
LOST = [10, 20, 21, 35, 60]  # ODATA sequence numbers dropped (21 follows 20: a NAK list)
TIMERS = {"nak-rpt-ivl": "1s"}
# The source announces itself (SPMs) before the data and answers NAKs until stopped.
SEND = ["--start-delay", "0.5", "--linger", "60"]


# ------------------------------------------------------------------------- helpers

def start_receivers(lab, hosts, count=COUNT, extra=()):
    procs = {h: lab.start_pgmrecv(h, count, extra) for h in hosts}
    lab.wait_members_for(hosts)
    return procs


def finish(lab, receivers, sender, limit_s=40):
    """Wait for the receivers, then stop the source; asserts each receiver delivered
    everything, in order, with no unrecoverable loss."""
    problems = lab.finish_receivers(receivers, limit_s, tail=800)
    if sender.poll() is not None:
        problems.append(f"source exited early ({sender.returncode}): {lab.text('src')[-800:]}")
    lab.stop_proc(sender)
    assert not problems, "\n".join(problems)
    for h in receivers:
        s = lab.summary(h)  # pgmrecv's summary, or openpgm_recv's ("received")
        assert s.get("delivered", s.get("received")) == COUNT, (h, s)
        assert s.get("unrecoverable_losses", s.get("unrecoverable")) == 0, (h, s)


def captures(lab, where, bpf="ip proto 113"):
    """{label: (node, towards)} -> {label: pcap}, tcpdump running on each."""
    return {label: lab.capture(label, node, lab.intf(node, towards), bpf)
            for label, (node, towards) in where.items()}


def decoded(lab, pcaps, udp_port=None):
    for label in pcaps:
        lab.stop_capture(label)
    return {label: decode(lab.tools["pgmdump"], pcap, udp_port=udp_port)
            for label, pcap in pcaps.items()}


def of_type(packets, kind, src=None, dst=None):
    return [p for p in packets if p.get("type") == kind and
            (src is None or p["ip_src"] == src) and (dst is None or p["ip_dst"] == dst)]


def sqns(packets):
    return sorted({s for p in packets for s in nak_sqns(p)})


def counters_of(name, **values):
    """Expected `show counters` fragment: interface `name` with these counter values."""
    return {"interfaces": [{"name": name, "counters": values}]}


# ------------------------------------------------------------------------- scenarios

def test_shared_lan_nak_suppression_20_receivers(make_lab):
    """src -- r1 -- lan1 (20 receivers). r1 drops LOST on its way onto lan1, so all 20
    receivers miss the same packets. pgmd's multicast NCF makes most receivers suppress
    their NAKs, pgmd eliminates the duplicates that still come, and the source gets one
    NAK per lost packet."""
    topo = Topology.chain(1, receivers=20).with_loss(
        {"at": "r1", "towards": "lan1", "sqns": LOST})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS)
    pcaps = captures(lab, {"up": ("r1", "src"), "lan": ("r1", "lan1")})
    hosts = topo.receivers()
    # A NAK back-off of up to 300 ms (RFC 3208 NAK_BO_IVL) spreads the 20 receivers' NAKs
    # so that pgmd's NCF, sent at the first NAK, reaches the others before they NAK.
    receivers = start_receivers(lab, hosts, extra=["--nak-bo-ivl-ms", "300"])
    sender = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND)
    finish(lab, receivers, sender)
    src_addr, r1_lan = lab.address("src"), lab.address("r1", "lan1")
    pk = decoded(lab, pcaps)

    upstream = of_type(pk["up"], "NAK", dst=src_addr)
    assert {p["ip_src"] for p in upstream} == {lab.address("r1", "src")}
    problem = one_nak_per_loss(upstream, LOST, pk["lan"], r1_lan)
    assert problem is None, problem
    lan_naks = of_type(pk["lan"], "NAK", dst=r1_lan)
    per_sqn = naks_per_sqn(lan_naks)
    assert sorted(per_sqn) == LOST
    # Suppression: without it each of the 20 receivers NAKs each loss (100 requests).
    requests = sum(per_sqn.values())
    assert requests < len(hosts) * len(LOST) / 4, f"NAKed sequence numbers on lan1: {per_sqn}"
    ncf = of_type(pk["lan"], "NCF", dst=topo.group)
    assert set(LOST) <= set(sqns(ncf))
    silent = [h for h in hosts if lab.summary(h).get("naks_sent") == 0]
    assert silent, "every receiver NAKed: no suppression"
    for h in hosts:  # the NCFs are multicast: every receiver heard them
        assert lab.summary(h).get("ncfs_received", 0) > 0, (h, lab.summary(h))
    # pgmd's counters say what the captures show.
    lab.expect_json("r1", "show counters", {
        "totals": {"OutNaks": len(upstream), "OutNcfs": len(ncf)},
        **counters_of("r1-lan1", InNaks=len(lan_naks),
                      OutRdata=len(of_type(pk["lan"], "RDATA")))})
    print(f"20 receivers: {len(lan_naks)} NAK packets for {requests} sequence numbers on "
          f"lan1 ({len(silent)} receivers never NAKed), {len(upstream)} upstream")


def test_repair_constrained_to_lossy_subtree(make_lab):
    """tree,2,2: r1 above r2 (lan2) and r3 (lan3). The link r1 -> r2 loses LOST, so the
    whole subtree of r2 misses them: repairs go down r1 -> r2 -> lan2 only; r3 and lan3,
    which lost nothing, see no RDATA and no NCF."""
    topo = Topology.tree(2, 2, receivers=2).with_loss(
        {"at": "r1", "towards": "r2", "sqns": LOST})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS)
    pcaps = captures(lab, {"up": ("r1", "src"), "r1r2": ("r1", "r2"), "r1r3": ("r1", "r3"),
                           "lan2": ("r2", "lan2"), "lan3": ("r3", "lan3")})
    receivers = start_receivers(lab, topo.receivers())
    sender = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND)
    finish(lab, receivers, sender)
    pk = decoded(lab, pcaps)

    for label in ("r1r2", "lan2"):
        assert sqns(of_type(pk[label], "RDATA")) == LOST, label
    for label in ("r1r3", "lan3"):
        assert not of_type(pk[label], "RDATA") and not of_type(pk[label], "NCF"), label
        assert len({p["sqn"] for p in of_type(pk[label], "ODATA")}) == COUNT, label
    # NAKs hop by hop: lan2's receivers -> r2 -> r1 -> src, one per loss above lan2.
    r1_r2, r2_r1 = lab.address("r1", "r2"), lab.address("r2", "r1")
    naks_r2 = of_type(pk["r1r2"], "NAK", src=r2_r1, dst=r1_r2)
    assert one_nak_per_loss(naks_r2, LOST, pk["lan2"], lab.address("r2", "lan2")) is None
    upstream = of_type(pk["up"], "NAK", dst=lab.address("src"))
    assert one_nak_per_loss(upstream, LOST, pk["r1r2"], r1_r2) is None
    lab.expect_json("r1", "show counters", {"interfaces": [
        {"name": "r1-r2", "counters": {"OutRdata": len(of_type(pk["r1r2"], "RDATA")),
                                       "InNaks": len(naks_r2)}},
        {"name": "r1-r3", "counters": {"OutRdata": 0, "InNaks": 0, "OutNcfs": 0}}]})
    lab.expect_json("r3", "show counters", {"totals": {"InRdata": 0, "OutRdata": 0,
                                                       "InNaks": 0, "OutNaks": 0}})


def test_chain_of_three(make_lab):
    """chain,3: src -- r1 -- r2 -- r3 -- lan1 (h1 pgmrecv, h2 an OpenPGM receiver); r3
    drops LOST onto lan1. Each pgmd rewrites the SPM path to its own address, so NAKs go
    hop by hop (r3 -> r2 -> r1 -> src), one per loss on each link, and each hop answers
    with NCFs."""
    topo = Topology.chain(3, receivers=2).with_loss(
        {"at": "r3", "towards": "lan1", "sqns": LOST})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS)
    hops = [("src", "r1"), ("r1", "r2"), ("r2", "r3")]
    pcaps = captures(lab, {f"{up}-{down}": (down, up) for up, down in hops} |
                     {"lan1": ("r3", "lan1")})
    receivers = {"h1": lab.start_pgmrecv("h1", COUNT),
                 "h2": lab.start_openpgm_recv("h2", COUNT)}
    lab.wait_members_for(receivers)
    sender = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND)
    finish(lab, receivers, sender)
    # Each pgmd's session: upstream is the previous hop, on the interface towards it.
    for up, down in hops:
        lab.expect_json(down, "show sessions", {"sessions": [{
            "source": lab.address("src"), "group": topo.group,
            "data_destination_port": DPORT, "upstream_interface": lab.intf(down, up),
            "upstream_neighbour": lab.address(up, down), "encapsulation": "native"}]})
    pk = decoded(lab, pcaps)
    # The capture below each link, and the address there of the router below the link.
    below = {"src-r1": ("r1-r2", "r1", "r2"), "r1-r2": ("r2-r3", "r2", "r3"),
             "r2-r3": ("lan1", "r3", "lan1")}
    for up, down in hops:
        link = pk[f"{up}-{down}"]
        naks = of_type(link, "NAK", dst=lab.address(up, down))
        assert {p["ip_src"] for p in naks} == {lab.address(down, up)}, f"{up}-{down}"
        under, router, towards = below[f"{up}-{down}"]
        problem = one_nak_per_loss(naks, LOST, pk[under], lab.address(router, towards))
        assert problem is None, f"link {up}-{down}: {problem}"
        if up != "src":  # NCFs from the pgmd above; the source's own are not pgmd's
            assert set(LOST) <= set(sqns(of_type(link, "NCF"))), f"{up}-{down}"
        paths = {p.get("path") for p in of_type(link, "SPM")}
        assert paths == {lab.address(up, down)}, f"SPM paths on {up}-{down}: {paths}"


def test_tree_depth2_fanout3(make_lab):
    """tree,2,3: r1 above r2, r3, r4, each with a LAN of three receivers (9 in all). Each
    leaf router drops different sequence numbers onto its LAN: each LAN gets the repairs
    of its own losses only, and the source one NAK per sequence number lost anywhere."""
    lost = {"r2": [10], "r3": [20, 21], "r4": [35, 60]}
    topo = Topology.tree(2, 3, receivers=3).with_loss(
        *({"at": r, "towards": f"lan{r[1:]}", "sqns": s} for r, s in lost.items()))
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS)
    pcaps = captures(lab, {"up": ("r1", "src")} | {r: (r, f"lan{r[1:]}") for r in lost} |
                     {f"r1{r}": ("r1", r) for r in lost})
    receivers = start_receivers(lab, topo.receivers())
    sender = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND)
    finish(lab, receivers, sender)
    for r in lost:
        lab.expect_json(r, "show sessions", {"sessions": [{
            "upstream_interface": lab.intf(r, "r1"),
            "upstream_neighbour": lab.address("r1", r)}]})
    lab.expect_json("r1", "show sessions", {"sessions": [{
        "upstream_interface": lab.intf("r1", "src"), "upstream_neighbour": lab.address("src")}]})
    pk = decoded(lab, pcaps)
    everything = sorted(s for v in lost.values() for s in v)
    upstream = of_type(pk["up"], "NAK", dst=lab.address("src"))
    assert sorted(naks_per_sqn(upstream)) == everything
    for r, s in lost.items():
        # one NAK upstream per loss (repeats only when a late NAK below explains them)
        mine = [p for p in upstream if set(nak_sqns(p)) & set(s)]
        problem = one_nak_per_loss(mine, s, pk[f"r1{r}"], lab.address("r1", r))
        assert problem is None, f"losses below {r}: {problem}"
        assert sqns(of_type(pk[r], "RDATA")) == s, f"RDATA on {r}'s LAN"
        assert sqns(of_type(pk[f"r1{r}"], "RDATA")) == s, f"RDATA on r1 -> {r}"


@pytest.mark.dlr
def test_dlr_repairs_locally(make_lab):
    """A pgmd acting as designated local repairer (RFC 3208 §9.5.2; issue 6): chain,2,
    src -- r1 -- r2 -- lan1 (h1, h2), where r2's pgmd is the DLR for the group and drops
    LOST on its way onto lan1 (tc egress of r2: r2 received and cached them). r2 answers
    lan1's NAKs itself with RDATA from its cache, as the source (IP source, Router Alert), and
    sends NNAKs upstream: no NAK for the losses reaches r1 or the source, only NNAKs
    naming them; `pgmctl -j show dlr` on r2 counts what the captures show."""
    topo = Topology.chain(2, receivers=2).with_loss(
        {"at": "r2", "towards": "lan1", "sqns": LOST})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS, extra={"r2": f"[dlr]\ngroup = {topo.group}\n"})
    pcaps = captures(lab, {"up": ("r1", "src"), "mid": ("r2", "r1"), "lan": ("r2", "lan1")})
    receivers = start_receivers(lab, topo.receivers())
    sender = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND)
    lab.finish_receivers(receivers, 40, tail=0)  # finish() below reports their outcome
    # pgmd's DLR view while the source still answers (it lingers), counters final.
    dlr = lab.pgmctl("r2", "show", "dlr")
    assert lab.pgmctl("r1", "show", "dlr")["enabled"] is False
    finish(lab, receivers, sender)
    src_addr, r1_mid, r2_mid = lab.address("src"), lab.address("r1", "r2"), lab.address("r2", "r1")
    pk = decoded(lab, pcaps)

    for label in ("up", "mid"):
        assert not of_type(pk[label], "NAK"), f"NAKs on {label}: {sqns(of_type(pk[label], 'NAK'))}"
        assert sqns(of_type(pk[label], "NNAK")) == LOST, label
        assert not of_type(pk[label], "RDATA"), f"RDATA on {label}: nobody upstream repaired"
    nnaks = of_type(pk["mid"], "NNAK", src=r2_mid, dst=r1_mid)
    assert len(nnaks) == len(of_type(pk["mid"], "NNAK"))
    assert {p["ip_dst"] for p in of_type(pk["up"], "NNAK")} == {src_addr}
    rdata = of_type(pk["lan"], "RDATA")
    assert sqns(rdata) == LOST
    assert {(p["ip_src"], p["ip_dst"], p["router_alert"]) for p in rdata} == \
        {(src_addr, topo.group, True)}
    lan_naks = of_type(pk["lan"], "NAK", dst=lab.address("r2", "lan1"))
    assert lan_naks and set(sqns(lan_naks)) == set(LOST)

    assert dlr["enabled"] is True and len(dlr["dlr"]) == 1, dlr
    d = dlr["dlr"][0]
    assert d["group"] == topo.group and d["source"] == src_addr, d
    assert d["hits"] == sum(len(nak_sqns(p)) for p in lan_naks) > 0, d
    assert d["naks_answered_locally"] == len(lan_naks), d
    assert d["rdata_sent"] == len(rdata), d
    assert d["nnaks_sent"] == len(nnaks), d
    assert d["misses"] == 0 and d["gap_naks"] == 0, d
    assert 0 < d["cache_packets"] <= dlr["cache_packets_per_session"], d
    print(f"DLR r2: {len(lan_naks)} NAKs from lan1 answered locally, {len(rdata)} RDATA, "
          f"{len(nnaks)} NNAKs upstream, 0 NAKs reached r1 or the source")


def test_late_joiner(make_lab):
    """src -- r1 -- lan1 (h1), lan2 (h2). h2 joins in the middle of the transfer: pgmd
    starts forwarding onto lan2 only after h2's IGMP report, h2 delivers the rest of the
    stream in order, including a loss (sequence LATE) repaired from the source."""
    late = [1200, 1201]
    topo = Topology.from_dict({
        "name": "late-joiner", "routers": ["r1"],
        "hosts": {"src": {"role": "source"}, "h1": {}, "h2": {}},
        "links": [["src", "r1"]], "lans": {"lan1": ["r1", "h1"], "lan2": ["r1", "h2"]},
        "loss": [{"at": "r1", "towards": "lan2", "sqns": late}]})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS)
    pcap = lab.capture("lan2", "r1", lab.intf("r1", "lan2"), bpf="ip proto 113 or igmp")
    count = 1500  # ~1.9 s at RATE
    h1 = lab.start_pgmrecv("h1", count, timeout_s=60)
    lab.wait_members_for(["h1"])
    sender = lab.start_pgmsend("src", count, SIZE, RATE, SEND)
    # Mid-transfer: the session's window has moved past sequence 300.
    lab.expect_json("r1", "show sessions", {"sessions": [{"lead": lambda n: 300 <= n < 800}]},
                    limit_s=15, interval_s=0.05)
    joiner = lab.start_pgmrecv("h2", None, timeout_s=60)  # no --count: until the FIN
    lab.wait_members_for(["h2"])
    problems = lab.finish_receivers({"h1": h1}, 40, tail=800)
    lab.stop_proc(sender)  # in its linger: the source ends the session (SPM with OPT_FIN)
    problems += lab.finish_receivers({"h2": joiner}, 20, tail=800)
    assert not problems, "\n".join(problems)
    pk = decoded(lab, {"lan2": pcap})["lan2"]
    odata = sorted(p["sqn"] for p in of_type(pk, "ODATA"))
    assert odata and odata[0] > 300, "ODATA on lan2 before the join"
    assert odata == [s for s in range(odata[0], count) if s not in late]
    assert sqns(of_type(pk, "RDATA")) == late
    h2 = lab.summary("h2")
    assert h2.get("unrecoverable_losses") == 0 and h2.get("rdata", 0) >= len(late), h2
    assert h2.get("delivered") == count - odata[0], (h2, odata[0])


def test_source_restart_new_tsi(make_lab):
    """src -- r1 -- lan1 (h1, h2). The source is killed (no FIN) and restarted with a new
    data-source port, i.e. a new TSI: pgmd serves the new session at once (repairs
    included, NAKs to the source for the new TSI only) and lets the old one expire after
    session-lifetime without SPMs."""
    topo = Topology.chain(1, receivers=2).with_loss(
        {"at": "r1", "towards": "lan1", "sqns": [10, 20]})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS | {"session-lifetime": "4s"})
    gsi, old, new = "0000000000a1", 1001, 1002
    receivers = start_receivers(lab, topo.receivers())
    first = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND + ["--gsi", gsi, "--sport",
                                                                str(old)], name="src1")
    problems = lab.finish_receivers(receivers, 40, tail=800)
    assert not problems, "\n".join(problems)
    lab.expect_json("r1", "show sessions", {"sessions": [{"tsi": f"{gsi}.{old}"}]})
    lab.stop_proc(first, sig=9)  # a crash: no FIN

    pcap = lab.capture("up", "r1", lab.intf("r1", "src"))
    receivers = {h: lab.start_pgmrecv(h, COUNT, name=f"{h}-2") for h in topo.receivers()}
    second = lab.start_pgmsend("src", COUNT, SIZE, RATE, SEND + ["--gsi", gsi, "--sport",
                                                                 str(new)], name="src2")
    # Both sessions while the old one has not expired yet.
    lab.expect_json("r1", "show sessions", {"sessions": [{"tsi": f"{gsi}.{old}"},
                                                         {"tsi": f"{gsi}.{new}"}]})
    problems = lab.finish_receivers(receivers, 40, tail=800)
    assert not problems, "\n".join(problems)
    for h in receivers:
        assert lab.summary(h).get("rdata", 0) >= 2, (h, lab.summary(h))
    # The old TSI expires (no SPM for session-lifetime); the new one stays (SPMs go on).
    lab.expect_json("r1", "show sessions", {"sessions": lambda s: [x["tsi"] for x in s] ==
                                            [f"{gsi}.{new}"]}, limit_s=10)
    lab.stop_proc(second)
    upstream = of_type(decoded(lab, {"up": pcap})["up"], "NAK", dst=lab.address("src"))
    assert {p["tsi"] for p in upstream} == {f"{gsi}.{new}"}
    assert sorted(naks_per_sqn(upstream)) == [10, 20]


def test_udp_encapsulated_zeromq(make_lab):
    """chain,2 with ZeroMQ: a PUB on epgm:// (OpenPGM inside libzmq, PGM in UDP port 7500
    both ways) on src, pgmrecv --udp-port 7500 --framing zmq on lan1; r2 drops UDP-
    encapsulated ODATA LOST onto lan1. Both pgmd serve the UDP session: NAKs hop by hop in
    UDP, repairs onto lan1, `show sessions` says udp:7500 on both routers."""
    zmq_ok = pgmtopo.subprocess.run([netlab.PYTHON, "-c", "import zmq; assert zmq.has('pgm')"],
                                    capture_output=True).returncode == 0
    assert zmq_ok, "python3-zmq with PGM support is needed (scripts/setup.sh installs it)"
    port = DPORT  # pgmd_udp_test.py's PUB: epgm://ADDR;239.192.0.1:7500, 300 messages
    topo = Topology.chain(2, receivers=2).with_loss(
        {"at": "r2", "towards": "lan1", "sqns": LOST, "udp-port": port})
    lab = make_lab(topo)
    lab.start_pgmd_all(TIMERS, extra_global=f"udp-ports = {port}")
    pcaps = captures(lab, {"up": ("r1", "src"), "mid": ("r1", "r2"), "lan1": ("r2", "lan1")},
                     bpf=f"udp port {port}")
    receivers = start_receivers(lab, topo.receivers(), extra=[
        "--udp-port", str(port), "--framing", "zmq"])
    pub_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                              "integration", "pgmd_udp_test.py")
    pub = lab.start("src", [netlab.PYTHON, pub_script, "--role", "pub", "--addr",
                            lab.address("src"), "--start-delay", "1", "--linger", "60"], "src")
    finish(lab, receivers, pub)
    for r, up in (("r1", "src"), ("r2", "r1")):
        lab.expect_json(r, "show sessions", {"sessions": [{
            "encapsulation": "udp", "udp_port": port, "upstream_interface": lab.intf(r, up),
            "upstream_neighbour": lab.address(up, r)}]})
    lab.expect_json("r2", "show counters", {"totals": {"Malformed": 0}})
    pk = decoded(lab, pcaps, udp_port=port)
    for link, up, down, below, towards in (("up", "src", "r1", "mid", "r2"),
                                           ("mid", "r1", "r2", "lan1", "lan1")):
        naks = of_type(pk[link], "NAK", dst=lab.address(up, down))
        assert naks and all(p.get("encap") == "udp" and p.get("udp_dport") == port
                            for p in naks), link
        problem = one_nak_per_loss(naks, LOST, pk[below], lab.address(down, towards))
        assert problem is None, f"{link}: {problem}"
    rdata = of_type(pk["lan1"], "RDATA")
    assert sqns(rdata) == LOST and all(p.get("encap") == "udp" for p in rdata)
