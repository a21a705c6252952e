#!/usr/bin/python3
"""pgmsim_cli_test.py: pgmsim's command line on the cases a review found wrong.

  * the tree's per-router interface check applies to trees only: a star with
    --leaf-receivers 70 runs (the option is the tree's), a tree with --fanout 70 is refused;
  * --stats on an edge list without receivers prints "-" per receiver, not inf or nan, and
    the run's completion is not negative;
  * an edge list with a non-finite delay is refused with its line, exit 2;
  * --help says bursts apply to lossy hops only.
Exit status: 0 all checks passed, 1 otherwise.
"""

import argparse
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

        r = pgmsim(args.pgmsim, "--help")
        c.expect("--help: bursts on lossy hops", True, "every lossy hop" in r.stdout)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
