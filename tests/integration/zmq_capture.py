#!/usr/bin/python3
"""zmq_capture.py: record ZeroMQ epgm:// (OpenPGM, UDP-encapsulated) traffic with repairs.

Builds two network namespaces joined by a veth pair (publisher 10.99.0.1/24, subscriber
10.99.0.2/24, 224.0.0.0/4 routed on the veth), drops ~5 % of the UDP packets to the epgm
port arriving at the subscriber (nftables, input hook) so that NAK, NCF and RDATA appear,
runs a PUB in one namespace and a SUB in the other (this same script, --role pub/sub,
started with `ip netns exec`), and captures on the subscriber's veth with tcpdump.

Usage (as root; Debian's /usr/bin/python3 is the interpreter that has python3-zmq):
  zmq_capture.py --pcap FILE [--count N] [--size BYTES] [--rate-bps BITS] [--loss PCT]
                 [--port N] [--group ADDR] [--keep-tmp]
Prints "RESULT zmq sub {json}" and "RESULT zmq pub {json}" on stdout.  The SUB's JSON
has the keys of openpgm_recv ("received", "bytes", "unrecoverable", "in_order", ...);
ZeroMQ does not report OpenPGM's loss events, so "unrecoverable" counts the messages
missing between the ones that did arrive.
Exit status: 0 when the subscriber got every message in order, 1 otherwise, 2 on bad
usage, 77 when not root or ZeroMQ lacks PGM support (ctest "skipped").

Decode the capture with: pgmdump -r FILE --json --udp-port 3055, or
tshark -r FILE -d udp.port==3055,pgm.  ZeroMQ packs several small messages into one
ODATA, so the ODATA count is below the message count.
"""

import argparse
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# HEADER: magic "PGMT", seq, count, size (as openpgm_send); SIGTERM raises Terminate.
from netlab import HEADER, Terminate, check_message, make_message  # noqa: E402
from netlab import raise_terminate as _on_term  # noqa: E402

ADDR_PUB = "10.99.0.1"
ADDR_SUB = "10.99.0.2"


def log(msg):
    print(f"zmq_capture: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- roles


def epgm_endpoint(addr, group, port):
    # Addresses, not interface names: names are first looked up in DNS and fail.
    return f"epgm://{addr};{group}:{port}"


def run_pub(args):
    import zmq

    signal.signal(signal.SIGTERM, _on_term)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.RATE, args.zmq_rate_kbps)  # OpenPGM TXW_MAX_RTE, kbit/s
    sock.setsockopt(zmq.RECOVERY_IVL, 10000)  # transmit window, ms
    sock.setsockopt(zmq.SNDHWM, 0)  # never drop queued messages
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(epgm_endpoint(args.addr, args.group, args.port))
    sent = 0
    t0 = time.monotonic()
    try:
        time.sleep(args.start_delay)
        interval = args.size * 8 / args.rate_bps if args.rate_bps > 0 else 0.0
        start = time.monotonic()
        deadline = start + args.timeout
        for seq in range(args.count):
            due = start + seq * interval
            now = time.monotonic()
            if now > deadline:
                log("pub: timeout while sending")
                break
            if due > now:
                time.sleep(due - now)
            sock.send(make_message(seq, args.count, args.size))
            sent += 1
        # Linger: ZeroMQ's I/O thread keeps answering NAKs and sending SPMs.
        end = time.monotonic() + args.linger
        while time.monotonic() < end:
            time.sleep(0.05)
    except Terminate:
        pass
    finally:
        sock.close()  # pgm_close(flush) -> FIN SPMs
        ctx.term()
    print(json.dumps({"sent": sent, "bytes": sent * args.size,
                      "elapsed_ms": int((time.monotonic() - t0) * 1000)}), flush=True)
    return 0 if sent == args.count else 1


