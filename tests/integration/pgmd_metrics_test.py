#!/usr/bin/python3
"""pgmd_metrics_test: pgmd's Prometheus textfile scraped through the real node exporter
(issue 15, item 3).

Topology (netlab.py): src 10.1.0.1 --- up0 [rtr: pgmd] dn1 --- bridge lan1 --- r11, with
chosen ODATA dropped on lan1's bridge so that NAKs, NCFs and RDATA are counted too. pgmd
writes `[metrics] textfile = TMP/textfile/pgmd.prom` every second; Debian's
prometheus-node-exporter runs in the router namespace (its own loopback, so its port is
free) with only the textfile collector, reading that directory. OpenPGM sends COUNT
messages to r11.

Asserts, once the transfer is over and the counters are still (bounded poll):
* the node exporter parsed the file (node_textfile_scrape_error 0) and serves # HELP and
  # TYPE for pgmd's families;
* every counter of every interface in `pgmctl -j show counters` (and of `show fastpath`)
  has its
  pgmd_interface_<snake case>_total{interface=NAME} series with the same value, and the
  malformed reasons theirs; the session of `pgmctl -j show sessions` has its non-zero
  counters as pgmd_session_*_total{interface,group,source,port,tsi} with the same values
  and no zero ones; pgmd_sessions is 1;
* the values are not trivial: up0 received at least COUNT ODATA, dn1 sent them, NAKs went
  upstream;
* no temporary file is left in the directory; a reload naming a textfile in a missing
  directory is refused with FILE:LINE; a reload to another textfile removes the old file;
  at SIGTERM pgmd (exit 0) removes the file and the node exporter no longer serves pgmd's
  metrics.

Exit status 0 pass, 1 fail, 77 skipped (not root, or a tool missing).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, wait_until  # noqa: E402

NAME = "pgmd_metrics"
GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 200
LOST = [10, 20, 30]
EXPORTER = "prometheus-node-exporter"
LISTEN = "127.0.0.1:9100"


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def snake_case(camel):
    """cli/metrics.cc snake_case(): a word starts at a capital after a lower-case letter or
    digit, or at the last capital of an acronym followed by lower case."""
    out = ""
    for i, c in enumerate(camel):
        if c.isupper() and i > 0:
            prev, nxt = camel[i - 1], camel[i + 1] if i + 1 < len(camel) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out += "_"
        out += c.lower()
    return out


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value} and the set of families with # HELP / # TYPE."""
    samples, helped, typed = {}, set(), set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            if not m:
                raise Failure(f"unparsable exposition line {line!r}")
            labels = frozenset(LABEL.findall(m.group(3) or ""))
            samples[(m.group(1), labels)] = float(m.group(4))
    return samples, helped, typed


def scrape(lab):
    r = lab.sh("curl", "-sS", "--max-time", "5", f"http://{LISTEN}/metrics", ns="rtr",
               check=False)
    if r.returncode != 0:
        return None
    return r.stdout


# `show fastpath` keys and their metrics (cli/metrics.cc kFastPathCounters).
FAST_PATH = {"forwarded_packets": "forwarded_packets", "forwarded_bytes": "forwarded_bytes",
             "out_packets": "out_packets", "out_bytes": "out_bytes",
             "punted_packets": "punted_packets", "punt_lost_packets": "punt_lost_packets",
             "drop_ttl": "ttl_dropped_packets", "drop_redirect_error": "redirect_error_packets",
             "failopen_packets": "failopen_packets", "passed_packets": "passed_packets",
             "consumed_packets": "consumed_packets"}


def expected_series(counters, sessions, fastpath):
    """What the scrape must hold, from pgmctl's JSON: {(name, labels): value}, and the
    session series that must be absent (zero counters)."""
    want, absent = {}, set()
    for i in fastpath.get("interfaces", []):
        labels = frozenset({("interface", i["name"])})
        want[("pgmd_fastpath_kernel", labels)] = 1 if i["mode"] == "kernel" else 0
        for key, metric in FAST_PATH.items():
            if key in i:
                want[(f"pgmd_fastpath_{metric}_total", labels)] = i[key]
    for i in counters["interfaces"]:
        labels = frozenset({("interface", i["name"])})
        for key, value in i["counters"].items():
            want[(f"pgmd_interface_{snake_case(key)}_total", labels)] = value
    for reason, value in counters["malformed_by_reason"].items():
        want[("pgmd_malformed_total", frozenset({("reason", reason)}))] = value
    for s in sessions["sessions"]:
        labels = frozenset({("interface", s["upstream_interface"]), ("group", s["group"]),
                            ("source", s["source"]),
                            ("port", str(s["data_destination_port"])), ("tsi", s["tsi"])})
        for key, value in s["counters"].items():
            name = f"pgmd_session_{snake_case(key)}_total"
            if value:
                want[(name, labels)] = value
            else:
                absent.add((name, labels))
    want[("pgmd_sessions", frozenset())] = len(sessions["sessions"])
    return want, absent


