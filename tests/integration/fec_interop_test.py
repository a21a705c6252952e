#!/usr/bin/python3
"""fec_interop_test: FEC sessions between pgmsend/pgmrecv and OpenPGM 5.3, through pgmd
(issue 14 item 3).

Topology (the lab of pgmd_fec_test.py with one receiver, native PGM):

    src 10.1.0.1 --- up0 [rtr: pgmd] dn1 10.2.1.1 --- bridge lan1 --- rcv 10.2.1.11

The bridge drops chosen ODATA sequence numbers towards rcv (data and proactive parity
alike; RDATA passes). tcpdump records each case on the source LAN (src's s0) and on the
receiver LAN (rcv's eth0); pgmdump and tshark both decode every capture, and must agree,
frame by frame, on the type, the parity flag (OPT_PARITY, 0x80 of the options byte, D1),
the sequence number and the checksum verdict. Cases, COUNT messages of SIZE bytes each:

  openpgm_send --fec 4,8,0,ondemand -> pgmd -> pgmrecv  OpenPGM's "on-demand" bit reads
      as P (decisions.md D3), so pgmrecv NAKs selectively and OpenPGM repairs with plain
      RDATA: no parity on either LAN. Once pgmrecv is done, this script sends pgmd a parity
      NAK for group 8 as a receiver would, to show what OpenPGM's parity repair does through
      pgmd: pgmd answers it with a parity NCF on the receiver LAN and forwards it upstream;
      OpenPGM answers with parity RDATA whose PGM checksum is wrong (D32 defect 3: both
      decoders say "bad"), which pgmd drops as malformed (its Malformed counter), so no
      parity RDATA reaches the receiver LAN. That is why OpenPGM parity cannot repair
      anything through pgmd (or at any receiver) and the selective repair above is the one
      that works.
  pgmsend --fec-k 4 --fec-ondemand -> pgmd -> pgmrecv  parity NAKs only, on both LANs
      (pgmd's upstream), parity NCFs from pgmd and exactly the parity RDATA needed (group 8
      one, group 12 two, group 28 one); pgmrecv rebuilds every loss from parity; pgmd's
      parity counters match the captures.
  pgmsend --fec-k 4 --fec-ondemand -> pgmd -> openpgm_recv  OpenPGM turns its FEC on (it
      reads the O bit as its "proactive") but never sends parity NAKs (D32 defect 5): it
      NAKs selectively and gets plain RDATA; no parity packet on either LAN.
  pgmsend --fec-k 4 --fec-proactive 2 -> pgmd -> openpgm_recv  OpenPGM reads no FEC at all
      (its 1-bit has_ondemand_parity field drops the P bit), ignores the parity ODATA that
      pgmd forwards (2 per group on the receiver LAN) and NAKs selectively.
  pgmsend --fec-k 4 --fec-proactive 1 --fec-ondemand -> pgmd -> pgmrecv  the losses are
      rebuilt from proactive parity or with parity NAKs only.

Every receiver must deliver every message in order with nothing unrecoverable. OpenPGM's
receiver aborting on proactive parity once on-demand parity is advertised too (D32) is not
run: it is OpenPGM's defect, documented.

Exit status 0 pass, 1 fail, 77 skipped (not root or a tool missing).
"""
import os
import shutil
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netlab import (Failure, decode, find_key, last_json, nak_sqns, tshark_decode,  # noqa: E402
                    wait_until)
import netlab  # noqa: E402

GROUP = "239.192.0.1"
DPORT = 7500
COUNT = 60
SIZE = 200
K = 4
LOST = [9, 13, 14, 30]  # 13 and 14: two in one transmission group of 4
# Parity packets on demand for LOST: group 8 one, group 12 two, group 28 one; the parity
# NAKs ask for TG_SQN | (count - 1).
PARITY_NEEDED = 4
PARITY_NAK_SQNS = {8, 12 | 1, 28}
SRC, RTR_UP, RTR_DN, RCV = "10.1.0.1", "10.1.0.2", "10.2.1.1", "10.2.1.11"
INJECTED_TG = 8  # the group of the parity NAK this script sends to OpenPGM's session


def build(lab):
    lab.add_ns("src", "rtr", "lan1", "rcv")
    lab.source_router()
    lab.lan("rtr", 1, [("rcv", 11)])
    lab.drop_odata("lan1", LOST, family="bridge", iif="p0", oif="p1")


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s & 0xFFFF) or 0xFFFF


