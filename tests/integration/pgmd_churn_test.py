#!/usr/bin/python3
"""pgmd_churn_test: the faults of issue 8 that pgmd_faults does not cover: the source
crashes and comes back with a new TSI, pgmd's interface address changes, a receiver joins
late. The transfer completes or the loss is reported, nothing hangs.

Topology (netlab.py):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 -> .2 --- lan1 --- r11, r12
                                     dn2 10.2.2.1 --------- lan2 --- r21, r22
                                     dn3 10.2.3.1 --------- lan3 --- r31 (late)

ODATA dropped at the bridges: lan2 LOST2 (early), lan1 LOST1 (after dn1's address
change), lan3 LOST3 (after r31 joined). OpenPGM sources and receivers (tests/interop).

1. Source crash and restart with a new TSI: source A (GSI 1) sends to r11, r21 and is
   killed with SIGKILL after ~KILL_AFTER messages. Stopped then, r11 and r21 report the
   transfer incomplete (exit 1, received < COUNT, what they got contiguous and without
   corruption): the loss is reported, not hidden. Source B (GSI 2: a new TSI, same host and
   port) starts; the fresh receivers r12, r22 follow it. pgmd must show B as a second
   session with up0 upstream and the source as neighbour, and A's repair state must be
   gone within NAK_RPT_IVL + NAK_RDATA_IVL (nothing left to leak for the dead source).
2. Address change: ~2 s into B, dn1's address 10.2.1.1/24 is replaced by 10.2.1.2/24
   (netlink). The next SPMs onto lan1 must carry SPM_PATH 10.2.1.2 (captured on r12's
   link, decoded with pgmdump), r12's NAKs for LOST1 go to 10.2.1.2 and are answered
   (pgmd's InNaks / OutRdata on dn1 after the change), and r12 completes.
3. Late joiner: ~4 s into B, r31 starts on lan3, where nobody was a member: pgmd learns
   the group there from its IGMP report, forwards B onto dn3, repairs LOST3 there, and
   r31 (openpgm_recv --late-join) gets every message from its first one to the last.

Also: r22 (lan2) completes B with LOST2 repaired; pgmd alive, exits 0 on SIGTERM; pgmd's
repair states for A are zero at the end (`pgmctl -j show sessions`).

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402
from netlab import find_sessions, wait_until  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 3000
SIZE = 200
RATE_BPS = 400000  # ~250 messages/s with headers: B lasts ~12 s
KILL_AFTER_S = 2.0  # A is killed this long into its data (~500 messages)
LOST2 = [100, 200]
LOST1 = [1300, 1400]  # ~5 s into B: after the address change at ~2 s
LOST3 = [2200, 2300]  # ~9 s into B: after r31 joined at ~4 s
NAK_RPT_IVL_S = 1.0
NAK_RDATA_IVL_S = 2.0
NAME = "pgmd_churn"
RECV_OPTS = ["--rxw-sqns", str(2 * COUNT)]


def log(msg):
    print(f"{NAME}: {msg}", file=sys.stderr, flush=True)


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "lan2", "lan3", "r11", "r12", "r21", "r22", "r31")
    lab.source_router()
    lab.lan("rtr", 1, [("r11", 11), ("r12", 12)])
    lab.lan("rtr", 2, [("r21", 21), ("r22", 22)])
    lab.lan("rtr", 3, [("r31", 31)])
    lab.drop_odata("lan2", LOST2, iif="p0")
    lab.drop_odata("lan1", LOST1, iif="p0")
    lab.drop_odata("lan3", LOST3, iif="p0")


def sessions(args, sock):
    return find_sessions(netlab.pgmctl(args.pgmctl, sock, "show", "sessions"))


def dn_counters(args, sock, dev):
    c = netlab.pgmctl(args.pgmctl, sock, "show", "counters", "interface", dev)
    return [i["counters"] for i in c.get("interfaces", []) if i.get("name") == dev][0]


def send_args(gsi, extra=()):
    return ["--txw-sqns", str(2 * COUNT), "--ambient-spm-ms", "500", "--linger-ms", "60000",
            "--gsi", str(gsi)] + list(extra)


def start_source(lab, args, name, gsi, count):
    return lab.start(name, [args.send, "--network", f"10.1.0.1;{GROUP}", "--port", str(DPORT),
                            "--count", str(count), "--size", str(SIZE), "--rate-bps",
                            str(RATE_BPS)] + send_args(gsi), "src")


def receiver_result(lab, name):
    return netlab.last_json(lab.text(name, "out")) or {}


def run(args, lab):
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(
        lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 3), sock, log_level="info",
        timers={"nak-rpt-ivl": f"{NAK_RPT_IVL_S:g}s", "nak-rdata-ivl": f"{NAK_RDATA_IVL_S:g}s"},
        extra="[igmp]\nquery-response-interval = 1s\n")
    lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=4)
    problems = []

    # 1. Source A, killed mid-transfer; its receivers report the loss.
    old = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT,
                                      {"r11": "10.2.1.11", "r21": "10.2.2.21"}, RECV_OPTS)
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn1", "dn2"})
    source_a = start_source(lab, args, "send-a", 1, COUNT)
    wait_until(lambda: len(sessions(args, sock)) == 1, 5, "pgmd to learn source A")
    tsi_a = sessions(args, sock)[0]["tsi"]
    # (Not the SPM lead: OpenPGM's first SPMs advertise an empty window, lead 0xFFFFFFFF.)
    wait_until(lambda: sessions(args, sock)[0]["counters"].get("InOdata", 0) >=
               KILL_AFTER_S * 250, 10, "source A to send its first messages")
    source_a.send_signal(signal.SIGKILL)
    source_a.wait(5)
    t_killed = time.monotonic()
    for name in old:
        lab.stop_proc(name)
        r = receiver_result(lab, name)
        got = r.get("received", 0)
        contiguous = r.get("first_seq") == 0 and r.get("last_seq") == got - 1
        if old[name].returncode != 1 or not 0 < got < COUNT or not contiguous or r.get("bad"):
            problems.append(f"{name} (source A killed): exit {old[name].returncode}, {r}; want "
                            "exit 1 with a contiguous, uncorrupted part of the transfer")
    log(f"source A {tsi_a} killed; its receivers reported "
        f"{[receiver_result(lab, n).get('received') for n in old]} of {COUNT}")

    # Source B: a new TSI from the same host. Fresh receivers first (an OpenPGM receiver
    # follows the first TSI it hears).
    new = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT,
                                      {"r12": "10.2.1.12", "r22": "10.2.2.22"}, RECV_OPTS)
    cap = lab.capture("lan1", "r12", "eth0")
    start_source(lab, args, "send-b", 2, COUNT)
    wait_until(lambda: len(sessions(args, sock)) == 2, 5, "pgmd to learn source B")
    s_b = [s for s in sessions(args, sock) if s["tsi"] != tsi_a][0]
    if (s_b["upstream_interface"], s_b["upstream_neighbour"]) != ("up0", "10.1.0.1"):
        problems.append(f"source B's session: {s_b}")
    t_b = time.monotonic()

    # 2. dn1's address changes ~2 s into B.
    time.sleep(max(0.0, t_b + 2.0 - time.monotonic()))  # a point in the transfer, not a sync
    lab.sh("ip", "addr", "del", "10.2.1.1/24", "dev", "dn1", ns="rtr")
    lab.sh("ip", "addr", "add", "10.2.1.2/24", "dev", "dn1", ns="rtr")
    t_addr = time.monotonic()
    naks_before = dn_counters(args, sock, "dn1")["InNaks"]
    log(f"dn1: 10.2.1.1 -> 10.2.1.2 at {t_addr - t_b:.1f}s into B")

    # 3. r31 joins lan3 ~4 s into B.
    time.sleep(max(0.0, t_b + 4.0 - time.monotonic()))
    late = lab.start_openpgm_receivers(args.recv, GROUP, DPORT, COUNT, {"r31": "10.2.3.31"},
                                       RECV_OPTS + ["--late-join"])
    lab.wait_pgmd_groups("pgmd", GROUP, {"dn3"}, limit_s=5)
    log(f"r31 joined, lan3 member {time.monotonic() - t_b:.1f}s into B")

    # A's repair state is gone by now (it can only have been made before the kill).
    a_states = [s.get("repair_states") for s in sessions(args, sock) if s["tsi"] == tsi_a]
    if time.monotonic() - t_killed > NAK_RPT_IVL_S + NAK_RDATA_IVL_S and a_states not in ([0],
                                                                                         []):
        problems.append(f"repair states of the dead source A: {a_states}")

    problems += lab.finish_receivers(new, 60)
    problems += lab.finish_receivers(late, 20)
    r31 = receiver_result(lab, "r31")
    if not 0 < r31.get("first_seq", -1) < LOST3[0] or r31.get("last_seq") != COUNT - 1:
        problems.append(f"r31 (late): {r31}, want a first message after 0 and before "
                        f"{LOST3[0]}, the last {COUNT - 1}")
    lab.stop_capture("lan1")
    after = dn_counters(args, sock, "dn1")
    if after["InNaks"] <= naks_before or not after["OutRdata"]:
        problems.append(f"dn1 after the address change: InNaks {naks_before} -> "
                        f"{after['InNaks']}, OutRdata {after['OutRdata']}: r12's losses were "
                        "not repaired through pgmd")
    packets = netlab.decode(args.pgmdump, cap)
    spm_paths = [p.get("path") for p in packets if p.get("type") == "SPM"]
    naks_to = {p.get("ip_dst") for p in packets if p.get("type") == "NAK"}
    if not spm_paths or spm_paths[-1] != "10.2.1.2" or "10.2.1.1" not in spm_paths:
        problems.append(f"SPM_PATH on lan1 (in order, deduplicated): "
                        f"{list(dict.fromkeys(spm_paths))}, want 10.2.1.1 then 10.2.1.2")
    if "10.2.1.2" not in naks_to:
        problems.append(f"NAKs on lan1 went to {naks_to}, want 10.2.1.2 among them")
    for dev, lost in (("dn2", LOST2), ("dn3", LOST3)):
        c = dn_counters(args, sock, dev)
        if c["OutRdata"] < 1:
            problems.append(f"no RDATA out of {dev} (LOST {lost} were repaired elsewhere?)")
    final = sessions(args, sock)
    a_states = [s.get("repair_states") for s in final if s["tsi"] == tsi_a]
    if a_states not in ([0], []):
        problems.append(f"repair states of the dead source A at the end: {a_states}")
    if lab.proc("pgmd").poll() is not None:
        problems.append(f"pgmd died (exit {lab.proc('pgmd').returncode})")
    lab.stop_proc("send-b")
    rc = lab.stop_proc("pgmd")
    if rc != 0:
        problems.append(f"pgmd exit {rc} on SIGTERM")
    lab.raise_problems(problems, tail=2000)
    print(f"{NAME}: A killed, r11/r21 reported "
          f"{[receiver_result(lab, n).get('received') for n in old]} of {COUNT}; B complete "
          f"on r12, r22; r31 joined at message {r31.get('first_seq')} and completed; SPM_PATH "
          f"on lan1 {list(dict.fromkeys(spm_paths))}; sessions {[s['tsi'] for s in final]}")


def main():
    return netlab.lab_main(NAME, "pgmdc", run, ("pgmd", "pgmctl", "pgmdump", "send", "recv"),
                           needs=("ip", "nft", "tcpdump"))


if __name__ == "__main__":
    sys.exit(main())