def run_sub(args):
    import zmq

    signal.signal(signal.SIGTERM, _on_term)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RATE, args.zmq_rate_kbps)  # OpenPGM RXW_MAX_RTE
    sock.setsockopt(zmq.RECOVERY_IVL, 10000)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(epgm_endpoint(args.addr, args.group, args.port))
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    time.sleep(0.3)  # the I/O thread creates the PGM socket and joins the group
    if args.ready_file:
        open(args.ready_file, "w").close()
    received = nbytes = bad = duplicates = missing = 0
    next_expected = 0
    first_seq = last_seq = -1
    in_order = True
    timed_out = False
    try:
        while received < args.count:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if not sock.poll(timeout=min(100, int((deadline - now) * 1000) + 1)):
                continue
            buf = sock.recv(zmq.NOBLOCK)
            seq, why = check_message(buf)
            if why:
                bad += 1
                if bad <= 10:
                    log(f"sub: bad message ({len(buf)} bytes): {why}")
                continue
            if first_seq < 0:
                first_seq = seq
            if seq < next_expected:
                duplicates += 1
                in_order = False
                continue
            if seq != next_expected:
                if in_order:
                    log(f"sub: gap: got seq {seq}, expected {next_expected}")
                in_order = False
                missing += seq - next_expected
            next_expected = seq + 1
            last_seq = seq
            received += 1
            nbytes += len(buf)
    except Terminate:
        log("sub: interrupted")
    finally:
        sock.close()
        ctx.term()
    print(json.dumps({"received": received, "bytes": nbytes, "unrecoverable": missing,
                      "in_order": in_order, "expected": args.count, "bad": bad,
                      "duplicates": duplicates, "first_seq": first_seq,
                      "last_seq": last_seq,
                      "elapsed_ms": int((time.monotonic() - t0) * 1000),
                      "timed_out": timed_out}), flush=True)
    if timed_out:
        log(f"sub: timed out with {received} of {args.count} messages")
    return 0 if received == args.count and in_order and bad == 0 else 1


# --------------------------------------------------------------------- orchestrator


def tx_csum_off(dev):
    """`ethtool -K DEV tx off` without ethtool (SIOCETHTOOL/ETHTOOL_STXCSUM), so UDP
    checksums in the capture are real rather than veth CHECKSUM_PARTIAL leftovers."""
    siocethtool, ethtool_stxcsum = 0x8946, 0x17
    value = ctypes.create_string_buffer(struct.pack("II", ethtool_stxcsum, 0))
    ifreq = struct.pack("16sP16x", dev.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), siocethtool, ifreq)


