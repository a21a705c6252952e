#!/usr/bin/python3
"""pgmd_forwarding_bench.py: ODATA forwarding rate, pgmd against the kernel's own forwarding.

pgmd against every kernel baseline this machine has, in the same namespaces, in the same
run (issue 5, acceptance 6; issue "Everything works on a kernel without multicast routing").

Topology (network namespaces, veth pairs; N = --downstream, 1 or 3):

    snd 10.9.1.1 s0 --- r0 10.9.1.2 [rtr] r1 10.9.2.1 --- v0 10.9.2.2 rcv1
                                          r2 10.9.3.1 --- v0 10.9.3.2 rcv2   (N >= 2)
                                          rN 10.9.N+1.1 - v0 ...      rcvN

Forwarders (--forwarders, comma-separated; one runs in rtr at a time, started before and
stopped after every measurement):
  fanout         kernel fan-out with no multicast routing: tc clsact ingress on r0, u32
                 match (source 10.9.1.1, group 239.192.0.1), act_mirred copies to r1..rN
                 (netlab Lab.tc_fanout). Works on every kernel with cls_u32 and act_mirred.
  fanout_tap     (only when named) fanout with a capture tap on r0 (tcpdump, a filter
                 that rejects ODATA, as pgmd's capture on an interface with its fast path):
                 the cost of an AF_PACKET socket on the interface to every packet.
  mroute         kernel multicast routing: a static (S,G) route r0 -> r1..rN by smcrouted
                 (-N; or netlab's MRT_INIT helper when smcrouted is not installed). Only
                 where the kernel has CONFIG_IP_MROUTE (/proc/net/ip_mr_vif); elsewhere the
                 bench prints "mroute: skipped: no multicast routing in this kernel" (also
                 in the markdown) and measures the rest.
  pgmd_fast      --pgmd with its kernel fast path ([dataplane] fast-path = on, D31): pgmd
                 serving r0 and r1..rN, static-groups = 239.192.0.1 on each rI, no IGMP
                 querier; the eBPF program forwards the ODATA, pgmd sees the SPMs only.
  pgmd           the same pgmd on its user-space path ([dataplane] fast-path = off): every
                 ODATA captured by pgmd and sent again from a raw socket.
  pgmd_baseline  --pgmd-baseline: a second pgmd binary (e.g. built before a change), same
                 configuration; added to any list when the option is given.
  none           nothing forwards: the sender's own cost and top rate (to subtract from the
                 sender's CPU).
  auto           (default) every available one of the above; "kernel" = fanout and mroute.
Kernel baselines come from netlab's Lab.kernel_forwarder() (kind "fanout", or "smcroute" /
"mrt" for mroute). Another forwarder (e.g. pgmd with an eBPF fast path) is one more entry in
catalogue(): class Pgmd takes extra configuration text and extra command-line arguments.
Forwarders and offered rates are interleaved: round by round, rate by rate, every
forwarder in turn, the order reversed every other round.

The sender is a raw-socket blaster (this script, --blast, in snd): native ODATA of 1000
bytes of payload (PGM checksum 0 = "not computed", which a forwarder does not verify) with
increasing sequence numbers, sent with sendmmsg() in batches of 32 (ctypes), paced to the
offered rate (0 = as fast as it can); an SPM of the same TSI (valid checksum, path NLA =
the sender) every 0.5 s so that pgmd knows the session (RPF from the session, as in real
traffic). Every forwarder sees exactly the same packets.

Counted, with no socket and no user-space receiver involved, from one netlink dump of
rtr's links at each end of a fixed window after a 1 s warm-up (all counters read at the
same moment): "reached router" = r0's RX packets, "delivered" = r1..rN's TX packets. A veth
counts a packet when its peer's receive path has taken it (a full backlog is a drop, not
counted), so rI's TX is what reached rcvI. Link counters, not nft counters in rtr: tc
ingress, where the fan-out consumes the packets, runs before netfilter's ingress hook.
They include the 2 SPMs a second (and the odd IPv6 neighbour packet), nothing else. "delivered/s" is the average over the N
receivers (the lowest is shown too when N > 1); "delivered fraction" = that average /
reached router. Cross-check, in the JSON only: ODATA sent by the blaster and ODATA counted
by an nftables netdev-ingress counter on each rcvI's v0 over the whole blast (warm-up
included, read once the forwarding has gone quiet). CPU: the forwarder's utime + stime
(/proc/PID/stat; pgmd only, the kernel baselines have no process) over the window, as a
fraction of one core, and in µs per forwarded packet (per the per-receiver average: one
packet in, N copies out); the blaster's CPU, also per packet reaching the router. Each
JSON line has the 1-minute load average at its start.

Fairness: the kernel baselines forward in softirq in the sender's context (veth transmit
-> netif_rx -> backlog processed when the send returns; with fanout, mirred transmits on
r1..rN from there too), so sender and forwarder share one CPU and the sender's CPU (which
includes softirq ticks) holds the forwarding cost; a kernel baseline's top rate is then
the sender's. With pgmd only the capture copy is in the sender's context; pgmd's work
(and the receivers' ingress of its transmissions, which veth runs in the transmitter's
context) is in pgmd's process, which can use the other CPU when it is free. So on an
idle 2-CPU machine pgmd can deliver more than the kernel, and the ratios move with the
machine's load: compare CPU per packet too ("none" gives the sender's own share).
"reached router/s" shows when the sender, not the forwarder, is the limit. fanout and
mroute differ: fanout is the least the kernel can do (the packet never enters rtr's IP
layer: no ip_rcv, netfilter, route lookup, TTL decrement or MAC rewrite; "mirror" clones
the skb without copying the payload), so it is a harder baseline than multicast routing,
which does all of that. pgmd takes every packet up to user space and sends it again
itself, once per downstream interface.
The ratios are against the best kernel baseline of the same run (the one with the highest
peak delivered rate; the markdown says which), and against every kernel baseline.

Usage (root): pgmd_forwarding_bench.py --pgmd build/cli/pgmd [--pgmd-baseline OLD_PGMD]
              [--forwarders auto|fanout,mroute,pgmd_fast,pgmd,pgmd_baseline,none|kernel,...]
              [--downstream 1|3] [--rates 50000,100000,0] [--seconds 3] [--rounds 3]
              [--markdown] [--keep-tmp]
Prints one JSON line per measurement and, with --markdown, what was measured (baselines,
skipped forwarders, load), a table of medians over the rounds, each forwarder's peak
delivered rate and highest offered rate delivered at >= 99 %, and the ratios.
Exit status: 0 done (also when a requested forwarder was skipped: it says so), 1 a
failure (namespaces and processes are removed all the same), 2 bad arguments, 77 skipped
(not root, or ip, nft or tc missing), 130 interrupted (SIGINT/SIGTERM/SIGHUP).
"""

