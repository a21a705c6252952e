#!/usr/bin/python3
"""pgmd_router_alert_test: `[interface NAME] router-alert` on the wire and across a reload
(issue 17 item 4; decisions.md D24).

Topology: src 10.1.0.1 --- up0 [rtr: pgmd] dn1 --- lan1, dn2 --- lan2 (no hosts needed:
static-groups on dn1 and dn2 make both members). pgmsend in src sends a short session
whose SPMs pgmd forwards onto both LANs.

Phase 1: dn1 `router-alert = no`, dn2 the default: on dn1 every SPM pgmd forwards has no
Router Alert option, on dn2 every one has it. `pgmctl reload` of a file that swaps the two
reports both keys changed; phase 2 (a second session): dn1 with, dn2 without. ODATA never
carries Router Alert. Captures on rtr's dn1 and dn2, decoded by pgmdump, split at the
reload by their time stamps.

Everything started is stopped and the namespaces deleted, also on failure.
Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import Failure, decode, when  # noqa: E402
import netlab  # noqa: E402

GROUP = "239.192.0.7"
DPORT = 7500


def config(lab, sock, off):
    """pgmd.conf with router-alert = no on the interface `off`."""
    interfaces = netlab.rtr_interfaces(GROUP, 2)
    for dn in ("dn1", "dn2"):
        interfaces[dn] = {"static-groups": GROUP, "igmp-querier": "no"}
    interfaces[off]["router-alert"] = "no"
    return netlab.pgmd_conf(lab.path("pgmd.conf"), interfaces, sock)


def session(args, lab, tag):
    p = lab.start(f"send-{tag}", [
        args.pgmsend, "--interface", "10.1.0.1", "--group", GROUP, "--port", str(DPORT),
        "--size", "100", "--count", "50", "--rate", "1000", "--linger", "1", "--quiet"],
        "src")
    rc = lab.wait_proc(p, 30)
    if rc != 0:
        raise Failure(f"pgmsend ({tag}) exit {rc}: {lab.text(f'send-{tag}')[-1500:]}")


def run(args, lab):
    lab.add_ns("src", "rtr", "lan1", "lan2")
    lab.source_router()
    lab.lan("rtr", 1, [])
    lab.lan("rtr", 2, [])
    sock = lab.path("pgmd.sock")
    conf = config(lab, sock, off="dn1")
    captures = {dn: lab.capture(dn, "rtr", dn) for dn in ("dn1", "dn2")}
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=3)

    session(args, lab, "1")
    config(lab, sock, off="dn2")
    reloaded_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    reply = netlab.pgmctl(args.pgmctl, sock, "reload")
    problems = []
    changed = set(reply.get("changed", []))
    if not {"interface dn1.router-alert", "interface dn2.router-alert"} <= changed:
        problems.append(f"reload reported {sorted(changed)}, want both router-alert keys")
    session(args, lab, "2")
    for dn in captures:
        lab.stop_capture(dn)
    if lab.stop_proc(pgmd) != 0:
        problems.append("pgmd did not exit 0 on SIGTERM")

    want = {("1", "dn1"): False, ("1", "dn2"): True, ("2", "dn1"): True, ("2", "dn2"): False}
    for dn in ("dn1", "dn2"):
        packets = [p for p in decode(args.pgmdump, captures[dn]) if p.get("ip_dst") == GROUP]
        for phase in ("1", "2"):
            spms = [p for p in packets if p.get("type") == "SPM" and
                    (when(p) < reloaded_at) == (phase == "1")]
            got = {bool(p.get("router_alert")) for p in spms}
            if got != {want[(phase, dn)]}:
                problems.append(f"phase {phase}: {len(spms)} SPMs on {dn} with Router Alert "
                                f"{sorted(got)}, want {want[(phase, dn)]} only")
        odata_ra = [p for p in packets if p.get("type") == "ODATA" and p.get("router_alert")]
        if odata_ra:
            problems.append(f"{len(odata_ra)} ODATA on {dn} with Router Alert")
    if problems:
        raise Failure("\n".join(problems))
    print("pgmd_router_alert: SPMs without Router Alert only where router-alert = no, "
          "before and after a reload that swapped it")


def main():
    return netlab.lab_main("pgmd_router_alert", "pgra", run,
                           ("pgmd", "pgmctl", "pgmdump", "pgmsend"), needs=("ip", "tcpdump"))


if __name__ == "__main__":
    sys.exit(main())
