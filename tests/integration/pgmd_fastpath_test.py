#!/usr/bin/python3
"""pgmd_fastpath_test: pgmd's kernel fast path (decisions.md D31, dataplane/bpf/fastpath_abi.h)
with real OpenPGM traffic between network namespaces.

Topology (netlab.py), the same in every scenario:

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- p0 bridge lan1 --- r11
                                     dn2 10.2.2.1 --- p0 bridge lan2 --- r21, r22

rtr's kernel has no multicast route: pgmd (its tc program on up0, or pgmd itself) is the only
forwarder of the group. Loss is injected in lan2's bridge (forward hook, from p0), i.e. AFTER
the capture on lan2's p0, so the LAN captures show exactly what the router sent onto each LAN.
Every ODATA check below is made on those p0 captures (taken inside the bridge namespaces:
they see the kernel's bpf_clone_redirect copies as any receiver would).

--scenario exact ([dataplane] fast-path = on; 1 s fail-open-after): one transfer of COUNT
  messages, ODATA sequences LOST dropped on lan2. Asserts: every receiver completes; on each
  LAN every ODATA sequence the source sent (its s0 capture) appears exactly once and no
  other; the source's link carries exactly one NAK per lost sequence, all from pgmd
  (10.1.0.2); lan2 gets NCFs for every lost sequence and RDATA for exactly those, lan1 no
  RDATA; `pgmctl -j show fastpath`: mode kernel, every interface in kernel mode, up0's
  forwarded_packets > 0 and forwarded_packets + punted_packets == the source's ODATA,
  out_packets of dn1 and dn2 == up0's forwarded_packets, nothing lost, dropped or failed
  open; `show counters`: InOdata of up0 == the source's ODATA, OutOdata of dnN == the
  ODATA on lanN. Before the transfer dn2's MAC address is changed: show fastpath shows the
  new one, and every ODATA on lan2 carries it as its Ethernet source (lan1: dn1's).
--scenario off: the same with fast-path = off: the same capture and counter checks, and
  show fastpath says mode off, reason "off in the configuration ...", every interface in
  user space.
--scenario restart (fail-open-after = 200ms; dn1/dn2 have the group as static-groups, see
  restart-igmp): a paced transfer (no loss); once pgmd's session lead shows a quarter of it,
  SIGKILL pgmd; wait (bounded polls) until each LAN shows an SPM with the source's own path
  NLA (only the failing-open program forwards those unchanged: a live pgmd rewrites the
  path to its dnN address) and the dead pgmd's program (its fp_if_stats map, read with
  bpftool: the filter keeps it alive) counts 50 packets forwarded failing open; then start
  pgmd again with the same configuration. Asserts: on each LAN every ODATA sequence of the
  transfer appears exactly once (no duplicate at either switch-over, no gap), no RDATA on
  the LANs (nobody missed anything), every receiver completes, the new pgmd serves (show
  fastpath mode kernel, the session in show sessions with upstream up0 and in the kernel
  table, up0 forwarded_packets > 0); after the data, the restarted pgmd logged dn1's
  members kept from the dead one once, and a flap of dn1 does not make them up again.
--scenario restart-igmp: the same with the LANs' membership learnt from IGMP only. A
  restarted pgmd starts with no members of its own; it takes the members the dead pgmd had
  learnt from the fail-open groups of the program it replaces (FastPath::inherited_groups),
  so the ODATA keeps reaching the LANs while its General Query is answered. Without that,
  each LAN missed the stretch until its receivers reported (~0.25-0.5 s of ODATA here).
--scenario failopen (fail-open-after = 200ms): a paced transfer with 3 % random ODATA
  loss on lan2; SIGKILL pgmd a fifth into it and do not restart until it is done.
  Asserts: every receiver completes; each LAN's capture has every ODATA exactly once
  (the kernel forwarded all of them, before and after the heartbeat went stale); after
  the kill no NAK on the source's link comes from pgmd, and lan2's receivers NAKed the
  source directly (10.2.2.x -> 10.1.0.1, through the kernel's unicast forwarding); lan2
  saw the source's own SPMs and the dead pgmd's program counted packets forwarded failing
  open. Then pgmd is started again and a second short
  transfer (new source and receivers) with LOST dropped on lan2 runs through it: receivers
  complete, exactly one NAK per lost sequence on the source's link, all from pgmd, every
  ODATA exactly once per LAN, show fastpath mode kernel.
--scenario exit: pgmd with on-exit = remove, SIGTERM: its tc filter (handle 0x5047) is on
  up0, dn1 and dn2 while it runs and on none after; the same with on-exit = fail-open: the
  filters stay (to fail open) and pgmd says so in its log.
--scenario all (default): every scenario above in turn, each in its own lab.

Every process is stopped and every namespace deleted, also on failure (netlab's Lab; a
SIGKILLed pgmd's tc filter goes with its namespace).

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing: ip, nft, tcpdump,
bpftool).
"""
import argparse
import datetime
import json
import os
import signal
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, decode, find_sessions, nak_sqns, wait_until  # noqa: E402