import argparse
import ctypes
import ctypes.util
import datetime
import json
import os
import shutil
import socket
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests", "integration"))
import netlab  # noqa: E402  (tests/integration/netlab.py)

GROUP = "239.192.0.1"
SRC = "10.9.1.1"
DPORT = 7500
SPORT = 41000
GSI = bytes.fromhex("0a0901010001")
PAYLOAD = 1000
BATCH = 32
WARMUP = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
STEM = "pfb"
NAME = "pgmd_forwarding_bench"


# --- The blaster (runs inside snd) -----------------------------------------------------------

def ones_sum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def pgm_header(ptype, tsdu_len):
    return struct.pack("!HHBBH6sH", SPORT, DPORT, ptype, 0, 0, GSI, tsdu_len)


def spm_packet(spm_sqn, lead):
    body = struct.pack("!III", spm_sqn, 0, lead) + struct.pack("!HH4s", 1, 0,
                                                              socket.inet_aton(SRC))
    pkt = bytearray(pgm_header(0x00, 0) + body)
    c = (~ones_sum(bytes(pkt))) & 0xFFFF
    struct.pack_into("!H", pkt, 6, c or 0xFFFF)
    return bytes(pkt)


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(Iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


def blast(a):
    """Sends ODATA at a.rate packets/s (0: unpaced) for a.duration seconds; prints JSON."""
    if a.sender_cpu is not None:
        os.sched_setaffinity(0, {a.sender_cpu})
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 113)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(SRC))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    dest = (GROUP, 0)
    sa = ctypes.create_string_buffer(16)  # sockaddr_in: family in host order, port 0
    struct.pack_into("=HH4s", sa, 0, socket.AF_INET, 0, socket.inet_aton(GROUP))
    payload = bytes((i * 7) & 0xFF for i in range(PAYLOAD))
    odata = pgm_header(0x04, PAYLOAD) + struct.pack("!II", 0, 0) + payload
    bufs = [ctypes.create_string_buffer(odata, len(odata)) for _ in range(BATCH)]
    iovs = (Iovec * BATCH)()
    msgs = (Mmsghdr * BATCH)()
    for i in range(BATCH):
        iovs[i].base = ctypes.addressof(bufs[i])
        iovs[i].len = len(odata)
        msgs[i].hdr.name = ctypes.addressof(sa)
        msgs[i].hdr.namelen = 16
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    sendmmsg = libc.sendmmsg
    sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    fd = s.fileno()
    msgs_p = ctypes.addressof(msgs)
    pack = struct.pack_into
    sqn = 0
    spm_sqn = 0
    sent = errors = 0
    t0 = time.monotonic()
    end = t0 + a.duration
    next_spm = t0
    cpu0 = time.process_time()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_spm:
            s.sendto(spm_packet(spm_sqn, (sqn - 1) & 0xFFFFFFFF), dest)
            spm_sqn += 1
            next_spm = now + 0.5
        if a.rate > 0:
            due = t0 + sent / a.rate
            if due > now:
                time.sleep(due - now)
        for b in bufs:
            pack("!I", b, 16, sqn)
            sqn = (sqn + 1) & 0xFFFFFFFF
        n = sendmmsg(fd, msgs_p, BATCH, 0)
        if n < 0:
            errors += 1
            n = 0
        sent += n
    elapsed = time.monotonic() - t0
    print(json.dumps({"sent": sent, "errors": errors, "seconds": round(elapsed, 3),
                      "sent_per_sec": round(sent / elapsed),
                      "cpu": round(time.process_time() - cpu0, 3)}), flush=True)
    return 0


