"""netlab: network-namespace machinery for pgmd's integration tests and demo.

Python 3.11 standard library only; run as root. Import it with the directory on sys.path
(scripts in tests/integration do `sys.path.insert(0, os.path.dirname(__file__))`).

Everything a Lab creates is registered and undone by Lab.stop(), which is idempotent and
is meant to run in `finally` (or use `with Lab(...) as lab:`). Lab.install_signal_handlers()
turns SIGTERM and SIGHUP into a Python exception (Interrupted, a KeyboardInterrupt) so that
`finally` runs on `kill` as it does on Ctrl-C. Every wait is bounded; nothing sleeps to
synchronise: wait_until() polls an observable condition.

API (stable: add to it, do not rename)
--------------------------------------
Module:
  Failure(Exception)                  a check or a step failed (message says which)
  Interrupted(KeyboardInterrupt)      raised by the installed SIGTERM/SIGHUP handler
  wait_until(cond, limit_s, what, interval_s=0.05)
                                      poll cond() until true; Failure after limit_s
  missing_tools(*names) -> [name]     tools not on PATH (callers skip with 77)
  raise_on_signals() -> restore()     SIGTERM/SIGHUP raise Interrupted, SIGINT raises
                                      KeyboardInterrupt, for the whole process; call
                                      restore() to put the old handlers back
  remove_stale_namespaces(stem)       delete namespaces named STEM<pid>-* whose pid is dead
  decode(pgmdump, pcap, checksum=False, udp_port=None) -> [dict]
                                      `pgmdump -r PCAP --json [--udp-port N]` lines
  pcap_frames(pcap) -> [bytes]        the frames of a classic pcap file (tcpdump -w), as
                                      captured (Ethernet header included)
  tshark_decode(pcap, udp_port=None, tshark="tshark") -> [dict]
                                      the PGM packets as Wireshark's dissector reads them
                                      (PGM checksums verified): frame, ip_src, ip_dst,
                                      type (pgmdump's names), opts, parity, var_pktlen, sqn
                                      (ODATA/RDATA/SPM: the data or SPM sequence number;
                                      NAK/NNAK/NCF: the requested one), checksum_status
                                      ("good", "bad", "unverified"), keyed like decode()
  nak_sqns(packet) -> [int]           the NAK/NCF's sequence numbers (OPT_NAK_LIST included)
  when(packet) -> datetime            a decoded packet's capture time
  find_sessions(j) / find_key(j, key) walk pgmctl JSON
  pgmctl(pgmctl_bin, sock, *command, json_out=True, timeout_s=10)
                                      JSON data (json_out) or text; Failure on non-zero exit
  pgmd_conf(path, interfaces, socket, log_level="notice", timers=None, extra="")
                                      write a pgmd INI file; interfaces = {name: {key: value}}
                                      (+ fast_path_section(extra))
  fast_path_section(extra="") -> str  "[dataplane] fast-path = $PGMD_FAST_PATH" when that
                                      variable is set and extra has no [dataplane]
  rtr_interfaces(group, lans) -> {name: {key: value}}
                                      pgmd_conf's interfaces for the router of
                                      source_router() + lan(): up0 joins group (not IGMP
                                      querier), then dn1..dnLANS
  unexplained_repeats(upstream_naks, below, router_address) -> [sqn]
                                      sequence numbers NAKed upstream more than once
                                      without a late NAK (after the RDATA) below to explain it
  naks_per_sqn(naks) -> Counter       how often each sequence number was NAKed
  preflight(name, *tools) -> 77 or None
                                      not root or a tool missing: says so, returns 77
  run_lab(name, stem, run, keep_tmp=False, tmp_prefix=None, catch_interrupt=False)
                                      remove stale STEM namespaces, run(lab) in a Lab
                                      (prefix STEM<pid>, signal handlers), print PASS/FAIL,
                                      stop it (files kept on failure); exit status 0/1/130
  lab_main(name, stem, run, tools, needs=("ip",), add_args=None, **run_lab_options)
                                      a namespace test's main(): options --TOOL PATH
                                      (required) and --keep-tmp (+ add_args(parser)),
                                      preflight(name, *needs), then run_lab() of
                                      run(args, lab); returns the exit status
  mismatches(label, actual, expect) -> [problem]
                                      one line for each key whose actual value (pgmctl's)
                                      differs from the expected one (the captures')
  last_json(text) -> dict or None     the last line of text that is a JSON object
  HEADER, make_message(seq, count, size), check_message(buf) -> (seq, None) or (None, why)
                                      the "PGMT" test message (tests/interop, pgmsend)
  Terminate, raise_terminate          an Exception and a SIGTERM handler raising it (for
                                      scripts that run themselves as ZeroMQ peers)
  PYTHON                              "/usr/bin/python3" (Debian's interpreter)
  MROUTE_HELPER                       python snippet: a static kernel multicast route
  kernel_has_multicast_routing() -> bool
                                      CONFIG_IP_MROUTE is built in (/proc/net/ip_mr_vif)
  choose_kernel_forwarder(requested, multicast_routing, smcrouted) -> (kind, label)
                                      the baseline that runs for a request ("auto",
                                      "smcroute", "mrt", "fanout") on a kernel with or
                                      without multicast routing; Failure when impossible
  FORWARDER_KINDS                     ("auto", "smcroute", "mrt", "fanout")
  TX_CSUM_OFF                         python snippet: ethtool -K DEV tx off without ethtool

class Lab(tmp=None, prefix=None, keep_tmp=False)
  tmp / prefix                        own temp directory (created when None, removed by
                                      stop() unless keep_tmp or lab.keep_tmp set) and the
                                      namespace prefix (default "nl<pid>")
  ns(name) -> str                     full namespace name of `name`
  path(*parts) -> str                 a path in tmp
  on_cleanup(fn)                      run fn() in stop(), last registered first
  sh(*argv, ns=None, check=True, input=None, timeout_s=30) -> CompletedProcess
  add_ns(*names)                      create namespaces (lo up)
  veth(ns_a, dev_a, ns_b, dev_b, csum_off=True)   veth pair, both ends up, TX csum off
  tx_csum_off(ns, *devs)
  bridge(ns, br="br0", snooping=False)            a Linux bridge, up
  bridge_port(ns, dev, br="br0")
  addr(ns, dev, cidr) / route(ns, dst, via=None, dev=None)
  sysctl(ns, key, value) / router(ns)  router(): ip_forward=1, rp_filter=0
  nft(ns, ruleset)                    load an nft ruleset (nft -f -)
  drop_odata(ns, sqns, family="bridge", iif=None, oif=None, table="pgmloss", hook="forward")
                                      drop native ODATA with these sequence numbers in the
                                      forward hook of a bridge ("bridge") or router ("ip"),
                                      or (hook="output", family "ip") as a node sends it:
                                      what pgmd forwards leaves its raw socket through output
  drop_random(ns, percent, family="bridge", iif=None, oif=None, table="pgmrand")
  nft_counter(ns, family, table) -> int  packets counted by the table's rules
  source_router(src="src", rtr="rtr", source="10.1.0.1", rtr_up="10.1.0.2")
                                      src s0 --- up0 rtr (a router), src routes 10.2.0.0/16
                                      via rtr and multicast out of s0
  lan(rtr, n, hosts) -> {host: addr}  bridge lanN behind rtr's dnN 10.2.N.1/24 (port p0);
                                      hosts = [(name, octet)] on ports p1.. as 10.2.N.OCTET
  start(name, argv, ns=None, env=None) -> Popen   stdout/stderr to tmp/NAME.out/.err,
                                      own session; stopped by stop()
  proc(name) -> Popen
  text(name, stream="err") -> str     what the process wrote so far
  stop_proc(p_or_name, sig=SIGTERM, wait_s=10) -> returncode (SIGKILL after wait_s)
  wait_proc(p_or_name, limit_s) -> returncode or None (still running)
  wait_ready(procs, limit_s=10)       until each {name: Popen} made tmp/NAME.ready or exited
  finish_receivers(procs, limit_s, tail=1500, sep=" ") -> [problem]
                                      wait for each receiver (SIGTERM after limit_s);
                                      one line for each that did not exit 0
  start_openpgm_receivers(recv, group, port, count, receivers, extra=(), timeout_ms=60000,
                          limit_s=10) -> {name: Popen}
                                      openpgm_recv in each namespace of receivers
                                      {name: addr} (GSI name[1:]), waits until ready
  start_openpgm_send(send, source, group, port, count, size, rate_bps, extra=(), ns="src",
                     name="send") -> Popen     openpgm_send --gsi 1 from source
  pgmd_link_down(name, ns, dev, limit_s=10) / pgmd_link_up(name, ns, dev, limit_s=10)
                                      ip link set DEV down/up; waits until pgmd NAME
                                      stopped / started serving DEV again
  capture(name, ns, dev, bpf="ip proto 113", limit_s=10) -> pcap path
                                      tcpdump -U --immediate-mode -s 9216 -B 16384;
                                      waits for "listening on"
  stop_capture(name, settle_s=1.0, quiet_s=0.15)
                                      stop tcpdump once its file has not grown for
                                      quiet_s (bounded by settle_s)
  start_pgmd(name, pgmd_bin, ns, conf, served=None, limit_s=10) -> Popen
                                      -n -f CONF -P tmp/NAME.pid; waits for "started" and,
                                      if served is a number, "N of N interfaces served"
  pgmd_state(name) -> dict or None    SIGUSR1, then the newest JSON state line in its log
  raise_problems(problems, log="pgmd", tail=3000)
                                      Failure listing problems (if any) and the last `tail`
                                      characters of process LOG's stderr
  wait_pgmd_groups(name, group, ifaces, limit_s=15)
                                      until pgmd has learnt `group` on all of ifaces
  kernel_forwarder(name, ns, source, group, iif, oifs, kind="auto", limit_s=10)
                                      -> KernelForwarder: the no-assist baseline, a router
                                      that forwards (source, group) from iif to oifs with no
                                      PGM knowledge. kind (see choose_kernel_forwarder):
                                      "smcroute"/"mrt" = kernel multicast routing (a static
                                      (S,G) route), "fanout" = tc mirred on iif's clsact
                                      ingress (works without CONFIG_IP_MROUTE); "auto" takes
                                      multicast routing where the kernel has it, else fanout.
                                      .kind, .label (what ran, for reports), .stop()
  kernel_mroute(name, ns, source, group, iif, oifs, use_smcroute=None, limit_s=10)
                                      -> (Popen, "smcroute"|"mrt") the kernel forwards
                                      (source, group) from iif to oifs: a static route by
                                      smcrouted (if installed, or use_smcroute=True) or by a
                                      small MRT_INIT helper (MROUTE_HELPER); waits until
                                      `ip mroute show` has it; stopping the process removes
                                      it. Failure at once when the kernel has no multicast
                                      routing (nothing to wait for)
  stop() / __enter__ / __exit__       stop processes (last first), kill what is left in
                                      the namespaces, delete them, run cleanups, rm tmp;
                                      a SIGINT/SIGTERM/SIGHUP arriving meanwhile is held
                                      and delivered (raised) once the cleanup is done
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter

__all__ = ["Failure", "Interrupted", "Lab", "wait_until", "missing_tools", "raise_on_signals",
           "remove_stale_namespaces", "decode", "tshark_decode", "nak_sqns", "when", "find_sessions",
           "find_key", "pgmctl", "pgmd_conf", "TX_CSUM_OFF", "unexplained_repeats",
           "naks_per_sqn", "preflight", "run_lab", "last_json", "HEADER", "make_message",
           "check_message", "Terminate", "raise_terminate", "lab_main", "mismatches",
           "rtr_interfaces", "kernel_has_multicast_routing", "choose_kernel_forwarder",
           "FORWARDER_KINDS", "KernelForwarder", "fast_path_section"]

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

PYTHON = "/usr/bin/python3"

# A static multicast route without smcroute: MRT_INIT on an IGMP raw socket, one VIF per
# interface (by ifindex), one MFC entry (source, group) iif -> oifs; holds the socket
# (and so the route) until SIGTERM. argv: SOURCE GROUP IIF OIF...
MROUTE_HELPER = r"""
import signal, socket, struct, sys
MRT_INIT, MRT_ADD_VIF, MRT_ADD_MFC, VIFF_USE_IFINDEX = 200, 202, 204, 8
source, group, iif, oifs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
s.setsockopt(socket.IPPROTO_IP, MRT_INIT, 1)
ttls = bytearray(32)
for vif, dev in enumerate([iif] + oifs):
    s.setsockopt(socket.IPPROTO_IP, MRT_ADD_VIF, struct.pack(
        "@HBBIi4s", vif, VIFF_USE_IFINDEX, 1, 0, socket.if_nametoindex(dev), bytes(4)))
    if vif:
        ttls[vif] = 1