NAME = "pgmd_fastpath"
STEM = "pgmdfp"
GROUP = "239.192.0.1"
DPORT = 7500
SOURCE = "10.1.0.1"
RTR_UP = "10.1.0.2"
SIZE = 200
LOST = [10, 20, 21, 35, 60, 61, 62, 150]  # deterministic ODATA loss on lan2
RECEIVERS = {"r11": "10.2.1.11", "r21": "10.2.2.11", "r22": "10.2.2.12"}
LANS = {"lan1": "10.2.1.1", "lan2": "10.2.2.1"}  # bridge namespace: pgmd's dnN address
SCENARIOS = ("exact", "off", "restart", "restart-igmp", "failopen", "exit")
# A tcpdump filter for SPMs whose path NLA is the source itself: native PGM, no IP options
# (OpenPGM sets no Router Alert unless told to), PGM type 0x02, the NLA at PGM offset 32
# (16-byte header, SPM sqn, trail, lead, AFI, reserved). A live pgmd rewrites the path to its
# own address; only the failing-open program forwards it as the source sent it.
NEW_DN2_MAC = "02:50:47:4d:d2:02"  # dn2's address changed in the exact scenario
SOURCE_PATH_SPM = "ip proto 113 and ip[0] = 0x45 and ip[24] = 0x00 and ip[52:4] = 0x0a010001"


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", *RECEIVERS)
    lab.source_router(source=SOURCE, rtr_up=RTR_UP)
    lab.lan("rtr", 1, [("r11", 11)])
    lab.lan("rtr", 2, [("r21", 11), ("r22", 12)])


def write_conf(lab, fast_path, fail_open_after=None, static_groups=False, name="pgmd"):
    dataplane = f"[dataplane]\nfast-path = {fast_path}\n"
    if fail_open_after:
        dataplane += f"fail-open-after = {fail_open_after}\n"
    interfaces = netlab.rtr_interfaces(GROUP, 2)
    if static_groups:
        for dn in ("dn1", "dn2"):
            interfaces[dn]["static-groups"] = GROUP
    return netlab.pgmd_conf(
        lab.path(f"{name}.conf"), interfaces, lab.path(f"{name}.sock"),
        log_level="info", timers={"nak-rpt-ivl": "1s"},
        extra=dataplane + "[igmp]\nquery-response-interval = 1s\n")


def ctl(args, lab, *command, sock="pgmd.sock", timeout_s=10):
    return netlab.pgmctl(args.pgmctl, lab.path(sock), *command, timeout_s=timeout_s)


def try_ctl(args, lab, *command):
    try:
        return ctl(args, lab, *command, timeout_s=2)
    except (Failure, OSError, ValueError):
        return None


def data_seen(args, lab, sqn, count):
    """pgmd's session has ODATA `sqn` or later (of the COUNT, whose sequences start at 0):
    the lead is in [sqn, count). (OpenPGM's first SPMs advertise lead 0xFFFFFFFF, an empty
    window: not data.)"""
    j = try_ctl(args, lab, "show", "sessions")
    s = find_sessions(j) if j is not None else []
    lead = s[0].get("lead") if len(s) == 1 else None
    return lead is not None and sqn <= lead < count


