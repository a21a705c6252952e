#!/usr/bin/python3
"""host_interop_test.py: pgmsend/pgmrecv (the host stacks) against OpenPGM and ZeroMQ.

Issue 3, acceptance 2. Builds two network namespaces joined by a veth pair (sender
10.77.0.1/24, receiver 10.77.0.2/24, 224.0.0.0/4 routed on the veth) and runs, native
(IP protocol 113) and UDP-encapsulated, 10,000 messages of 200 bytes each:

  pgmsend            -> openpgm_recv   (tests/interop)   at 0 % and 5 % loss
  openpgm_send       -> pgmrecv                          at 0 % and 5 % loss
  ZeroMQ PUB         -> pgmrecv --framing zmq            epgm:// and pgm://, 5 % loss
  pgmsend --framing zmq -> ZeroMQ SUB                    epgm:// and pgm://, 5 % loss

Loss is random (nftables `numgen random`, input hook of the receiver's namespace, every
PGM packet: ODATA, RDATA, SPM, NCF alike). Every receiver must get every message, in order,
intact, with no unrecoverable loss; at 5 % it must have NAKed and received repairs. Also
checks the tools' errors: bad arguments exit 2, an address no interface has and a missing
CAP_NET_RAW exit 1 with a message saying so.

Every wait is bounded; every process started is stopped and the namespaces are deleted in
`finally`, also on failure or SIGTERM. Needs root (exit 77 = skipped otherwise) and
python3-zmq for the ZeroMQ cases (without it they are skipped and reported, or fail with
--require-zmq).

Usage: host_interop_test.py --pgmsend P --pgmrecv P --openpgm-send P --openpgm-recv P
                            [--count N] [--only SUBSTRING] [--keep-tmp]
The script also runs itself as the ZeroMQ peer: --role zmq-pub / zmq-sub.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The PGMT test message, and SIGTERM raising Terminate, shared with the other scripts.
from netlab import Terminate, check_message, last_json, make_message  # noqa: E402
from netlab import raise_terminate as _on_term  # noqa: E402

ADDR_S = "10.77.0.1"
ADDR_R = "10.77.0.2"
GROUP = "239.192.0.1"


def log(msg):
    print(f"host_interop: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ ZeroMQ peer roles


def zmq_endpoint(args):
    # Addresses, not interface names; epgm:// uses one UDP port for unicast and multicast.
    return f"{args.transport}://{args.addr};{args.group}:{args.port}"


def role_pub(args):
    import zmq

    signal.signal(signal.SIGTERM, _on_term)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.RATE, args.rate_kbps)  # OpenPGM TXW_MAX_RTE
    sock.setsockopt(zmq.RECOVERY_IVL, 20000)  # transmit window, ms
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(zmq_endpoint(args))
    sent = 0
    try:
        # Announce the session (OpenPGM's first SPMs) before data, as openpgm_send's
        # --start-delay-ms does: a receiver that saw an SPM NAKs even a lost first ODATA.
        # Protocol configuration, not synchronisation: nothing waits for the receiver here.
        time.sleep(args.start_delay)
        for seq in range(args.count):
            sock.send(make_message(seq, args.count, args.size))
            sent += 1
        # ZeroMQ's I/O thread keeps answering NAKs until we are told to stop (SIGTERM).
        end = time.monotonic() + args.linger
        while time.monotonic() < end:
            time.sleep(0.05)
    except Terminate:
        pass
    finally:
        sock.close()
        ctx.term()
    print(json.dumps({"sent": sent}), flush=True)
    return 0 if sent == args.count else 1


def role_sub(args):
    import zmq

    signal.signal(signal.SIGTERM, _on_term)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RATE, args.rate_kbps)
    sock.setsockopt(zmq.RECOVERY_IVL, 20000)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(zmq_endpoint(args))
    deadline = time.monotonic() + args.timeout
    received = bad = 0
    next_expected = 0
    first_seq = -1
    in_order = True
    try:
        while received < args.count and time.monotonic() < deadline:
            if not sock.poll(timeout=100):
                continue
            seq, why = check_message(sock.recv(zmq.NOBLOCK))
            if why:
                bad += 1
                continue
            if first_seq < 0:
                first_seq = seq
            if seq != next_expected:
                if in_order:
                    log(f"sub: got seq {seq}, expected {next_expected}")
                in_order = False
            next_expected = seq + 1
            received += 1
    except Terminate:
        pass
    finally:
        sock.close()
        ctx.term()
    print(json.dumps({"received": received, "bad": bad, "in_order": in_order,
                      "first_seq": first_seq, "expected": args.count}), flush=True)
    return 0 if received == args.count and in_order and bad == 0 and first_seq == 0 else 1


# -------------------------------------------------------------------------- harness


class Lab:
    """Two namespaces and a veth pair; processes started in them; cleanup."""

    def __init__(self, tmp):
        pid = os.getpid()
        self.ns_s = f"hostia-s-{pid}"
        self.ns_r = f"hostia-r-{pid}"
        self.veth_s = f"his{pid}"[:15]
        self.veth_r = f"hir{pid}"[:15]
        self.tmp = tmp
        self.procs = []

    def sh(self, *cmd, check=True, input_text=None):
        r = subprocess.run(cmd, input=input_text, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return r

    def setup(self):
        self.sh("ip", "netns", "add", self.ns_s)
        self.sh("ip", "netns", "add", self.ns_r)
        self.sh("ip", "link", "add", self.veth_s, "type", "veth", "peer", "name", self.veth_r)
        for ns, dev, addr in ((self.ns_s, self.veth_s, ADDR_S), (self.ns_r, self.veth_r, ADDR_R)):
            self.sh("ip", "link", "set", dev, "netns", ns)
            self.sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            self.sh("ip", "-n", ns, "link", "set", "lo", "up")
            self.sh("ip", "-n", ns, "link", "set", dev, "up")
            self.sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)

    def set_loss(self, percent, udp_port):
        """Random loss of PGM (native, and UDP to udp_port) entering the receiver."""
        self.sh("ip", "netns", "exec", self.ns_r, "nft", "delete", "table", "ip", "hostloss",
                check=False)
        if percent <= 0:
            return
        rules = f"""table ip hostloss {{
    chain in {{
        type filter hook input priority 0; policy accept;
        ip protocol 113 numgen random mod 100 < {percent} drop
        udp dport {udp_port} numgen random mod 100 < {percent} drop
    }}
}}
"""
        self.sh("ip", "netns", "exec", self.ns_r, "nft", "-f", "-", input_text=rules)

    def start(self, name, ns, argv):
        out = open(os.path.join(self.tmp, f"{name}.out"), "w")
        err = open(os.path.join(self.tmp, f"{name}.err"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL)
        p.name = name
        self.procs.append(p)
        return p

    def output(self, name):
        with open(os.path.join(self.tmp, f"{name}.out")) as f:
            out = f.read()
        with open(os.path.join(self.tmp, f"{name}.err")) as f:
            err = f.read()
        return out, err

    def stop(self, p, timeout=10):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=5)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        for ns in (self.ns_s, self.ns_r):
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.veth_s], capture_output=True)


def wait_until(cond, limit, what):
    """Bounded poll (not a sleep-as-synchronisation): cond() checked every 20 ms."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    log(f"timed out after {limit} s waiting for {what}")
    return False


