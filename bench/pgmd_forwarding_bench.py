#!/usr/bin/python3
"""pgmd_forwarding_bench.py: ODATA forwarding rate, pgmd against kernel multicast routing.

pgmd against the kernel's multicast forwarding (smcroute static (S,G) route), in the same
namespaces, in the same run (issue 5, acceptance 6).

Topology (network namespaces, veth pairs):

    snd 10.9.1.1 s0 --- r0 10.9.1.2 [rtr] r1 10.9.2.1 --- v0 10.9.2.2 rcv

One forwarder runs in rtr at a time, started and stopped around every measurement:
  kernel  smcrouted (-N, phyint r0/r1) with the static route
          `mroute from r0 source 10.9.1.1 group 239.192.0.1 to r1`
  pgmd    pgmd with r0 and r1 served, static-groups = 239.192.0.1 on r1, no IGMP querier
Forwarders and offered rates are interleaved: round by round, rate by rate, the two
forwarders alternate (their order flips every round).

The sender is a raw-socket blaster (this script, --blast, in snd): native ODATA of 1000
bytes of payload (PGM checksum 0 = "not computed", which a forwarder does not verify) with
increasing sequence numbers, sent with sendmmsg() in batches of 32 (ctypes), paced to the
offered rate (0 = as fast as it can); an SPM of the same TSI (valid checksum, path NLA =
the sender) every 0.5 s so that pgmd knows the session (RPF from the session, as in real
traffic). Both forwarders see exactly the same packets.

Counted (nftables counters in the netdev ingress hook, so no socket and no user-space
receiver is involved): ODATA arriving at the router (rtr r0) and ODATA delivered to the
receiver's interface (rcv v0), over a fixed window after a warm-up. CPU: pgmd's utime +
stime (/proc/PID/stat) over the window, as a fraction of one core; the blaster's CPU.

Note on fairness: with kernel forwarding the whole path runs in softirq in the sender's
context (veth transmit -> netif_rx -> backlog processed when the send returns), so the
blaster and the forwarder share one CPU and the sender's CPU (which includes softirq ticks)
holds the forwarding cost; with pgmd only the capture copy is in the sender's context, and
pgmd's work (with the receiver-side ingress of its transmissions, which veth runs in the
transmitter's context) is in pgmd's process, which can use the other CPU when it is free.
So on an idle 2-CPU machine pgmd can deliver more than the kernel, whose rate is then the
sender's; compare CPU per packet too ("none" gives the sender's own share). "Reached
router/s" (the r0 counter) shows when the sender, not the forwarder, is the limit.

Also measurable in the same run: "none" (nothing forwards: the sender's own cost and top
rate, to subtract from the sender's CPU) and "pgmd_baseline" (--pgmd-baseline: a second
pgmd binary, e.g. built before a change).

Usage (root): pgmd_forwarding_bench.py --pgmd build/cli/pgmd [--pgmd-baseline OLD_PGMD]
              [--rates 50000,100000,0] [--seconds 3] [--rounds 3]
              [--forwarders kernel,pgmd,none] [--markdown]
Prints one JSON line per measurement and, with --markdown, a table of medians over the
rounds, each forwarder's peak delivered rate and highest offered rate delivered at >= 99 %,
and their ratios to the kernel's.
Exit status 0, 1 on a failure, 77 when skipped (not root, smcrouted or nft missing).
"""

import argparse
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

GROUP = "239.192.0.1"
SRC = "10.9.1.1"
DPORT = 7500
SPORT = 41000
GSI = bytes.fromhex("0a0901010001")
PAYLOAD = 1000
BATCH = 32
WARMUP = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


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

class Failure(Exception):
    pass