# --- The lab --------------------------------------------------------------------------------

Failure = netlab.Failure


class Topology:
    """snd --- rtr --- rcv1..rcvN in a netlab Lab (which removes it all on stop())."""

    def __init__(self, lab, downstream):
        self.lab, self.n = lab, downstream
        self.oifs = [f"r{i}" for i in range(1, downstream + 1)]
        self.receivers = [f"rcv{i}" for i in range(1, downstream + 1)]

    def setup(self):
        lab = self.lab
        lab.add_ns("snd", "rtr", *self.receivers)
        lab.veth("snd", "s0", "rtr", "r0", csum_off=False)
        lab.addr("snd", "s0", f"{SRC}/24")
        lab.route("snd", "224.0.0.0/4", dev="s0")
        lab.addr("rtr", "r0", "10.9.1.2/24")
        for i, (oif, rcv) in enumerate(zip(self.oifs, self.receivers), 2):
            lab.veth("rtr", oif, rcv, "v0", csum_off=False)
            lab.addr("rtr", oif, f"10.9.{i}.1/24")
            lab.addr(rcv, "v0", f"10.9.{i}.2/24")
            lab.route(rcv, "default", via=f"10.9.{i}.1")
            lab.nft(rcv, """
table netdev pfb {
    chain in {
        type filter hook ingress device "v0" priority 0; policy accept;
        ip protocol 113 @th,32,8 0x04 counter
    }
}
""")
        lab.router("rtr")
        lab.sysctl("rtr", "net.ipv4.conf.r0.rp_filter", 0)

    def read(self):
        """(time, packets r0 received, [packets r1..rN sent]) from one netlink dump of
        rtr's links, so that all the counters are read at the same moment. A veth counts
        a packet when its peer's receive path has taken it (a full backlog is a drop, not
        counted), so rI's TX is what reached rcvI."""
        r = self.lab.sh("ip", "-j", "-s", "link", "show", ns="rtr")
        t = time.monotonic()
        stats = {link["ifname"]: link["stats64"] for link in json.loads(r.stdout)}
        return t, stats["r0"]["rx"]["packets"], [stats[o]["tx"]["packets"] for o in self.oifs]

    def odata_delivered(self):
        """ODATA counted by the nft netdev ingress counter of each receiver's v0."""
        return [self.lab.nft_counter(rcv, "netdev", "pfb") for rcv in self.receivers]


