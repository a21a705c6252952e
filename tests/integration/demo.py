#!/usr/bin/python3
"""demo: pgmd between OpenPGM stacks, in network namespaces, with and without pgmd.

    src 10.1.0.1 --- up0 [rtr] dn1 10.2.1.1 --- bridge lan1 --- r11 .11, r12 .12, ...
                               dn2 10.2.2.1 --- bridge lan2 --- r21 .11, r22 .12, ...
                                                 (drops chosen ODATA)

One OpenPGM source sends COUNT messages to the receivers (OpenPGM too) on both LANs; the
lan2 bridge drops the same chosen ODATA sequence numbers in both runs.

  run 1, with pgmd: pgmd in rtr is the multicast forwarder (the kernel has no multicast
         route); receivers NAK pgmd (SPM path), pgmd sends one NAK upstream per loss and the
         repairs only into lan2. `pgmctl show sessions`, `show counters` and `show fastpath`
         (the kernel fast path, where it loads) are printed.
  run 2, without pgmd: the kernel of rtr forwards the group with no PGM knowledge (the
         no-assist baseline): by kernel multicast routing (a static (S,G) route by
         smcroute, or a small MRT_INIT helper when smcroute is absent) where the kernel has
         it, else by a tc fan-out (u32 + mirred on up0's ingress) on kernels built without
         CONFIG_IP_MROUTE; the demo says which ran. Receivers NAK the source directly and
         the source's repairs reach both LANs.

Then a before/after table (NAKs reaching the source, repairs per LAN) from tcpdump
captures decoded by pgmdump, and one line per receiver. Everything is removed at the end,
also on failure, Ctrl-C or SIGTERM.

Exit status: 0 when every receiver completed in both runs, 1 otherwise, 77 when not root
or a tool is missing, 130 when interrupted.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, Lab, decode, nak_sqns  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
SOURCE = "10.1.0.1"
RTR_UP = "10.1.0.2"


def lost_sqns(count):
    """2 % of the stream: single losses and one burst of three (a NAK list)."""
    lost = list(range(25, count - 20, 50))
    burst = count // 2 + 7
    return sorted(set(lost) | {burst, burst + 1, burst + 2})


def build(lab, per_lan, lost):
    receivers = {}
    names = ["src", "rtr", "lan1", "lan2"] + [f"r{lan}{h}" for lan in (1, 2)
                                             for h in range(1, per_lan + 1)]
    lab.add_ns(*names)
    lab.source_router(source=SOURCE, rtr_up=RTR_UP)
    for lan in (1, 2):
        hosts = lab.lan("rtr", lan, [(f"r{lan}{h}", 10 + h) for h in range(1, per_lan + 1)])
        for rcv, addr in hosts.items():
            receivers[rcv] = (f"lan{lan}", addr)
    lab.drop_odata("lan2", lost, family="bridge", iif="p0")
    return receivers


def run(args, lab, with_pgmd, lost):
    """One run; returns its measurements."""
    receivers = build(lab, args.receivers_per_lan, lost)
    captures = {"src": lab.capture("src", "src", "s0"),
                "lan1": lab.capture("lan1", "rtr", "dn1"),
                "lan2": lab.capture("lan2", "rtr", "dn2")}
    sock = lab.path("pgmd.sock")
    forwarder = None
    if with_pgmd:
        conf = netlab.pgmd_conf(lab.path("pgmd.conf"), {
            "up0": {"join-groups": GROUP, "igmp-querier": "no"}, "dn1": {}, "dn2": {}},
            sock)
        lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)
    else:
        forwarder = lab.kernel_forwarder("mroute", "rtr", SOURCE, GROUP, "up0",
                                         ["dn1", "dn2"], kind=args.kernel_route)
    procs = lab.start_openpgm_receivers(
        args.recv, GROUP, DPORT, args.count,
        {rcv: addr for rcv, (_, addr) in receivers.items()}, ["--quiet"], timeout_ms=30000)
    if with_pgmd:
        lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    sender = lab.start_openpgm_send(args.send, SOURCE, GROUP, DPORT, args.count, args.size,
                                    args.rate_bps, ["--linger-ms", "60000",
                                                    "--start-delay-ms", "500", "--quiet"])
    deadline = time.monotonic() + 40
    for p in procs.values():
        if lab.wait_proc(p, max(0.1, deadline - time.monotonic())) is None:
            lab.stop_proc(p)
    results = {}
    for rcv, p in procs.items():
        try:
            line = lab.text(rcv, "out").strip().splitlines()[-1]
            r = json.loads(line)
        except (IndexError, ValueError):
            r = {"received": 0, "unrecoverable": 0}
        r["complete"] = p.returncode == 0 and r.get("received") == args.count
        r["lan"], r["addr"] = receivers[rcv]
        results[rcv] = r
    tables = {}
    if with_pgmd:
        for what in ("sessions", "counters", "fastpath"):
            tables[what] = netlab.pgmctl(args.pgmctl, sock, "show", what, json_out=False)
    lab.stop_proc(sender)
    for name in captures:
        lab.stop_capture(name)
    if with_pgmd:
        lab.stop_proc("pgmd")
    else:
        forwarder.stop()
    packets = {name: decode(args.pgmdump, pcap) for name, pcap in captures.items()}
    return {"receivers": results, "tables": tables,
            "forwarder": forwarder.label if forwarder else None,
            "stats": measure(packets)}


def measure(packets):
    src = [p for p in packets["src"] if "error" not in p]
    naks = [p for p in src if p.get("type") == "NAK" and p.get("ip_dst") == SOURCE]
    m = {
        "naks": len(naks),
        "nak_sqns": sum(len(nak_sqns(p)) for p in naks),
        "src_ncf": sum(1 for p in src if p.get("type") == "NCF" and p.get("ip_src") == SOURCE),
        "src_rdata": sum(1 for p in src if p.get("type") == "RDATA"),
    }
    for lan in ("lan1", "lan2"):
        out = [p for p in packets[lan] if "error" not in p and p.get("ip_dst") == GROUP]
        rdata = [p for p in out if p.get("type") == "RDATA"]
        m[f"{lan}_rdata"] = len(rdata)
        m[f"{lan}_rdata_bytes"] = sum(p.get("len", 0) for p in rdata)
        m[f"{lan}_ncf"] = sum(1 for p in out if p.get("type") == "NCF")
        m[f"{lan}_naks"] = sum(1 for p in packets[lan]
                               if "error" not in p and p.get("type") == "NAK" and
                               p.get("ip_dst") != GROUP)
    return m


def ratio(a, b):
    if b == 0:
        return "-" if a == 0 else "n/a"
    return f"{a / b:.2f}"


def report(res_with, res_without, lost, args):
    a, b = res_with["stats"], res_without["stats"]
    rows = [
        ("NAK packets reaching the source", "naks"),
        ("  sequence numbers in them", "nak_sqns"),
        ("NCFs sent by the source", "src_ncf"),
        ("RDATA sent by the source (packets)", "src_rdata"),
        ("NAKs sent by lan1 receivers", "lan1_naks"),
        ("NAKs sent by lan2 receivers", "lan2_naks"),
        ("RDATA onto lan1, no loss (packets)", "lan1_rdata"),
        ("RDATA onto lan1, no loss (bytes)", "lan1_rdata_bytes"),
        ("RDATA onto lan2, lossy (packets)", "lan2_rdata"),
        ("RDATA onto lan2, lossy (bytes)", "lan2_rdata_bytes"),
    ]
    w = 38
    print(f"\n== Before/after: {len(lost)} ODATA lost on lan2 (of {args.count}), "
          f"same losses in both runs ==")
    print(f"('without': {res_without['forwarder']})")
    print(f"{'':{w}}{'with pgmd':>11}{'without':>11}{'with/without':>14}")
    for label, key in rows:
        print(f"{label:{w}}{a[key]:>11}{b[key]:>11}{ratio(a[key], b[key]):>14}")
    ca = sum(r["complete"] for r in res_with["receivers"].values())
    cb = sum(r["complete"] for r in res_without["receivers"].values())
    n = len(res_with["receivers"])
    print(f"{'receivers complete':{w}}{f'{ca}/{n}':>11}{f'{cb}/{n}':>11}")


def receiver_lines(res, args):
    for rcv, r in res["receivers"].items():
        state = "complete  " if r["complete"] else "INCOMPLETE"
        print(f"  {rcv}  {r['lan']}  {r['addr']:<10}  {state}  "
              f"{r.get('received', 0):>5}/{args.count} messages  "
              f"{r.get('unrecoverable', 0)} unrecoverable")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", help="take the programs from this build directory")
    for tool in ("pgmd", "pgmctl", "pgmdump", "send", "recv"):
        ap.add_argument("--" + tool)
    ap.add_argument("--count", type=int, default=1000, help="messages (default 1000)")
    ap.add_argument("--size", type=int, default=200, help="message bytes (default 200)")
    ap.add_argument("--rate-bps", type=int, default=1600000,
                    help="source pacing, bit/s of payload (default 1600000)")
    ap.add_argument("--receivers-per-lan", type=int, default=3,
                    help="receivers on each LAN (default 3)")
    ap.add_argument("--kernel-route", choices=netlab.FORWARDER_KINDS, default="auto",
                    help="run 2's baseline forwarder: kernel multicast routing by smcroute "
                         "or netlab's MRT_INIT helper, or a tc mirred fan-out (auto: "
                         "multicast routing where the kernel has it, smcroute when "
                         "installed; else the fan-out)")
    ap.add_argument("--keep-tmp", action="store_true", help="keep captures and logs")
    args = ap.parse_args()
    rel = {"pgmd": "cli/pgmd", "pgmctl": "cli/pgmctl", "pgmdump": "cli/pgmdump",
           "send": "tests/interop/openpgm_send", "recv": "tests/interop/openpgm_recv"}
    for tool, path in rel.items():
        if getattr(args, tool) is None:
            if args.build_dir is None:
                ap.error(f"--{tool} or --build-dir is needed")
            setattr(args, tool, os.path.join(args.build_dir, path))
        if not os.access(getattr(args, tool), os.X_OK):
            print(f"demo: {getattr(args, tool)} is not built", file=sys.stderr)
            return 77
    if os.geteuid() != 0:
        print("demo: network namespaces need root", file=sys.stderr)
        return 77
    missing = netlab.missing_tools("ip", "nft", "tcpdump", "sysctl")
    if missing:
        print(f"demo: missing {' '.join(missing)} (scripts/setup.sh installs them)",
              file=sys.stderr)
        return 77

    try:
        _, baseline = netlab.choose_kernel_forwarder(
            args.kernel_route, netlab.kernel_has_multicast_routing(),
            shutil.which("smcrouted") is not None)
    except Failure as e:
        print(f"demo: {e}", file=sys.stderr)
        return 2
    restore = netlab.raise_on_signals()
    netlab.remove_stale_namespaces("pgmdemo")
    tmp = tempfile.mkdtemp(prefix="pgmd-demo.")
    lost = lost_sqns(args.count)
    n = 2 * args.receivers_per_lan
    print(f"== pgmd demo: an OpenPGM source, a router namespace, two bridged LANs of "
          f"{args.receivers_per_lan} OpenPGM receivers ==")
    print(f"   source {SOURCE} -> rtr up0 | dn1 -> lan1 (no loss) | dn2 -> lan2 "
          f"(the bridge drops {len(lost)} chosen ODATA)")
    print(f"   {args.count} messages of {args.size} bytes to {GROUP}, {n} receivers; "
          f"run 1 with pgmd, run 2 with the kernel forwarding the group instead")
    print(f"   run 2's baseline: {baseline}")
    status = 1
    results = {}
    lab = None
    started = time.monotonic()
    try:
        for label, with_pgmd in (("with pgmd", True), ("without pgmd", False)):
            lab = Lab(os.path.join(tmp, "pgmd" if with_pgmd else "kernel"),
                      f"pgmdemo{os.getpid()}")
            os.makedirs(lab.tmp)
            try:
                res = run(args, lab, with_pgmd, lost)
            finally:
                lab.stop()
            results[label] = res
            if with_pgmd:
                print("\n== Run 1, with pgmd: pgmctl show sessions ==")
                print(res["tables"]["sessions"].rstrip())
                print("\n== Run 1, with pgmd: pgmctl show counters ==")
                print(res["tables"]["counters"].rstrip())
                print("\n== Run 1, with pgmd: pgmctl show fastpath (ODATA forwarded in the "
                      "kernel) ==")
                print(res["tables"]["fastpath"].rstrip())
                print("\n== Run 1, with pgmd: receivers ==")
            else:
                print(f"\n== Run 2, without pgmd (baseline: {res['forwarder']}): "
                      f"receivers ==")
            receiver_lines(res, args)
        report(results["with pgmd"], results["without pgmd"], lost, args)
        ok = all(r["complete"] for res in results.values() for r in res["receivers"].values())
        status = 0 if ok else 1
        print(f"\ndemo: {'every receiver completed in both runs' if ok else 'FAILED: a receiver did not complete'}"
              f" ({time.monotonic() - started:.1f} s)")
    except Failure as e:
        print(f"demo: FAILED: {e}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt as e:
        print(f"\ndemo: interrupted ({str(e) or 'SIGINT'}); cleaning up", file=sys.stderr)
        status = 130
    finally:
        if lab is not None:
            lab.stop()
        if args.keep_tmp or status == 1:
            print(f"demo: captures and logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        restore()
    return status


if __name__ == "__main__":
    sys.exit(main())