def good_session(args, lab):
    j = try_ctl(args, lab, "show", "sessions")
    s = find_sessions(j) if j is not None else []
    return len(s) == 1 and s[0].get("upstream_interface") == "up0" and \
        s[0].get("upstream_neighbour") == SOURCE


def start_captures(lab, suffix=""):
    caps = {"src" + suffix: lab.capture("src" + suffix, "src", "s0")}
    for lan in LANS:
        caps[lan + suffix] = lab.capture(lan + suffix, lan, "p0")
    return caps


def stop_captures(lab, caps):
    for name in caps:
        lab.stop_capture(name)
    return {name: decode(lab.pgmdump, pcap) for name, pcap in caps.items()}


def odata_sqns(packets):
    return Counter(p["sqn"] for p in packets if p.get("type") == "ODATA" and
                   p.get("ip_src") == SOURCE and p.get("ip_dst") == GROUP)


def exactly_once(where, lan_packets, sent, count):
    """Problems unless the LAN capture has each ODATA sequence of `sent` (the source's)
    exactly once, and the source sent `count` distinct sequences once each."""
    problems = []
    if len(sent) != count or any(n != 1 for n in sent.values()):
        problems.append(f"the source sent {sum(sent.values())} ODATA for {len(sent)} "
                        f"sequences, want {count} once each")
    got = odata_sqns(lan_packets)
    dups = {s: n for s, n in got.items() if n > 1}
    missing = sorted(set(sent) - set(got))
    extra = sorted(set(got) - set(sent))
    if dups or missing or extra:
        problems.append(f"{where}: ODATA duplicated {dict(list(dups.items())[:20])} "
                        f"({len(dups)} sequences), missing {missing[:20]} ({len(missing)}), "
                        f"not sent by the source {extra[:20]}")
    return problems


def iface(fastpath, name):
    for i in fastpath.get("interfaces", []):
        if i.get("name") == name:
            return i
    return {}


def if_counter(counters, name, key):
    for i in counters.get("interfaces", []):
        if i.get("name") == name:
            return i.get("counters", {}).get(key)
    return None


def start_receivers(args, lab, count, timeout_ms=60000):
    for name in RECEIVERS:  # a second run reuses the namespaces' names and ready files
        try:
            os.unlink(lab.path(name + ".ready"))
        except FileNotFoundError:
            pass
    return lab.start_openpgm_receivers(args.recv, GROUP, DPORT, count, RECEIVERS,
                                       ["--rxw-sqns", str(max(4096, 2 * count))],
                                       timeout_ms=timeout_ms)


def start_send(args, lab, count, rate_bps, name="send", spm_ms=200):
    return lab.start_openpgm_send(args.send, SOURCE, GROUP, DPORT, count, SIZE, rate_bps, [
        "--txw-sqns", str(2 * count), "--ambient-spm-ms", str(spm_ms), "--linger-ms",
        "60000", "--start-delay-ms", "1000"], name=name)


def link_mac(lab, ns, dev):
    return json.loads(lab.sh("ip", "-j", "link", "show", "dev", dev, ns=ns).stdout)[0]["address"]


def odata_sources(lab, caps, want):
    """Problems unless every ODATA frame of the source on each LAN capture in `want` has
    that LAN's Ethernet source {lan: "aa:bb:..."} (the router's egress MAC)."""
    problems = []
    for lan, mac in want.items():
        macs = Counter()
        for f in netlab.pcap_frames(caps[lan]):
            if len(f) >= 39 and f[12:14] == b"\x08\x00" and f[23] == 113 and \
                    f[26:30] == bytes(map(int, SOURCE.split("."))):
                ihl = (f[14] & 0x0f) * 4
                if len(f) > 14 + ihl + 4 and f[14 + ihl + 4] & 0x0f == 0x04:
                    macs[f[6:12].hex(":")] += 1
        if set(macs) != {mac}:
            problems.append(f"{lan}: ODATA Ethernet sources {dict(macs)}, want {mac} only")
    return problems


