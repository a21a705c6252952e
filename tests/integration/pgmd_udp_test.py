#!/usr/bin/python3
"""pgmd_udp_test: router assist for UDP-encapsulated PGM: ZeroMQ epgm:// through pgmd
(issue 5, acceptance 2).

Topology (netlab.py; every node a network namespace):

    src 10.1.0.1 --- up0 [rtr: pgmd, udp-ports = 7500] dn1 10.2.1.1 --- lan1 --- r11, r12
                                                        dn2 10.2.2.1 --- lan2 --- r21, r22

src runs a ZeroMQ PUB on epgm://10.1.0.1;239.192.0.1:7500 (python3-zmq, this script with
--role pub; ZeroMQ's OpenPGM puts PGM in UDP with port 7500 both ways). r11 and r21 are
ZeroMQ SUBs (--role sub), r12 and r22 pgmrecv --udp-port 7500 --framing zmq --verify.
lan2's bridge drops UDP-encapsulated ODATA with chosen sequence numbers on their way to
both of its receivers, so they NAK them to pgmd.

Asserts: every receiver gets every message in order; on the source's link the source
receives exactly one NAK per lost sequence number, UDP-encapsulated, from pgmd (hop by
hop; a repeat only when explained by a NAK that reached pgmd after its RDATA); no RDATA
on the loss-free lan1; RDATA for exactly the lost sequences on lan2, UDP-encapsulated, with
NCFs from pgmd; SPMs on lan2 carry pgmd's path address; `pgmctl -j show sessions` shows one
session with encapsulation udp, udp_port 7500, upstream up0 via the source; pgmd's
OutNaks/OutRdata/OutNcfs equal the captures; Malformed stays 0.

Exit status 0 pass, 1 fail, 77 skipped (not root, a tool or python3-zmq missing).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import (Failure, Terminate, check_message, decode, find_key,  # noqa: E402
                    find_sessions, make_message, naks_per_sqn, one_nak_per_loss,
                    raise_terminate)

GROUP = "239.192.0.1"
PORT = 7500  # epgm:// endpoint port = PGM data-destination port = UDP port, both ways
LOST = [10, 20, 21, 35, 60]  # ODATA sequence numbers dropped on lan2
COUNT = 300
SIZE = 1000  # one ZeroMQ message per ODATA at this size and pace
MSG_RATE = 250  # messages per second
NAME = "pgmd_udp"


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- ZeroMQ roles

def endpoint(addr):
    return f"epgm://{addr};{GROUP}:{PORT}"


def role_pub(args):
    import zmq
    signal.signal(signal.SIGTERM, raise_terminate)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.RATE, 20000)  # kbit/s, OpenPGM TXW_MAX_RTE
    sock.setsockopt(zmq.RECOVERY_IVL, 30000)  # transmit window, ms
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.setsockopt(zmq.MULTICAST_HOPS, 16)  # ZeroMQ's default is 1: pgmd would not forward
    sock.connect(endpoint(args.addr))
    sent = 0
    try:
        time.sleep(args.start_delay)
        start = time.monotonic()
        for seq in range(COUNT):
            due = start + seq / MSG_RATE
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            sock.send(make_message(seq, COUNT, SIZE))
            sent += 1
        # Keep the socket (and its NAK handling, SPMs) alive until told to stop.
        end = time.monotonic() + args.linger
        while time.monotonic() < end:
            time.sleep(0.05)
    except Terminate:
        pass
    finally:
        sock.close()
        ctx.term()
    print(json.dumps({"sent": sent}), flush=True)
    return 0 if sent == COUNT else 1


def role_sub(args):
    import zmq
    signal.signal(signal.SIGTERM, raise_terminate)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.RATE, 20000)
    sock.setsockopt(zmq.RECOVERY_IVL, 30000)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MULTICAST_HOPS, 16)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint(args.addr))
    deadline = time.monotonic() + args.timeout
    time.sleep(0.3)  # the I/O thread opens the PGM socket and joins the group
    open(args.ready_file, "w").close()
    received = bad = 0
    expected = 0
    in_order = True
    try:
        while received < COUNT and time.monotonic() < deadline:
            if not sock.poll(timeout=100):
                continue
            seq, why = check_message(sock.recv(zmq.NOBLOCK))
            if why:
                bad += 1
                continue
            if seq != expected:
                in_order = False
                log(f"sub {args.addr}: got {seq}, expected {expected}")
            expected = seq + 1
            received += 1
    except Terminate:
        pass
    finally:
        sock.close()
        ctx.term()
    print(json.dumps({"received": received, "bad": bad, "in_order": in_order}), flush=True)
    return 0 if received == COUNT and in_order and bad == 0 else 1


# --------------------------------------------------------------------- the test

def udp_both_ways(p):
    return p.get("encap") == "udp" and p.get("udp_sport") == PORT and p.get("udp_dport") == PORT


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r11", "r12", "r21", "r22")
    lab.source_router()
    for lan in (1, 2):
        lab.lan("rtr", lan, [(f"r{lan}{host}", 10 + host) for host in (1, 2)])
    # UDP-encapsulated ODATA (PGM type byte 8 bytes into the UDP payload... i.e. bit 96 of
    # the transport header; ODATA_SQN at bit 192) with chosen sequence numbers, dropped in
    # lan2's bridge on the way to both receivers.
    lost = ", ".join(str(s) for s in LOST)
    lab.nft("lan2", f"""
