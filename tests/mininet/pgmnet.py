#!/usr/bin/python3
"""pgmnet: a PGM network on Mininet with pgmd on every router, for trying pgmd by hand.

    /usr/bin/python3 tests/mininet/pgmnet.py --topo tree,2,3
    /usr/bin/python3 tests/mininet/pgmnet.py --topo chain,3
    /usr/bin/python3 tests/mininet/pgmnet.py --topo tests/mininet/topologies/two-lans.json

builds the topology (tests/mininet/pgmtopo.py; the file format is in docs/mininet.md),
starts pgmd on every router and opens Mininet's CLI. In the CLI, `pgmctl` on a
router talks to that router's pgmd (`r1 pgmctl show sessions`), and pgmsend, pgmrecv,
pgmdump are on every node's PATH. Leaving the CLI (exit, Ctrl-D) stops every process and
the network and removes the files (--keep-tmp keeps them).

--check builds, starts, asks every router's pgmd `pgmctl -j ping` and `show interfaces`,
prints one line per router and tears down, without a terminal: exit 0 when every pgmd
answered, 1 when one did not, 2 on a bad topology or argument, 77 when the machine
cannot run Mininet here (not root, a program missing).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgmtopo  # noqa: E402
from pgmtopo import Failure, netlab  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Topologies: tree,DEPTH,FANOUT[,RECEIVERS] "
                                 "chain,N[,RECEIVERS] or a JSON file (docs/mininet.md)")
    ap.add_argument("--topo", required=True, help="tree,2,3 | chain,3 | FILE.json")
    ap.add_argument("--build", help="build directory holding cli/pgmd ... (default: "
                    "$PGMD_BUILD_DIR or the checkout's build/; PGMD_BIN etc. override)")
    ap.add_argument("--check", "--no-cli", action="store_true", dest="check",
                    help="start, check that every pgmd answers pgmctl, tear down")
    ap.add_argument("--timer", action="append", default=[], metavar="KEY=VALUE",
                    help="a pgmd [timers] setting for every router, e.g. nak-rpt-ivl=1s")
    ap.add_argument("--keep-tmp", action="store_true", help="keep configs, logs, sockets")
    ap.add_argument("-v", "--verbose", action="store_true", help="Mininet's info log")
    return ap.parse_args(argv)


def check(lab):
    """Every router's pgmd answers ping and show interfaces; one line each."""
    problems = []
    for r in lab.topo.routers:
        try:
            pong = lab.pgmctl(r, "ping")
            ifaces = lab.pgmctl(r, "show", "interfaces")["interfaces"]
            # Served interfaces are listed even before any packet; traffic = a router count.
            with_traffic = [i for i in ifaces if any(
                v for k, v in i["counters"].items() if not k.startswith("Capture"))]
            conf = [dev for (m, _seg), dev in lab.intfs.items() if m == r]
            if pong.get("pong") is not True:
                raise Failure(f"ping answered {pong}")
            print(f"{r}: pgmd answers on {lab.sock(r)}: {len(conf)} interfaces served "
                  f"({' '.join(conf)}), upstream {' '.join(lab.upstream_intfs(r)) or '-'}, "
                  f"{len(with_traffic)} with traffic", flush=True)
        except (Failure, KeyError, TypeError) as e:
            problems.append(f"{r}: {e}")
    return problems


def prepare_cli(lab, tools):
    """pgmctl on each router is a shell function bound to that router's socket; the
    programs' directory goes first on every node's PATH."""
    bindir = os.path.dirname(tools["pgmsend"])
    for name in lab.topo.routers + list(lab.topo.hosts):
        node = lab.node(name)
        node.cmd(f"export PATH={bindir}:$PATH")
        if name in lab.topo.routers:
            node.cmd(f'pgmctl() {{ {tools["pgmctl"]} -u {lab.sock(name)} "$@"; }}')
    src = lab.topo.sources()
    rcv = lab.topo.receivers()
    print("\npgmd runs on " + ", ".join(lab.topo.routers) + f" (files in {lab.tmp}). Try:")
    print(f"  {lab.topo.routers[0]} pgmctl show sessions")
    if rcv:
        print(f"  {rcv[0]} pgmrecv -i {lab.address(rcv[0])} --group {lab.topo.group} "
              "--count 1000 --verify --json &")
    if src:
        print(f"  {src[0]} pgmsend -i {lab.address(src[0])} --group {lab.topo.group} "
              "--size 200 --count 1000 --json")
    print(f"  {lab.topo.routers[0]} pgmctl -j show counters\n")


def main(argv=None):
    args = parse_args(argv)
    try:
        topo = pgmtopo.Topology.parse(args.topo)
    except ValueError as e:
        print(f"pgmnet: {e}", file=sys.stderr)
        return 2
    timers = {}
    for kv in args.timer:
        key, sep, value = kv.partition("=")
        if not sep:
            print(f"pgmnet: --timer {kv}: want KEY=VALUE", file=sys.stderr)
            return 2
        timers[key.strip()] = value.strip()
    tools = pgmtopo.tools_from_env(args.build)
    problems = pgmtopo.missing(tools)
    if problems:
        print("pgmnet: cannot run here: " + ", ".join(problems), file=sys.stderr)
        return 77
    pgmtopo.remove_stale_runs()
    # Mininet's CLI prints at its "output" level, between info and warning.
    os.environ["PGMNET_MININET_LOG"] = "info" if args.verbose else "output"
    restore = netlab.raise_on_signals()
    lab = pgmtopo.MininetLab(topo, tools, keep_tmp=args.keep_tmp)
    status = 0
    try:
        start = time.monotonic()
        lab.build()
        lab.start_pgmd_all(timers or None)
        print(f"pgmnet: {topo.name or args.topo}: {len(topo.routers)} routers, "
              f"{len(topo.hosts)} hosts, {len(topo.lans)} LANs, {len(topo.links)} links; "
              f"pgmd started on every router in {pgmtopo.elapsed(start)}", flush=True)
        if args.check:
            problems = check(lab)
            for p in problems:
                print(f"pgmnet: {p}", file=sys.stderr)
            status = 1 if problems else 0
            print("pgmnet: check " + ("FAILED" if status else "passed"), flush=True)
        else:
            from mininet.cli import CLI
            prepare_cli(lab, tools)
            CLI(lab.net)
    except Exception as e:  # Failure, or Mininet's own (plain Exception)
        print(f"pgmnet: {type(e).__name__}: {e}", file=sys.stderr)
        status = 1
        lab.keep_tmp = True
    except KeyboardInterrupt:
        status = 130
    finally:
        lab.stop()
        restore()
        if lab.keep_tmp:
            print(f"pgmnet: files kept in {lab.tmp}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