def check_fastpath_kernel(fp, where):
    problems = []
    if fp.get("mode") != "kernel":
        problems.append(f"{where}: show fastpath mode {fp.get('mode')} "
                        f"({fp.get('reason')}), want kernel")
    for name in ("up0", "dn1", "dn2"):
        if iface(fp, name).get("mode") != "kernel":
            problems.append(f"{where}: show fastpath {name}: {iface(fp, name)}, want kernel")
    return problems


# -- scenarios exact and off ------------------------------------------------------------------
def run_exact(args, lab, fast_path):
    count, rate = 300, 400000
    build(lab)
    lab.drop_odata("lan2", LOST, family="bridge", iif="p0")
    conf = write_conf(lab, fast_path)
    caps = start_captures(lab)
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    receivers = start_receivers(args, lab, count)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    if fast_path == "on":
        # A MAC address changed while pgmd serves: the program's copies must carry the new one.
        lab.sh("ip", "link", "set", "dev", "dn2", "address", NEW_DN2_MAC, ns="rtr")
        netlab.wait_until(lambda: iface(try_ctl(args, lab, "show", "fastpath") or {},
                                        "dn2").get("mac") == NEW_DN2_MAC,
                          10, f"show fastpath: dn2's mac {NEW_DN2_MAC}")
    start_send(args, lab, count, rate)
    problems = lab.finish_receivers(receivers, 60)
    lab.stop_proc("send")  # no more ODATA or SPM: the counters below stay still
    pkts = stop_captures(lab, caps)
    if fast_path == "on":
        problems += odata_sources(lab, caps, {"lan1": link_mac(lab, "rtr", "dn1"),
                                              "lan2": NEW_DN2_MAC})
    fp = ctl(args, lab, "show", "fastpath")
    counters = ctl(args, lab, "show", "counters")
    if not good_session(args, lab):
        problems.append(f"show sessions: {ctl(args, lab, 'show', 'sessions')}")
    rc = lab.stop_proc("pgmd")
    if rc != 0:
        problems.append(f"pgmd exit {rc} on SIGTERM")
    dropped = lab.nft_counter("lan2", "bridge", "pgmloss")

    src, lan1, lan2 = pkts["src"], pkts["lan1"], pkts["lan2"]
    sent = odata_sqns(src)
    n_sent = sum(sent.values())
    problems += exactly_once("lan1", lan1, sent, count)
    problems += exactly_once("lan2", lan2, sent, count)
    if dropped != 2 * len(LOST):  # two receivers behind lan2's bridge: two copies each
        problems.append(f"lan2's loss rule dropped {dropped} ODATA, want {2 * len(LOST)}")
    naks = [p for p in src if p.get("type") == "NAK"]
    senders = {(p["ip_src"], p["ip_dst"]) for p in naks}
    if senders != {(RTR_UP, SOURCE)}:
        problems.append(f"NAKs on the source's link {senders}, want {RTR_UP} -> {SOURCE} only")
    if (problem := netlab.one_nak_per_loss(naks, LOST, lan2, LANS["lan2"])):
        problems.append(f"source's link: {problem}")
    ncfs = {s for p in lan2 if p.get("type") == "NCF" for s in nak_sqns(p)}
    if not set(LOST) <= ncfs:
        problems.append(f"NCFs on lan2 for {sorted(ncfs)}, want at least {LOST}")
    rdata2 = {p["sqn"] for p in lan2 if p.get("type") == "RDATA"}
    if rdata2 != set(LOST):
        problems.append(f"RDATA on lan2 for {sorted(rdata2)}, want {LOST}")
    rdata1 = [p["sqn"] for p in lan1 if p.get("type") == "RDATA"]
    if rdata1:
        problems.append(f"RDATA on the loss-free lan1: {rdata1}")

    expect_counters = {("up0", "InOdata"): n_sent,
                       ("dn1", "OutOdata"): sum(odata_sqns(lan1).values()),
                       ("dn2", "OutOdata"): sum(odata_sqns(lan2).values())}
    for (name, key), want in expect_counters.items():
        got = if_counter(counters, name, key)
        if got != want:
            problems.append(f"show counters {name} {key} = {got}, the captures show {want}")

    up0, dn1, dn2 = iface(fp, "up0"), iface(fp, "dn1"), iface(fp, "dn2")
    if fast_path == "on":
        problems += check_fastpath_kernel(fp, "exact")
        fwd, punted = up0.get("forwarded_packets", 0), up0.get("punted_packets", 0)
        if not fwd > 0:
            problems.append(f"up0 forwarded_packets {fwd}: the kernel forwarded nothing")
        if fwd + punted != n_sent:
            problems.append(f"up0 forwarded_packets {fwd} + punted_packets {punted} = "
                            f"{fwd + punted}, the source sent {n_sent} ODATA")
        for name, i in (("dn1", dn1), ("dn2", dn2)):
            if i.get("out_packets") != fwd:
                problems.append(f"{name} out_packets {i.get('out_packets')}, want up0's "
                                f"forwarded_packets {fwd} (one copy each)")
        for name, i in (("up0", up0), ("dn1", dn1), ("dn2", dn2)):
            for key in ("punt_lost_packets", "drop_ttl", "drop_redirect_error",
                        "failopen_packets"):
                if i.get(key):
                    problems.append(f"show fastpath {name} {key} = {i.get(key)}, want 0")
        summary = (f"kernel forwarded {fwd}, punted {punted}, copies dn1 "
                   f"{dn1.get('out_packets')} dn2 {dn2.get('out_packets')}")
    else:
        if fp.get("mode") != "off" or \
                not str(fp.get("reason", "")).startswith("off in the configuration"):
            problems.append(f"show fastpath mode {fp.get('mode')} reason {fp.get('reason')!r}, "
                            "want off, 'off in the configuration ...'")
        for name, i in (("up0", up0), ("dn1", dn1), ("dn2", dn2)):
            if i.get("mode") != "user space" or i.get("forwarded_packets") or \
                    i.get("out_packets"):
                problems.append(f"show fastpath {name}: {i}, want user space, nothing "
                                "forwarded in the kernel")
        summary = "fast path off"
    lab.raise_problems(problems)
    print(f"{NAME} {'exact' if fast_path == 'on' else 'off'}: {n_sent} ODATA once on each "
          f"LAN, NAKs upstream {dict(netlab.naks_per_sqn(naks))}, counters "
          f"{ {f'{k[0]}.{k[1]}': v for k, v in expect_counters.items()} }, {summary}")


