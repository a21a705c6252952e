#!/usr/bin/python3
"""pgmd_forwarding_test: pgmd forwarding real OpenPGM traffic between network namespaces
(issue 5, acceptance test 1).

Topology (every node a network namespace, every link a veth pair):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- bridge lan1 --- r11 .11, r12 .12
                                     dn2 10.2.2.1 --- bridge lan2 --- r21 .11, r22 .12

The kernel of rtr has no multicast route, so pgmd is the only forwarder of the group; it
learns the receivers from their IGMP reports. ip_forward=1 in rtr for unicast. On lan2's
bridge an nftables rule (table bridge, forward hook) drops chosen ODATA sequence numbers
on their way to both receivers, so both NAK them to pgmd.

Asserts: every receiver completes; on the source's link the source receives exactly one
NAK per lost sequence number, sent by pgmd (hop by hop); no RDATA leaves pgmd on lan1 (it
has no loss); lan2 gets NCFs from pgmd; `pgmctl -j show sessions` shows the session with
up0 as upstream and the source as upstream neighbour; pgmd's counters equal what the
captures show; SIGHUP reloads and a downstream link going down and up keep the session.
A repeated NAK upstream passes only when a NAK reached pgmd after it had already sent that
sequence's RDATA (a new request, see unexplained_repeats()).

--series (acceptance 3): src -- rtra (pgmd) -- rtrb (pgmd) -- lan1, lan2: SPM path
rewritten per hop, NAKs hop by hop (one per lost sequence on each link), NCFs from each
hop, each pgmd's session upstream is the previous hop.

Everything started is stopped and the namespaces deleted, also on failure.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter

GROUP = "239.192.0.1"
DPORT = 7500
LOST = [10, 20, 21, 35, 60]  # ODATA sequence numbers dropped on lan2
COUNT = 300
SIZE = 200
RATE_BPS = 400000

# Disables TX checksum offload on a veth (`ethtool -K DEV tx off` without ethtool), so that
# captured UDP checksums are real; run inside the namespace.
TX_CSUM_OFF = r"""
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
for dev in sys.argv[1:]:
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP16x", dev.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
"""


class Failure(Exception):
    pass


class Lab:
    """Namespaces, links and processes of one run; stop() undoes everything."""

    def __init__(self, tmp, prefix):
        self.tmp = tmp
        self.prefix = prefix
        self.namespaces = []
        self.procs = []  # (name, Popen)

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
            self.sh("/usr/bin/python3", "-c", TX_CSUM_OFF, dev, ns=ns)
            self.sh("ip", "link", "set", dev, "up", ns=ns)

    def start(self, name, args, ns):
        out = open(os.path.join(self.tmp, name + ".out"), "w")
        err = open(os.path.join(self.tmp, name + ".err"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(ns)] + args, stdout=out,
                             stderr=err, start_new_session=True)
        self.procs.append((name, p))
        return p

    def text(self, name, stream="err"):
        try:
            with open(os.path.join(self.tmp, f"{name}.{stream}")) as f:
                return f.read()
        except OSError:
            return ""

    def stop_proc(self, p, sig=signal.SIGTERM, wait_s=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        return p.returncode

    def stop(self):
        for _, p in reversed(self.procs):
            try:
                self.stop_proc(p, wait_s=5)
            except Exception:  # keep cleaning up
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
    """Bounded poll: cond() every 50 ms until true or `limit_s` passed."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise Failure(f"timed out after {limit_s}s waiting for {what}")