table bridge pgmloss {{
    chain fw {{
        type filter hook forward priority 0; policy accept;
        iifname "p0" udp dport {PORT} @th,96,8 0x04 @th,192,32 {{ {lost} }} counter drop
    }}
}}
""")


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 2), sock, log_level="info",
        timers={"nak-rpt-ivl": "1s"}, extra=f"udp-ports = {PORT}\n")
    # udp-ports is a global key: it must come before the first section.
    with open(conf) as f:
        body = f.read().replace(f"udp-ports = {PORT}\n", "")
    with open(conf, "w") as f:
        f.write(f"udp-ports = {PORT}\n" + body)
    bpf = f"udp port {PORT}"
    pcaps = {name: lab.capture(name, ns, dev, bpf=bpf)
             for name, ns, dev in (("src", "src", "s0"), ("dn1", "rtr", "dn1"),
                                   ("dn2", "rtr", "dn2"))}
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)

    me = os.path.abspath(__file__)
    receivers = {}
    for rcv, addr in (("r11", "10.2.1.11"), ("r12", "10.2.1.12"), ("r21", "10.2.2.11"),
                      ("r22", "10.2.2.12")):
        ready = lab.path(rcv + ".ready")
        if rcv.endswith("1"):
            argv = [netlab.PYTHON, me, "--role", "sub", "--addr", addr, "--ready-file", ready,
                    "--timeout", "60"]
        else:
            argv = [args.pgmrecv, "--interface", addr, "--group", GROUP, "--port", str(PORT),
                    "--udp-port", str(PORT), "--framing", "zmq", "--count", str(COUNT),
                    "--verify", "--quiet", "--json", "--timeout", "60", "--ready-file", ready]
        receivers[rcv] = lab.start(rcv, argv, rcv)
    lab.wait_ready(receivers, 15)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    pub = lab.start("pub", [netlab.PYTHON, me, "--role", "pub", "--addr", "10.1.0.1",
                            "--start-delay", "1.5", "--linger", "120"], "src")

    failures = lab.finish_receivers(receivers, 60)
    if pub.poll() is not None:
        failures.append(f"the ZeroMQ PUB exited early ({pub.returncode}): {lab.text('pub')}")
    state = netlab.pgmctl(args.pgmctl, sock, "show", "sessions")
    counters = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    lab.stop_proc(pub)
    for name in pcaps:
        lab.stop_capture(name)
    if lab.stop_proc("pgmd") != 0:
        failures.append("pgmd did not exit 0 on SIGTERM")
    lab.raise_problems(failures)

    src = decode(args.pgmdump, pcaps["src"], udp_port=PORT)
    dn1 = decode(args.pgmdump, pcaps["dn1"], udp_port=PORT)
    dn2 = decode(args.pgmdump, pcaps["dn2"], udp_port=PORT)
    problems = []
    if not any(p.get("type") == "ODATA" for p in src):
        problems.append("pgmdump --udp-port found no ODATA on the source's link")
    naks = [p for p in src if p.get("type") == "NAK" and p["ip_dst"] == "10.1.0.1"]
    senders = {p["ip_src"] for p in naks}
    if senders != {"10.1.0.2"}:
        problems.append(f"NAKs to the source come from {senders}, want pgmd (10.1.0.2) only")
    if (problem := one_nak_per_loss(naks, LOST, dn2, "10.2.2.1")):
        problems.append(f"source's link: {problem}")
    rdata_dn1 = [p for p in dn1 if p.get("type") == "RDATA"]
    if rdata_dn1:
        problems.append(f"{len(rdata_dn1)} RDATA on the loss-free lan1")
    odata_dn1 = {p["sqn"] for p in dn1 if p.get("type") == "ODATA"}
    if not odata_dn1 or max(odata_dn1) < max(LOST):
        problems.append(f"ODATA forwarded onto lan1: {len(odata_dn1)} sequence numbers")
    out_dn2 = [p for p in dn2 if p["ip_dst"] == GROUP]
    ncf_dn2 = [p for p in out_dn2 if p.get("type") == "NCF"]
    rdata_dn2 = [p for p in out_dn2 if p.get("type") == "RDATA"]
    if not ncf_dn2:
        problems.append("no NCF from pgmd on lan2")
    if {p["sqn"] for p in rdata_dn2} != set(LOST):
        problems.append(f"RDATA on lan2 for {sorted({p['sqn'] for p in rdata_dn2})}, "
                        f"want {LOST}")
    not_udp = [f"{p['type']} {p['ip_src']}>{p['ip_dst']}" for p in naks + ncf_dn2 + rdata_dn2
               if not udp_both_ways(p)]
    if not_udp:
        problems.append(f"pgmd's packets not in UDP {PORT} > {PORT}: {not_udp[:5]}")
    paths = {p.get("path") for p in out_dn2 if p.get("type") == "SPM"}
    if paths != {"10.2.2.1"}:
        problems.append(f"SPMs on lan2 carry path {paths}, want pgmd's 10.2.2.1")
    sessions = find_sessions(state)
    if len(sessions) != 1 or sessions[0].get("upstream_interface") != "up0" or \
            sessions[0].get("upstream_neighbour") != "10.1.0.1" or \
            sessions[0].get("encapsulation") != "udp" or sessions[0].get("udp_port") != PORT:
        problems.append(f"pgmctl show sessions: {json.dumps(state)[:800]}")
    totals = find_key(counters, "totals") or {}
    expect = {"OutNaks": len(naks), "OutRdata": len(rdata_dn2), "OutNcfs": len(ncf_dn2),
              "Malformed": 0}
    problems += netlab.mismatches("counter", totals, expect)
    print(f"{NAME}: NAKs upstream {dict(naks_per_sqn(naks))}, NCFs on lan2 {len(ncf_dn2)}, RDATA on lan2 "
          f"{len(rdata_dn2)}, RDATA on lan1 {len(rdata_dn1)}, session "
          f"{sessions[0].get('encapsulation') if sessions else None}:"
          f"{sessions[0].get('udp_port') if sessions else None}, counters "
          f"{ {k: totals.get(k) for k in expect} }")
    if problems:
        raise Failure("\n".join(problems))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", choices=("pub", "sub"))
    ap.add_argument("--addr")
    ap.add_argument("--ready-file")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--start-delay", type=float, default=1.0)
    ap.add_argument("--linger", type=float, default=60)
    for tool in ("pgmd", "pgmctl", "pgmdump", "pgmrecv"):
        ap.add_argument("--" + tool)
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    if args.role == "pub":
        return role_pub(args)
    if args.role == "sub":
        return role_sub(args)
    skip = netlab.preflight(NAME, "ip", "nft", "tcpdump")
    if skip:
        return skip
    r = subprocess.run([netlab.PYTHON, "-c", "import zmq; assert zmq.has('pgm')"],
                       capture_output=True)
    if r.returncode != 0:
        log("python3-zmq with PGM support is missing; skipped")
        return 77
    return netlab.run_lab(NAME, "pgmdu", lambda lab: run(args, lab), keep_tmp=args.keep_tmp)


if __name__ == "__main__":
    sys.exit(main())