class Lab:
    def __init__(self, args):
        pid = os.getpid()
        self.args = args
        self.ns_pub = f"zmqcap-p-{pid}"
        self.ns_sub = f"zmqcap-s-{pid}"
        self.veth_pub = f"zcp{pid}"  # interface names are at most 15 characters
        self.veth_sub = f"zcs{pid}"
        self.procs = []
        self.namespaces = []
        self.tmp = tempfile.mkdtemp(prefix="zmq_capture.")

    def ip(self, *argv):
        subprocess.run(["ip", *argv], check=True, timeout=10)

    def setup(self):
        self.ip("netns", "add", self.ns_pub)
        self.namespaces.append(self.ns_pub)
        self.ip("netns", "add", self.ns_sub)
        self.namespaces.append(self.ns_sub)
        self.ip("link", "add", self.veth_pub, "type", "veth", "peer", "name", self.veth_sub)
        tx_csum_off(self.veth_pub)
        tx_csum_off(self.veth_sub)
        self.ip("link", "set", self.veth_pub, "netns", self.ns_pub)
        self.ip("link", "set", self.veth_sub, "netns", self.ns_sub)
        for ns, dev, addr in ((self.ns_pub, self.veth_pub, ADDR_PUB),
                              (self.ns_sub, self.veth_sub, ADDR_SUB)):
            self.ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            self.ip("-n", ns, "link", "set", "lo", "up")
            self.ip("-n", ns, "link", "set", dev, "up")
            self.ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        sample = f"numgen random mod 100 < {self.args.loss}" if self.args.loss < 100 else ""
        rules = (
            "table ip zmqloss {\n"
            "  chain in {\n"
            "    type filter hook input priority 0; policy accept;\n"
            f"    udp dport {self.args.port} {sample} drop\n"
            "  }\n"
            "}\n")
        subprocess.run(["ip", "netns", "exec", self.ns_sub, "nft", "-f", "-"], input=rules,
                       text=True, check=True, timeout=10)

    def spawn(self, ns, argv, name):
        # argv starts with `timeout --foreground` (a backstop should we be killed): without
        # --foreground, timeout relays SIGTERM to the child and then to its whole process
        # group, and a second SIGTERM during Python's shutdown (handlers reset) kills it.
        out = open(os.path.join(self.tmp, f"{name}.out"), "w")
        err = open(os.path.join(self.tmp, f"{name}.err"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def read(self, name):
        try:
            with open(os.path.join(self.tmp, name)) as f:
                return f.read()
        except OSError:
            return ""

    @staticmethod
    def wait_for(cond, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.1)
        return cond()

    @staticmethod
    def stop(p, sig=signal.SIGTERM, seconds=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            return p.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=5)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                self.stop(p, seconds=3)
        for ns in self.namespaces:
            # Anything left inside our own namespaces was started by us.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                                  timeout=10).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self.veth_pub], capture_output=True, timeout=10)
        if self.args.keep_tmp:
            log(f"kept temporary files in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self):
        a = self.args
        me = os.path.abspath(__file__)
        py = sys.executable
        send_s = a.count * a.size * 8 / max(a.rate_bps, 1)
        limit = send_s + 30
        pcap = os.path.abspath(a.pcap)
        if os.path.exists(pcap):
            os.unlink(pcap)
        tcpdump = self.spawn(self.ns_sub, [
            "timeout", "--foreground", str(int(limit) + 10), "tcpdump", "-i", self.veth_sub,
            "-n", "-s", "0", "-U", "--immediate-mode", "-Z", "root", "-w", pcap,
            f"udp port {a.port}"],
            "tcpdump")
        if not self.wait_for(lambda: "listening on" in self.read("tcpdump.err"), 10):
            log("tcpdump did not start: " + self.read("tcpdump.err"))
            return 1
        ready = os.path.join(self.tmp, "ready")
        common = ["--group", a.group, "--port", str(a.port), "--count", str(a.count),
                  "--zmq-rate-kbps", str(a.zmq_rate_kbps)]
        sub = self.spawn(self.ns_sub, [
            "timeout", "--foreground", str(int(limit) + 5), py, me, "--role", "sub",
            "--addr", ADDR_SUB, "--timeout", str(int(send_s) + 20), "--ready-file", ready,
            *common], "sub")
        if not self.wait_for(lambda: os.path.exists(ready) or sub.poll() is not None, 10) \
                or not os.path.exists(ready):
            log("subscriber did not start: " + self.read("sub.err"))
            return 1
        pub = self.spawn(self.ns_pub, [
            "timeout", "--foreground", str(int(limit) + 5), py, me, "--role", "pub",
            "--addr", ADDR_PUB, "--size", str(a.size), "--rate-bps", str(a.rate_bps),
            "--linger", str(limit), "--timeout", str(limit), *common], "pub")
        try:
            sub_rc = sub.wait(timeout=limit + 10)
        except subprocess.TimeoutExpired:
            sub_rc = self.stop(sub)
        pub_rc = self.stop(pub)  # SIGTERM ends the publisher's linger
        time.sleep(0.3)
        self.stop(tcpdump)
        print("RESULT zmq sub " + self.read("sub.out").strip(), flush=True)
        print("RESULT zmq pub " + self.read("pub.out").strip(), flush=True)
        log(f"subscriber exit {sub_rc}, publisher exit {pub_rc}")
        if sub_rc != 0 or pub_rc != 0:
            log("subscriber stderr:\n" + self.read("sub.err"))
            log("publisher stderr:\n" + self.read("pub.err"))
            return 1
        if not os.path.exists(pcap) or os.path.getsize(pcap) == 0:
            log("empty capture")
            return 1
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--role", choices=["orchestrate", "pub", "sub"], default="orchestrate")
    ap.add_argument("--pcap")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--rate-bps", type=int, default=800000,
                    help="application pacing, bit/s of payload")
    ap.add_argument("--zmq-rate-kbps", type=int, default=4000,
                    help="ZMQ_RATE (OpenPGM rate limit incl. repairs and headers), kbit/s")
    ap.add_argument("--loss", type=int, default=5)
    ap.add_argument("--port", type=int, default=3055)
    ap.add_argument("--group", default="239.192.0.2")
    ap.add_argument("--keep-tmp", action="store_true")
    # role options
    ap.add_argument("--addr")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--linger", type=float, default=3)
    ap.add_argument("--start-delay", type=float, default=0.5)
    ap.add_argument("--ready-file")
    args = ap.parse_args()
    if args.size < HEADER.size:
        ap.error(f"--size must be at least {HEADER.size}")

    if args.role == "pub":
        return run_pub(args)
    if args.role == "sub":
        return run_sub(args)

    if not args.pcap:
        ap.error("--pcap FILE is required")
    if os.geteuid() != 0:
        log("needs root (network namespaces); skipping")
        return 77
    try:
        import zmq
    except ImportError:
        log(f"{sys.executable} cannot import zmq (python3-zmq is for /usr/bin/python3); "
            "skipping")
        return 77
    if not zmq.has("pgm"):  # zmq_has() knows "pgm" (covering epgm), not "epgm"
        log("this ZeroMQ has no PGM support; skipping")
        return 77
    for tool in ("ip", "nft", "tcpdump", "timeout"):
        if shutil.which(tool) is None:
            log(f"'{tool}' not found")
            return 2

    lab = Lab(args)
    signal.signal(signal.SIGTERM, _on_term)
    try:
        lab.setup()
        rc = lab.run()
    except Terminate:
        log("interrupted")
        rc = 1
    except subprocess.CalledProcessError as e:
        log(f"command failed: {e}")
        rc = 1
    finally:
        lab.cleanup()
    log("subscriber completed" if rc == 0 else "FAILED: the subscriber did not complete")
    return rc


if __name__ == "__main__":
    sys.exit(main())
