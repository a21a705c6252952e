#!/usr/bin/python3
"""rule_catalogue_test: every RFC 3208 rule id, decision id and test name cited in the
repository resolves inside it (issue 16, item 1).

Checks, over every file git tracks (text files; the binary fuzz corpora and captures are
skipped):
  * each rule id cited (S1, R7, C17, N-NAK-12, ranges such as N-DLR-1..10 or
    N-DLR-2, -3, -5) is defined in docs/rfc3208-rules.md (a table row whose first cell is
    the id); NOT_IDS lists the few names that look like ids and are not, with the reason;
  * each "checklist §N.M" and "checklist scenario N" names a section or scenario there;
  * each decision id (D14, D14.4) has its entry in docs/decisions.md (a "## D14" heading
    or a "**D14.4 " paragraph);
  * no file cites an absolute path on a development machine (a home or work directory)
    where a path in the repository belongs, nor the checklist file outside the repository
    that the ids were first written against;
and, in the catalogue itself (and in decisions.md, architecture.md and security.md, which
name tests too):
  * each test it names as `Suite.Case` (or `Suite.*`) is defined by a TEST, TEST_F or
    TEST_P in tests/;
  * each network-element conformance line (C1-C32) names a pinning test or says why none.
A failure names file:line. Exit status 0 pass, 1 fail.
"""
import argparse
import os
import re
import subprocess
import sys

CATALOGUE = "docs/rfc3208-rules.md"
DECISIONS = "docs/decisions.md"
# Tokens shaped like rule ids that name something else. (id, path prefix) -> why.
NOT_IDS = {
    ("R0", "cli/pgmsim.cc"): "the root router of pgmsim's topologies",
    ("R0", "sim/"): "the root router of the simulated topologies",
    ("R0", "docs/performance.md"): "the root router of the simulated topologies",
    ("R0", "docs/simulator.md"): "the root router of the simulated topologies",
    ("R0", "docs/man/pgmsim.1"): "the root router of pgmsim's topologies",
    ("R0", "tests/unit/dlr_latency_test.cc"): "the root router of the simulated tree",
    ("R0", "tests/unit/implosion_test.cc"): "the root router of the simulated tree",
    ("R0", "tests/unit/sim_topology_test.cc"): "the root router of the simulated tree",
    ("R0", "tests/integration/pgmsim_cli_test.py"): "the root router of pgmsim's topologies",
    ("R0", CATALOGUE): "the catalogue says R0 is no rule",
    ("R0", "tests/docs/rule_catalogue_test.py"): "this list",
}
N_FAMILIES = ("SPM", "NAK", "NCF", "RD", "NN", "DLR", "OPT")
N_ID = re.compile(r"\bN-([A-Z]+)-(\d+)((?:\.\.|[–-])\d+)?((?:,\s*-\d+)*)")
SRC_ID = re.compile(r"(?<![\w.-])([SRC])(\d{1,2})(?![\w])")
D_ID = re.compile(r"(?<![\w.-])D(\d{1,2})(?:\.(\d+))?(?![\w])")
CHECKLIST_SECTION = re.compile(r"checklist\s+(?:§|section\s+)(\d+(?:\.\d+)?)")
CHECKLIST_SCENARIO = re.compile(r"checklist\s+scenarios?\s+(\d+)")
# Built so that this file does not match itself.
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:" + "|".join(["wo" + "rk", "ho" + "me", "Us" + "ers",
                                                             "ro" + "ot", "mn" + "t"]) + r")/")
# The checklist the ids were first written against lives outside the repository.
EXTERNAL_CHECKLIST = re.compile("rfc3208" + "-checklist")
# `Suite.Case` or `Suite.*`; the placeholder `Suite.Case` itself is no name.
TEST_NAME = re.compile(r"`(?!Suite\.Case`)([A-Z][A-Za-z0-9]*)\.([A-Za-z0-9_]+|\*)`")
GTEST = re.compile(r"^\s*TEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)", re.M)


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True,
                             check=True).stdout.decode()
        return sorted(p for p in out.split("\0") if p)
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
            files += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
        return sorted(files)


def read_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def catalogue_ids(text):
    """Ids defined by table rows (first cell) and section numbers of the catalogue."""
    ids, sections, scenarios = set(), set(), set()
    part = None
    for line in text.split("\n"):
        m = re.match(r"^(##+)\s+(\d+(?:\.\d+)?)[.\s]", line)
        if m:
            sections.add(m.group(2))
            part = m.group(2).split(".")[0]
            continue
        m = re.match(r"^\|\s*([^|]+?)\s*\|", line)
        if not m:
            continue
        cell = m.group(1)
        if part == "6" and cell.isdigit():
            scenarios.add(int(cell))
        elif re.fullmatch(r"(N-[A-Z]+-\d+|[SRC]\d{1,2}|\d+\.\d+)", cell):
            ids.add(cell)
    return ids, sections, scenarios