def proc_cpu(pid):
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- Forwarders ----------------------------------------------------------------------------

class Forwarder:
    """One way of forwarding (SRC, GROUP) from r0 to r1..rN in rtr. start() and stop()
    around each measurement; pid() the process whose CPU is measured (None: none);
    state() pgmd's own counters (None: none)."""
    name = ""
    label = ""
    kernel = False  # a kernel baseline, the reference of the ratios

    def start(self, lab, index):
        pass

    def pid(self):
        return None

    def state(self, lab):
        return None

    def stop(self, lab):
        pass


class KernelBaseline(Forwarder):
    """netlab's Lab.kernel_forwarder(kind): "fanout" (tc mirred) or "smcroute"/"mrt"
    (kernel multicast routing, a static (S,G) route)."""
    kernel = True

    def __init__(self, name, kind, label, topo):
        self.name, self.kind, self.label, self.topo = name, kind, label, topo
        self.running = None

    def start(self, lab, index):
        self.running = lab.kernel_forwarder(f"{self.name}{index}", "rtr", SRC, GROUP, "r0",
                                            self.topo.oifs, kind=self.kind)
        self.label = self.running.label

    def stop(self, lab):
        if self.running is None:
            return
        running, self.running = self.running, None
        running.stop()
        if self.kind in ("smcroute", "mrt"):
            entry = f"({SRC},{GROUP})"
            netlab.wait_until(lambda: entry not in lab.sh("ip", "mroute", "show", ns="rtr",
                                                          check=False).stdout,
                              10, "the kernel route to go")
        else:
            # The filter goes (a clsact qdisc may stay: pgmd's fast path leaves its own).
            netlab.wait_until(lambda: "mirred" not in lab.sh(
                "tc", "filter", "show", "dev", "r0", "ingress", ns="rtr", check=False).stdout,
                10, "the tc fan-out to go")


class TappedFanout(KernelBaseline):
    """The tc fan-out with an AF_PACKET tap on r0 (tcpdump, a filter that rejects ODATA, as
    pgmd's capture does with its fast path): what a capture socket on the upstream
    interface costs every packet, in the sender's softirq."""

    def start(self, lab, index):
        super().start(lab, index)
        self.tap = lab.start(f"tap{index}", ["tcpdump", "-i", "r0", "-n", "-w", "/dev/null",
                                             "ip proto 113 and not ip[24] = 4"], "rtr")
        netlab.wait_until(lambda: "listening on" in lab.text(f"tap{index}"), 10, "tcpdump")
        self.tap_name = f"tap{index}"

    def stop(self, lab):
        if getattr(self, "tap_name", None):
            lab.stop_proc(self.tap_name)
            self.tap_name = None
        super().stop(lab)


class NoForwarder(Forwarder):
    """Nothing forwards: the sender's own cost (send and the router's ingress) and rate."""
    name = "none"
    label = "nothing forwards (the sender alone)"