def parity_nak(gsi, source_port, sqn):
    """A parity NAK (options byte 0x80) for the session GSI.SOURCE_PORT, as a receiver
    sends it: from the data's destination port to the source port, NLAs source and group."""
    body = struct.pack("!IHH4sHH4s", sqn, 1, 0, socket.inet_aton(SRC), 1, 0,
                       socket.inet_aton(GROUP))
    pkt = bytearray(struct.pack("!HHBBH6sH", DPORT, source_port, 0x08, 0x80, 0,
                                bytes.fromhex(gsi), 0) + body)
    struct.pack_into("!H", pkt, 6, csum(bytes(pkt)))
    return bytes(pkt)


# Sends argv[1] (hex) to argv[2] from a raw PGM socket (the kernel adds the IP header).
SEND_RAW_PGM = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 113)
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[2], 0))
"""


def is_parity(p):
    return "parity" in p.get("opt_flags", [])


def disagreements(label, ours, theirs):
    """Frames where pgmdump (ours) and tshark (theirs) read a packet differently: type,
    parity flag, sequence number or checksum verdict; or a frame only one of them shows."""
    problems = []
    by_frame = {p["frame"]: p for p in theirs}
    if sorted(by_frame) != sorted(p["frame"] for p in ours):
        problems.append(f"{label}: pgmdump decodes {len(ours)} PGM frames, tshark {len(theirs)}")
    for p in ours:
        t = by_frame.get(p["frame"])
        if t is None:
            continue
        mine = (p["type"], is_parity(p), p.get("sqn"), p.get("checksum_status"))
        wire = (t["type"], t["parity"], t["sqn"] if p.get("sqn") is not None else None,
                t["checksum_status"])
        if mine != wire:
            problems.append(f"{label} frame {p['frame']}: pgmdump {mine}, tshark {wire}")
    return problems[:8]


def parity_summary(packets, key_parity):
    """{type: [sqn, ...]} of the parity packets (the number of them beyond 8)."""
    out = {}
    for p in packets:
        if key_parity(p):
            out.setdefault(p["type"], []).append(p["sqn"])
    return {t: sqns if len(sqns) <= 8 else len(sqns) for t, sqns in out.items()}


class Case:
    """One session through pgmd with captures on both LANs; what it left behind."""

    def __init__(self, args, lab, sock, name, receiver, sender, during=None):
        self.name = name
        self.injected = 0  # parity NAKs sent by this script
        caps = {"src": lab.capture(f"{name}-src", "src", "s0"),
                "rcv": lab.capture(f"{name}-rcv", "rcv", "eth0")}
        ready = lab.path(name + "-recv.ready")
        rx = lab.start(name + "-recv", receiver + ["--ready-file", ready], "rcv")
        wait_until(lambda: os.path.exists(ready) or rx.poll() is not None, 10,
                   f"{name} receiver")
        lab.wait_pgmd_groups("pgmd", GROUP, {"dn1"})
        before = totals(args, sock)
        tx = lab.start(name + "-send", sender, "src")
        failures = lab.finish_receivers({name + "-recv": rx}, 60)
        if during and not failures:
            during(self, lab, caps)
        rc_tx = lab.wait_proc(tx, 30)
        if rc_tx is None:
            rc_tx = lab.stop_proc(tx)
        if rc_tx != 0:
            failures.append(f"{name}: sender exit {rc_tx}: {lab.text(name + '-send')[-800:]}")
        for cap in caps:
            lab.stop_capture(f"{name}-{cap}")
        lab.raise_problems(failures)
        after = totals(args, sock)
        self.counters = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        self.rx = last_json(lab.text(name + "-recv", "out")) or {}
        self.tx = last_json(lab.text(name + "-send", "out")) or {}
        self.ours = {c: decode(args.pgmdump, pcap, checksum=True) for c, pcap in caps.items()}
        self.theirs = {c: tshark_decode(pcap, tshark=args.tshark) for c, pcap in caps.items()}
        self.problems = []
        for c in caps:
            self.problems += disagreements(f"{name} {c} LAN", self.ours[c], self.theirs[c])

    def packets(self, lan, type_, src=None, parity=None, dst=None):
        return [p for p in self.ours[lan] if p["type"] == type_ and
                (src is None or p["ip_src"] == src) and (dst is None or p["ip_dst"] == dst) and
                (parity is None or is_parity(p) == parity)]

    def report(self):
        print(f"fec_interop: {self.name}: parity packets, pgmdump / tshark: " + "; ".join(
            f"{lan} LAN {parity_summary(self.ours[lan], is_parity)} / "
            f"{parity_summary(self.theirs[lan], lambda p: p['parity'])}"
            for lan in ("src", "rcv")))


def totals(args, sock):
    return find_key(netlab.pgmctl(args.pgmctl, sock, "show", "counters"), "totals") or {}


def selective_only(case, problems):
    """The receiver's NAKs and pgmd's upstream selective (no parity flag) and covering LOST
    (parity NAKs aside when this script sent one); RDATA to the receiver plain."""
    for lan, src in (("rcv", RCV), ("src", RTR_UP)):
        naks = case.packets(lan, "NAK", src, parity=False)
        nakked = {s for p in naks for s in nak_sqns(p)}
        if len(naks) != len(case.packets(lan, "NAK", src)) - case.injected or \
                not set(LOST) <= nakked:
            problems.append(f"{case.name}: NAKs from {src} on the {lan} LAN: "
                            f"{[(p['sqn'], p['opt_flags']) for p in naks]}, want selective "
                            f"NAKs for {LOST}")
    rdata = case.packets("rcv", "RDATA")
    if any(is_parity(p) for p in rdata) or not set(LOST) <= {p["sqn"] for p in rdata}:
        problems.append(f"{case.name}: RDATA on the receiver LAN "
                        f"{[(p['sqn'], p['opt_flags']) for p in rdata]}, want plain RDATA "
                        f"for {LOST}")


def run(args, lab):
    if shutil.which(args.tshark) is None:
        # scripts/setup.sh installs it: a missing decoder is a failure, not a skip.
        raise Failure(f"{args.tshark} not found (Debian package tshark, scripts/setup.sh)")
    build(lab)
    sock = lab.path("pgmd.sock")
    conf = netlab.pgmd_conf(lab.path("pgmd.conf"), netlab.rtr_interfaces(GROUP, 1), sock)
    pgmd = lab.start_pgmd("pgmd", args.pgmd, "rtr", conf, served=2)
    problems = []
    pgmsend = [args.pgmsend, "--interface", SRC, "--group", GROUP, "--port", str(DPORT),
               "--size", str(SIZE), "--count", str(COUNT), "--rate", "20000", "--linger", "4",
               "--json", "--quiet", "--fec-k", str(K)]
    pgmrecv = [args.pgmrecv, "--interface", RCV, "--group", GROUP, "--port", str(DPORT),
               "--count", str(COUNT), "--timeout", "40", "--verify", "--quiet", "--json"]
    openpgm_recv = [args.openpgm_recv, "--network", f"{RCV};{GROUP}", "--port", str(DPORT),
                    "--count", str(COUNT), "--timeout-ms", "40000"]

    def complete_openpgm(case):
        j = case.rx
        if j.get("received") != COUNT or j.get("unrecoverable") != 0 or not j.get("in_order"):
            problems.append(f"{case.name}: openpgm_recv {j}")

    def complete_pgmrecv(case):
        j = case.rx
        if j.get("delivered") != COUNT or j.get("unrecoverable_losses") != 0 or \
                not j.get("in_order") or j.get("bad") != 0:
            problems.append(f"{case.name}: pgmrecv {j}")

    # 1. OpenPGM on-demand source -> pgmrecv; then a parity NAK for OpenPGM's session.
    def inject_parity_nak(case, lab, caps):
        odata = [p for p in decode(args.pgmdump, caps["rcv"]) if p["type"] == "ODATA"]
        if not odata:
            raise Failure(f"{case.name}: no ODATA captured on the receiver LAN")
        gsi, sport = odata[0]["gsi"], odata[0]["sport"]
        # To the SPM's path NLA, pgmd's dn1, as receivers send NAKs (TTL 255 like theirs).
        lab.sh(netlab.PYTHON, "-c", SEND_RAW_PGM, parity_nak(gsi, sport, INJECTED_TG).hex(),
               RTR_DN, ns="rcv")
        case.injected = 1
        def answered():
            try:
                return any(p["type"] == "RDATA" and is_parity(p)
                           for p in decode(args.pgmdump, caps["src"]))
            except Failure:  # tcpdump is writing the file: a record may be incomplete
                return False
        wait_until(answered, 3, "OpenPGM's parity RDATA on the source LAN", interval_s=0.2)

    case = Case(args, lab, sock, "openpgm-ondemand-to-pgmrecv", pgmrecv, [
        args.openpgm_send, "--network", f"{SRC};{GROUP}", "--port", str(DPORT), "--gsi", "1",
        "--count", str(COUNT), "--size", str(SIZE), "--rate-bps", "160000",
        "--linger-ms", "5000", "--quiet", "--fec", f"{K},8,0,ondemand", "--txw-secs", "30",
        "--max-rte", "1000000"], during=inject_parity_nak)
    problems += case.problems
    complete_pgmrecv(case)
    if case.rx.get("naks_sent", 0) < 1 or case.rx.get("parity_naks_sent") != 0 or \
            case.rx.get("parity_packets") != 0:
        problems.append(f"{case.name}: want selective NAKs only, no parity: {case.rx}")
    selective_only(case, problems)
    injected = case.packets("rcv", "NAK", RCV, parity=True)
    up = case.packets("src", "NAK", RTR_UP, parity=True)
    ncf = case.packets("rcv", "NCF", parity=True, dst=GROUP)
    bad = case.packets("src", "RDATA", SRC, parity=True)
    if [p["sqn"] for p in injected] != [INJECTED_TG] or [p["sqn"] for p in up] != \
            [INJECTED_TG] or not ncf or {p["sqn"] for p in ncf} != {INJECTED_TG}:
        problems.append(f"{case.name}: the parity NAK for group {INJECTED_TG}: sent "
                        f"{[p['sqn'] for p in injected]}, upstream {[p['sqn'] for p in up]}, "
                        f"parity NCFs {[p['sqn'] for p in ncf]}; want {INJECTED_TG} each")
    if len(bad) != 1 or bad[0]["checksum_status"] != "bad":
        problems.append(f"{case.name}: OpenPGM's parity RDATA {bad}: want one, with a wrong "
                        f"checksum (D32 defect 3; fixed in this libpgm?)")
    if case.packets("rcv", "RDATA", parity=True):
        problems.append(f"{case.name}: pgmd forwarded OpenPGM's parity RDATA")
    problems += netlab.mismatches(f"{case.name} counter", case.counters, {
        "OutParityNaks": len(up), "OutParityNcfs": len(ncf), "OutParityRdata": 0,
        "Malformed": len(bad)})
    case.report()
    verdicts = {p["frame"]: p["checksum_status"] for p in case.theirs["src"]}
    for p in bad:
        print(f"fec_interop: {case.name}: OpenPGM's parity RDATA {p['sqn']}: checksum "
              f"{p['checksum_status']} (pgmdump) / {verdicts.get(p['frame'])} (tshark), ports "
              f"{p['sport']} > {p['dport']}; pgmd Malformed +{case.counters.get('Malformed')}")

    # 2. pgmsend on demand -> pgmrecv: parity NAKs, parity NCFs, parity RDATA.
    case = Case(args, lab, sock, "ondemand-to-pgmrecv", pgmrecv, pgmsend + ["--fec-ondemand"])
    problems += case.problems
    complete_pgmrecv(case)
    rx, tx = case.rx, case.tx
    if rx.get("parity_recovered") != len(LOST) or rx.get("naks_sent") != \
            rx.get("parity_naks_sent") or tx.get("naks_received") != 0 or \
            tx.get("parity_rdata") != PARITY_NEEDED:
        problems.append(f"{case.name}: want every loss rebuilt from {PARITY_NEEDED} parity "
                        f"RDATA, parity NAKs only: {rx} {tx}")
    naks = {lan: case.packets(lan, "NAK", src) for lan, src in (("rcv", RCV), ("src", RTR_UP))}
    for lan, got in naks.items():
        if not got or not all(is_parity(p) for p in got) or \
                {p["sqn"] for p in got} != PARITY_NAK_SQNS:
            problems.append(f"{case.name}: NAKs on the {lan} LAN "
                            f"{[(p['sqn'], p['opt_flags']) for p in got]}: want parity NAKs "
                            f"for {sorted(PARITY_NAK_SQNS)} only")
    ncf = case.packets("rcv", "NCF", dst=GROUP)
    if not ncf or not all(is_parity(p) for p in ncf):
        problems.append(f"{case.name}: NCFs from pgmd {ncf[:4]}: want parity NCFs")
    rdata = {lan: case.packets(lan, "RDATA") for lan in ("src", "rcv")}
    for lan, got in rdata.items():
        if len(got) != PARITY_NEEDED or not all(is_parity(p) for p in got):
            problems.append(f"{case.name}: RDATA on the {lan} LAN "
                            f"{[(p['sqn'], p['opt_flags']) for p in got]}: want "
                            f"{PARITY_NEEDED} parity RDATA")
    problems += netlab.mismatches(f"{case.name} counter", case.counters, {
        "OutParityNaks": len(naks["src"]), "OutParityNcfs": len(ncf),
        "OutParityRdata": len(rdata["rcv"]), "Malformed": 0})
    case.report()

    # 3. pgmsend on demand -> openpgm_recv: selective NAKs (OpenPGM never sends parity NAKs).
    case = Case(args, lab, sock, "ondemand-to-openpgm", openpgm_recv,
                pgmsend + ["--fec-ondemand"])
    problems += case.problems
    complete_openpgm(case)
    if case.tx.get("naks_received", 0) < 1 or case.tx.get("parity_naks_received") != 0:
        problems.append(f"{case.name}: want selective NAKs only: {case.tx}")
    selective_only(case, problems)
    if any(is_parity(p) for lan in ("src", "rcv") for p in case.ours[lan]):
        problems.append(f"{case.name}: parity packets: "
                        f"{parity_summary(case.ours['rcv'], is_parity)}")
    case.report()

    # 4. pgmsend proactive -> openpgm_recv: parity ODATA forwarded, ignored.
    case = Case(args, lab, sock, "proactive-to-openpgm", openpgm_recv,
                pgmsend + ["--fec-proactive", "2"])
    problems += case.problems
    complete_openpgm(case)
    if case.tx.get("parity_odata", 0) != COUNT // K * 2 or \
            case.tx.get("parity_naks_received") != 0:
        problems.append(f"{case.name}: want parity ODATA sent, no parity NAK: {case.tx}")
    # Parity packet j of group TG has sequence number TG | j: the bridge drops those in LOST.
    sent = {(tg | j) for tg in range(0, COUNT, K) for j in (0, 1)}
    for lan, want in (("src", sent), ("rcv", sent - set(LOST))):
        got = sorted(p["sqn"] for p in case.packets(lan, "ODATA", parity=True))
        if got != sorted(want):
            problems.append(f"{case.name}: parity ODATA on the {lan} LAN {got}, want "
                            f"{sorted(want)}")
    selective_only(case, problems)
    case.report()

    # 5. pgmsend proactive + on demand -> pgmrecv: rebuilt without selective repair.
    case = Case(args, lab, sock, "proactive-ondemand-to-pgmrecv", pgmrecv,
                pgmsend + ["--fec-proactive", "1", "--fec-ondemand"])
    problems += case.problems
    complete_pgmrecv(case)
    rx, tx = case.rx, case.tx
    if rx.get("parity_recovered") != len(LOST) or rx.get("naks_sent") != \
            rx.get("parity_naks_sent") or tx.get("naks_received") != 0:
        problems.append(f"{case.name}: want every loss rebuilt from parity, parity NAKs "
                        f"only: {rx} {tx}")
    if any(not is_parity(p) for p in case.packets("rcv", "NAK") + case.packets("rcv", "RDATA")):
        problems.append(f"{case.name}: a selective NAK or plain RDATA on the receiver LAN")
    case.report()

    if lab.stop_proc(pgmd) != 0:
        problems.append("pgmd did not exit 0 on SIGTERM")
    print(f"fec_interop: {len(problems)} problems")
    if problems:
        raise Failure("\n".join(problems))


def main():
    return netlab.lab_main("fec_interop", "pgfi", run,
                           ("pgmd", "pgmctl", "pgmdump", "pgmsend", "pgmrecv", "openpgm-send",
                            "openpgm-recv"),
                           needs=("ip", "nft", "tcpdump"),
                           add_args=lambda ap: ap.add_argument("--tshark", default="tshark"))


if __name__ == "__main__":
    sys.exit(main())