class Lab:
    def __init__(self, tmp):
        self.tmp = tmp
        self.prefix = f"pfb{os.getpid()}"
        self.namespaces = []
        self.procs = []

    def ns(self, name):
        return f"{self.prefix}-{name}"

    def sh(self, *args, ns=None, check=True, input=None):
        cmd = (["ip", "netns", "exec", self.ns(ns)] if ns else []) + list(args)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    def add_ns(self, name):
        self.sh("ip", "netns", "add", self.ns(name))
        self.namespaces.append(self.ns(name))
        self.sh("ip", "link", "set", "lo", "up", ns=name)

    def veth(self, ns_a, dev_a, ns_b, dev_b):
        self.sh("ip", "link", "add", dev_a, "netns", self.ns(ns_a), "type", "veth", "peer",
                "name", dev_b, "netns", self.ns(ns_b))
        for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
            self.sh("ip", "link", "set", dev, "up", ns=ns)

    def setup(self):
        for n in ("snd", "rtr", "rcv"):
            self.add_ns(n)
        self.veth("snd", "s0", "rtr", "r0")
        self.veth("rtr", "r1", "rcv", "v0")
        self.sh("ip", "addr", "add", f"{SRC}/24", "dev", "s0", ns="snd")
        self.sh("ip", "route", "add", "224.0.0.0/4", "dev", "s0", ns="snd")
        self.sh("ip", "addr", "add", "10.9.1.2/24", "dev", "r0", ns="rtr")
        self.sh("ip", "addr", "add", "10.9.2.1/24", "dev", "r1", ns="rtr")
        self.sh("ip", "addr", "add", "10.9.2.2/24", "dev", "v0", ns="rcv")
        self.sh("ip", "route", "add", "default", "via", "10.9.2.1", ns="rcv")
        self.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="rtr")
        self.sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", ns="rtr")
        self.sh("sysctl", "-qw", "net.ipv4.conf.r0.rp_filter=0", ns="rtr")
        for ns, dev in (("rtr", "r0"), ("rcv", "v0")):
            self.sh("nft", "-f", "-", ns=ns, input=f"""
table netdev pfb {{
    chain in {{
        type filter hook ingress device "{dev}" priority 0; policy accept;
        ip protocol 113 @th,32,8 0x04 counter
    }}
}}
""")

    def counter(self, ns):
        r = self.sh("nft", "-j", "list", "table", "netdev", "pfb", ns=ns)
        for item in json.loads(r.stdout)["nftables"]:
            rule = item.get("rule")
            if rule:
                for e in rule["expr"]:
                    if "counter" in e:
                        return e["counter"]["packets"]
        raise Failure(f"no counter in {ns}")

    def start(self, name, args, ns):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(ns)] + args, stdout=out,
                             stderr=err, start_new_session=True)
        self.procs.append(p)
        return p

    def text(self, name, stream="err"):
        try:
            with open(os.path.join(self.tmp, f"{name}.{stream}")) as f:
                return f.read()
        except OSError:
            return ""

    def stop_proc(self, p, wait_s=10):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def cleanup(self):
        for p in reversed(list(self.procs)):
            try:
                self.stop_proc(p, wait_s=5)
            except Exception:
                pass
        for ns in reversed(self.namespaces):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def wait_until(cond, limit_s, what):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise Failure(f"timed out after {limit_s}s waiting for {what}")


def proc_cpu(pid):
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# --- Forwarders ----------------------------------------------------------------------------

class Kernel:
    name = "kernel"

    def __init__(self, lab, a):
        self.lab, self.a, self.p = lab, a, None
        self.conf = os.path.join(lab.tmp, "smcroute.conf")
        with open(self.conf, "w") as f:
            f.write(f"phyint r0 enable\nphyint r1 enable\n"
                    f"mroute from r0 source {SRC} group {GROUP} to r1\n")

    def start(self, index):
        t = self.lab.tmp
        self.p = self.lab.start(f"smcroute{index}", [
            self.a.smcrouted, "-n", "-N", "-f", self.conf, "-i", f"pfb{index}", "-l", "err",
            "-u", os.path.join(t, "smcroute.sock"), "-P", os.path.join(t, "smcroute.pid")],
            "rtr")

        def installed():
            if self.p.poll() is not None:
                raise Failure("smcrouted exited:\n" + self.lab.text(f"smcroute{index}"))
            return f"({SRC},{GROUP})" in self.lab.sh("ip", "mroute", "show", ns="rtr").stdout
        wait_until(installed, 10, "smcroute's route")

    def pid(self):
        return self.p.pid

    def stop(self):
        self.lab.stop_proc(self.p)
        wait_until(lambda: f"({SRC},{GROUP})" not in
                   self.lab.sh("ip", "mroute", "show", ns="rtr").stdout, 10,
                   "the kernel route to go")


class NoForwarder:
    """Nothing forwards: the sender's own cost (send and the router's ingress) and rate."""
    name = "none"

    def __init__(self, lab, a):
        pass

    def start(self, index):
        pass

    def pid(self):
        return None

    def stop(self):
        pass


