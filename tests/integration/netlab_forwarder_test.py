#!/usr/bin/python3
"""netlab_forwarder_test: the no-assist baseline (netlab.kernel_forwarder) on this kernel.

  --choice          the decision alone (netlab.choose_kernel_forwarder), every combination of
                    request, kernel multicast routing and smcrouted: no root, no network
  --kind KIND       KIND ("fanout", "smcroute", "mrt" or "auto") really forwards, in
                    namespaces:  src 10.1.0.1 --- up0 [rtr] dn1 --- lan1 --- r11
                                                            dn2 --- lan2 --- r21
                    UDP datagrams to 239.192.0.9 from src must reach both receivers, one
                    copy each, and stop() must remove the forwarder (the next datagram
                    reaches nobody: checked by the router's nftables counter of copies out)

Exit status: 0 passed, 1 failed, 77 skipped (not root, a tool missing, or KIND needs kernel
multicast routing, which this kernel lacks: the reason is printed).
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, choose_kernel_forwarder  # noqa: E402

GROUP = "239.192.0.9"
PORT = 9009
COUNT = 20

# In a receiver namespace: join GROUP on eth0, say "ready", print how many datagrams of the
# test arrive until "end" arrives (or 10 s pass: then exit 3).
RECEIVER = r"""
import socket, struct, sys
group, port, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((group, port))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton(group) + socket.inet_aton(addr))
s.settimeout(10)
print("ready", file=sys.stderr, flush=True)
n = 0
try:
    while True:
        data = s.recv(2048)
        if data == b"end":
            break
        n += 1
except socket.timeout:
    print(n, flush=True)
    sys.exit(3)
print(n, flush=True)
"""

SENDER = r"""
import socket, sys
group, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("10.1.0.1"))
for i in range(count):
    s.sendto(b"x%05d" % i, (group, port))
s.sendto(b"end", (group, port))
"""


def check_choice():
    """The decision table; returns the problems."""
    problems = []
    expect = {
        # (requested, multicast routing, smcrouted) -> kind, or None for a Failure
        ("auto", True, True): "smcroute",
        ("auto", True, False): "mrt",
        ("auto", False, True): "fanout",
        ("auto", False, False): "fanout",
        ("smcroute", True, True): "smcroute",
        ("smcroute", True, False): None,
        ("smcroute", False, True): None,
        ("mrt", True, False): "mrt",
        ("mrt", False, True): None,
        ("fanout", True, True): "fanout",
        ("fanout", False, False): "fanout",
        ("pim", True, True): None,
    }
    for (req, mr, smc), want in expect.items():
        try:
            kind, label = choose_kernel_forwarder(req, mr, smc)
        except Failure as e:
            if want is not None:
                problems.append(f"{req}/{mr}/{smc}: Failure '{e}', expected {want}")
            elif req in ("smcroute", "mrt") and not mr and "CONFIG_IP_MROUTE" not in str(e):
                problems.append(f"{req} without multicast routing: the reason does not "
                                f"name CONFIG_IP_MROUTE: {e}")
            continue
        if kind != want:
            problems.append(f"{req}/{mr}/{smc}: got {kind}, expected {want}")
        if ("no multicast routing in this kernel" in label) != (kind == "fanout" and not mr):
            problems.append(f"{req}/{mr}/{smc}: label '{label}' misstates the kernel")
        if kind in ("smcroute", "mrt") and "kernel multicast routing" not in label:
            problems.append(f"{req}/{mr}/{smc}: label '{label}' does not say multicast routing")
    return problems


def run_live(kind, lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "r11", "r21")
    lab.source_router()
    receivers = {}
    for n in (1, 2):
        receivers.update(lab.lan("rtr", n, [(f"r{n}1", 11)]))
    # Copies leaving the router, counted where they leave (egress of dn1/dn2 is the
    # netdev egress hook on kernels that have it; the bridge's ingress port counts the same).
    for n in (1, 2):
        lab.nft(f"lan{n}", f"""
table netdev seen {{
    chain in {{
        type filter hook ingress device p0 priority 0; policy accept;
        ip daddr {GROUP} udp dport {PORT} counter
    }}
}}
""")
    fwd = lab.kernel_forwarder("fwd", "rtr", "10.1.0.1", GROUP, "up0", ["dn1", "dn2"],
                               kind=kind)
    print(f"netlab_forwarder_test: forwarder {fwd.kind}: {fwd.label}")
    procs = {r: lab.start(r, [netlab.PYTHON, "-c", RECEIVER, GROUP, str(PORT), addr], ns=r)
             for r, addr in receivers.items()}
    netlab.wait_until(lambda: all("ready" in lab.text(r) or p.poll() is not None
                                  for r, p in procs.items()), 10, "receivers to join")
    lab.sh(netlab.PYTHON, "-c", SENDER, GROUP, str(PORT), str(COUNT), ns="src")
    problems = []
    for r, p in procs.items():
        if lab.wait_proc(p, 10) is None:
            lab.stop_proc(p)
        got = lab.text(r, "out").strip()
        if p.returncode != 0 or got != str(COUNT):
            problems.append(f"{r}: received {got or 'nothing'} of {COUNT} datagrams "
                            f"(exit {p.returncode}): {lab.text(r)[-300:]}")
    seen = {n: lab.nft_counter(f"lan{n}", "netdev", "seen") for n in (1, 2)}
    for n, c in seen.items():
        if c != COUNT + 1:
            problems.append(f"lan{n}: {c} copies arrived, expected exactly {COUNT + 1}")
    fwd.stop()
    lab.sh(netlab.PYTHON, "-c", SENDER, GROUP, str(PORT), "1", ns="src")
    # The kernel forwards (or drops) synchronously inside the sender's sendto(): once the
    # sender has returned, a copy that was going to arrive has arrived.
    after = {n: lab.nft_counter(f"lan{n}", "netdev", "seen") for n in (1, 2)}
    if after != seen:
        problems.append(f"after stop() the group was still forwarded: {seen} -> {after}")
    lab.raise_problems(problems, log="fwd")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--choice", action="store_true")
    g.add_argument("--kind", choices=netlab.FORWARDER_KINDS)
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    if args.choice:
        problems = check_choice()
        for p in problems:
            print("netlab_forwarder_test:", p, file=sys.stderr)
        print(f"netlab_forwarder_test --choice: {'FAIL' if problems else 'PASS'}")
        return 1 if problems else 0
    skip = netlab.preflight("netlab_forwarder_test", "ip", "tc", "nft")
    if skip:
        return skip
    has_mr = netlab.kernel_has_multicast_routing()
    if args.kind in ("smcroute", "mrt") and not has_mr:
        print(f"netlab_forwarder_test: SKIPPED --kind {args.kind}: this kernel has no "
              "multicast routing (CONFIG_IP_MROUTE is not set)")
        return 77
    if args.kind == "smcroute" and shutil.which("smcrouted") is None:
        print("netlab_forwarder_test: SKIPPED --kind smcroute: smcrouted is not installed")
        return 77
    return netlab.run_lab(f"netlab_forwarder_test --kind {args.kind}", "nlfwd",
                          lambda lab: run_live(args.kind, lab), keep_tmp=args.keep_tmp)


if __name__ == "__main__":
    sys.exit(main())
