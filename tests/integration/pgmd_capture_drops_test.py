#!/usr/bin/python3
"""pgmd_capture_drops_test: packets the kernel drops from pgmd's capture ring are counted
(issue 8): CaptureDrops in `pgmctl show counters` / `show interfaces`, text and JSON, summed
across the capture handles an interface has had (a link flap reopens it).

Topology (netlab.py): h1 eth0 10.1.0.1 --- up0 10.1.0.2 [rtr: pgmd], pgmd serving up0 with
`[capture] buffer-bytes = 65536`, the smallest ring pgmd accepts (a few dozen frames).

Each round: pgmd is stopped with SIGSTOP, h1 sends FLOOD packets of IP protocol 113 (a PGM
header of zeros: every one is Malformed for pgmd, so each packet pgmd reads is counted
exactly once) to 10.1.0.2 from a raw socket, pgmd gets SIGCONT. The ring holds far fewer
than FLOOD packets, so the kernel drops the rest. Asserts, per round, with a bounded poll:

* Malformed + CaptureDrops on up0 = every packet sent so far, less what the veth pair itself
  dropped (h1's eth0 TX dropped + up0 RX dropped, `ip -s -j link`; normally 0): each packet
  either reached pgmd or is counted as lost before it; CaptureDrops > 0 and grew in the
  round; totals equal up0's;
* round 2 comes after up0 went down and up (pgmd closed and reopened the capture): the
  equation still holds with the totals of both rounds, so the drops of the closed handle
  were kept;
* round 3 comes after `pgmctl reload` of the file with twice the buffer-bytes (captures
  reopened with the new ring): the equation holds over all three rounds, and pgmd read
  more packets in round 3 than in round 1 (the larger ring was applied);
* pgmd logs a warning with round 1's drops (its 10 s timer reads the counts);
* the text tables show the same numbers (CaptureDrops row of `show counters`, column of
  `show interfaces`); `clear counters` zeroes CaptureDrops;
* pgmd exits 0 on SIGTERM.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import Failure, wait_until  # noqa: E402

NAME = "pgmd_capture_drops"
FLOOD = 3000
RING_BYTES = 65536

# Sends argv[2] packets of IP protocol 113 to argv[1]: a 16-byte PGM header of zeros.
SENDER = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 113)
packet = bytes(16)
for _ in range(int(sys.argv[2])):
    s.sendto(packet, (sys.argv[1], 0))
print("sent", sys.argv[2])
"""


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def build(lab):
    lab.add_ns("rtr", "h1")
    lab.veth("h1", "eth0", "rtr", "up0")
    lab.addr("h1", "eth0", "10.1.0.1/24")
    lab.addr("rtr", "up0", "10.1.0.2/24")


def link_drops(lab):
    """Packets the veth pair dropped on the way h1 -> rtr (sender TX + receiver RX)."""
    total = 0
    for ns, dev, direction in (("h1", "eth0", "tx"), ("rtr", "up0", "rx")):
        r = lab.sh("ip", "-s", "-j", "link", "show", dev, ns=ns)
        total += json.loads(r.stdout)[0]["stats64"][direction]["dropped"]
    return total


def up0_counters(args, sock):
    c = netlab.pgmctl(args.pgmctl, sock, "show", "counters")
    rows = [i for i in c["interfaces"] if i["name"] == "up0"]
    if len(rows) != 1:
        raise Failure(f"show counters has no single up0 row: {c['interfaces']}")
    return c["totals"], rows[0]["counters"]


def flood(lab, pid):
    os.kill(pid, signal.SIGSTOP)
    try:
        r = lab.sh(netlab.PYTHON, "-c", SENDER, "10.1.0.2", str(FLOOD), ns="h1")
        if f"sent {FLOOD}" not in r.stdout:
            raise Failure(f"sender: {r.stdout!r} {r.stderr!r}")
    finally:
        os.kill(pid, signal.SIGCONT)


def settle(args, sock, lab, sent, problems, label):
    """Waits until every packet sent is either seen (Malformed) or counted lost; returns
    up0's (CaptureDrops, Malformed)."""
    state = {}

    def accounted():
        totals, up0 = up0_counters(args, sock)
        lost_on_link = link_drops(lab)
        state.update(totals=totals, up0=up0, lost_on_link=lost_on_link)
        return up0["Malformed"] + up0["CaptureDrops"] == sent - lost_on_link

    try:
        wait_until(accounted, 10, f"{label}: Malformed + CaptureDrops to account for "
                   f"{sent} packets", interval_s=0.1)
    except Failure as e:
        problems.append(f"{e}: up0 Malformed {state['up0']['Malformed']}, CaptureDrops "
                        f"{state['up0']['CaptureDrops']}, lost on the veth "
                        f"{state['lost_on_link']}")
    up0, totals = state["up0"], state["totals"]
    for key in ("CaptureDrops", "CaptureIfDrops", "Malformed"):
        if totals[key] != up0[key]:
            problems.append(f"{label}: totals {key} {totals[key]} != up0's {up0[key]}")
    log(f"{label}: sent {sent}, pgmd read {up0['Malformed']}, CaptureDrops "
        f"{up0['CaptureDrops']}, CaptureIfDrops {up0['CaptureIfDrops']}, lost on the veth "
        f"{state['lost_on_link']}")
    return up0["CaptureDrops"], up0["Malformed"]