class Pgmd:
    def __init__(self, lab, a, name, binary):
        self.lab, self.a, self.p = lab, a, None
        self.name, self.binary = name, binary
        self.conf = os.path.join(lab.tmp, "pgmd.conf")
        with open(self.conf, "w") as f:
            f.write(f"""# pgmd_forwarding_bench
log-level = notice
[control]
socket = {os.path.join(lab.tmp, "pgmd.sock")}
[interface r0]
igmp-querier = no
[interface r1]
igmp-querier = no
static-groups = {GROUP}
""")

    def start(self, index):
        name = self.log = f"pgmd{index}"
        self.p = self.lab.start(name, [self.binary, "-n", "-f", self.conf, "-P",
                                       os.path.join(self.lab.tmp, "pgmd.pid")], "rtr")
        wait_until(lambda: "started" in self.lab.text(name) or self.p.poll() is not None, 10,
                   "pgmd to start")
        if self.p.poll() is not None or "2 of 2 interfaces served" not in self.lab.text(name):
            raise Failure("pgmd did not start serving r0 and r1:\n" + self.lab.text(name))

    def pid(self):
        return self.p.pid

    def state(self):
        """(captured PGM on r0, packets sent, send errors) from the SIGUSR1 state line."""
        before = self.lab.text(self.log).count("notice: state {")
        self.p.send_signal(signal.SIGUSR1)
        wait_until(lambda: self.lab.text(self.log).count("notice: state {") > before, 5,
                   "pgmd's state line")
        line = [x for x in self.lab.text(self.log).splitlines() if "notice: state {" in x][-1]
        j = json.loads(line.split("state ", 1)[1])
        captured = sum(i.get("captured_pgm", 0) for i in j["interfaces"] if i["name"] == "r0")
        return captured, j.get("sent", 0), j.get("send_errors", 0)

    def stop(self):
        rc = self.lab.stop_proc(self.p)
        if rc != 0:
            raise Failure(f"pgmd exited {rc} on SIGTERM")


# --- One measurement -----------------------------------------------------------------------

def measure(lab, a, fwd, rate, index):
    fwd.start(index)
    try:
        blaster = lab.start(f"blast{index}", [
            "/usr/bin/python3", os.path.abspath(__file__), "--blast", "--rate", str(rate),
            "--duration", str(WARMUP + a.seconds + 0.5)], "snd")
        time.sleep(WARMUP)
        pid = fwd.pid()
        s0 = fwd.state() if hasattr(fwd, "state") else None
        c0 = proc_cpu(pid) if pid else 0.0
        r0, d0 = lab.counter("rtr"), lab.counter("rcv")
        t0 = time.monotonic()
        time.sleep(a.seconds)
        c1 = proc_cpu(pid) if pid else 0.0
        r1, d1 = lab.counter("rtr"), lab.counter("rcv")
        t1 = time.monotonic()
        s1 = fwd.state() if s0 else None
        if blaster.wait(30) != 0:
            raise Failure("blaster failed: " + lab.text(f"blast{index}"))
        lab.procs.remove(blaster)
        bj = json.loads(lab.text(f"blast{index}", "out").strip().splitlines()[-1])
    finally:
        fwd.stop()
    secs = t1 - t0
    offered = (r1 - r0) / secs
    delivered = (d1 - d0) / secs
    r = {
        "forwarder": fwd.name, "rate_asked": rate, "seconds": round(secs, 3),
        "sent_per_sec": bj["sent_per_sec"], "offered_per_sec": round(offered),
        "delivered_per_sec": round(delivered),
        "delivered_fraction": round(delivered / offered, 4) if offered else 0.0,
        "forwarder_cpu": round((c1 - c0) / secs, 3),
        "sender_cpu": round(bj["cpu"] / bj["seconds"], 3),
    }
    if s0 and s1:
        # pgmd's own counts, over about the same window (read just outside it).
        r["pgmd_captured_per_sec"] = round((s1[0] - s0[0]) / secs)
        r["pgmd_sent_per_sec"] = round((s1[1] - s0[1]) / secs)
        r["pgmd_send_errors_per_sec"] = round((s1[2] - s0[2]) / secs)
    return r