class Case:
    def __init__(self, name, sender, receiver, loss, encap):
        self.name, self.sender, self.receiver, self.loss, self.encap = (
            name, sender, receiver, loss, encap)


def run_case(lab, a, case, index):
    """Receiver first (ready file), then the sender; the sender lingers (serving repairs)
    until the receiver is done, then gets SIGTERM and closes with FIN."""
    port = 7600 + index
    udp_port = 3100 + index  # OpenPGM: unicast port == multicast port
    zmq_port = 5600 + index
    lab.set_loss(case.loss, zmq_port if "zmq" in case.name else udp_port)
    ready = os.path.join(lab.tmp, f"{case.name}.ready")
    count = str(a.count)
    udp = case.encap == "udp"
    recv_timeout = 60
    transport = "epgm" if udp else "pgm"

    # --- receiver
    if case.receiver == "pgmrecv":
        argv = [a.pgmrecv, "-i", ADDR_R, "-g", GROUP, "--count", count, "--verify", "--quiet",
                "--json", "--timeout", str(recv_timeout), "--ready-file", ready]
        if case.sender == "zmq":
            argv += ["--port", str(zmq_port), "--framing", "zmq"]
            if udp:
                argv += ["--udp-port", str(zmq_port)]
        else:
            argv += ["--port", str(port)] + (["--udp-port", str(udp_port)] if udp else [])
    elif case.receiver == "openpgm_recv":
        argv = [a.openpgm_recv, "--network", f"{ADDR_R};{GROUP}", "--port", str(port),
                "--count", count, "--timeout-ms", str(recv_timeout * 1000), "--rxw-sqns",
                "16384", "--quiet", "--gsi", "2", "--ready-file", ready]
        argv += ["--udp-port", str(udp_port)] if udp else []
    else:  # zmq SUB: no readiness signal exists; pgmsend announces the session with SPMs first
        argv = [sys.executable, os.path.abspath(__file__), "--role", "zmq-sub", "--transport",
                transport, "--addr", ADDR_R, "--group", GROUP, "--port", str(zmq_port),
                "--count", count, "--timeout", str(recv_timeout)]
    rx = lab.start(f"{case.name}.recv", lab.ns_r, argv)
    if case.receiver != "zmq":
        if not wait_until(lambda: os.path.exists(ready) or rx.poll() is not None, 10,
                          "the receiver to open its socket") or not os.path.exists(ready):
            return False, "receiver did not start: " + lab.output(f"{case.name}.recv")[1][-500:]

    # --- sender
    if case.sender == "pgmsend":
        argv = [a.pgmsend, "-i", ADDR_S, "-g", GROUP, "--count", count, "--size", "200",
                "--rate", "6000000", "--linger", "60", "--json", "--quiet"]
        if case.receiver == "zmq":
            # ZeroMQ's SUB creates its PGM socket asynchronously: announce the session long
            # enough that it has joined before the first ODATA.
            argv += ["--port", str(zmq_port), "--framing", "zmq", "--start-delay", "1.5"]
            argv += ["--udp-port", str(zmq_port)] if udp else []
        else:
            argv += ["--port", str(port)] + (["--udp-port", str(udp_port)] if udp else [])
    elif case.sender == "openpgm_send":
        argv = [a.openpgm_send, "--network", f"{ADDR_S};{GROUP}", "--port", str(port),
                "--count", count, "--size", "200", "--rate-bps", "40000000", "--linger-ms",
                "60000", "--gsi", "1", "--quiet"]
        argv += ["--udp-port", str(udp_port)] if udp else []
    else:
        argv = [sys.executable, os.path.abspath(__file__), "--role", "zmq-pub", "--transport",
                transport, "--addr", ADDR_S, "--group", GROUP, "--port", str(zmq_port),
                "--count", count, "--linger", "60"]
    tx = lab.start(f"{case.name}.send", lab.ns_s, argv)

    try:
        rx_rc = rx.wait(timeout=recv_timeout + 10)
    except subprocess.TimeoutExpired:
        rx_rc = lab.stop(rx)
    tx_rc = lab.stop(tx)  # SIGTERM ends the linger: FIN, exit 0
    rx_out, rx_err = lab.output(f"{case.name}.recv")
    tx_out, tx_err = lab.output(f"{case.name}.send")
    rj, tj = last_json(rx_out), last_json(tx_out)
    detail = f"receiver {rj} (exit {rx_rc}); sender {tj} (exit {tx_rc})"
    problems = []
    if rx_rc != 0:
        problems.append(f"receiver exit {rx_rc}")
    if tx_rc != 0:
        problems.append(f"sender exit {tx_rc}")
    if rj is None:
        problems.append("no receiver JSON")
    else:
        got = rj.get("delivered", rj.get("received"))
        if got != a.count:
            problems.append(f"{got} of {a.count} messages")
        if not rj.get("in_order", False):
            problems.append("out of order")
        if rj.get("bad", 0):
            problems.append(f"{rj['bad']} corrupt messages")
        if rj.get("unrecoverable_losses", rj.get("unrecoverable", 0)):
            problems.append("unrecoverable loss")
        if case.loss > 0 and case.receiver == "pgmrecv" and not (
                rj.get("naks_sent", 0) > 0 and rj.get("rdata", 0) > 0):
            problems.append("loss but no NAK/RDATA at pgmrecv")
    if case.loss > 0 and case.sender == "pgmsend" and tj is not None and not tj.get("rdata"):
        problems.append("loss but pgmsend sent no RDATA")
    if problems:
        return False, "; ".join(problems) + "\n    " + detail + "\n    receiver stderr: " + \
            rx_err[-800:].replace("\n", "\n      ") + "\n    sender stderr: " + \
            tx_err[-800:].replace("\n", "\n      ")
    return True, detail


