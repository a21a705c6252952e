#!/usr/bin/python3
"""pgmsim_cli_test.py: pgmsim's command line on the cases a review found wrong.

  * the tree's per-router interface check applies to trees only: a star with
    --leaf-receivers 70 runs (the option is the tree's), a tree with --fanout 70 is refused;
  * --stats on an edge list without receivers prints "-" per receiver, not inf or nan, and
    the run's completion is not negative;
  * an edge list with a non-finite delay is refused with its line, exit 2;
  * --help says bursts apply to lossy hops only;
  * a random tree written with --write-edges runs again from the file with the same result,
    and the file says how it was made;
  * router options (--router-option, an edge list's router settings) are pgmd.conf keys,
    checked as pgmd checks them: a bad value, a key that is not the router's, an
    inconsistent pair are refused with where they came from, exit 2; a DLR placed on one
    router by its settings repairs its LAN (no NAK reaches the source);
  * several sessions (--sources, --groups, --groups-per-receiver, --source-at; an edge
    list's source lines with group= and receivers' groups=): every session complete, its
    results per session in the table and in --json, a random tree with sessions written
    and run again with the same per-session results, and the sessions a topology cannot
    have refused with a reason, exit 2.
Exit status: 0 all checks passed, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def expect(self, what, expected, got):
        self.count += 1
        if expected != got:
            self.failures.append((what, expected, got))

    def finish(self):
        print(f"pgmsim_cli_test: {self.count} checks")
        if not self.failures:
            print("pgmsim_cli_test: PASS")
            return 0
        print(f"pgmsim_cli_test: FAIL, {len(self.failures)} failures")
        for what, expected, got in self.failures:
            print(f"  {what}\n    expected: {expected!r}\n    got:      {got!r}")
        return 1


def pgmsim(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def sessions_of(stdout):
    """Per --json line: [(source, group, receivers, complete, NAKs at the source)]."""
    return [[(x["source"], x["group"], x["receivers"], x["complete"], x["source_nak_packets"])
             for x in json.loads(line)["sessions"]] for line in stdout.splitlines()]


def check_sessions(c, binary, work):
    tree = ["--depth", "2", "--fanout", "3", "--packets", "200", "--loss", "2"]
    r = pgmsim(binary, *tree, "--sources", "3", "--groups", "2", "--source-at", "R1",
               "--json")
    c.expect("3 sources on 2 groups: exit", 0, r.returncode)
    runs = [json.loads(line) for line in r.stdout.splitlines()]
    c.expect("3 sources on 2 groups: a JSON line per run", 2, len(runs))
    for run in runs:
        label = "with" if run["network_elements"] else "without"
        c.expect(f"3 sources ({label}): sessions",
                 [("S", "239.1.2.3", 5, True), ("S2", "239.1.2.4", 4, True),
                  ("S3", "239.1.2.3", 5, True)],
                 [(x["source"], x["group"], x["receivers"], x["complete"])
                  for x in run["sessions"]])
        c.expect(f"3 sources ({label}): every receiver of every session complete",
                 [5, 4, 5], [x["receivers_complete"] for x in run["sessions"]])
        if not run["network_elements"]:
            # Without network elements every loss is NAKed to the source of its session.
            c.expect("3 sources (without): NAKs reach every source", [True] * 3,
                     [x["source_nak_packets"] > 0 for x in run["sessions"]])
    # LANs carrying three groups to receivers of two each: each host drops the third.
    r = pgmsim(binary, "--topology", "star", "--fanout", "2", "--packets", "50", "--sources", "3", "--groups", "3",
               "--groups-per-receiver", "2", "--mode", "with", "--json")
    c.expect("star, 3 groups, 2 per receiver: exit", 0, r.returncode)
    run = json.loads(r.stdout)
    c.expect("star, 3 groups, 2 per receiver: sessions (receivers, complete)",
             [(11, 11), (11, 11), (10, 10)],
             [(x["receivers"], x["receivers_complete"]) for x in run["sessions"]])
    c.expect("star, 3 groups, 2 per receiver: no APDU of a group not joined", 0,
             run["other_session_apdus"])
    r = pgmsim(binary, *tree, "--sources", "2", "--groups", "2", "--groups-per-receiver", "2")
    c.expect("2 sources, 2 groups each receiver: exit", 0, r.returncode)
    c.expect("table: a block per session", True,
             "Session S -> 239.1.2.3, 9 receivers" in r.stdout
             and "Session S2 -> 239.1.2.4, 9 receivers" in r.stdout)
    c.expect("table: sources summed", True, "Sources (summed)" in r.stdout)
    r = pgmsim(binary, *tree, "--packets", "20")
    c.expect("one session: no session block", False, "Session S" in r.stdout)

    for args, message in [
            (["--sources", "2", "--groups", "3"],
             "pgmsim: more groups (3) than sources (2): each group needs a source"),
            (["--depth", "1", "--fanout", "2", "--sources", "3", "--groups", "3"],
             "pgmsim: more groups (3) than receivers (2): a group would have none"),
            (["--sources", "3", "--groups", "2", "--groups-per-receiver", "3"],
             "pgmsim: groups per receiver must be 1 to the number of groups (2)"),
            (["--sources", "2", "--source-at", "Rx"],
             "pgmsim: source S2: no router 'Rx' (R0 to R20)"),
            (["--sources", "2", "--source-at", "R1", "--source-at", "R2"],
             "pgmsim: 2 routers named, more than the sources beyond the first (1)"),
            (["--random-routers", "5", "--sources", "2", "--source-at", "X"],
             "pgmsim: random tree: source S2: no router 'X'"),
            (["--sources", "0"],
             "pgmsim: --sources must be 1 to 1000, --groups and --groups-per-receiver at "
             "least 1")]:
        r = pgmsim(binary, *args, "--packets", "5")
        c.expect(f"{' '.join(args)}: exit", 2, r.returncode)
        c.expect(f"{' '.join(args)}: message", message, r.stderr.strip())

    two = os.path.join(work, "two.edges")
    with open(two, "w", encoding="utf-8") as f:
        f.write("source A\nsource B group=239.9.9.9\nrouter R1 R2\n"
                "receiver r1 r2 groups=239.1.2.3\nreceiver r3\n"
                "link A R1\nlink B R2\nlink R1 R2\nlan R2 r1 r2 r3\n")
    r = pgmsim(binary, "--edges", two, "--packets", "100", "--mode", "with", "--json")
    c.expect("edge list with two sources: exit", 0, r.returncode)
    c.expect("edge list with two sources: sessions",
             [[("A", "239.1.2.3", 3, True), ("B", "239.9.9.9", 1, True)]],
             [[x[:4] for x in run] for run in sessions_of(r.stdout)])
    r = pgmsim(binary, "--edges", two, "--sources", "2")
    c.expect("--sources with --edges: message", True,
             "an edge list names its sources and groups" in r.stderr)
    with open(two, "w", encoding="utf-8") as f:
        f.write("source A group=224.0.0.300\n")
    r = pgmsim(binary, "--edges", two)
    c.expect("edge list, bad group: message",
             f"pgmsim: {two}: line 1: '224.0.0.300' is not an IPv4 multicast group",
             r.stderr.strip())

    written = os.path.join(work, "sessions.edges")
    common = ["--packets", "100", "--mode", "with", "--json", "--seed", "6"]
    r1 = pgmsim(binary, "--random-routers", "12", "--sources", "4", "--groups", "2",
                "--write-edges", written, *common)
    c.expect("random tree with sessions: exit", 0, r1.returncode)
    with open(written, encoding="utf-8") as f:
        text = f.read()
    c.expect("random tree with sessions: 4 source lines", 4,
             sum(1 for line in text.splitlines() if line.startswith("source ")))
    r2 = pgmsim(binary, "--edges", written, *common)
    c.expect("random tree with sessions run again from its file: same sessions",
             sessions_of(r1.stdout), sessions_of(r2.stdout))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pgmsim", required=True)
    args = ap.parse_args()
    c = Checks()
    with tempfile.TemporaryDirectory(prefix="pgmsim_cli_") as work:
        r = pgmsim(args.pgmsim, "--topology", "star", "--leaf-receivers", "70", "--packets",
                   "5", "--mode", "with")
        c.expect("star with --leaf-receivers 70: exit", 0, r.returncode)
        r = pgmsim(args.pgmsim, "--topology", "tree", "--fanout", "70", "--depth", "1")
        c.expect("tree with --fanout 70: exit", 2, r.returncode)
        c.expect("tree with --fanout 70: message", True,
                 "more than 64 interfaces" in r.stderr)

        lonely = os.path.join(work, "lonely.edges")
        with open(lonely, "w", encoding="utf-8") as f:
            f.write("source S\nrouter R\nlink S R\n")
        r = pgmsim(args.pgmsim, "--edges", lonely, "--packets", "5", "--mode", "with",
                   "--stats")
        c.expect("no receivers --stats: exit", 0, r.returncode)
        c.expect("no receivers --stats: per receiver", True, "- KiB/receiver" in r.stdout)
        c.expect("no receivers --stats: no inf/nan", False,
                 "inf" in r.stdout or "nan" in r.stdout)
        c.expect("no receivers: completion not negative", False, "completion -" in r.stdout)

        bad = os.path.join(work, "bad.edges")
        with open(bad, "w", encoding="utf-8") as f:
            f.write("source S\nrouter R\nlink S R delay=nan\n")
        r = pgmsim(args.pgmsim, "--edges", bad)
        c.expect("delay=nan: exit", 2, r.returncode)
        c.expect("delay=nan: message", True,
                 "line 3: bad value in 'delay=nan'" in r.stderr)

        tree = os.path.join(work, "random.edges")
        common = ["--packets", "200", "--mode", "with", "--loss", "2"]
        r1 = pgmsim(args.pgmsim, "--random-routers", "25", "--random-fanout", "0-4",
                    "--random-receivers", "2-6", "--seed", "9", "--write-edges", tree, *common)
        c.expect("random tree: exit", 0, r1.returncode)
        with open(tree, encoding="utf-8") as f:
            text = f.read()
        c.expect("random tree file: the command in its first line", True,
                 text.startswith("# pgmsim --random-routers 25 --random-fanout 0-4"))
        c.expect("random tree file: 25 routers", 25,
                 sum(1 for line in text.splitlines() if line.startswith("router ")))
        r2 = pgmsim(args.pgmsim, "--edges", tree, "--seed", "9", *common)
        c.expect("random tree run again from its file: exit", 0, r2.returncode)
        c.expect("random tree run again from its file: same result",
                 r1.stdout.splitlines()[:2], r2.stdout.splitlines()[:2])
        r = pgmsim(args.pgmsim, "--random-routers", "5", "--random-fanout", "3-2")
        c.expect("random tree, fan-out 3-2: exit", 2, r.returncode)
        c.expect("random tree, fan-out 3-2: message", True,
                 "fan-out must be MIN-MAX" in r.stderr)
        r = pgmsim(args.pgmsim, "--random-routers", "5", "--edges", tree)
        c.expect("--random-routers with --edges: exit", 2, r.returncode)
        c.expect("--random-routers with --edges: message", True,
                 "two topologies" in r.stderr)
        r = pgmsim(args.pgmsim, "--random-routers", "5", "--fanout", "100")
        c.expect("--random-routers with --fanout: message",
                 "pgmsim: --fanout is for --topology tree|star, not --random-routers",
                 r.stderr.strip())
        r = pgmsim(args.pgmsim, "--random-fanout", "1-3")
        c.expect("--random-fanout without --random-routers: message",
                 "pgmsim: --random-fanout needs --random-routers", r.stderr.strip())
        r = pgmsim(args.pgmsim, "--random-routers", "300", "--random-fanout", "1-1",
                   "--random-receivers", "1-1")
        c.expect("a 300-router chain: exit", 2, r.returncode)
        c.expect("a 300-router chain: message", True,
                 "is 301 links from source 'S', beyond the source's TTL (255)" in r.stderr)
        r = pgmsim(args.pgmsim, "--random-routers", "30", "--random-fanout", "1-1",
                   "--random-receivers", "1-1", "--packets", "20", "--mode", "with")
        c.expect("a 30-router chain completes (deeper than TTL 16)", 0, r.returncode)
        r = pgmsim(args.pgmsim, "--random-routers", "5", "--random-receivers",
                   "0-2147483647", "--leaf-lan")
        c.expect("2^31 receivers per leaf: message", True,
                 "more than 10000 receivers per leaf" in r.stderr)
        r = pgmsim(args.pgmsim, "--router-option", "timers.nak-rpt-ivl=2s",
                   "--router-option", "timers.nak-rpt-ivl=3s")
        c.expect("--router-option twice: message",
                 "pgmsim: --router-option: 'timers.nak-rpt-ivl' is given twice",
                 r.stderr.strip())

        r = pgmsim(args.pgmsim, "--router-option", "timers.nak-rpt-ivl=soon")
        c.expect("--router-option bad value: exit", 2, r.returncode)
        c.expect("--router-option bad value: message",
                 "pgmsim: --router-option: nak-rpt-ivl: 'soon' is not a positive duration "
                 "with a unit (ms, s, min)", r.stderr.strip())
        r = pgmsim(args.pgmsim, "--router-option", "log-level=debug")
        c.expect("--router-option not a router key: exit", 2, r.returncode)
        c.expect("--router-option not a router key: message", True,
                 "'log-level' is not a router option" in r.stderr)
        r = pgmsim(args.pgmsim, "--router-option", "timers.nosuch=1s")
        c.expect("--router-option unknown key: message", True,
                 "unknown key 'timers.nosuch'" in r.stderr)

        opts = os.path.join(work, "options.edges")
        with open(opts, "w", encoding="utf-8") as f:
            f.write("source S\nrouter A\nrouter B timers.nak-elim-ivl=20s\nreceiver r\n"
                    "link S A\nlink A B\nlink B r\n")
        r = pgmsim(args.pgmsim, "--edges", opts)
        c.expect("edge list, nak-elim-ivl above nak-rdata-ivl: exit", 2, r.returncode)
        c.expect("edge list, nak-elim-ivl above nak-rdata-ivl: message",
                 f"pgmsim: {opts}: timers.nak-elim-ivl must be shorter than "
                 "timers.nak-rdata-ivl (router 'B')", r.stderr.strip())
        with open(opts, "w", encoding="utf-8") as f:
            f.write("source S\nrouter A\nrouter B dlr.group=239.1.2.3/40\nreceiver r\n"
                    "link S A\nlink A B\nlink B r\n")
        r = pgmsim(args.pgmsim, "--edges", opts)
        c.expect("edge list, bad DLR prefix: exit", 2, r.returncode)
        c.expect("edge list, bad DLR prefix: message",
                 f"pgmsim: {opts}: line 3: group: prefix length not in 4..32 (router 'B')",
                 r.stderr.strip())
        with open(opts, "w", encoding="utf-8") as f:
            f.write("source S\nrouter A\nrouter B dlr.group=239.1.2.3\n"
                    "receiver r1 r2 r3 r4\nlink S A loss=0\nlink A B loss=0\n"
                    "lan B r1 r2 r3 r4 loss=3\n")
        r = pgmsim(args.pgmsim, "--edges", opts, "--packets", "300", "--mode", "with")
        c.expect("DLR on B: exit", 0, r.returncode)
        c.expect("DLR on B: no NAK at the source", True, "NAKs at the source 0," in r.stdout)
        r = pgmsim(args.pgmsim, "--edges", opts, "--packets", "300", "--mode", "with",
                   "--router-option", "timers.rdata-hold=0s")
        c.expect("DLR on B, hold off everywhere: still no NAK at the source", True,
                 "NAKs at the source 0," in r.stdout)

        r = pgmsim(args.pgmsim, "--help")
        c.expect("--help: bursts on lossy hops", True, "every lossy hop" in r.stdout)

        check_sessions(c, args.pgmsim, work)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