# -- scenario restart -------------------------------------------------------------------------
def wait_failing_open(lab, caps, limit_s):
    """Until each LAN's SOURCE_PATH_SPM capture holds a packet (pcap header: 24 bytes)."""
    def seen():
        return all(os.path.getsize(pcap) > 24 for pcap in caps.values())
    wait_until(seen, limit_s, "the source's own SPMs on both LANs (the program failing open)")


def program_counters(lab, fastpath, name="up0"):
    """Interface `name`'s counters in the fp_if_stats map of the program `fastpath` (a
    `show fastpath` reply) describes, summed over the CPUs, read with bpftool: the filter
    keeps the program and its maps alive after pgmd died, so this reads a dead pgmd's
    program. The map is a per-CPU array indexed by the interface's slot (show fastpath).
    {} when there is no entry."""
    slot = iface(fastpath, name).get("slot")
    r = lab.sh("bpftool", "-j", "map", "dump", "id", str(fastpath["maps"]["fp_if_stats"]))
    total = Counter()
    for entry in json.loads(r.stdout):
        entry = entry.get("formatted", {})  # with BTF: field names (the raw part is bytes)
        if slot is not None and entry.get("key") == slot:
            for v in entry.get("values", []):
                total.update(v.get("value", {}))
    return dict(total)


def kill_pgmd(lab, name="pgmd"):
    p = lab.proc(name)
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    return time.monotonic()