def write_conf(lab, sock, ring_bytes):
    return netlab.pgmd_conf(lab.path("pgmd.conf"), {"up0": {"igmp-querier": "no"}}, sock,
                            extra=f"[capture]\nbuffer-bytes = {ring_bytes}\n")


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = write_conf(lab, sock, RING_BYTES)
    p = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=1)
    pid = p.pid  # `ip netns exec` execs pgmd itself
    problems = []

    flood(lab, pid)
    drops1, read1 = settle(args, sock, lab, FLOOD, problems, "round 1")
    if drops1 <= 0:
        problems.append(f"round 1: CaptureDrops {drops1}, want > 0 ({FLOOD} packets into a "
                        f"{RING_BYTES}-byte ring while pgmd was stopped)")

    warning = f"capture on up0: {drops1} packets dropped by the kernel (capture buffer full)"
    try:
        wait_until(lambda: warning in lab.text("pgmd"), 15, "the capture drop warning")
    except Failure:
        problems.append(f"no warning {warning!r} in pgmd's log:\n{lab.text('pgmd')[-1500:]}")

    # Text tables: the same numbers.
    text = netlab.pgmctl(args.pgmctl, sock, "show", "counters", json_out=False)
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    if rows.get("CaptureDrops") != [str(drops1), str(drops1)]:
        problems.append(f"show counters text: CaptureDrops row {rows.get('CaptureDrops')}, "
                        f"want TOTAL and up0 {drops1}\n{text}")
    text = netlab.pgmctl(args.pgmctl, sock, "show", "interfaces", json_out=False)
    lines = [line.split() for line in text.splitlines()]
    if lines[0][-1] != "CaptureDrops" or lines[1][0] != "up0" or lines[1][-1] != str(drops1):
        problems.append(f"show interfaces text: no CaptureDrops {drops1} for up0\n{text}")
    j = netlab.pgmctl(args.pgmctl, sock, "show", "interfaces")
    if j["interfaces"][0]["counters"]["CaptureDrops"] != drops1:
        problems.append(f"show interfaces -j: {j['interfaces'][0]['counters']['CaptureDrops']}"
                        f", want {drops1}")

    # Round 2 on a new capture handle.
    lab.pgmd_link_down("pgmd", "rtr", "up0")
    lab.pgmd_link_up("pgmd", "rtr", "up0")
    flood(lab, pid)
    drops2, read2 = settle(args, sock, lab, 2 * FLOOD, problems, "round 2 (after a link flap)")
    if drops2 <= drops1:
        problems.append(f"round 2: CaptureDrops {drops2}, want more than round 1's {drops1} "
                        "(kept across the reopened capture)")

    # Round 3 after a reload with a larger ring.
    write_conf(lab, sock, 2 * RING_BYTES)
    netlab.pgmctl(args.pgmctl, sock, "reload")
    flood(lab, pid)
    drops3, read3 = settle(args, sock, lab, 3 * FLOOD, problems,
                           f"round 3 (after a reload with buffer-bytes {2 * RING_BYTES})")
    if drops3 <= drops2:
        problems.append(f"round 3: CaptureDrops {drops3}, want more than round 2's {drops2}")
    if read3 - read2 <= read1:
        problems.append(f"round 3: pgmd read {read3 - read2} packets, round 1 {read1}: the "
                        f"larger ring was not applied on reload")
    if "cannot" in lab.text("pgmd"):
        problems.append("pgmd reported an error:\n" + lab.text("pgmd")[-1500:])

    netlab.pgmctl(args.pgmctl, sock, "clear", "counters")
    totals, up0 = up0_counters(args, sock)
    if totals["CaptureDrops"] != 0 or up0["CaptureDrops"] != 0:
        problems.append(f"after clear counters: CaptureDrops {totals['CaptureDrops']} / "
                        f"{up0['CaptureDrops']}, want 0")

    rc = lab.stop_proc("pgmd")
    if rc != 0:
        problems.append(f"pgmd exit {rc} on SIGTERM:\n{lab.text('pgmd')[-1500:]}")
    if problems:
        raise Failure("\n".join(problems))
    print(f"{NAME}: {FLOOD} packets per round into a {RING_BYTES}-byte ring with pgmd "
          f"stopped: CaptureDrops {drops1} after round 1, {drops2} after round 2 (new capture "
          f"handle), {drops3} after round 3 (reload, ring {2 * RING_BYTES} bytes: "
          f"{read3 - read2} read instead of {read1}); every packet read or counted")


def main():
    return netlab.lab_main(NAME, "pgmdcd", run, ("pgmd", "pgmctl"))


if __name__ == "__main__":
    sys.exit(main())
