#!/usr/bin/python3
"""pgmd_ssm_test: IGMPv3 source filtering and source-specific joins (issue 17 item 3).

Topology (network namespaces): two PGM sources on their own links to the router, src1
(10.1.0.1, rtr up0) and src2 (10.3.0.1, rtr up1); pgmd in rtr serving up0, up1, dn1, dn2;
LAN 1 (dn1) with hosts h1 and h3 and LAN 2 (dn2) with host h2. The group is the SSM
address 232.1.1.1; dn1 also has a static (h1's address, 232.1.1.2), listed as `static`.

  * h1 joins (10.1.0.1, 232.1.1.1) through its kernel (IP_ADD_SOURCE_MEMBERSHIP, IGMPv3
    forced on eth0): the kernel reports INCLUDE {10.1.0.1}; h2 joins the group for any
    source (EXCLUDE {}).
  * `pgmctl -j show groups` has dn1's membership source-specific (10.1.0.1 wanted, not any
    source), dn2's for any source, and up0 (the route towards 10.1.0.1) joined
    source-specific for it, which the kernel's /proc/net/mcfilter confirms; `show groups`
    has the SOURCES column with those values.
  * pgmsend sends one session from each source: captured on h1's link, the session of
    10.1.0.1 arrives (SPM and ODATA) and nothing of 10.3.0.1; on h2's link both.
  * With --fast-path on, `show fastpath` has both sessions in the kernel and the kernel
    forwarded ODATA from both upstream interfaces (the per-source egress is the BPF map's);
    with --fast-path off, pgmd forwards them itself.
  * h3 joins the group for any source on LAN 1: dn1's group turns EXCLUDE mode, and up0
    stays joined (10.1.0.1, 232.1.1.1) for h1; h3 leaves again.
  * h1 leaves: pgmd (querier on dn1) asks with a group-and-source-specific query and drops
    the membership and the upstream join after the Last Member Query Time.
  * With --fast-path on (fail-open-after at its default, 1s), failing open (decisions.md
    D39): h1 joins (S1, G) again, pgmd learns it, and pgmd is killed (SIGKILL); both
    sources send again, and the program left behind forwards on its own by (group,
    source): h1's link gets all of S1's ODATA and none of S2's, h2's link all of both.

Every wait is bounded; every process, namespace and capture goes with the lab.
Exit status 0 pass, 1 fail, 77 skipped (not root, or a tool missing).
"""
import os
import signal
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, wait_until  # noqa: E402

NAME = "pgmd_ssm"
GROUP = "232.1.1.1"
STATIC_GROUP = "232.1.1.2"
DPORT = 7500
S1, S2 = "10.1.0.1", "10.3.0.1"
COUNT = 200

# Holds a membership until killed: source-specific when a source is given.
JOINER = r"""
import signal, socket, sys
group, address = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 3:
    mreq = socket.inet_aton(group) + socket.inet_aton(address) + socket.inet_aton(sys.argv[3])
    # IP_ADD_SOURCE_MEMBERSHIP (39 on Linux: Python 3.11 lacks the name)
    s.setsockopt(socket.IPPROTO_IP, getattr(socket, "IP_ADD_SOURCE_MEMBERSHIP", 39), mreq)
else:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(group) + socket.inet_aton(address))
print("joined", flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.pause()
"""


def pgm_by_source(pcap):
    """{ip source: {pgm type: count}} of the PGM packets of GROUP in a capture."""
    out = {}
    for frame in netlab.pcap_frames(pcap):
        ip = frame[14:]
        if len(ip) < 20 or ip[9] != 113 or socket.inet_ntoa(ip[16:20]) != GROUP:
            continue
        pgm = ip[(ip[0] & 0x0F) * 4:]
        if len(pgm) < 16:
            continue
        kind = {0x00: "spm", 0x04: "odata"}.get(pgm[4], "other")
        per = out.setdefault(socket.inet_ntoa(ip[12:16]), {})
        per[kind] = per.get(kind, 0) + 1
    return out


def mcfilter(lab, ns, dev):
    """(group, source) pairs the kernel holds source filters for on dev (/proc/net/mcfilter)."""
    pairs = set()
    for line in lab.sh("cat", "/proc/net/mcfilter", ns=ns).stdout.splitlines()[1:]:
        f = line.split()
        if len(f) >= 6 and f[1] == dev:
            to_ip = lambda h: socket.inet_ntoa(struct.pack("!I", int(h, 16)))  # noqa: E731
            pairs.add((to_ip(f[2]), to_ip(f[3])))
    return pairs