def markdown(results, forwarders, rates):
    def med(f, rate, key):
        v = [r[key] for r in results if r["forwarder"] == f and r["rate_asked"] == rate]
        return statistics.median(v) if v else float("nan")

    def per_packet_us(f, rate, cpu_key, count_key):
        # Median over runs of CPU seconds per packet, in µs.
        v = [r[cpu_key] / r[count_key] * 1e6 for r in results
             if r["forwarder"] == f and r["rate_asked"] == rate and r[count_key]]
        return statistics.median(v) if v else float("nan")

    print("\n| offered (asked) | forwarder | reached router/s | delivered/s | delivered "
          "fraction | forwarder CPU (cores) | forwarder µs/pkt | sender CPU | sender µs/pkt "
          "| pgmd captured/s | pgmd sent/s |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in rates:
        for f in forwarders:
            extra = "| |" if f in ("kernel", "none") else (
                f"{med(f, rate, 'pgmd_captured_per_sec'):,.0f} | "
                f"{med(f, rate, 'pgmd_sent_per_sec'):,.0f} |")
            fwd_us = per_packet_us(f, rate, "forwarder_cpu", "delivered_per_sec")
            print(f"| {rate if rate else 'unpaced'} | {f} | "
                  f"{med(f, rate, 'offered_per_sec'):,.0f} | "
                  f"{med(f, rate, 'delivered_per_sec'):,.0f} | "
                  f"{med(f, rate, 'delivered_fraction'):.3f} | "
                  f"{med(f, rate, 'forwarder_cpu'):.2f} | "
                  f"{'' if f in ('kernel', 'none') else f'{fwd_us:.2f}'} | "
                  f"{med(f, rate, 'sender_cpu'):.2f} | "
                  f"{per_packet_us(f, rate, 'sender_cpu', 'offered_per_sec'):.2f} | {extra}")
    summary = {}
    for f in forwarders:
        if f == "none":
            continue
        peak = max(med(f, r, "delivered_per_sec") for r in rates)
        sustained = [med(f, r, "offered_per_sec") for r in rates
                     if med(f, r, "delivered_fraction") >= 0.99]
        summary[f] = (peak, max(sustained) if sustained else 0.0)
        print(f"\n{f}: peak delivered {peak:,.0f}/s; highest offered rate with >= 99 % "
              f"delivered {summary[f][1]:,.0f}/s")
    for f in summary:
        if f != "kernel" and "kernel" in summary and summary["kernel"][0]:
            print(f"\n{f} / kernel: peak delivered {summary[f][0] / summary['kernel'][0]:.2f}, "
                  f"highest sustained {summary[f][1] / max(1, summary['kernel'][1]):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blast", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--pgmd")
    ap.add_argument("--pgmd-baseline", help="a second pgmd binary (e.g. before a change), "
                    "measured as forwarder 'pgmd_baseline' in the same run")
    ap.add_argument("--smcrouted", default=shutil.which("smcrouted") or "/usr/sbin/smcrouted")
    ap.add_argument("--rates", default="50000,100000,150000,200000,300000,0",
                    help="offered ODATA packets/s, comma-separated; 0 = unpaced")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--forwarders", default="kernel,pgmd",
                    help="kernel, pgmd, none (nothing forwards: the sender alone)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    if a.blast:
        return blast(a)
    if not a.pgmd:
        ap.error("--pgmd is required")
    a.pgmd = os.path.abspath(a.pgmd)
    if os.geteuid() != 0:
        print("pgmd_forwarding_bench: needs root", file=sys.stderr)
        return 77
    for tool in (a.smcrouted, shutil.which("nft")):
        if not tool or not os.path.exists(tool):
            print(f"pgmd_forwarding_bench: {tool or 'nft'} missing", file=sys.stderr)
            return 77
    rates = [int(float(x)) for x in a.rates.split(",")]
    tmp = tempfile.mkdtemp(prefix="pgmd_forwarding_bench.")
    lab = Lab(tmp)

    def on_term(_s, _f):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    results = []
    names = a.forwarders.split(",")
    if a.pgmd_baseline and "pgmd_baseline" not in names:
        names.append("pgmd_baseline")
    try:
        lab.setup()
        fwds = {"kernel": Kernel(lab, a), "pgmd": Pgmd(lab, a, "pgmd", a.pgmd),
                "none": NoForwarder(lab, a)}
        if a.pgmd_baseline:
            fwds["pgmd_baseline"] = Pgmd(lab, a, "pgmd_baseline",
                                         os.path.abspath(a.pgmd_baseline))
        index = 0
        for rnd in range(a.rounds):
            order = names if rnd % 2 == 0 else list(reversed(names))
            for rate in rates:
                for name in order:
                    r = measure(lab, a, fwds[name], rate, index)
                    r["round"] = rnd
                    index += 1
                    print(json.dumps(r), flush=True)
                    results.append(r)
    except Failure as e:
        print(f"pgmd_forwarding_bench: {e}", file=sys.stderr)
        return 1
    finally:
        lab.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    if a.markdown:
        markdown(results, names, rates)
    return 0


if __name__ == "__main__":
    sys.exit(main())