class Pgmd(Forwarder):
    """pgmd serving r0 and r1..rN (static-groups = GROUP on each rI, no IGMP querier).
    extra_conf: text appended to the configuration file (start it with a [section] line
    unless it adds keys to the last interface); extra_args: more command-line arguments.
    That is how a variant (say, an eBPF fast path) becomes one more forwarder."""

    def __init__(self, name, binary, topo, label=None, extra_conf="", extra_args=()):
        self.name, self.binary, self.topo = name, binary, topo
        self.label = label or f"pgmd ({binary})"
        self.extra_conf, self.extra_args = extra_conf, tuple(extra_args)
        self.p = self.log = None

    def start(self, lab, index):
        self.log = f"{self.name}{index}"
        conf = netlab.pgmd_conf(
            lab.path(f"{self.name}.conf"),
            {"r0": {"igmp-querier": "no"},
             **{oif: {"igmp-querier": "no", "static-groups": GROUP} for oif in self.topo.oifs}},
            lab.path(f"{self.name}.sock"), extra=self.extra_conf)
        self.p = lab.start_pgmd(self.log, self.binary, "rtr", conf, served=1 + self.topo.n,
                                extra_args=self.extra_args)

    def pid(self):
        return self.p.pid

    def state(self, lab):
        """(captured PGM on r0, packets sent, send errors) from the SIGUSR1 state line."""
        j = lab.pgmd_state(self.log)
        if j is None:
            return None
        captured = sum(i.get("captured_pgm", 0) for i in j["interfaces"] if i["name"] == "r0")
        return captured, j.get("sent", 0), j.get("send_errors", 0)

    def stop(self, lab):
        if self.p is None:
            return
        p, self.p = self.p, None
        rc = lab.stop_proc(p)
        if rc != 0:
            raise Failure(f"{self.name} exited {rc} on SIGTERM:\n" + lab.text(self.log)[-2000:])


ORDER = ("fanout", "fanout_tap", "mroute", "pgmd_fast", "pgmd", "pgmd_baseline", "none")


def catalogue(a, topo, multicast_routing):
    """{name: Forwarder or the reason it cannot run here}, in ORDER. Add a forwarder here
    (and to ORDER)."""
    smcrouted = shutil.which("smcrouted") is not None
    c = {}
    kind, label = netlab.choose_kernel_forwarder("fanout", multicast_routing, smcrouted)
    c["fanout"] = KernelBaseline("fanout", kind, label, topo)
    c["fanout_tap"] = TappedFanout("fanout_tap", kind, label + ", with a capture tap on r0",
                                   topo)
    if multicast_routing:
        kind, label = netlab.choose_kernel_forwarder("smcroute" if smcrouted else "mrt",
                                                     True, smcrouted)
        c["mroute"] = KernelBaseline("mroute", kind, label, topo)
    else:
        c["mroute"] = "skipped: no multicast routing in this kernel"
    if a.pgmd:
        # The kernel fast path (D31) and the user-space path, both asked for explicitly so
        # that neither falls back to the other unnoticed.
        c["pgmd_fast"] = Pgmd("pgmd_fast", a.pgmd, topo,
                              label=f"pgmd, kernel fast path ({a.pgmd})",
                              extra_conf="[dataplane]\nfast-path = on\n")
        c["pgmd"] = Pgmd("pgmd", a.pgmd, topo, label=f"pgmd, user space ({a.pgmd})",
                         extra_conf="[dataplane]\nfast-path = off\n")
    else:
        c["pgmd_fast"] = c["pgmd"] = "skipped: no --pgmd given"
    c["pgmd_baseline"] = (Pgmd("pgmd_baseline", a.pgmd_baseline, topo) if a.pgmd_baseline
                          else "skipped: no --pgmd-baseline given")
    c["none"] = NoForwarder()
    return c


def requested(a):
    """The forwarder names asked for, in the order given (auto and kernel expanded)."""
    names = []
    for n in a.forwarders.split(","):
        n = n.strip()
        more = {"auto": [x for x in ORDER if x != "fanout_tap" and
                         (x != "pgmd_baseline" or a.pgmd_baseline)],
                "kernel": ["fanout", "mroute"]}.get(n, [n])
        names += [x for x in more if x not in names]
    if a.pgmd_baseline and "pgmd_baseline" not in names:
        names.append("pgmd_baseline")
    return names