def interface(groups, name):
    return next((i for i in groups.get("interfaces", []) if i.get("name") == name), {})


def group_of(groups, name):
    """GROUP's entry on interface name: `groups` merged with `group_sources`; None if absent."""
    i = interface(groups, name)
    g = next((g for g in i.get("groups", []) if g.get("group") == GROUP), None)
    s = next((g for g in i.get("group_sources", []) if g.get("group") == GROUP), None)
    return None if g is None else {**g, **(s or {})}


def run(args, lab):
    lab.add_ns("src1", "src2", "rtr", "lan1", "lan2", "h1", "h2", "h3")
    lab.source_router(src="src1", rtr="rtr", source=S1, rtr_up="10.1.0.2")
    lab.veth("src2", "s0", "rtr", "up1")
    lab.addr("src2", "s0", f"{S2}/24")
    lab.addr("rtr", "up1", "10.3.0.2/24")
    lab.route("src2", "10.2.0.0/16", via="10.3.0.2")
    lab.route("src2", "224.0.0.0/4", dev="s0")
    lan1 = lab.lan("rtr", 1, [("h1", 10), ("h3", 11)])
    h1, h3 = lan1["h1"], lan1["h3"]
    h2 = lab.lan("rtr", 2, [("h2", 10)])["h2"]
    for host in ("h1", "h2", "h3"):
        lab.sysctl(host, "net.ipv4.conf.eth0.force_igmp_version", 3)

    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"),
        {"up0": {"igmp-querier": "no"}, "up1": {"igmp-querier": "no"},
         # A static (S, G) only (its source on dn1's own link: no upstream join).
         "dn1": {"static-groups": f"{STATIC_GROUP} source {h1}"}, "dn2": {}},
        sock, log_level="info",
        # fail-open-after at its default (1s): a short one would let a pgmd stall on busy
        # cores flip the first phases into failing open unnoticed.
        extra=f"[dataplane]\nfast-path = {args.fast_path}\nfail-open-after = 1s\n")
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=4)

    joiners = {"h1": lab.start("join-h1", [netlab.PYTHON, "-c", JOINER, GROUP, h1, S1], "h1"),
               "h2": lab.start("join-h2", [netlab.PYTHON, "-c", JOINER, GROUP, h2], "h2")}
    for name in joiners:
        wait_until(lambda: "joined" in lab.text(f"join-{name}", "out"), 10, f"{name} to join")

    def show_groups():
        return netlab.pgmctl(args.pgmctl, sock, "show", "groups")

    def learnt():
        g = show_groups()
        g1, g2 = group_of(g, "dn1"), group_of(g, "dn2")
        return (g1 is not None and g2 is not None and
                any(s.get("address") == S1 for s in g1.get("sources", [])) and
                g2.get("any_source") is True and
                {"group": GROUP, "source": S1} in interface(g, "up0").get("joined_sources", []))
    wait_until(learnt, 15, "pgmd to learn h1's (S1, G) and h2's (*, G) and join (S1, G) on up0")

    problems = []
    groups = show_groups()
    g1 = group_of(groups, "dn1")
    want_g1 = {"mode": "include", "any_source": False, "source": "igmp",
               "sources": [{"address": S1, "origin": "igmp", "wanted": True}]}
    got_g1 = {k: g1.get(k) for k in ("mode", "any_source", "source")}
    got_g1["sources"] = [{k: s.get(k) for k in ("address", "origin", "wanted")}
                         for s in g1.get("sources", [])]
    if got_g1 != want_g1:
        problems.append(f"show groups dn1: {g1}, want {want_g1}")
    g2 = group_of(groups, "dn2")
    if g2.get("mode") != "exclude" or g2.get("sources") != []:
        problems.append(f"show groups dn2: {g2}, want exclude mode, no sources")
    static = [g for g in interface(groups, "dn1").get("groups", [])
              if g.get("group") == STATIC_GROUP]
    if [g.get("source") for g in static] != ["static"]:
        problems.append(f"show groups dn1: {static}, want {STATIC_GROUP} with source static "
                        "(a static (S, G) only)")
    if interface(groups, "up1").get("joined_sources") != []:
        problems.append(f"up1 joined {interface(groups, 'up1').get('joined_sources')}: "
                        "nobody asked for S2 source-specific")
    if (GROUP, S1) not in mcfilter(lab, "rtr", "up0"):
        problems.append(f"/proc/net/mcfilter of rtr has no ({GROUP}, {S1}) on up0: "
                        f"{lab.sh('cat', '/proc/net/mcfilter', ns='rtr').stdout}")
    text = netlab.pgmctl(args.pgmctl, sock, "show", "groups", json_out=False)
    rows = [line.split() for line in text.splitlines()]
    for want in (["INTERFACE", "STATE", "QUERIER", "GROUP", "SOURCES", "MEMBERS", "EXPIRES",
                  "JOINED"],
                 ["up0", "served", "off", GROUP, S1, "-", "-", S1]):
        if want not in rows:
            problems.append(f"show groups text lacks {want}:\n{text}")
    for name, sources in (("dn1", S1), ("dn2", "any")):
        if not any(r[:1] == [name] and GROUP in r and r[r.index(GROUP) + 1] == sources
                   and r[r.index(GROUP) + 2] == "igmp" for r in rows):
            problems.append(f"show groups text: no {name} row with SOURCES {sources}:\n{text}")
    lab.raise_problems(problems)

    seen = send_both(args, lab, problems, "", start_delay=0.5)
    h1_s1, h1_s2 = seen["h1"].get(S1, {}), seen["h1"].get(S2, {})
    h2_s1, h2_s2 = seen["h2"].get(S1, {}), seen["h2"].get(S2, {})
    if h1_s1.get("odata") != COUNT or not h1_s1.get("spm"):
        problems.append(f"h1 (wants {S1} only) got from {S1}: {h1_s1}, want {COUNT} ODATA "
                        "and SPMs")
    if h1_s2:
        problems.append(f"h1 (wants {S1} only) got from {S2}: {h1_s2}, want nothing")
    for source, got in ((S1, h2_s1), (S2, h2_s2)):
        if got.get("odata") != COUNT or not got.get("spm"):
            problems.append(f"h2 (any source) got from {source}: {got}, want {COUNT} ODATA "
                            "and SPMs")

    fp = netlab.pgmctl(args.pgmctl, sock, "show", "fastpath")
    if args.fast_path == "on":
        ups = {i.get("name"): i for i in fp.get("interfaces", [])}
        if fp.get("mode") != "kernel" or fp.get("sessions_in_kernel") != 2:
            problems.append(f"show fastpath: {fp}, want both sessions in the kernel")
        for up in ("up0", "up1"):
            if not ups.get(up, {}).get("forwarded_packets"):
                problems.append(f"show fastpath: the kernel forwarded nothing from {up}: "
                                f"{ups.get(up)}")
    elif fp.get("mode") != "off":
        problems.append(f"show fastpath: {fp}, want off")
    lab.raise_problems(problems)

    # h3 joins any-source on h1's link: dn1's group turns EXCLUDE mode, and pgmd must stay
    # joined (S1, G) on up0 for h1 (an SSM router upstream sends S1 only when asked).
    joiners["h3"] = lab.start("join-h3", [netlab.PYTHON, "-c", JOINER, GROUP, h3], "h3")
    wait_until(lambda: (group_of(show_groups(), "dn1") or {}).get("mode") == "exclude", 15,
               "h3's any-source join to turn dn1's group EXCLUDE mode")
    groups = show_groups()
    if ({"group": GROUP, "source": S1} not in interface(groups, "up0").get("joined_sources", [])
            or (GROUP, S1) not in mcfilter(lab, "rtr", "up0")):
        problems.append(f"up0 left ({S1}, {GROUP}) when an any-source member joined on dn1: "
                        f"{interface(groups, 'up0')}")
    lab.raise_problems(problems)
    lab.stop_proc(joiners["h3"])
    wait_until(lambda: (group_of(show_groups(), "dn1") or {}).get("mode") == "include", 15,
               "dn1's group back to INCLUDE mode after h3 left")

    # h1 leaves: the kernel reports BLOCK {S1} / TO_IN {}; pgmd asks Q(G,{S1}) and, nobody
    # answering, drops the membership and the upstream join.
    lab.stop_proc(joiners["h1"])

    def left():
        g = show_groups()
        return (group_of(g, "dn1") is None and
                interface(g, "up0").get("joined_sources") == [] and
                (GROUP, S1) not in mcfilter(lab, "rtr", "up0"))
    wait_until(left, 15, "pgmd to drop h1's (S1, G) and leave it on up0")
    if group_of(show_groups(), "dn2") is None:
        problems.append("h2's membership went with h1's")
    lab.raise_problems(problems)
    failing_open = ""
    if args.fast_path == "on":
        failing_open = fail_open(args, lab, h1, show_groups)
    print(f"{NAME} fast path {args.fast_path}: h1 got {h1_s1} from {S1} and nothing from {S2}; "
          f"h2 got {h2_s1} and {h2_s2}; up0 joined ({S1}, {GROUP}) and left it after h1 left"
          f"{failing_open}")