s.setsockopt(socket.IPPROTO_IP, MRT_ADD_MFC, struct.pack(
    "@4s4sH32sIIIi", socket.inet_aton(source), socket.inet_aton(group), 0, bytes(ttls),
    0, 0, 0, 0))
print("route installed", file=sys.stderr, flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    signal.pause()
"""


class Failure(Exception):
    pass


# -- the no-assist baseline: a router that forwards multicast with no PGM knowledge ---------
FORWARDER_KINDS = ("auto", "smcroute", "mrt", "fanout")


def kernel_has_multicast_routing(proc_net="/proc/net"):
    """True when the kernel was built with CONFIG_IP_MROUTE: only then does /proc/net have
    ip_mr_vif (in every namespace). Without it smcrouted starts but can add no route."""
    return os.path.exists(os.path.join(proc_net, "ip_mr_vif"))


def choose_kernel_forwarder(requested, multicast_routing, smcrouted):
    """(kind, label) of the baseline to run. requested: one of FORWARDER_KINDS;
    multicast_routing: the kernel has CONFIG_IP_MROUTE; smcrouted: smcrouted is installed.
    "auto" prefers kernel multicast routing (smcroute, else the MRT_INIT helper) and falls
    back to the tc fan-out, which every kernel with cls_u32 and act_mirred has. A request
    that this kernel or machine cannot satisfy is a Failure at once: nothing to wait for."""
    if requested not in FORWARDER_KINDS:
        raise Failure(f"unknown kernel forwarder '{requested}' (one of {', '.join(FORWARDER_KINDS)})")
    if requested == "auto":
        if multicast_routing:
            requested = "smcroute" if smcrouted else "mrt"
        else:
            return "fanout", "kernel fan-out (tc mirred), no multicast routing in this kernel"
    if requested in ("smcroute", "mrt") and not multicast_routing:
        raise Failure(f"kernel forwarder '{requested}' needs multicast routing, which this "
                      "kernel lacks (CONFIG_IP_MROUTE is not set: no /proc/net/ip_mr_vif); "
                      "use 'fanout' or 'auto'")
    if requested == "smcroute" and not smcrouted:
        raise Failure("kernel forwarder 'smcroute' needs smcrouted (Debian package smcroute)")
    return requested, {
        "smcroute": "kernel multicast routing (smcroute)",
        "mrt": "kernel multicast routing (static MFC entry, MRT_INIT helper)",
        "fanout": "kernel fan-out (tc mirred)" + ("" if multicast_routing else
                                                  ", no multicast routing in this kernel"),
    }[requested]


class KernelForwarder:
    """A running baseline (Lab.kernel_forwarder): kind, label; stop() removes it."""

    def __init__(self, kind, label, stop):
        self.kind, self.label, self._stop = kind, label, stop

    def stop(self):
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (see Lab.install_signal_handlers)."""


def wait_until(cond, limit_s, what, interval_s=0.05):
    """Bounded poll: cond() every interval_s until true or `limit_s` passed."""
    deadline = time.monotonic() + limit_s
    while True:
        if cond():
            return
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {limit_s}s waiting for {what}")
        time.sleep(interval_s)


def raise_on_signals():
    """SIGTERM and SIGHUP raise Interrupted (SIGINT KeyboardInterrupt, also when it was
    ignored), so that `finally` blocks run; returns a function restoring the handlers."""
    def handler(signum, frame):
        raise Interrupted(f"signal {signal.Signals(signum).name}")
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)

    def restore():
        for s, h in old.items():
            signal.signal(s, h)
    return restore