def compare(args, lab, sock, state):
    """True when pgmctl's counters held still across one scrape and the scrape shows them."""
    before = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    sessions = netlab.pgmctl(args.pgmctl, sock, "show", "sessions")
    fastpath = netlab.pgmctl(args.pgmctl, sock, "show", "fastpath")
    text = scrape(lab)
    after = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    if text is None or before != after:
        state["why"] = "counters still moving" if text is not None else "scrape failed"
        return False
    samples, helped, typed = parse_exposition(text)
    want, absent = expected_series(after, sessions, fastpath)
    wrong = [f"{n}{dict(lbl)} = {samples.get((n, lbl))}, pgmctl shows {v}"
             for (n, lbl), v in want.items() if samples.get((n, lbl)) != v]
    wrong += [f"{n}{dict(lbl)} exported for a zero counter" for (n, lbl) in absent
              if (n, lbl) in samples]
    state.update(why="; ".join(wrong[:8]) + (f" (+{len(wrong) - 8})" if len(wrong) > 8 else ""),
                 samples=samples, helped=helped, typed=typed, counters=after,
                 sessions=sessions, fastpath=fastpath, compared=len(want))
    return not wrong


def run(args, lab):
    lab.add_ns("src", "rtr", "lan1", "r11")
    lab.source_router()
    lab.lan("rtr", 1, [("r11", 11)])
    lab.drop_odata("lan1", LOST, family="bridge", iif="p0")

    textdir = lab.path("textfile")
    os.mkdir(textdir)
    prom = os.path.join(textdir, "pgmd.prom")
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 1), sock,
                            extra=f"[metrics]\ntextfile = {prom}\ninterval = 1s\n")
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=2)
    if not os.path.exists(prom):
        raise Failure(f"pgmd started without writing {prom}")

    lab.start("exporter", [EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                           f"--collector.textfile.directory={textdir}",
                           f"--web.listen-address={LISTEN}"], "rtr")
    wait_until(lambda: scrape(lab) is not None or lab.proc("exporter").poll() is not None,
               15, "the node exporter to answer")
    if lab.proc("exporter").poll() is not None:
        raise Failure(f"node exporter exited: {lab.text('exporter')[-1500:]}")

    receivers = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT,
                                            {"r11": "10.2.1.11"})
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1"})
    sender = lab.start_openpgm_send(args.send, "10.1.0.1", GROUP, DPORT, COUNT, 200, 400000,
                                    ["--linger-ms", "60000", "--start-delay-ms", "500"])
    problems = lab.finish_receivers(receivers, 60)
    lab.stop_proc(sender)
    lab.raise_problems(problems)

    state = {}
    try:
        wait_until(lambda: compare(args, lab, sock, state), 20,
                   "the scrape to show pgmctl's counters", interval_s=0.5)
    except Failure as e:
        raise Failure(f"{e}: {state.get('why')}")
    log(f"{state['compared']} series equal to pgmctl's (fast path "
        f"{state['fastpath'].get('mode')})")

    problems = []
    samples = state["samples"]
    if samples.get(("node_textfile_scrape_error", frozenset())) != 0:
        problems.append("node_textfile_scrape_error is not 0: the exporter refused the file")
    for family in ("pgmd_interface_in_odata_total", "pgmd_session_in_odata_total",
                   "pgmd_sessions", "pgmd_info"):
        if family not in state["helped"] or family not in state["typed"]:
            problems.append(f"{family}: no # HELP / # TYPE in the scrape")
    up0 = {("interface", "up0")}
    dn1 = {("interface", "dn1")}
    in_odata = samples.get(("pgmd_interface_in_odata_total", frozenset(up0)), 0)
    out_odata = samples.get(("pgmd_interface_out_odata_total", frozenset(dn1)), 0)
    out_naks = samples.get(("pgmd_interface_out_naks_total", frozenset(up0)), 0)
    if in_odata < COUNT or out_odata < COUNT - len(LOST) or out_naks < 1:
        problems.append(f"counters too small to mean anything: up0 InOdata {in_odata}, dn1 "
                        f"OutOdata {out_odata}, up0 OutNaks {out_naks}")
    if len(state["sessions"]["sessions"]) != 1:
        problems.append(f"sessions: {state['sessions']}")
    leftovers = sorted(set(os.listdir(textdir)) - {"pgmd.prom"})
    if leftovers:
        problems.append(f"files left in the textfile directory: {leftovers}")

    # Reloads: a textfile in a missing directory is refused at its line; a new textfile
    # replaces the old one.
    def write(textfile):
        netlab.pgmd_conf(conf, netlab.rtr_interfaces(GROUP, 1), sock,
                         extra=f"[metrics]\ntextfile = {textfile}\ninterval = 1s\n")
    write(lab.path("nosuch", "pgmd.prom"))
    r = lab.sh(args.pgmctl, "-u", sock, "reload", check=False)
    if r.returncode != 1 or not re.search(r"pgmd\.conf:\d+: textfile: directory .*nosuch",
                                          r.stderr):
        problems.append(f"reload with a missing textfile directory: exit {r.returncode} "
                        f"{r.stderr.strip()!r}")
    prom = os.path.join(textdir, "renamed.prom")
    write(prom)
    netlab.pgmctl(args.pgmctl, sock, "reload", json_out=False)
    if sorted(os.listdir(textdir)) != ["renamed.prom"]:
        problems.append(f"after a reload to renamed.prom the directory holds "
                        f"{sorted(os.listdir(textdir))}")

    rc = lab.stop_proc(pgmd)
    if rc != 0:
        problems.append(f"pgmd exit {rc} on SIGTERM")
    if os.path.exists(prom):
        problems.append(f"{prom} still exists after pgmd stopped")
    text = scrape(lab) or ""
    if "pgmd_" in text:
        problems.append("the node exporter still serves pgmd metrics after pgmd stopped")
    lab.raise_problems(problems)


def main():
    return netlab.lab_main(NAME, "pgmmet", run, ("pgmd", "pgmctl", "send", "recv"),
                           needs=("ip", "nft", "curl", EXPORTER))


if __name__ == "__main__":
    sys.exit(main())