def decision_ids(text):
    ids = set()
    for m in re.finditer(r"^##\s+D(\d+)\b", text, re.M):
        ids.add(m.group(1))
    for m in re.finditer(r"\*\*D(\d+)\.(\d+)\b", text):
        ids.add(f"{m.group(1)}.{m.group(2)}")
    return ids


def expand_n(m):
    family, first, tail, more = m.group(1), int(m.group(2)), m.group(3), m.group(4)
    numbers = [first]
    if tail:
        last = int(re.sub(r"^(\.\.|[–-])", "", tail))
        numbers = list(range(first, last + 1)) if last >= first else [first, last]
    numbers += [int(x) for x in re.findall(r"-(\d+)", more or "")]
    return family, numbers


def check(root):
    failures = []
    fail = failures.append
    with open(os.path.join(root, CATALOGUE), encoding="utf-8") as f:
        catalogue = f.read()
    with open(os.path.join(root, DECISIONS), encoding="utf-8") as f:
        decisions = f.read()
    ids, sections, scenarios = catalogue_ids(catalogue)
    d_ids = decision_ids(decisions)
    counts = {"rule": 0, "decision": 0}
    gtests, suites = set(), set()

    for rel in tracked_files(root):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue
        text = read_text(path)
        if text is None:
            continue
        if rel.startswith("tests/") and rel.endswith(".cc"):
            for s, c in GTEST.findall(text):
                gtests.add(f"{s}.{c}")
                suites.add(s)
        for number, line in enumerate(text.split("\n"), 1):
            where = f"{rel}:{number}"
            if MACHINE_PATH.search(line):
                fail(f"{where}: an absolute path outside the repository: {line.strip()}")
            if EXTERNAL_CHECKLIST.search(line):
                fail(f"{where}: cites the checklist outside the repository; cite {CATALOGUE}")
            for m in N_ID.finditer(line):
                family, numbers = expand_n(m)
                for n in numbers:
                    counts["rule"] += 1
                    if f"N-{family}-{n}" not in ids:
                        fail(f"{where}: N-{family}-{n} is not in {CATALOGUE}")
            for m in SRC_ID.finditer(line):
                rule = m.group(1) + m.group(2)
                if any(rel.startswith(p) for (i, p) in NOT_IDS if i == rule):
                    continue
                counts["rule"] += 1
                if rule not in ids:
                    fail(f"{where}: {rule} is not in {CATALOGUE}")
            for m in D_ID.finditer(line):
                d = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
                counts["decision"] += 1
                if d not in d_ids:
                    fail(f"{where}: D{d} has no entry in {DECISIONS}")
            for m in CHECKLIST_SECTION.finditer(line):
                if m.group(1) not in sections and m.group(1).split(".")[0] not in sections:
                    fail(f"{where}: checklist §{m.group(1)} is no section of {CATALOGUE}")
            for m in CHECKLIST_SCENARIO.finditer(line):
                if int(m.group(1)) not in scenarios:
                    fail(f"{where}: checklist scenario {m.group(1)} is not in {CATALOGUE}")

    # Test names in the decisions and the architecture, which cite tests by name too.
    for doc in (DECISIONS, "docs/architecture.md", "docs/security.md"):
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            for number, line in enumerate(f.read().split("\n"), 1):
                for suite, case in TEST_NAME.findall(line):
                    if (case == "*" and suite not in suites) or \
                            (case != "*" and f"{suite}.{case}" not in gtests):
                        fail(f"{doc}:{number}: no test {suite}.{case} in tests/")

    # The catalogue's own references to tests.
    in_conformance = False
    for number, line in enumerate(catalogue.split("\n"), 1):
        where = f"{CATALOGUE}:{number}"
        for suite, case in TEST_NAME.findall(line):
            name = f"{suite}.{case}"
            if case == "*":
                if suite not in suites:
                    fail(f"{where}: no test suite {suite} in tests/")
            elif name not in gtests:
                fail(f"{where}: no test {name} in tests/")
        if line.startswith("## 5."):
            in_conformance = True
        elif line.startswith("## ") and in_conformance:
            in_conformance = False
        if in_conformance and re.match(r"^\| C\d+ \|", line):
            pinned = line.rstrip().rstrip("|").split("|")[-1]
            if not TEST_NAME.search(pinned) and "not implemented" not in pinned:
                fail(f"{where}: conformance line without a pinning test or a reason")
    for c in range(1, 33):
        if f"C{c}" not in ids:
            fail(f"{CATALOGUE}: conformance line C{c} missing")
    return failures, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = ap.parse_args()
    failures, counts = check(os.path.abspath(args.root))
    for f in failures:
        print("FAIL: " + f)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print(f"ok:   {counts['rule']} rule id and {counts['decision']} decision id citations "
          f"resolve; no absolute path outside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