# --- One measurement -----------------------------------------------------------------------

def quiet(topo, interval_s=0.05):
    """No packet reached rcv1..rcvN over interval_s."""
    before = topo.read()[2]
    time.sleep(interval_s)
    return topo.read()[2] == before


def measure(lab, topo, a, fwd, rate, index):
    load1 = os.getloadavg()[0]
    fwd.start(lab, index)
    blaster = None
    try:
        odata0 = topo.odata_delivered()
        blaster = lab.start(f"blast{index}", [
            netlab.PYTHON, os.path.abspath(__file__), "--blast", "--rate", str(rate),
            "--duration", str(WARMUP + a.seconds + 0.5)] +
            ([] if a.sender_cpu is None else ["--sender-cpu", str(a.sender_cpu)]), "snd")
        time.sleep(WARMUP)  # a warm-up, not a synchronisation
        pid = fwd.pid()
        s0 = fwd.state(lab)
        c0 = proc_cpu(pid) if pid else 0.0
        t0, r0, d0 = topo.read()
        time.sleep(a.seconds)  # the measurement window
        c1 = proc_cpu(pid) if pid else 0.0
        t1, r1, d1 = topo.read()
        s1 = fwd.state(lab) if s0 else None
        rc = lab.wait_proc(blaster, 30)
        if rc != 0:
            raise Failure(f"blaster exit {rc}: " + lab.text(f"blast{index}"))
        bj = netlab.last_json(lab.text(f"blast{index}", "out"))
        if bj is None:
            raise Failure("blaster printed no result: " + lab.text(f"blast{index}"))
        # What the forwarder still holds is delivered once the sender has stopped.
        try:
            netlab.wait_until(lambda: quiet(topo), 5, "the forwarding to go quiet")
        except Failure:
            pass  # still sending something: the totals below are then a little early
        odata1 = topo.odata_delivered()
    finally:
        if blaster is not None and blaster.poll() is None:
            lab.stop_proc(blaster)
        fwd.stop(lab)
    secs = t1 - t0
    offered = (r1 - r0) / secs
    each = [(b - x) / secs for x, b in zip(d0, d1)]
    delivered = sum(each) / len(each)
    r = {
        "forwarder": fwd.name, "label": fwd.label, "rate_asked": rate,
        "downstream": topo.n, "seconds": round(secs, 3), "load1": round(load1, 2),
        "sent_per_sec": bj["sent_per_sec"], "offered_per_sec": round(offered),
        "delivered_per_sec": round(delivered), "delivered_min_per_sec": round(min(each)),
        "delivered_each_per_sec": [round(x) for x in each],
        "delivered_fraction": round(delivered / offered, 4) if offered else 0.0,
        "forwarder_cpu": round((c1 - c0) / secs, 3),
        "sender_cpu": round(bj["cpu"] / bj["seconds"], 3),
        # The whole blast, warm-up included: ODATA sent, ODATA counted at each receiver.
        "odata_sent_total": bj["sent"],
        "odata_delivered_total_each": [b - x for x, b in zip(odata0, odata1)],
    }
    if s0 and s1:
        # pgmd's own counts, over about the same window (read just outside it).
        r["pgmd_captured_per_sec"] = round((s1[0] - s0[0]) / secs)
        r["pgmd_sent_per_sec"] = round((s1[1] - s0[1]) / secs)
        r["pgmd_send_errors_per_sec"] = round((s1[2] - s0[2]) / secs)
    return r


# --- Report --------------------------------------------------------------------------------