def run_restart(args, lab, static_groups=True):
    count, rate = 2000, 400000  # ~250 messages/s: ~8 s of data
    build(lab)
    conf = write_conf(lab, "on", fail_open_after="200ms", static_groups=static_groups)
    caps = start_captures(lab)
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    receivers = start_receivers(args, lab, count)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    start_send(args, lab, count, rate)
    wait_until(lambda: data_seen(args, lab, count // 4, count), 20,
               f"pgmd to see ODATA {count // 4}", interval_s=0.1)
    spm_caps = {lan: lab.capture(f"spm-{lan}", lan, "p0", bpf=SOURCE_PATH_SPM) for lan in LANS}
    old = ctl(args, lab, "show", "fastpath")
    killed = kill_pgmd(lab)
    wait_failing_open(lab, spm_caps, 5)
    # Some ODATA (~0.2 s of it) forwarded by the dead pgmd's program failing open.
    wait_until(lambda: program_counters(lab, old).get("failopen_packets", 0) >= 50, 5,
               "the dead pgmd's program to forward 50 packets failing open")
    outage = time.monotonic() - killed
    old_up0 = program_counters(lab, old)
    lab.start_pgmd("pgmd2", args.pgmd, "rtr", conf, served=3)
    restarted = time.monotonic()
    problems = []
    try:
        wait_until(lambda: good_session(args, lab), 5, "the restarted pgmd to learn the session")
        wait_until(lambda: (try_ctl(args, lab, "show", "fastpath") or {}).get(
            "sessions_in_kernel") == 1, 5, "the restarted pgmd to install the session")
    except Failure as e:
        problems.append(str(e))
    learnt = time.monotonic() - restarted
    problems += lab.finish_receivers(receivers, 60)
    lab.stop_proc("send")
    for name in spm_caps:
        lab.stop_capture(f"spm-{name}")
    pkts = stop_captures(lab, caps)
    fp = ctl(args, lab, "show", "fastpath")
    problems += check_fastpath_kernel(fp, "restarted pgmd")
    if not iface(fp, "up0").get("forwarded_packets"):
        problems.append(f"the restarted pgmd's kernel forwarded nothing: {iface(fp, 'up0')}")
    if not good_session(args, lab):
        problems.append(f"restarted pgmd, show sessions: {ctl(args, lab, 'show', 'sessions')}")
    # The dead pgmd's members apply to the restarted one's start only: a link flap (after the
    # data) serves dn1 again without making them up once more.
    # Only the inheritance line counts: "dn1: members of G now static" may follow it (when
    # the static group's own entry replaces the inherited one, timing dependent).
    def kept_dn1() -> int:
        return sum(1 for line in lab.text("pgmd2").splitlines()
                   if "dn1: members of " in line and "kept from the previous pgmd" in line)

    if kept_dn1() != 1:
        problems.append(f"dn1's members were not kept from the dead pgmd once at start: "
                        f"{kept_dn1()} lines")
    lab.pgmd_link_down("pgmd2", "rtr", "dn1")
    lab.pgmd_link_up("pgmd2", "rtr", "dn1")
    if kept_dn1() != 1:
        problems.append("the dead pgmd's members were made up again when dn1 came back up")
    rc = lab.stop_proc("pgmd2")
    if rc != 0:
        problems.append(f"the restarted pgmd exit {rc} on SIGTERM")
    sent = odata_sqns(pkts["src"])
    for lan in LANS:
        problems += exactly_once(lan, pkts[lan], sent, count)
        rdata = sorted({p["sqn"] for p in pkts[lan] if p.get("type") == "RDATA"})
        if rdata:
            problems.append(f"{lan}: RDATA for {rdata[:20]} ({len(rdata)}): a receiver "
                            "missed ODATA")
    naks = sum(1 for lan in LANS for p in pkts[lan] if p.get("type") == "NAK")
    lab.raise_problems(problems, log="pgmd2")
    label = "restart" if static_groups else "restart-igmp"
    print(f"{NAME} {label}: killed at ODATA >= {count // 4}, failing open seen on both LANs "
          f"{outage:.2f}s after the kill (the dead program: "
          f"{old_up0.get('failopen_packets')} failing open, "
          f"{old_up0.get('in_forwarded_packets')} forwarded in the kernel), session relearnt "
          f"{learnt:.2f}s after the restart; {sum(sent.values())} ODATA exactly once on each "
          f"LAN, {naks} NAKs on the LANs")


# -- scenario failopen ------------------------------------------------------------------------
def run_failopen(args, lab):
    count, rate = 1500, 400000  # ~6 s of data
    build(lab)
    lab.drop_random("lan2", 3, family="bridge", iif="p0")
    conf = write_conf(lab, "on", fail_open_after="200ms")
    caps = start_captures(lab)
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    receivers = start_receivers(args, lab, count)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    start_send(args, lab, count, rate)
    wait_until(lambda: data_seen(args, lab, count // 5, count), 20,
               f"pgmd to see ODATA {count // 5}", interval_s=0.1)
    old = ctl(args, lab, "show", "fastpath")
    killed_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    kill_pgmd(lab)
    problems = lab.finish_receivers(receivers, 60)
    lab.stop_proc("send")
    old_up0 = program_counters(lab, old)
    if not old_up0.get("failopen_packets"):
        problems.append(f"the dead pgmd's program forwarded nothing failing open: {old_up0}")
    pkts = stop_captures(lab, caps)
    dropped = lab.nft_counter("lan2", "bridge", "pgmrand")
    src, lan2 = pkts["src"], pkts["lan2"]
    sent = odata_sqns(src)
    for lan in LANS:
        problems += exactly_once(f"{lan} (pgmd killed mid-transfer)", pkts[lan], sent, count)
    after = [p for p in src if p.get("type") == "NAK" and netlab.when(p) > killed_at]
    from_pgmd = [p for p in after if p["ip_src"] == RTR_UP]
    direct = [p for p in after if p["ip_src"] in (RECEIVERS["r21"], RECEIVERS["r22"]) and
              p["ip_dst"] == SOURCE]
    if from_pgmd:
        problems.append(f"{len(from_pgmd)} NAKs from the killed pgmd after the kill")
    if not direct:
        problems.append(f"no NAK from lan2's receivers to the source after the kill "
                        f"(NAK senders after it: {sorted({p['ip_src'] for p in after})}; "
                        f"{dropped} ODATA dropped on lan2)")
    spm_paths = {p.get("path") for p in lan2 if p.get("type") == "SPM"}
    if SOURCE not in spm_paths:
        problems.append(f"no SPM with the source's path on lan2 (paths {spm_paths}): "
                        "not failing open")
    direct_sqns = {s for p in direct for s in nak_sqns(p)}
    lab.raise_problems(problems)
    log(f"failopen part 1: {dropped} ODATA dropped on lan2, {len(direct)} NAKs from the "
        f"receivers straight to the source for {len(direct_sqns)} sequences; the dead "
        f"program forwarded {old_up0.get('failopen_packets')} packets failing open; "
        "receivers complete")

    # Part 2: pgmd back, a new source and receivers, deterministic loss on lan2.
    lab.sh("nft", "delete", "table", "bridge", "pgmrand", ns="lan2")
    lab.drop_odata("lan2", LOST, family="bridge", iif="p0")
    count2 = 300
    lab.start_pgmd("pgmd2", args.pgmd, "rtr", conf, served=3)
    receivers = start_receivers(args, lab, count2)
    lab.wait_pgmd_groups("pgmd2", GROUP, {"dn1", "dn2"})
    caps = start_captures(lab, "-2")
    start_send(args, lab, count2, rate, name="send2")
    problems = lab.finish_receivers(receivers, 60)
    lab.stop_proc("send2")
    pkts = stop_captures(lab, caps)
    fp = ctl(args, lab, "show", "fastpath")
    rc = lab.stop_proc("pgmd2")
    if rc != 0:
        problems.append(f"the restarted pgmd exit {rc} on SIGTERM")
    problems += check_fastpath_kernel(fp, "restarted pgmd")
    if not iface(fp, "up0").get("forwarded_packets"):
        problems.append(f"the restarted pgmd's kernel forwarded nothing: {iface(fp, 'up0')}")
    src, lan2 = pkts["src-2"], pkts["lan2-2"]
    sent = odata_sqns(src)
    for lan in LANS:
        problems += exactly_once(f"{lan} (second transfer)", pkts[lan + "-2"], sent, count2)
    naks = [p for p in src if p.get("type") == "NAK"]
    senders = {(p["ip_src"], p["ip_dst"]) for p in naks}
    if senders != {(RTR_UP, SOURCE)}:
        problems.append(f"second transfer: NAKs on the source's link {senders}, want "
                        f"{RTR_UP} -> {SOURCE} only")
    if (problem := netlab.one_nak_per_loss(naks, LOST, lan2, LANS["lan2"])):
        problems.append(f"second transfer, source's link: {problem}")
    lab.raise_problems(problems, log="pgmd2")
    print(f"{NAME} failopen: pgmd killed mid-transfer, {dropped} ODATA lost on lan2 repaired "
          f"by the source ({len(direct)} direct NAKs), every ODATA once per LAN; after the "
          f"restart NAKs upstream {dict(netlab.naks_per_sqn(naks))}")


def pgmd_filters(lab):
    """{interface: "tc filter show" text} of rtr's served interfaces: pgmd's filter is the
    bpf one at handle 0x5047."""
    return {dev: lab.sh("tc", "filter", "show", "dev", dev, "ingress", ns="rtr",
                        check=False).stdout for dev in ("up0", "dn1", "dn2")}


def run_exit(args, lab):
    """SIGTERM with on-exit = remove takes pgmd's program off every interface; with
    on-exit = fail-open it stays attached (and its heartbeat goes stale)."""
    build(lab)
    problems = []
    for on_exit, stays in (("remove", False), ("fail-open", True)):
        name = f"pgmd-{on_exit}"
        conf = write_conf(lab, "on", fail_open_after="200ms", name=name)
        with open(conf) as f:  # into write_conf's [dataplane] section
            text = f.read().replace("[dataplane]\n", f"[dataplane]\non-exit = {on_exit}\n", 1)
        with open(conf, "w") as f:
            f.write(text)
        lab.start_pgmd(name, args.pgmd, "rtr", conf, served=3)
        before = pgmd_filters(lab)
        missing = [d for d, t in before.items() if "handle 0x5047" not in t]
        if missing:
            problems.append(f"on-exit {on_exit}: no pgmd filter on {missing} while running")
        rc = lab.stop_proc(name)
        if rc != 0:
            problems.append(f"on-exit {on_exit}: exit {rc} on SIGTERM")
        after = pgmd_filters(lab)
        left = sorted(d for d, t in after.items() if "handle 0x5047" in t)
        want = sorted(after) if stays else []
        if left != want:
            problems.append(f"on-exit {on_exit}: pgmd's filter left on {left}, want {want}")
        if stays and "leaving the kernel fast path attached" not in lab.text(name):
            problems.append(f"on-exit {on_exit}: pgmd did not log that it left the program")
    lab.raise_problems(problems, log="pgmd-fail-open")
    print(f"{NAME} exit: on-exit remove detaches, on-exit fail-open leaves the program")


RUNS = {
    "exit": run_exit,
    "exact": lambda args, lab: run_exact(args, lab, "on"),
    "off": lambda args, lab: run_exact(args, lab, "off"),
    "restart": run_restart,
    "restart-igmp": lambda args, lab: run_restart(args, lab, static_groups=False),
    "failopen": run_failopen,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for tool in ("pgmd", "pgmctl", "pgmdump", "send", "recv"):
        ap.add_argument("--" + tool, required=True)
    ap.add_argument("--scenario", choices=SCENARIOS + ("all",), default="all")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    skip = netlab.preflight(NAME, "ip", "nft", "tcpdump", "bpftool")
    if skip:
        return skip
    status = 0
    for scenario in SCENARIOS if args.scenario == "all" else (args.scenario,):
        def run(lab, scenario=scenario):
            lab.pgmdump = args.pgmdump
            t0 = time.monotonic()
            RUNS[scenario](args, lab)
            log(f"{scenario}: {time.monotonic() - t0:.1f}s")
        rc = netlab.run_lab(f"{NAME} {scenario}", STEM, run, keep_tmp=args.keep_tmp,
                            tmp_prefix=f"{NAME}.", catch_interrupt=True)
        status = max(status, rc)
        if rc == 130:
            break
    return status


if __name__ == "__main__":
    sys.exit(main())