def decode(pgmdump, pcap):
    r = subprocess.run([pgmdump, "-r", pcap, "--json", "--no-checksum"], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"pgmdump {pcap}: {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def nak_sqns(p):
    sqns = [p["sqn"]]
    for o in p.get("options", []):
        if o.get("type") in ("OPT_NAK_LIST", "nak_list") or "sqns" in o:
            sqns += o.get("sqns", [])
    return sqns


def when(p):
    return datetime.datetime.strptime(p["time"], "%Y-%m-%dT%H:%M:%S.%fZ")


def unexplained_repeats(upstream_naks, below, router_address):
    """Sequence numbers NAKed upstream more than once without a reason. A repeat is
    explained only by a NAK that reached the router (in capture `below`) after the router
    had already sent that sequence's RDATA downstream: the repair state was gone, so the
    late NAK is a new request (RFC 3208 §7.3), not a duplicate the router failed to
    eliminate. (OpenPGM receivers sometimes NAK while the RDATA is already on its way.)"""
    sent = {}
    for p in upstream_naks:
        for s in nak_sqns(p):
            sent.setdefault(s, []).append(when(p))
    bad = []
    for s, times in sorted(sent.items()):
        for t in sorted(times)[1:]:
            rdata = [when(p) for p in below if p.get("type") == "RDATA" and p["sqn"] == s and
                     when(p) < t]
            late = rdata and any(
                p.get("type") == "NAK" and p["ip_dst"] == router_address and
                s in nak_sqns(p) and max(rdata) < when(p) <= t for p in below)
            if not late:
                bad.append(s)
    return bad


def find_sessions(j):
    if isinstance(j, dict):
        if "upstream_interface" in j and "tsi" in j:
            return [j]
        return [s for v in j.values() for s in find_sessions(v)]
    if isinstance(j, list):
        return [s for v in j for s in find_sessions(v)]
    return []


def build(lab):
    for n in ("src", "rtr", "lan1", "lan2", "r11", "r12", "r21", "r22"):
        lab.add_ns(n)
    lab.veth("src", "s0", "rtr", "up0")
    lab.sh("ip", "addr", "add", "10.1.0.1/24", "dev", "s0", ns="src")
    lab.sh("ip", "addr", "add", "10.1.0.2/24", "dev", "up0", ns="rtr")
    lab.sh("ip", "route", "add", "10.2.0.0/16", "via", "10.1.0.2", ns="src")
    lab.sh("ip", "route", "add", "224.0.0.0/4", "dev", "s0", ns="src")
    lab.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns="rtr")
    lab.sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", ns="rtr")
    for lan in (1, 2):
        br = f"lan{lan}"
        lab.sh("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0", ns=br)
        lab.sh("ip", "link", "set", "br0", "up", ns=br)
        lab.veth("rtr", f"dn{lan}", br, "p0")
        lab.sh("ip", "link", "set", "p0", "master", "br0", ns=br)
        lab.sh("ip", "addr", "add", f"10.2.{lan}.1/24", "dev", f"dn{lan}", ns="rtr")
        for host in (1, 2):
            rcv = f"r{lan}{host}"
            lab.veth(br, f"p{host}", rcv, "eth0")
            lab.sh("ip", "link", "set", f"p{host}", "master", "br0", ns=br)
            lab.sh("ip", "addr", "add", f"10.2.{lan}.1{host}/24", "dev", "eth0", ns=rcv)
            lab.sh("ip", "route", "add", "default", "via", f"10.2.{lan}.1", ns=rcv)
            lab.sh("ip", "route", "add", "224.0.0.0/4", "dev", "eth0", ns=rcv)
    # Loss on lan2 only, in the bridge, for native ODATA (type 0x04) with chosen sequence
    # numbers: both receivers miss them.
    lost = ", ".join(str(s) for s in LOST)
    lab.sh("nft", "-f", "-", ns="lan2", input=f"""
table bridge pgmloss {{
    chain fw {{
        type filter hook forward priority 0; policy accept;
        iifname "p0" ip protocol 113 @th,32,8 0x04 @th,128,32 {{ {lost} }} counter drop
    }}
}}
""")