def check_errors(lab, a):
    """Argument and set-up errors of the tools: exit codes and messages."""
    failures = []

    def expect(argv, ns, rc, text, what):
        cmd = (["ip", "netns", "exec", ns] if ns else []) + argv
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        if r.returncode != rc or text.lower() not in r.stderr.lower():
            failures.append(f"{what}: exit {r.returncode} (want {rc}), stderr {r.stderr!r}")

    for tool in (a.pgmsend, a.pgmrecv):
        name = os.path.basename(tool)
        expect([tool], None, 2, "interface", f"{name} without --interface")
        expect([tool, "-i", ADDR_S, "--port", "x"], None, 2, "port", f"{name} --port x")
        expect([tool, "-i", "eth0"], None, 2, "not an IPv4 address", f"{name} -i eth0")
        expect([tool, "-i", ADDR_S, "--bogus"], None, 2, "bogus", f"{name} --bogus")
        expect([tool, "-i", "192.0.2.77", "--count", "1"], lab.ns_s, 1,
               "no interface has the address 192.0.2.77", f"{name} on an absent address")
        # Root without CAP_NET_RAW (bounding set): native PGM must say what is missing.
        expect(["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", tool, "-i",
                ADDR_S, "--count", "1", "--size", "100", "--quiet"] if "send" in name else
               ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw", tool, "-i",
                ADDR_S, "--count", "1", "--quiet", "--timeout", "1"],
               lab.ns_s, 1, "CAP_NET_RAW", f"{name} without CAP_NET_RAW")
    expect([a.pgmsend, "-i", ADDR_S, "--size", "8", "--count", "1"], None, 2, "--size",
           "pgmsend --size 8")
    expect([a.pgmsend, "-i", ADDR_S, "--loss", "101", "--count", "1"], None, 2, "--loss",
           "pgmsend --loss 101")
    expect([a.pgmrecv, "-i", ADDR_S, "--json"], None, 2, "--output",
           "pgmrecv --json with messages on stdout")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["zmq-pub", "zmq-sub"])
    ap.add_argument("--transport", default="epgm")
    ap.add_argument("--addr")
    ap.add_argument("--group", default=GROUP)
    ap.add_argument("--port", type=int)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--rate-kbps", type=int, default=200000)
    ap.add_argument("--linger", type=float, default=60)
    ap.add_argument("--start-delay", type=float, default=0.5)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--pgmsend")
    ap.add_argument("--pgmrecv")
    ap.add_argument("--openpgm-send")
    ap.add_argument("--openpgm-recv")
    ap.add_argument("--only", help="run only the cases whose name contains this")
    ap.add_argument("--require-zmq", action="store_true")
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args()
    if a.role == "zmq-pub":
        return role_pub(a)
    if a.role == "zmq-sub":
        return role_sub(a)

    for opt in ("pgmsend", "pgmrecv", "openpgm_send", "openpgm_recv"):
        path = getattr(a, opt)
        if not path or not os.access(path, os.X_OK):
            print(f"host_interop: --{opt.replace('_', '-')}: not an executable: {path}",
                  file=sys.stderr)
            return 2
        setattr(a, opt, os.path.abspath(path))
    if os.geteuid() != 0:
        log("needs root (network namespaces, raw sockets); skipping")
        return 77
    for tool in ("ip", "nft", "setpriv"):
        if shutil.which(tool) is None:
            log(f"'{tool}' not found")
            return 2
    try:
        import zmq  # noqa: F401
        have_zmq = True
    except ImportError:
        have_zmq = False
        if a.require_zmq:
            log("python3-zmq is missing")
            return 1

    cases = []
    for encap in ("native", "udp"):
        for loss in (0, 5):
            cases.append(Case(f"pgmsend-openpgm-{encap}-{loss}", "pgmsend", "openpgm_recv",
                              loss, encap))
            cases.append(Case(f"openpgm-pgmrecv-{encap}-{loss}", "openpgm_send", "pgmrecv",
                              loss, encap))
    for encap in ("udp", "native"):  # epgm://, pgm://
        cases.append(Case(f"zmqpub-pgmrecv-{encap}-5", "zmq", "pgmrecv", 5, encap))
        cases.append(Case(f"pgmsend-zmqsub-{encap}-5", "pgmsend", "zmq", 5, encap))
    if a.only:
        cases = [c for c in cases if a.only in c.name]

    signal.signal(signal.SIGTERM, _on_term)
    tmp = tempfile.mkdtemp(prefix="host_interop.")
    lab = Lab(tmp)
    failed = []
    t0 = time.monotonic()
    try:
        lab.setup()
        if not a.only:
            errs = check_errors(lab, a)
            for e in errs:
                log(f"FAIL errors: {e}")
            if errs:
                failed.append("tool errors")
            else:
                log("ok   tool errors (exit 2 on bad arguments, 1 on absent address / no "
                    "CAP_NET_RAW)")
        for i, case in enumerate(cases):
            if (case.sender == "zmq" or case.receiver == "zmq") and not have_zmq:
                log(f"skip {case.name}: python3-zmq missing")
                continue
            start = time.monotonic()
            ok, detail = run_case(lab, a, case, i)
            took = time.monotonic() - start
            log(f"{'ok  ' if ok else 'FAIL'} {case.name} ({took:.1f} s): {detail}")
            print(f"RESULT {case.name} {'ok' if ok else 'FAIL'}", flush=True)
            if not ok:
                failed.append(case.name)
    except Terminate:
        log("terminated")
        failed.append("terminated")
    finally:
        lab.cleanup()
        if a.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(failed)} failed, {time.monotonic() - t0:.1f} s" +
        (": " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