def markdown(results, fwds, skipped, rates, info):
    def med(f, rate, key):
        v = [r[key] for r in results if r["forwarder"] == f and r["rate_asked"] == rate
             and key in r]
        return statistics.median(v) if v else float("nan")

    def per_packet_us(f, rate, cpu_key, count_key):
        # Median over runs of CPU seconds per packet, in µs.
        v = [r[cpu_key] / r[count_key] * 1e6 for r in results
             if r["forwarder"] == f and r["rate_asked"] == rate and r[count_key]]
        return statistics.median(v) if v else float("nan")

    def num(x, fmt=",.0f"):
        return "" if x != x else format(x, fmt)  # NaN (not measured): empty

    n = info["downstream"]
    print(f"\n{info['date']}; kernel multicast routing: "
          f"{'yes' if info['multicast_routing'] else 'no'}; downstream receivers: {n}; "
          f"load average (1 min) {info['load_start']} at the start, {info['load_end']} at "
          f"the end; {info['rounds']} rounds of {info['seconds']} s, medians.\n")
    for name, f in fwds.items():
        print(f"- {name}: {f.label}")
    for name, why in skipped.items():
        print(f"- {name}: {why}")
    if not fwds:
        print("\nNothing measured.")
        return
    many = n > 1
    print("\n| offered (asked) | forwarder | reached router/s | delivered/s"
          + (" (per receiver) | lowest receiver/s" if many else "")
          + " | delivered fraction | forwarder CPU (cores) | forwarder µs/pkt | sender CPU "
          "| sender µs/pkt | pgmd captured/s | pgmd sent/s |")
    print("|---:|---|---:|---:|" + ("---:|" if many else "") + "---:|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        for f, fwd in fwds.items():
            own = isinstance(fwd, Pgmd)
            none = f == "none"
            print(f"| {f'{rate:,}' if rate else 'unpaced'} | {f} | "
                  f"{num(med(f, rate, 'offered_per_sec'))} | "
                  + ("— | " if none else f"{num(med(f, rate, 'delivered_per_sec'))} | ")
                  + (("— | " if none else f"{num(med(f, rate, 'delivered_min_per_sec'))} | ")
                     if many else "")
                  + ("— | " if none else f"{num(med(f, rate, 'delivered_fraction'), '.3f')} | ")
                  + (f"{num(med(f, rate, 'forwarder_cpu'), '.2f')} | "
                     f"{num(per_packet_us(f, rate, 'forwarder_cpu', 'delivered_per_sec'), '.2f')} | "
                     if own else "| | ")
                  + f"{num(med(f, rate, 'sender_cpu'), '.2f')} | "
                  f"{num(per_packet_us(f, rate, 'sender_cpu', 'offered_per_sec'), '.2f')} | "
                  + (f"{num(med(f, rate, 'pgmd_captured_per_sec'))} | "
                     f"{num(med(f, rate, 'pgmd_sent_per_sec'))} |" if own else "| |"))
    summary = {}
    for f in fwds:
        if f == "none":
            continue
        peak = max((med(f, r, "delivered_per_sec") for r in rates), default=0.0)
        sustained = [med(f, r, "offered_per_sec") for r in rates
                     if med(f, r, "delivered_fraction") >= 0.99]
        summary[f] = (peak, max(sustained) if sustained else 0.0)
        print(f"\n{f}: peak delivered {peak:,.0f}/s per receiver; highest offered rate with "
              f">= 99 % delivered {summary[f][1]:,.0f}/s")
    kernels = [f for f in summary if fwds[f].kernel]
    if not kernels:
        print("\nNo kernel baseline measured: no ratios.")
        return
    best = max(kernels, key=lambda f: summary[f][0])
    print(f"\nBest kernel baseline in this run: {best} ({fwds[best].label}), peak "
          f"{summary[best][0]:,.0f}/s, sustained {summary[best][1]:,.0f}/s.")
    for f in summary:
        if fwds[f].kernel:
            continue
        for k in [best] + [k for k in kernels if k != best]:
            if summary[k][0]:
                print(f"\n{f} / {k}{' (best)' if k == best else ''}: peak delivered "
                      f"{summary[f][0] / summary[k][0]:.2f}, highest sustained "
                      f"{summary[f][1] / max(1, summary[k][1]):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blast", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--sender-cpu", type=int,
                    help="pin the blaster (and so the kernel forwarding done in its softirq) "
                    "to this CPU, for every forwarder alike: on a small virtual machine the "
                    "peak rates otherwise move with where the scheduler puts it")
    ap.add_argument("--pgmd", help="the pgmd binary (forwarder 'pgmd')")
    ap.add_argument("--pgmd-baseline", help="a second pgmd binary (e.g. before a change), "
                    "measured as forwarder 'pgmd_baseline' in the same run")
    ap.add_argument("--forwarders", default="auto",
                    help="comma-separated: auto (every available one), fanout, mroute, "
                    "kernel (= fanout,mroute), pgmd, pgmd_baseline, none")
    ap.add_argument("--downstream", type=int, default=1,
                    help="router interfaces with a receiver each (1 or 3; up to 8)")
    ap.add_argument("--rates", default="50000,100000,150000,200000,300000,0",
                    help="offered ODATA packets/s, comma-separated; 0 = unpaced")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the logs and configs")
    a = ap.parse_args()
    if a.blast:
        return blast(a)
    if not 1 <= a.downstream <= 8:
        ap.error("--downstream must be 1 to 8")
    names = requested(a)
    unknown = [n for n in names if n not in ORDER]
    if unknown:
        ap.error(f"unknown forwarder(s) {', '.join(unknown)} (one of auto, kernel, "
                 f"{', '.join(ORDER)})")
    if ("pgmd" in names or "pgmd_fast" in names) and not a.pgmd:
        ap.error("--pgmd is required (or leave pgmd and pgmd_fast out of --forwarders)")
    for opt in ("pgmd", "pgmd_baseline"):
        path = getattr(a, opt)
        if path:
            setattr(a, opt, os.path.abspath(path))
            if not os.access(getattr(a, opt), os.X_OK):
                print(f"{NAME}: --{opt.replace('_', '-')} {path}: not an executable",
                      file=sys.stderr)
                return 1
    skip = netlab.preflight(NAME, "ip", "nft", "tc")
    if skip:
        return skip
    rates = [int(float(x)) for x in a.rates.split(",")]
    multicast_routing = netlab.kernel_has_multicast_routing()
    netlab.remove_stale_namespaces(STEM)
    lab = netlab.Lab(prefix=f"{STEM}{os.getpid()}", keep_tmp=a.keep_tmp)
    lab.install_signal_handlers()
    topo = Topology(lab, a.downstream)
    cat = catalogue(a, topo, multicast_routing)
    fwds = {n: cat[n] for n in names if isinstance(cat[n], Forwarder)}
    skipped = {n: cat[n] for n in names if not isinstance(cat[n], Forwarder)}
    for n, why in skipped.items():
        print(f"{NAME}: {n}: {why}", flush=True)
    info = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "multicast_routing": multicast_routing, "downstream": a.downstream,
            "load_start": round(os.getloadavg()[0], 2), "rounds": a.rounds,
            "seconds": a.seconds}
    print(json.dumps({"run": info, "forwarders": {n: f.label for n, f in fwds.items()},
                      "skipped": skipped}), flush=True)
    results = []
    status = 0
    try:
        topo.setup()
        index = 0
        for rnd in range(a.rounds):
            order = list(fwds) if rnd % 2 == 0 else list(reversed(fwds))
            for rate in rates:
                for name in order:
                    r = measure(lab, topo, a, fwds[name], rate, index)
                    r["round"] = rnd
                    index += 1
                    print(json.dumps(r), flush=True)
                    results.append(r)
    except Failure as e:
        print(f"{NAME}: {e}", file=sys.stderr)
        lab.keep_tmp = True
        status = 1
    except KeyboardInterrupt as e:
        print(f"{NAME}: interrupted ({str(e) or 'SIGINT'})", file=sys.stderr)
        status = 130
    finally:
        lab.stop()
        if lab.keep_tmp:
            print(f"{NAME}: files kept in {lab.tmp}", file=sys.stderr)
    if status == 0 and a.markdown:
        info["load_end"] = round(os.getloadavg()[0], 2)
        markdown(results, fwds, skipped, rates, info)
    return status


if __name__ == "__main__":
    sys.exit(main())