def run(args, lab):
    build(lab)
    tmp = lab.tmp
    conf = os.path.join(tmp, "pgmd.conf")
    sock = os.path.join(tmp, "pgmd.sock")
    with open(conf, "w") as f:
        f.write(f"""# pgmd_forwarding_test
log-level = debug
[control]
socket = {sock}
[timers]
nak-rpt-ivl = 1s
[interface up0]
join-groups = {GROUP}
igmp-querier = no
[interface dn1]
[interface dn2]
""")
    captures = {}
    for name, ns, dev in (("src", "src", "s0"), ("dn1", "rtr", "dn1"), ("dn2", "rtr", "dn2")):
        pcap = os.path.join(tmp, f"{name}.pcap")
        captures[name] = pcap
        lab.start(f"tcpdump-{name}", ["tcpdump", "-i", dev, "-n", "-s", "0", "-U",
                                      "--immediate-mode", "-Z", "root", "-w", pcap,
                                      "ip proto 113"], ns)
        wait_until(lambda n=name: "listening on" in lab.text(f"tcpdump-{n}"), 10,
                   f"tcpdump on {dev}")

    pgmd = lab.start("pgmd", [args.pgmd, "-n", "-f", conf, "-P", os.path.join(tmp, "pgmd.pid")],
                     "rtr")
    wait_until(lambda: "started" in lab.text("pgmd") or pgmd.poll() is not None, 10,
               "pgmd to start")
    if pgmd.poll() is not None:
        raise Failure("pgmd exited at start:\n" + lab.text("pgmd"))
    if "3 of 3 interfaces served" not in lab.text("pgmd"):
        raise Failure("pgmd does not serve all interfaces:\n" + lab.text("pgmd"))

    receivers = {}
    for rcv, addr in (("r11", "10.2.1.11"), ("r12", "10.2.1.12"), ("r21", "10.2.2.11"),
                      ("r22", "10.2.2.12")):
        ready = os.path.join(tmp, rcv + ".ready")
        receivers[rcv] = lab.start(rcv, [args.recv, "--network", f"{addr};{GROUP}", "--port",
                                         str(DPORT), "--gsi", rcv[1:], "--count", str(COUNT),
                                         "--timeout-ms", "60000", "--ready-file", ready], rcv)
    for rcv, p in receivers.items():
        wait_until(lambda r=rcv, p=p: os.path.exists(os.path.join(tmp, r + ".ready")) or
                   p.poll() is not None, 10, f"receiver {rcv}")
    # pgmd has learnt both LANs from the receivers' IGMP reports before any data flows
    # (SIGUSR1 makes it log its state as JSON).
    def members_learnt():
        pgmd.send_signal(signal.SIGUSR1)
        time.sleep(0.05)
        states = [line.split("state ", 1)[1] for line in lab.text("pgmd").splitlines()
                  if "notice: state {" in line]
        if not states:
            return False
        learnt = {i["name"] for i in json.loads(states[-1])["interfaces"]
                  if GROUP in i.get("groups", [])}
        return {"dn1", "dn2"} <= learnt
    wait_until(members_learnt, 15, "pgmd to learn the receivers' IGMP membership")

    sender = lab.start("send", [args.send, "--network", f"10.1.0.1;{GROUP}", "--port",
                                str(DPORT), "--gsi", "1", "--count", str(COUNT), "--size",
                                str(SIZE), "--rate-bps", str(RATE_BPS), "--linger-ms",
                                "120000", "--start-delay-ms", "1000"], "src")
    failures = []
    for rcv, p in receivers.items():
        try:
            rc = p.wait(90)
        except subprocess.TimeoutExpired:
            rc = lab.stop_proc(p)
        if rc != 0:
            failures.append(f"receiver {rcv} exit {rc}: {lab.text(rcv, 'out').strip()}\n"
                            f"{lab.text(rcv)[-2000:]}")
    # State and counters while the session still lives.
    state = pgmctl(args, sock, "show", "sessions")
    counters = pgmctl(args, sock, "show", "counters")
    # SIGHUP reloads in place: the session survives. A downstream link going down stops
    # its service, coming back up restores it; the session (upstream up0) survives too.
    pgmd.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in lab.text("pgmd"), 10, "the reload")
    lab.sh("ip", "link", "set", "dn1", "down", ns="rtr")
    wait_until(lambda: "no longer serving dn1: link down" in lab.text("pgmd"), 10,
               "pgmd to notice dn1 going down")
    lab.sh("ip", "link", "set", "dn1", "up", ns="rtr")
    wait_until(lambda: lab.text("pgmd").count("serving dn1 (") >= 2, 10,
               "pgmd to serve dn1 again")
    after = find_sessions(pgmctl(args, sock, "show", "sessions"))
    if len(after) != 1 or after[0].get("upstream_interface") != "up0":
        failures.append(f"after reload and dn1 down/up, sessions: {after}")
    lab.stop_proc(sender)
    # The last packets reach the captures within the polls below.
    time.sleep(0.5)
    for name in captures:
        lab.stop_proc(dict(lab.procs)[f"tcpdump-{name}"])
    rc = lab.stop_proc(pgmd)
    if rc != 0:
        failures.append(f"pgmd exit {rc} on SIGTERM")
    if os.path.exists(os.path.join(tmp, "pgmd.pid")) or os.path.exists(sock):
        failures.append("pgmd left its pid file or socket behind")
    if failures:
        raise Failure("\n".join(failures) + "\npgmd log tail:\n" + lab.text("pgmd")[-3000:])

    src = decode(args.pgmdump, captures["src"])
    dn1 = decode(args.pgmdump, captures["dn1"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    problems = []

    naks = [p for p in src if p.get("type") == "NAK"]
    nak_senders = {p["ip_src"] for p in naks}
    if nak_senders != {"10.1.0.2"}:
        problems.append(f"NAKs on the source's link come from {nak_senders}, want pgmd only")
    per_sqn = Counter(s for p in naks for s in nak_sqns(p))
    repeats = unexplained_repeats(naks, dn2, "10.2.2.1")
    if sorted(per_sqn) != sorted(LOST) or repeats:
        problems.append(f"NAKed sequence numbers on the source's link: {dict(per_sqn)}, want "
                        f"each of {LOST} exactly once (unexplained repeats: {repeats})")
    rdata_dn1 = [p for p in dn1 if p.get("type") == "RDATA"]
    if rdata_dn1:
        problems.append(f"{len(rdata_dn1)} RDATA on the loss-free lan1")
    odata_dn1 = {p["sqn"] for p in dn1 if p.get("type") == "ODATA" and p["ip_src"] == "10.1.0.1"}
    if len(odata_dn1) < COUNT:
        problems.append(f"only {len(odata_dn1)} ODATA sequence numbers forwarded onto lan1")
    out_dn2 = [p for p in dn2 if p["ip_dst"] == GROUP]
    ncf_dn2 = [p for p in out_dn2 if p.get("type") == "NCF"]
    rdata_dn2 = [p for p in out_dn2 if p.get("type") == "RDATA"]
    if not ncf_dn2:
        problems.append("no NCF from pgmd on lan2")
    if {p["sqn"] for p in rdata_dn2} != set(LOST):
        problems.append(f"RDATA on lan2 for {sorted({p['sqn'] for p in rdata_dn2})}, want {LOST}")
    spm_dn2 = [p for p in out_dn2 if p.get("type") == "SPM"]
    paths = {o.get("path") for p in spm_dn2 for o in p.get("options", []) if "path" in o}
    paths |= {p.get("path") for p in spm_dn2 if "path" in p}
    paths.discard(None)
    if paths != {"10.2.2.1"}:
        problems.append(f"SPMs on lan2 carry path {paths}, want pgmd's 10.2.2.1")

    sessions = find_sessions(state)
    if len(sessions) != 1 or sessions[0].get("upstream_interface") != "up0" or \
            sessions[0].get("upstream_neighbour") != "10.1.0.1":
        problems.append(f"pgmctl show sessions: {json.dumps(state)[:800]}")

    totals = find_key(counters, "totals") or {}
    expect = {
        "OutNaks": len(naks),
        "OutRdata": len(rdata_dn2),
        "OutNcfs": len(ncf_dn2),
    }
    for key, want in expect.items():
        if totals.get(key) != want:
            problems.append(f"counter {key} = {totals.get(key)}, the captures show {want}")
    print(f"pgmd_forwarding: NAKs upstream {dict(per_sqn)}, NCFs on lan2 {len(ncf_dn2)}, "
          f"RDATA on lan2 {len(rdata_dn2)}, RDATA on lan1 {len(rdata_dn1)}, counters "
          f"{ {k: totals.get(k) for k in expect} }")
    if problems:
        raise Failure("\n".join(problems))


def add_lans(lab, rtr):
    """lan1 and lan2 (bridges, two receivers each) behind `rtr`'s dn1/dn2, loss on lan2."""
    for lan in (1, 2):
        br = f"lan{lan}"
        lab.sh("ip", "link", "add", "br0", "type", "bridge", "mcast_snooping", "0", ns=br)
        lab.sh("ip", "link", "set", "br0", "up", ns=br)
        lab.veth(rtr, f"dn{lan}", br, "p0")
        lab.sh("ip", "link", "set", "p0", "master", "br0", ns=br)
        lab.sh("ip", "addr", "add", f"10.2.{lan}.1/24", "dev", f"dn{lan}", ns=rtr)
        for host in (1, 2):
            rcv = f"r{lan}{host}"
            lab.veth(br, f"p{host}", rcv, "eth0")
            lab.sh("ip", "link", "set", f"p{host}", "master", "br0", ns=br)
            lab.sh("ip", "addr", "add", f"10.2.{lan}.1{host}/24", "dev", "eth0", ns=rcv)
            lab.sh("ip", "route", "add", "default", "via", f"10.2.{lan}.1", ns=rcv)
            lab.sh("ip", "route", "add", "224.0.0.0/4", "dev", "eth0", ns=rcv)
    lost = ", ".join(str(s) for s in LOST)
    lab.sh("nft", "-f", "-", ns="lan2", input=f"""
table bridge pgmloss {{
    chain fw {{
        type filter hook forward priority 0; policy accept;
        iifname "p0" ip protocol 113 @th,32,8 0x04 @th,128,32 {{ {lost} }} counter drop
    }}
}}
""")


def run_series(args, lab):
    """Acceptance 3: src -- rtra (pgmd) -- rtrb (pgmd) -- lan1, lan2 (loss on lan2)."""
    for n in ("src", "rtra", "rtrb", "lan1", "lan2", "r11", "r12", "r21", "r22"):
        lab.add_ns(n)
    lab.veth("src", "s0", "rtra", "up0")
    lab.veth("rtra", "dn0", "rtrb", "up0")
    lab.sh("ip", "addr", "add", "10.1.0.1/24", "dev", "s0", ns="src")
    lab.sh("ip", "addr", "add", "10.1.0.2/24", "dev", "up0", ns="rtra")
    lab.sh("ip", "addr", "add", "10.3.0.1/24", "dev", "dn0", ns="rtra")
    lab.sh("ip", "addr", "add", "10.3.0.2/24", "dev", "up0", ns="rtrb")
    lab.sh("ip", "route", "add", "10.2.0.0/16", "via", "10.1.0.2", ns="src")
    lab.sh("ip", "route", "add", "10.3.0.0/24", "via", "10.1.0.2", ns="src")
    lab.sh("ip", "route", "add", "224.0.0.0/4", "dev", "s0", ns="src")
    lab.sh("ip", "route", "add", "10.2.0.0/16", "via", "10.3.0.2", ns="rtra")
    lab.sh("ip", "route", "add", "default", "via", "10.3.0.1", ns="rtrb")
    for r in ("rtra", "rtrb"):
        lab.sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=r)
        lab.sh("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", ns=r)
    add_lans(lab, "rtrb")
    tmp = lab.tmp
    confs = {
        "rtra": "[interface up0]\njoin-groups = %s\nigmp-querier = no\n[interface dn0]\n" % GROUP,
        "rtrb": "[interface up0]\njoin-groups = %s\nigmp-querier = no\n[interface dn1]\n"
                "[interface dn2]\n" % GROUP,
    }
    captures = {}
    for name, ns, dev in (("src", "src", "s0"), ("mid", "rtra", "dn0"), ("dn2", "rtrb", "dn2")):
        captures[name] = os.path.join(tmp, f"{name}.pcap")
        lab.start(f"tcpdump-{name}", ["tcpdump", "-i", dev, "-n", "-s", "0", "-U",
                                      "--immediate-mode", "-Z", "root", "-w", captures[name],
                                      "ip proto 113"], ns)
        wait_until(lambda n=name: "listening on" in lab.text(f"tcpdump-{n}"), 10,
                   f"tcpdump on {dev}")
    daemons = {}
    for r, body in confs.items():
        conf = os.path.join(tmp, f"{r}.conf")
        with open(conf, "w") as f:
            f.write(f"log-level = debug\n[control]\nsocket = {tmp}/{r}.sock\n{body}")
        daemons[r] = lab.start(r, [args.pgmd, "-n", "-f", conf, "-P", f"{tmp}/{r}.pid"], r)
        wait_until(lambda r=r: "started" in lab.text(r) or daemons[r].poll() is not None, 10,
                   f"pgmd in {r}")
        if daemons[r].poll() is not None:
            raise Failure(f"pgmd in {r} exited:\n" + lab.text(r))
    receivers = {}
    for rcv, addr in (("r11", "10.2.1.11"), ("r12", "10.2.1.12"), ("r21", "10.2.2.11"),
                      ("r22", "10.2.2.12")):
        receivers[rcv] = lab.start(rcv, [args.recv, "--network", f"{addr};{GROUP}", "--port",
                                         str(DPORT), "--gsi", rcv[1:], "--count", str(COUNT),
                                         "--timeout-ms", "60000", "--ready-file",
                                         os.path.join(tmp, rcv + ".ready")], rcv)
    for rcv, p in receivers.items():
        wait_until(lambda r=rcv, p=p: os.path.exists(os.path.join(tmp, r + ".ready")) or
                   p.poll() is not None, 10, f"receiver {rcv}")

    def learnt(r, ifaces):
        daemons[r].send_signal(signal.SIGUSR1)
        time.sleep(0.05)
        states = [line.split("state ", 1)[1] for line in lab.text(r).splitlines()
                  if "notice: state {" in line]
        return bool(states) and ifaces <= {
            i["name"] for i in json.loads(states[-1])["interfaces"]
            if GROUP in i.get("groups", [])}
    wait_until(lambda: learnt("rtrb", {"dn1", "dn2"}), 15, "rtrb to learn its LANs")
    wait_until(lambda: learnt("rtra", {"dn0"}), 15, "rtra to learn rtrb's join")
    sender = lab.start("send", [args.send, "--network", f"10.1.0.1;{GROUP}", "--port",
                                str(DPORT), "--gsi", "1", "--count", str(COUNT), "--size",
                                str(SIZE), "--rate-bps", str(RATE_BPS), "--linger-ms",
                                "120000", "--start-delay-ms", "1000"], "src")
    failures = []
    for rcv, p in receivers.items():
        try:
            rc = p.wait(90)
        except subprocess.TimeoutExpired:
            rc = lab.stop_proc(p)
        if rc != 0:
            failures.append(f"receiver {rcv} exit {rc}: {lab.text(rcv, 'out').strip()}")
    sessions = {r: find_sessions(pgmctl(args, f"{tmp}/{r}.sock", "show", "sessions"))
                for r in daemons}
    lab.stop_proc(sender)
    time.sleep(0.5)
    for name in captures:
        lab.stop_proc(dict(lab.procs)[f"tcpdump-{name}"])
    for r, p in daemons.items():
        if lab.stop_proc(p) != 0:
            failures.append(f"pgmd in {r}: exit {p.returncode} on SIGTERM")
    if failures:
        raise Failure("\n".join(failures))

    problems = []
    for r, upstream in (("rtra", "10.1.0.1"), ("rtrb", "10.3.0.1")):
        s = sessions[r]
        if len(s) != 1 or s[0].get("upstream_interface") != "up0" or \
                s[0].get("upstream_neighbour") != upstream:
            problems.append(f"{r} sessions {s}, want upstream up0 via {upstream}")
    src = decode(args.pgmdump, captures["src"])
    mid = decode(args.pgmdump, captures["mid"])
    dn2 = decode(args.pgmdump, captures["dn2"])
    for where, packets, nak_from, nak_to, spm_path, ncf_where, below, router in (
            ("source link", src, "10.1.0.2", "10.1.0.1", None, None, mid, "10.3.0.1"),
            ("middle link", mid, "10.3.0.2", "10.3.0.1", "10.3.0.1", "rtra", dn2, "10.2.2.1"),
            ("lan2", dn2, None, None, "10.2.2.1", "rtrb", None, None)):
        naks = [p for p in packets if p.get("type") == "NAK" and p["ip_dst"] != GROUP]
        if nak_from is not None:
            senders = {(p["ip_src"], p["ip_dst"]) for p in naks}
            if senders != {(nak_from, nak_to)}:
                problems.append(f"{where}: NAKs {senders}, want {nak_from} -> {nak_to} only")
            per_sqn = Counter(s for p in naks for s in nak_sqns(p))
            repeats = unexplained_repeats(naks, below, router)
            if sorted(per_sqn) != sorted(LOST) or repeats:
                problems.append(f"{where}: NAKed {dict(per_sqn)}, want each of {LOST} once "
                                f"(unexplained repeats: {repeats})")
        if spm_path is not None:
            paths = {p["path"] for p in packets if p.get("type") == "SPM" and "path" in p}
            if paths != {spm_path}:
                problems.append(f"{where}: SPM path {paths}, want {spm_path}")
        if ncf_where is not None:
            ncfs = {s for p in packets if p.get("type") == "NCF" for s in nak_sqns(p)}
            if not set(LOST) <= ncfs:
                problems.append(f"{where}: NCFs (from {ncf_where}) for {sorted(ncfs)}, "
                                f"want {LOST}")
    print("pgmd_forwarding --series: upstream " + ", ".join(
        f"{r} {s[0]['upstream_interface']} via {s[0]['upstream_neighbour']}"
        for r, s in sessions.items() if s))
    if problems:
        raise Failure("\n".join(problems))


def find_key(j, key):
    if isinstance(j, dict):
        if key in j:
            return j[key]
        for v in j.values():
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def pgmctl(args, sock, *command):
    r = subprocess.run([args.pgmctl, "-j", "-u", sock] + list(command), capture_output=True,
                       text=True, timeout=10)
    if r.returncode != 0:
        raise Failure(f"pgmctl {' '.join(command)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    for tool in ("pgmd", "pgmctl", "pgmdump", "send", "recv"):
        ap.add_argument("--" + tool, required=True)
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--series", action="store_true",
                    help="acceptance 3: two pgmd in series instead of one")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("pgmd_forwarding: needs root (namespaces); skipped", file=sys.stderr)
        return 77
    for tool in ("ip", "nft", "tcpdump"):
        if shutil.which(tool) is None:
            print(f"pgmd_forwarding: '{tool}' not found; skipped", file=sys.stderr)
            return 77
    tmp = tempfile.mkdtemp(prefix="pgmd_forwarding.")
    lab = Lab(tmp, f"pgmdf{os.getpid()}")
    status = 0
    try:
        (run_series if args.series else run)(args, lab)
        print("pgmd_forwarding: PASS")
    except Failure as e:
        print(f"pgmd_forwarding: FAIL: {e}", file=sys.stderr)
        status = 1
    finally:
        lab.stop()
        if args.keep_tmp or status != 0:
            print(f"pgmd_forwarding: files kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