def missing_tools(*names):
    return [n for n in names if shutil.which(n) is None]


def _netns_list():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _kill_netns_pids(ns):
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                          text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def remove_stale_namespaces(stem):
    """Delete namespaces STEM<pid>-* left by a run whose process <pid> no longer exists
    (a run killed with SIGKILL cannot clean up after itself)."""
    for ns in _netns_list():
        if not ns.startswith(stem) or "-" not in ns:
            continue
        pid = ns[len(stem):].split("-", 1)[0]
        if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
            continue
        _kill_netns_pids(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def decode(pgmdump, pcap, checksum=False, udp_port=None):
    argv = [pgmdump, "-r", pcap, "--json"] + ([] if checksum else ["--no-checksum"])
    if udp_port is not None:
        argv += ["--udp-port", str(udp_port)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"pgmdump {pcap}: {r.stderr.strip()}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def pcap_frames(pcap):
    with open(pcap, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise Failure(f"{pcap}: {len(data)} bytes, not a pcap file")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        order = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        order = ">"
    else:
        raise Failure(f"{pcap}: magic {magic.hex()}, not a classic pcap file")
    frames, at = [], 24
    while at + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, at + 8)[0]
        frames.append(data[at + 16:at + 16 + incl])
        at += 16 + incl
    return frames


# Wireshark's PGM type codes (pgm.hdr.type) by pgmdump's names.
TSHARK_PGM_TYPES = {0x00: "SPM", 0x01: "POLL", 0x02: "POLR", 0x04: "ODATA", 0x05: "RDATA",
                    0x08: "NAK", 0x09: "NNAK", 0x0A: "NCF", 0x0C: "SPMR", 0x0D: "ACK"}
TSHARK_FIELDS = ("frame.number", "ip.src", "ip.dst", "pgm.hdr.type", "pgm.hdr.opts",
                 "pgm.spm.sqn", "pgm.nak.sqn", "pgm.hdr.cksum.status")


def tshark_decode(pcap, udp_port=None, tshark="tshark"):
    """The PGM packets of pcap as tshark's dissector decodes them, one dict per packet with
    the keys of decode()'s lines (frame, ip_src, ip_dst, type, sqn, checksum_status) plus
    opts (the options byte), parity and var_pktlen (its 0x80 and 0x40 bits, D1).
    Wireshark reports ODATA/RDATA sequence numbers in SPM's field (pgm.spm.sqn), and tshark
    4.0 registers the checksum under the status field's name, so that field lists the
    checksum's low byte, then the status (0 bad, 1 good, 2 unverified): the last is taken."""
    argv = [tshark, "-r", pcap, "-n", "-o", "pgm.check_checksum:TRUE", "-Y", "pgm",
            "-T", "fields", "-E", "separator=/t", "-E", "aggregator=,"]
    if udp_port is not None:
        argv += ["-d", f"udp.port=={udp_port},pgm"]
    for field in TSHARK_FIELDS:
        argv += ["-e", field]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Failure(f"tshark {pcap}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
    status = {"0": "bad", "1": "good", "2": "unverified"}
    packets = []
    for line in r.stdout.splitlines():
        frame, src, dst, type_, opts, data_sqn, nak_sqn, csum = \
            (line.split("\t") + [""] * len(TSHARK_FIELDS))[:len(TSHARK_FIELDS)]
        code, opts = int(type_.split(",")[0], 0), int(opts.split(",")[0], 0)
        sqn = (data_sqn or nak_sqn).split(",")[0]
        packets.append({
            "frame": int(frame), "ip_src": src.split(",")[0], "ip_dst": dst.split(",")[0],
            "type": TSHARK_PGM_TYPES.get(code, f"type {code:#x}"), "type_code": code,
            "opts": opts, "parity": bool(opts & 0x80), "var_pktlen": bool(opts & 0x40),
            "sqn": int(sqn, 0) if sqn else None,
            "checksum_status": status.get(csum.split(",")[-1], csum)})
    return packets


def nak_sqns(p):
    sqns = [p["sqn"]]
    for o in p.get("options", []):
        if o.get("type") in ("OPT_NAK_LIST", "nak_list") or "sqns" in o:
            sqns += o.get("sqns", [])
    return sqns


def when(p):
    return datetime.datetime.strptime(p["time"], "%Y-%m-%dT%H:%M:%S.%fZ")


def naks_per_sqn(naks):
    return Counter(s for p in naks for s in nak_sqns(p))


def one_nak_per_loss(upstream_naks, lost, below, router_address):
    """The acceptance check of pgmd's NAK elimination: every lost sequence NAKed upstream
    exactly once (repeats explained by unexplained_repeats() aside). Returns a problem
    description, or None."""
    per_sqn = naks_per_sqn(upstream_naks)
    repeats = unexplained_repeats(upstream_naks, below, router_address)
    if sorted(per_sqn) == sorted(lost) and not repeats:
        return None
    return (f"NAKed sequence numbers {dict(per_sqn)}, want each of {list(lost)} exactly once "
            f"(unexplained repeats: {repeats})")


def unexplained_repeats(upstream_naks, below, router_address):
    """Sequence numbers NAKed upstream more than once without a reason. A repeat is
    explained by a NAK that reached the router (in capture `below`) after the router had
    already sent that sequence's RDATA downstream: the repair state was gone, so the late
    NAK is a new request (RFC 3208 §7.3), not a duplicate the router failed to eliminate.
    (OpenPGM receivers sometimes NAK while the RDATA is already on its way.) It is also
    explained when it rides in a NAK packet that carries a sequence NAKed upstream for the
    first time: pgmd forwards a NAK whole, list and all (§9.3.3, Router::on_nak_like), when
    any of its entries needs forwarding, so a receiver's NAK listing a new loss and one
    another receiver NAKed a moment before carries the older one up again."""
    seen = set()
    bad = []
    for p in sorted(upstream_naks, key=when):
        sqns_p = nak_sqns(p)
        t = when(p)
        rides_along = any(s not in seen for s in sqns_p)
        for s in sqns_p:
            if s not in seen:
                continue
            rdata = [when(q) for q in below if q.get("type") == "RDATA" and q["sqn"] == s and
                     when(q) < t]
            late = rdata and any(
                q.get("type") == "NAK" and q["ip_dst"] == router_address and
                s in nak_sqns(q) and max(rdata) < when(q) <= t for q in below)
            if not (late or rides_along):
                bad.append(s)
        seen.update(sqns_p)
    return sorted(bad)


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return None


# The "PGMT" test message of tests/interop (openpgm_send/recv) and pgmsend/pgmrecv: magic,
# seq, count, size (big endian), then filler byte i == (seq * 7 + i) & 0xFF.
HEADER = struct.Struct(">4sIII")


def make_message(seq, count, size):
    head = HEADER.pack(b"PGMT", seq, count, size)
    return head + bytes((seq * 7 + i) & 0xFF for i in range(HEADER.size, size))


def check_message(buf):
    """(seq, None) for a valid message, else (None, what is wrong)."""
    if len(buf) < HEADER.size:
        return None, "message shorter than the 16-byte test header"
    magic, seq, _count, size = HEADER.unpack_from(buf)
    if magic != b"PGMT":
        return None, "bad magic"
    if size != len(buf):
        return None, "length field does not match the received length"
    if buf[HEADER.size:] != make_message(seq, _count, size)[HEADER.size:]:
        return None, "payload filler corrupted"
    return seq, None


class Terminate(Exception):
    """Raised by raise_terminate (install it as the SIGTERM handler)."""


def raise_terminate(_signum, _frame):
    raise Terminate()


def find_sessions(j):
    if isinstance(j, dict):
        if "upstream_interface" in j and "tsi" in j:
            return [j]
        return [s for v in j.values() for s in find_sessions(v)]
    if isinstance(j, list):
        return [s for v in j for s in find_sessions(v)]
    return []


def find_key(j, key):
    if isinstance(j, dict):
        if key in j:
            return j[key]
        for v in j.values():
            r = find_key(v, key)
            if r is not None:
                return r
    if isinstance(j, list):
        for v in j:
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def pgmctl(pgmctl_bin, sock, *command, json_out=True, timeout_s=10):
    argv = [pgmctl_bin] + (["-j"] if json_out else []) + ["-u", sock] + list(command)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if r.returncode != 0:
        raise Failure(f"pgmctl {' '.join(command)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout) if json_out else r.stdout


def pgmd_conf(path, interfaces, socket, log_level="notice", timers=None, extra=""):
    """Write a pgmd configuration: interfaces = {"up0": {"join-groups": G, ...}, "dn1": {}}
    (insertion order kept), timers = {"nak-rpt-ivl": "1s", ...}."""
    lines = [f"log-level = {log_level}", "[control]", f"socket = {socket}"]
    if timers:
        lines.append("[timers]")
        lines += [f"{k} = {v}" for k, v in timers.items()]
    for name, keys in interfaces.items():
        lines.append(f"[interface {name}]")
        lines += [f"{k} = {v}" for k, v in (keys or {}).items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + extra + fast_path_section(extra))
    return path


def fast_path_section(extra=""):
    """`[dataplane] fast-path = MODE` when PGMD_FAST_PATH=MODE is set in the environment
    (scripts/test.sh runs the pgmd namespace tests with the kernel fast path, the default,
    then again with PGMD_FAST_PATH=off), unless `extra` already has a [dataplane] section."""
    mode = os.environ.get("PGMD_FAST_PATH")
    if not mode or "[dataplane]" in extra:
        return ""
    return f"\n[dataplane]\nfast-path = {mode}\n"


def rtr_interfaces(group, lans):
    """pgmd_conf's interfaces for the router of Lab.source_router() and Lab.lan(): up0, the
    source's side, joins group (the source's link has no receivers, so pgmd need not be its
    IGMP querier), then dn1..dnLANS with the defaults."""
    return {"up0": {"join-groups": group, "igmp-querier": "no"},
            **{f"dn{n}": {} for n in range(1, lans + 1)}}


def preflight(name, *tools):
    """77 (skipped, with a message) when not root or one of tools is missing, else None."""
    if os.geteuid() != 0:
        print(f"{name}: needs root (namespaces); skipped", file=sys.stderr, flush=True)
        return 77
    missing = missing_tools(*tools)
    if missing:
        print(f"{name}: {missing} not found; skipped", file=sys.stderr, flush=True)
        return 77
    return None


def run_lab(name, stem, run, keep_tmp=False, tmp_prefix=None, catch_interrupt=False):
    """run(lab) in a fresh Lab (namespaces STEM<pid>-*, stale ones of dead runs removed
    first, SIGTERM/SIGHUP handled); prints "NAME: PASS" or the failure, stops the lab and
    keeps its files when asked or when the run failed. Returns 0, 1 (Failure) or, with
    catch_interrupt, 130 (KeyboardInterrupt/Interrupted; else it propagates)."""
    remove_stale_namespaces(stem)
    lab = Lab(tempfile.mkdtemp(prefix=tmp_prefix) if tmp_prefix else None,
              f"{stem}{os.getpid()}", keep_tmp=keep_tmp)
    lab.own_tmp = True  # removed by stop() unless kept
    lab.install_signal_handlers()
    status = 0
    try:
        run(lab)
        print(f"{name}: PASS")
    except Failure as e:
        print(f"{name}: FAIL: {e}", file=sys.stderr)
        status = 1
        lab.keep_tmp = True
    except KeyboardInterrupt as e:
        if not catch_interrupt:
            raise
        print(f"{name}: interrupted ({str(e) or 'SIGINT'})", file=sys.stderr)
        status = 130
        lab.keep_tmp = True
    finally:
        lab.stop()
        if lab.keep_tmp:
            print(f"{name}: files kept in {lab.tmp}", file=sys.stderr)
    return status


def lab_main(name, stem, run, tools, needs=("ip",), add_args=None, **run_lab_options):
    """The main() of a namespace test: parses --TOOL PATH (required) for each of tools,
    --keep-tmp and whatever add_args(parser) adds; returns 77 when preflight(name, *needs)
    skips, else run_lab(name, stem, ...) of run(args, lab) with run_lab_options."""
    ap = argparse.ArgumentParser()
    for tool in tools:
        ap.add_argument("--" + tool, required=True)
    ap.add_argument("--keep-tmp", action="store_true")
    if add_args:
        add_args(ap)
    args = ap.parse_args()
    skip = preflight(name, *needs)
    if skip:
        return skip
    return run_lab(name, stem, lambda lab: run(args, lab), keep_tmp=args.keep_tmp,
                   **run_lab_options)


def mismatches(label, actual, expect):
    """What pgmd reports (actual, a dict) against what the captures show (expect): one
    problem line for each key of expect whose value differs."""
    return [f"{label} {key} = {actual.get(key)}, the captures show {want}"
            for key, want in expect.items() if actual.get(key) != want]


class Lab:
    """Namespaces, links and processes of one run; stop() undoes everything."""

    def __init__(self, tmp=None, prefix=None, keep_tmp=False):
        self.own_tmp = tmp is None
        self.tmp = tmp if tmp is not None else tempfile.mkdtemp(prefix="netlab.")
        self.prefix = prefix or f"nl{os.getpid()}"
        self.keep_tmp = keep_tmp
        self.namespaces = []
        self.procs = []  # (name, Popen)
        self._cleanups = []
        self._stopped = False
        self._restore_signals = None

    # -- context, signals, cleanup registry --------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def install_signal_handlers(self):
        """SIGTERM/SIGHUP raise Interrupted (SIGINT already raises KeyboardInterrupt), so
        the caller's finally: lab.stop() runs. Restored by stop()."""
        self._restore_signals = raise_on_signals()

    def on_cleanup(self, fn):
        self._cleanups.append(fn)

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        # Ctrl-C or SIGTERM during the cleanup must not cut it short: remember the signal
        # and raise it once everything is undone.
        pending = []
        deferred = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        prev = {s: signal.signal(s, lambda signum, frame: pending.append(signum))
                for s in deferred}
        try:
            for _, p in reversed(self.procs):
                try:
                    self.stop_proc(p, wait_s=5)
                except Exception:  # keep cleaning up
                    pass
            for ns in reversed(self.namespaces):
                _kill_netns_pids(ns)
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            for fn in reversed(self._cleanups):
                try:
                    fn()
                except Exception:
                    pass
            if self.own_tmp and not self.keep_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            for s, h in prev.items():
                signal.signal(s, h)
            if self._restore_signals:
                self._restore_signals()
                self._restore_signals = None
        if pending:
            handler = signal.getsignal(pending[0])
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                if pending[0] == signal.SIGINT:
                    raise KeyboardInterrupt()
                signal.raise_signal(pending[0])

    # -- names and commands --------------------------------------------------------------
    def ns(self, name):
        return f"{self.prefix}-{name}"

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def sh(self, *args, ns=None, check=True, input=None, timeout_s=30):
        cmd = (["ip", "netns", "exec", self.ns(ns)] if ns else []) + list(args)
        r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout_s)
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r

    # -- topology ------------------------------------------------------------------------
    def add_ns(self, *names):
        for name in names:
            self.sh("ip", "netns", "add", self.ns(name))
            self.namespaces.append(self.ns(name))
            self.sh("ip", "link", "set", "lo", "up", ns=name)

    def tx_csum_off(self, ns, *devs):
        self.sh(PYTHON, "-c", TX_CSUM_OFF, *devs, ns=ns)

    def veth(self, ns_a, dev_a, ns_b, dev_b, csum_off=True):
        self.sh("ip", "link", "add", dev_a, "netns", self.ns(ns_a), "type", "veth", "peer",
                "name", dev_b, "netns", self.ns(ns_b))
        for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):
            if csum_off:
                self.tx_csum_off(ns, dev)
            self.sh("ip", "link", "set", dev, "up", ns=ns)

    def bridge(self, ns, br="br0", snooping=False):
        self.sh("ip", "link", "add", br, "type", "bridge", "mcast_snooping",
                "1" if snooping else "0", ns=ns)
        self.sh("ip", "link", "set", br, "up", ns=ns)

    def bridge_port(self, ns, dev, br="br0"):
        self.sh("ip", "link", "set", dev, "master", br, ns=ns)

    def addr(self, ns, dev, cidr):
        self.sh("ip", "addr", "add", cidr, "dev", dev, ns=ns)

    def route(self, ns, dst, via=None, dev=None):
        argv = ["ip", "route", "add", dst]
        if via:
            argv += ["via", via]
        if dev:
            argv += ["dev", dev]
        self.sh(*argv, ns=ns)

    def sysctl(self, ns, key, value):
        self.sh("sysctl", "-qw", f"{key}={value}", ns=ns)

    def router(self, ns):
        self.sysctl(ns, "net.ipv4.ip_forward", 1)
        self.sysctl(ns, "net.ipv4.conf.all.rp_filter", 0)
        self.sysctl(ns, "net.ipv4.conf.default.rp_filter", 0)

    def source_router(self, src="src", rtr="rtr", source="10.1.0.1", rtr_up="10.1.0.2"):
        """src's s0 (source/24) --- rtr's up0 (rtr_up/24); rtr forwards unicast; src routes
        10.2.0.0/16 via rtr and sends multicast out of s0."""
        self.veth(src, "s0", rtr, "up0")
        self.addr(src, "s0", f"{source}/24")
        self.addr(rtr, "up0", f"{rtr_up}/24")
        self.route(src, "10.2.0.0/16", via=rtr_up)
        self.route(src, "224.0.0.0/4", dev="s0")
        self.router(rtr)

    def lan(self, rtr, n, hosts):
        """Bridge namespace lanN: port p0 to rtr's dnN (10.2.N.1/24), then one port pI (I
        from 1) to each host (name, octet) of hosts: eth0 10.2.N.OCTET/24, default route via
        rtr, multicast out of eth0. Returns {name: address}."""
        br = f"lan{n}"
        self.bridge(br)
        self.veth(rtr, f"dn{n}", br, "p0")
        self.bridge_port(br, "p0")
        self.addr(rtr, f"dn{n}", f"10.2.{n}.1/24")
        addrs = {}
        for i, (host, octet) in enumerate(hosts, 1):
            self.veth(br, f"p{i}", host, "eth0")
            self.bridge_port(br, f"p{i}")
            addrs[host] = f"10.2.{n}.{octet}"
            self.addr(host, "eth0", f"{addrs[host]}/24")
            self.route(host, "default", via=f"10.2.{n}.1")
            self.route(host, "224.0.0.0/4", dev="eth0")
        return addrs

    # -- loss ----------------------------------------------------------------------------
    def nft(self, ns, ruleset):
        self.sh("nft", "-f", "-", ns=ns, input=ruleset)

    @staticmethod
    def _match(iif, oif):
        m = ""
        if iif:
            m += f'iifname "{iif}" '
        if oif:
            m += f'oifname "{oif}" '
        return m

    def drop_odata(self, ns, sqns, family="bridge", iif=None, oif=None, table="pgmloss",
                   hook="forward"):
        """Drop native ODATA (type 0x04) with these sequence numbers where `ns` forwards
        (a bridge's forward hook, or a router's with family "ip") or, with hook="output",
        where `ns` sends it (pgmd re-sends what it forwards from a raw socket)."""
        lost = ", ".join(str(s) for s in sqns)
        self.nft(ns, f"""
table {family} {table} {{
    chain fw {{
        type filter hook {hook} priority 0; policy accept;
        {self._match(iif, oif)}ip protocol 113 @th,32,8 0x04 @th,128,32 {{ {lost} }} counter drop
    }}
}}
""")

    def drop_random(self, ns, percent, family="bridge", iif=None, oif=None, table="pgmrand"):
        """Drop `percent` % of native ODATA at random where `ns` forwards."""
        self.nft(ns, f"""
table {family} {table} {{
    chain fw {{
        type filter hook forward priority 0; policy accept;
        {self._match(iif, oif)}ip protocol 113 @th,32,8 0x04 numgen random mod 100 < {int(percent)} counter drop
    }}
}}
""")

    def nft_counter(self, ns, family, table):
        r = self.sh("nft", "-j", "list", "table", family, table, ns=ns)
        n = 0
        for item in json.loads(r.stdout).get("nftables", []):
            for e in item.get("rule", {}).get("expr", []):
                if "counter" in e:
                    n += e["counter"].get("packets", 0)
        return n

    # -- processes -----------------------------------------------------------------------
    def start(self, name, args, ns=None, env=None):
        out = open(self.path(name + ".out"), "w")
        err = open(self.path(name + ".err"), "w")
        cmd = (["ip", "netns", "exec", self.ns(ns)] if ns else []) + list(args)
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True,
                                 stdin=subprocess.DEVNULL, env=env)
        finally:
            out.close()
            err.close()
        self.procs.append((name, p))
        return p

    def proc(self, name):
        for n, p in reversed(self.procs):
            if n == name:
                return p
        raise KeyError(name)

    def text(self, name, stream="err"):
        try:
            with open(self.path(f"{name}.{stream}")) as f:
                return f.read()
        except OSError:
            return ""

    def stop_proc(self, p, sig=signal.SIGTERM, wait_s=10):
        if isinstance(p, str):
            p = self.proc(p)
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

    def wait_proc(self, p, limit_s):
        if isinstance(p, str):
            p = self.proc(p)
        try:
            return p.wait(limit_s)
        except subprocess.TimeoutExpired:
            return None

    # -- receivers and senders (tests/interop programs) ---------------------------------
    def wait_ready(self, procs, limit_s=10):
        """Until each receiver {name: Popen} has created tmp/NAME.ready (or exited)."""
        for name, p in procs.items():
            wait_until(lambda n=name, p=p: os.path.exists(self.path(n + ".ready")) or
                       p.poll() is not None, limit_s, f"receiver {name}")

    def finish_receivers(self, procs, limit_s, tail=1500, sep=" "):
        """Wait up to limit_s for each receiver in turn (then SIGTERM); a problem line for
        each that did not exit 0: its stdout and the last `tail` characters of stderr."""
        problems = []
        for name, p in procs.items():
            rc = self.wait_proc(p, limit_s)
            if rc is None:
                rc = self.stop_proc(p)
            if rc != 0:
                msg = f"receiver {name} exit {rc}: {self.text(name, 'out').strip()}"
                problems.append(msg + (sep + self.text(name)[-tail:] if tail else ""))
        return problems

    def start_openpgm_receivers(self, recv, group, port, count, receivers, extra=(),
                                timeout_ms=60000, limit_s=10):
        """openpgm_recv NAME in namespace NAME for each {name: addr} (GSI name[1:]), then
        wait until all are ready."""
        procs = {}
        for name, addr in receivers.items():
            procs[name] = self.start(name, [
                recv, "--network", f"{addr};{group}", "--port", str(port), "--gsi", name[1:],
                "--count", str(count), "--timeout-ms", str(timeout_ms)] + list(extra) +
                ["--ready-file", self.path(name + ".ready")], name)
        self.wait_ready(procs, limit_s)
        return procs

    def start_openpgm_send(self, send, source, group, port, count, size, rate_bps, extra=(),
                           ns="src", name="send"):
        return self.start(name, [send, "--network", f"{source};{group}", "--port", str(port),
                                 "--gsi", "1", "--count", str(count), "--size", str(size),
                                 "--rate-bps", str(rate_bps)] + list(extra), ns)

    # -- capture -------------------------------------------------------------------------
    def capture(self, name, ns, dev, bpf="ip proto 113", limit_s=10):
        """tcpdump on dev in ns into tmp/NAME.pcap (process name "tcpdump-NAME").

        Immediate mode gives each packet a ring slot of the snapshot length: with -s 0
        (256 KiB) tcpdump's default 2 MiB buffer holds 8 packets, and a burst forwarded by
        the kernel while tcpdump waits for a CPU was lost to the capture ("dropped by
        kernel"). A 9216-byte snapshot (a jumbo frame) and a 16 MiB buffer hold ~1800."""
        pcap = self.path(f"{name}.pcap")
        p = self.start(f"tcpdump-{name}", ["tcpdump", "-i", dev, "-n", "-s", "9216", "-B", "16384",
                                           "-U", "--immediate-mode", "-Z", "root", "-w", pcap,
                                           bpf],
                       ns)
        wait_until(lambda: "listening on" in self.text(f"tcpdump-{name}") or
                   p.poll() is not None, limit_s, f"tcpdump on {dev}")
        if p.poll() is not None:
            raise Failure(f"tcpdump on {dev} exited: {self.text(f'tcpdump-{name}')}")
        return pcap

    def stop_capture(self, name, settle_s=1.0, quiet_s=0.15):
        """Stop tcpdump-NAME once its pcap file has stopped growing for quiet_s (at most
        settle_s): the caller has stopped the traffic; packets already queued to tcpdump
        get written before the SIGTERM."""
        pcap = self.path(f"{name}.pcap")
        state = {"size": -1, "since": time.monotonic()}

        def quiet():
            try:
                size = os.path.getsize(pcap)
            except OSError:
                size = -1
            now = time.monotonic()
            if size != state["size"]:
                state["size"], state["since"] = size, now
            return now - state["since"] >= quiet_s
        try:
            wait_until(quiet, settle_s, f"capture {name} to go quiet", interval_s=0.03)
        except Failure:
            pass  # still busy: stop it anyway, the tail is not needed by the caller
        return self.stop_proc(f"tcpdump-{name}")

    # -- kernel multicast routing (the network without pgmd) ------------------------------
    def kernel_forwarder(self, name, ns, source, group, iif, oifs, kind="auto", limit_s=10):
        kind, label = choose_kernel_forwarder(kind, kernel_has_multicast_routing(),
                                              shutil.which("smcrouted") is not None)
        if kind in ("smcroute", "mrt"):
            self.kernel_mroute(name, ns, source, group, iif, oifs,
                               use_smcroute=kind == "smcroute", limit_s=limit_s)
            return KernelForwarder(kind, label, lambda: self.stop_proc(name))
        created = self.tc_fanout(ns, source, group, iif, oifs)

        def remove():
            # Only what tc_fanout added: a clsact that was there before (pgmd's fast path
            # leaves its qdisc) stays.
            self.sh("tc", "filter", "del", "dev", iif, "ingress", "pref", "10", ns=ns,
                    check=False)
            if created:
                self.sh("tc", "qdisc", "del", "dev", iif, "clsact", ns=ns, check=False)
        return KernelForwarder(kind, label, remove)

    def tc_fanout(self, ns, source, group, iif, oifs):
        """(source, group) arriving on iif copied out of every oif by tc on iif's clsact
        ingress (u32 match, act_mirred), the original consumed by the last redirect: the
        kernel's plainest multicast fan-out, with no TTL decrement and no routing table.
        Returns whether it created iif's clsact qdisc (one may be there already, e.g. left
        by pgmd's fast path). Deleting the filter (pref 10) or the namespace removes it."""
        if not oifs:
            raise Failure("tc fan-out needs at least one outgoing interface")
        qdiscs = self.sh("tc", "qdisc", "show", "dev", iif, ns=ns).stdout
        created = "clsact" not in qdiscs
        if created:
            self.sh("tc", "qdisc", "add", "dev", iif, "clsact", ns=ns)
        actions = []
        for i, dev in enumerate(oifs):
            last = i == len(oifs) - 1
            actions += ["action", "mirred", "egress", "redirect" if last else "mirror",
                        "dev", dev] + ([] if last else ["pipe"])
        self.sh("tc", "filter", "add", "dev", iif, "ingress", "protocol", "ip", "pref", "10",
                "u32", "match", "ip", "src", f"{source}/32", "match", "ip", "dst",
                f"{group}/32", *actions, ns=ns)
        shown = self.sh("tc", "filter", "show", "dev", iif, "ingress", ns=ns).stdout
        if shown.count("mirred") < len(oifs):
            raise Failure(f"tc fan-out on {iif} not installed:\n{shown}")
        return created

    def kernel_mroute(self, name, ns, source, group, iif, oifs, use_smcroute=None,
                      limit_s=10):
        if not kernel_has_multicast_routing():
            raise Failure("kernel_mroute: this kernel has no multicast routing "
                          "(CONFIG_IP_MROUTE is not set); use kernel_forwarder()")
        if use_smcroute is None:
            use_smcroute = shutil.which("smcrouted") is not None
        if use_smcroute:
            conf = self.path(f"{name}.conf")
            with open(conf, "w") as f:
                for dev in [iif] + list(oifs):
                    f.write(f"phyint {dev} enable\n")
                f.write(f"mroute from {iif} source {source} group {group} to "
                        f"{' '.join(oifs)}\n")
            p = self.start(name, ["smcrouted", "-n", "-N", "-l", "notice", "-f", conf,
                                  "-u", self.path(f"{name}.sock"), "-P",
                                  self.path(f"{name}.pid"), "-i", name], ns)
            kind = "smcroute"
        else:
            p = self.start(name, [PYTHON, "-c", MROUTE_HELPER, source, group, iif] +
                           list(oifs), ns)
            kind = "mrt"
        entry = f"({source},{group})"

        def installed():
            return p.poll() is not None or \
                entry in self.sh("ip", "mroute", "show", ns=ns, check=False).stdout
        wait_until(installed, limit_s, f"the kernel route {entry} in {ns}")
        if p.poll() is not None:
            raise Failure(f"{name} exited: {self.text(name)}")
        return p, kind

    # -- pgmd ----------------------------------------------------------------------------
    def start_pgmd(self, name, pgmd_bin, ns, conf, served=None, limit_s=10, extra_args=()):
        p = self.start(name, [pgmd_bin, "-n", "-f", conf, "-P", self.path(f"{name}.pid")]
                       + list(extra_args), ns)
        wait_until(lambda: "started" in self.text(name) or p.poll() is not None, limit_s,
                   f"pgmd {name} to start")
        if p.poll() is not None:
            raise Failure(f"pgmd {name} exited at start:\n" + self.text(name))
        if served is not None and f"{served} of {served} interfaces served" not in self.text(name):
            raise Failure(f"pgmd {name} does not serve all interfaces:\n" + self.text(name))
        return p

    def raise_problems(self, problems, log="pgmd", tail=3000):
        """Failure when problems is not empty: one line each, then the end of what process
        `log` (pgmd, usually) wrote to stderr, which tells why."""
        if problems:
            raise Failure("\n".join(problems) + f"\n{log} log tail:\n" + self.text(log)[-tail:])

    def pgmd_state(self, name):
        """SIGUSR1 makes pgmd log its state as one JSON line; the newest such line."""
        before = self.text(name).count("notice: state {")
        self.proc(name).send_signal(signal.SIGUSR1)
        try:
            wait_until(lambda: self.text(name).count("notice: state {") > before, 2,
                       f"pgmd {name} to log its state", interval_s=0.02)
        except Failure:
            return None
        states = [line.split("state ", 1)[1] for line in self.text(name).splitlines()
                  if "notice: state {" in line]
        return json.loads(states[-1]) if states else None

    def wait_pgmd_groups(self, name, group, ifaces, limit_s=15):
        def learnt():
            s = self.pgmd_state(name)
            return s is not None and set(ifaces) <= {
                i["name"] for i in s.get("interfaces", []) if group in i.get("groups", [])}
        wait_until(learnt, limit_s, f"pgmd {name} to learn {group} on {sorted(ifaces)}")

    def pgmd_link_down(self, name, ns, dev, limit_s=10):
        self.sh("ip", "link", "set", dev, "down", ns=ns)
        wait_until(lambda: f"no longer serving {dev}: link down" in self.text(name), limit_s,
                   f"pgmd to notice {dev} going down")

    def pgmd_link_up(self, name, ns, dev, limit_s=10):
        served = self.text(name).count(f"serving {dev} (")
        self.sh("ip", "link", "set", dev, "up", ns=ns)
        wait_until(lambda: self.text(name).count(f"serving {dev} (") > served, limit_s,
                   f"pgmd to serve {dev} again")