def send_both(args, lab, problems, tag, start_delay):
    """One pgmsend session of COUNT ODATA from each source, captured on h1's and h2's links:
    {host: pgm_by_source}."""
    captures = {host: lab.capture(f"{host}{tag}", host, "eth0") for host in ("h1", "h2")}
    senders = []
    for src, address in (("src1", S1), ("src2", S2)):
        senders.append((src, lab.start(f"send-{src}{tag}", [
            args.pgmsend, "--interface", address, "--group", GROUP, "--port", str(DPORT),
            "--size", "200", "--count", str(COUNT), "--rate", "200000", "--linger", "1",
            "--start-delay", str(start_delay), "--json", "--quiet"], src)))
    for src, p in senders:
        rc = lab.wait_proc(p, 60)
        if rc != 0:
            problems.append(f"pgmsend on {src} exit {rc}: "
                            f"{lab.text(f'send-{src}{tag}')[-1500:]}")
    for host in captures:
        lab.stop_capture(f"{host}{tag}")
    lab.raise_problems(problems)
    return {host: pgm_by_source(pcap) for host, pcap in captures.items()}


def fail_open(args, lab, h1, show_groups):
    """pgmd killed with h1 INCLUDE {S1} on dn1 and h2 any source on dn2: the program left
    behind must keep S2 off h1's link (D39). Returns a line for the summary."""
    joiner = lab.start("join-h1-again", [netlab.PYTHON, "-c", JOINER, GROUP, h1, S1], "h1")
    wait_until(lambda: "joined" in lab.text("join-h1-again", "out"), 10, "h1 to join again")
    wait_until(lambda: any(s.get("address") == S1
                           for s in (group_of(show_groups(), "dn1") or {}).get("sources", [])),
               15, "pgmd to learn h1's (S1, G) again")
    p = lab.proc("pgmd")
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    # The heartbeat is stale 1 s (fail-open-after) after pgmd's last one; the senders start
    # 2.5 s after the kill, so every packet meets the program failing open (one punted to the
    # dead pgmd would be lost, and the counts below would fall short).
    problems = []
    seen = send_both(args, lab, problems, "-failopen", start_delay=2.5)
    h1_s1, h1_s2 = seen["h1"].get(S1, {}), seen["h1"].get(S2, {})
    h2_s1, h2_s2 = seen["h2"].get(S1, {}), seen["h2"].get(S2, {})
    if h1_s1.get("odata") != COUNT:
        problems.append(f"failing open, h1 (INCLUDE {{{S1}}}) got from {S1}: {h1_s1}, "
                        f"want {COUNT} ODATA")
    if h1_s2:
        problems.append(f"failing open, h1 (INCLUDE {{{S1}}}) got from {S2}: {h1_s2}, "
                        "want nothing (the program ignored the source)")
    for source, got in ((S1, h2_s1), (S2, h2_s2)):
        if got.get("odata") != COUNT:
            problems.append(f"failing open, h2 (any source) got from {source}: {got}, "
                            f"want {COUNT} ODATA")
    lab.raise_problems(problems)
    lab.stop_proc(joiner)
    return (f"; failing open (pgmd killed) h1 got {h1_s1} from {S1} and nothing from {S2}, "
            f"h2 got {h2_s1} and {h2_s2}")


def main():
    def add_args(ap):
        ap.add_argument("--fast-path", choices=("on", "off"), required=True)
    return netlab.lab_main(NAME, "ssm", run, ("pgmd", "pgmctl", "pgmsend"),
                           needs=("ip", "tcpdump"), add_args=add_args)


if __name__ == "__main__":
    sys.exit(main())
