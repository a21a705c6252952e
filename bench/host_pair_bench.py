#!/usr/bin/python3
"""host_pair_bench.py: pgmsend -> pgmrecv against OpenPGM tuned as its users tune it (issue 14).

Both pairs run in the same two network namespaces joined by one veth pair (the lab of
tests/integration/host_interop_test.py), one pair at a time and interleaved (host, OpenPGM,
host, ...), native PGM, N messages of 1000 bytes (the "PGMT" test format, verified by both
receivers), at each --losses percentage of random loss on the receiver's input (nftables,
every PGM packet type). Both senders are unpaced: offered as much as they take.

OpenPGM is tuned as its documentation and users tune it (the settings are printed with the
results): SO_RCVBUF 8 MiB on the receiver and the source (--openpgm-rcvbuf; the system
default of 212 KiB collapses the receiver under load and drops the source's NAKs), transmit and receive windows of 1,000,000 sequence numbers,
NAK_RPT_IVL and NAK_RDATA_IVL 100 ms, no rate limit (no application pacing, PGM_TXW_MAX_RTE
= --max-rate). The host pair gets the same windows and NAK intervals and its own defaults
otherwise (pgmrecv's SO_RCVBUF is 8 MiB by default too).

Measured per run:
  delivered/s  messages / (receiver exit - sender start - the sender's SPM start delay),
               the same formula for both pairs
  repairs      RDATA packets reaching the receiver's link (nftables counter, before loss)
  CPU/msg      (utime + stime) of the sender and of the receiver (wait4 rusage) / messages
  ok           every message delivered in order, no unrecoverable loss

Usage (root): host_pair_bench.py --pgmsend P --pgmrecv P --openpgm-send P --openpgm-recv P
              [--count N] [--repeat R] [--losses 0,1,5] [--markdown]
Prints one JSON line per run and, with --markdown, a table of medians over --repeat runs
and the ratios host/OpenPGM.
"""


import argparse
import importlib.util
import json
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "host_interop", os.path.join(HERE, "..", "tests", "integration", "host_interop_test.py"))
hi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hi)

START_DELAY = 0.3  # both senders announce the session with SPMs for this long
SIZE = 1000


def set_loss_and_counter(lab, percent):
    lab.sh("ip", "netns", "exec", lab.ns_r, "nft", "delete", "table", "ip", "hostbench",
           check=False)
    drop = f"ip protocol 113 numgen random mod 100 < {percent} drop" if percent > 0 else ""
    rules = f"""table ip hostbench {{
    chain in {{
        type filter hook input priority 0; policy accept;
        ip protocol 113 @th,32,8 0x05 counter
        {drop}
    }}
}}
"""
    lab.sh("ip", "netns", "exec", lab.ns_r, "nft", "-f", "-", input_text=rules)


def rdata_counter(lab):
    r = lab.sh("ip", "netns", "exec", lab.ns_r, "nft", "-j", "list", "table", "ip", "hostbench")
    for item in json.loads(r.stdout)["nftables"]:
        rule = item.get("rule")
        if rule:
            for e in rule["expr"]:
                if "counter" in e:
                    return e["counter"]["packets"]
    return None


def socket_drops(lab, ns):
    """Packets the kernel dropped at the raw (protocol 113) sockets still open in ns: a full
    receive buffer (the last column of /proc/net/raw)."""
    r = lab.sh("ip", "netns", "exec", ns, "cat", "/proc/net/raw")
    drops = 0
    for line in r.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 12 and fields[1].endswith(":0071"):
            drops += int(fields[-1])
    return drops


def wait_rusage(p, timeout):
    """Waits for p (bounded) and returns (exit status, CPU seconds of utime + stime)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, ru.ru_utime + ru.ru_stime
        time.sleep(0.01)
    p.kill()
    pid, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


def run(lab, a, pair, loss, index):
    set_loss_and_counter(lab, loss)
    port = str(7700 + index)
    ready = os.path.join(lab.tmp, f"bench{index}.ready")
    n = str(a.count)
    if pair == "host":
        rx_argv = [a.pgmrecv, "-i", hi.ADDR_R, "--port", port, "--count", n, "--verify",
                   "--quiet", "--json", "--timeout", str(a.timeout), "--ready-file", ready,
                   "--rxw-sqns", str(a.window), "--nak-rpt-ivl-ms", str(a.nak_ivl_ms),
                   "--nak-rdata-ivl-ms", str(a.nak_ivl_ms)]
        tx_argv = [a.pgmsend, "-i", hi.ADDR_S, "--port", port, "--count", n, "--size",
                   str(SIZE), "--rate", str(a.max_rate), "--start-delay", str(START_DELAY),
                   "--txw-sqns", str(a.window), "--linger", "120", "--json", "--quiet"] + a.pgmsend_extra.split()
    else:
        rx_argv = [a.openpgm_recv, "--network", f"{hi.ADDR_R};{hi.GROUP}", "--port", port,
                   "--count", n, "--timeout-ms", str(a.timeout * 1000), "--rxw-sqns",
                   str(a.window), "--nak-rpt-ivl-ms", str(a.nak_ivl_ms), "--nak-rdata-ivl-ms",
                   str(a.nak_ivl_ms), "--quiet", "--gsi", "2", "--ready-file", ready]
        if a.openpgm_rcvbuf:
            rx_argv += ["--rcvbuf", str(a.openpgm_rcvbuf)]
        tx_argv = [a.openpgm_send, "--network", f"{hi.ADDR_S};{hi.GROUP}", "--port", port,
                   "--count", n, "--size", str(SIZE), "--rate-bps", str(a.openpgm_rate_bps),
                   "--max-rte", str(a.openpgm_max_rte), "--txw-sqns", str(a.window),
                   "--start-delay-ms", str(int(START_DELAY * 1000)), "--linger-ms", "120000",
                   "--gsi", "1", "--quiet"]
        if a.openpgm_serve_every > 1:
            tx_argv += ["--serve-every", str(a.openpgm_serve_every)]
        if a.openpgm_sndbuf:
            tx_argv += ["--sndbuf", str(a.openpgm_sndbuf)]
        if a.openpgm_rcvbuf:  # the source's NAKs too: the 212 KiB default drops them
            tx_argv += ["--rcvbuf", str(a.openpgm_rcvbuf)]
    rx = lab.start(f"bench{index}.recv", lab.ns_r, rx_argv)
    if not hi.wait_until(lambda: os.path.exists(ready) or rx.poll() is not None, 10,
                         "the receiver") or not os.path.exists(ready):
        raise RuntimeError("receiver did not start: " + lab.output(f"bench{index}.recv")[1])
    t0 = time.monotonic()
    tx = lab.start(f"bench{index}.send", lab.ns_s, tx_argv)
    rx_rc, rx_cpu = wait_rusage(rx, a.timeout + 10)
    t1 = time.monotonic()
    repairs = rdata_counter(lab)
    sender_drops = socket_drops(lab, lab.ns_s)
    tx.send_signal(signal.SIGTERM)
    tx_rc, tx_cpu = wait_rusage(tx, 15)
    rx_out, rx_err = lab.output(f"bench{index}.recv")
    rj = hi.last_json(rx_out) or {}
    delivered = rj.get("delivered", rj.get("received", 0))
    unrecoverable = rj.get("unrecoverable_losses", rj.get("unrecoverable", 0))
    secs = max(1e-9, t1 - t0 - START_DELAY)
    result = {
        "pair": pair, "loss": loss, "messages": a.count, "size": SIZE,
        "delivered": delivered, "in_order": rj.get("in_order"),
        "unrecoverable": unrecoverable,
        "ok": rx_rc == 0 and delivered == a.count and unrecoverable == 0,
        "delivered_per_sec": round(delivered / secs),
        "seconds": round(secs, 3),
        "repairs": repairs,
        "sender_socket_drops": sender_drops,
        "sender_cpu_us_per_msg": round(tx_cpu / a.count * 1e6, 2),
        "receiver_cpu_us_per_msg": round(rx_cpu / a.count * 1e6, 2),
        "receiver_exit": rx_rc, "sender_exit": tx_rc,
    }
    if pair == "host":
        result["receiver_summary"] = rj
        result["sender_summary"] = hi.last_json(lab.output(f"bench{index}.send")[0]) or {}
    if not result["ok"]:
        result["receiver_stderr"] = rx_err[-400:]
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgmsend", required=True)
    ap.add_argument("--pgmrecv", required=True)
    ap.add_argument("--openpgm-send", required=True)
    ap.add_argument("--openpgm-recv", required=True)
    ap.add_argument("--count", type=int, default=200000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-rate", type=int, default=1_000_000_000,
                    help="rate cap in bytes/s for both senders (default: effectively none)")
    ap.add_argument("--openpgm-rate-bps", type=int, default=0,
                    help="openpgm_send's payload pacing in bit/s (0: unpaced)")
    ap.add_argument("--openpgm-max-rte", type=int, default=0,
                    help="openpgm_send's PGM_TXW_MAX_RTE in bytes/s (0: off, no rate limit)")
    ap.add_argument("--openpgm-serve-every", type=int, default=1,
                    help="openpgm_send reads NAKs (pgm_recv) after every N messages")
    ap.add_argument("--openpgm-rcvbuf", type=int, default=8 << 20,
                    help="SO_RCVBUF of openpgm_recv and openpgm_send (NAKs) in bytes (0: the "
                    "system default)")
    ap.add_argument("--openpgm-sndbuf", type=int, default=0,
                    help="openpgm_send's SO_SNDBUF in bytes (0: the system default)")
    ap.add_argument("--window", type=int, default=1_000_000,
                    help="TXW_SQNS and RXW_SQNS of both pairs")
    ap.add_argument("--nak-ivl-ms", type=int, default=100,
                    help="NAK_RPT_IVL and NAK_RDATA_IVL of both receivers")
    ap.add_argument("--timeout", type=int, default=60, help="receiver timeout in seconds")
    ap.add_argument("--pairs", default="host,openpgm")
    ap.add_argument("--pgmsend-extra", default="", help="more pgmsend arguments (space-separated)")
    ap.add_argument("--losses", default="0,1,5")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    for opt in ("pgmsend", "pgmrecv", "openpgm_send", "openpgm_recv"):
        setattr(a, opt, os.path.abspath(getattr(a, opt)))
    if os.geteuid() != 0:
        print("host_pair_bench: needs root", file=sys.stderr)
        return 77
    signal.signal(signal.SIGTERM, hi._on_term)
    import tempfile
    import shutil
    tmp = tempfile.mkdtemp(prefix="host_pair_bench.")
    lab = hi.Lab(tmp)
    for knob in ("rmem_max", "wmem_max"):  # what OpenPGM's users raise for their buffers
        path = f"/proc/sys/net/core/{knob}"
        if int(open(path).read()) < 16 << 20:
            with open(path, "w") as f:
                f.write(str(16 << 20))
    results = []
    settings = {"settings": {"count": a.count, "size": SIZE, "window_sqns": a.window,
                             "nak_rpt_rdata_ivl_ms": a.nak_ivl_ms, "max_rate": a.max_rate,
                             "openpgm_rate_bps": a.openpgm_rate_bps,
                             "openpgm_max_rte": a.openpgm_max_rte,
                             "openpgm_rcvbuf": a.openpgm_rcvbuf,
                             "openpgm_sndbuf": a.openpgm_sndbuf,
                             "rmem_max": open("/proc/sys/net/core/rmem_max").read().strip(),
                             "wmem_max": open("/proc/sys/net/core/wmem_max").read().strip()}}
    print(json.dumps(settings), flush=True)
    try:
        lab.setup()
        for ns in (lab.ns_s, lab.ns_r):  # namespaced sysctls on this kernel
            lab.sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"net.core.rmem_max={16 << 20}",
                   f"net.core.wmem_max={16 << 20}", check=False)
        index = 0
        for loss in [int(x) for x in a.losses.split(",")]:
            for _ in range(a.repeat):
                for pair in a.pairs.split(","):  # interleaved: same conditions for both
                    r = run(lab, a, pair, loss, index)
                    index += 1
                    print(json.dumps(r), flush=True)
                    results.append(r)
    finally:
        lab.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    if a.markdown:
        def med(pair, loss, key):
            v = [r[key] for r in results if r["pair"] == pair and r["loss"] == loss]
            return statistics.median(v) if v else float("nan")

        print("\n| loss | pair | delivered msg/s | repairs | sender CPU µs/msg | "
              "receiver CPU µs/msg | all runs ok |")
        print("|---|---|---|---|---|---|---|")
        for loss in [int(x) for x in a.losses.split(",")]:
            for pair in ("host", "openpgm"):
                oks = all(r["ok"] for r in results if r["pair"] == pair and r["loss"] == loss)
                print(f"| {loss} % | {pair} | {med(pair, loss, 'delivered_per_sec'):.0f} | "
                      f"{med(pair, loss, 'repairs'):.0f} | "
                      f"{med(pair, loss, 'sender_cpu_us_per_msg'):.2f} | "
                      f"{med(pair, loss, 'receiver_cpu_us_per_msg'):.2f} | {oks} |")
            h, o = med("host", loss, "delivered_per_sec"), med("openpgm", loss, "delivered_per_sec")
            hs = med("host", loss, "sender_cpu_us_per_msg")
            os_ = med("openpgm", loss, "sender_cpu_us_per_msg")
            hr = med("host", loss, "receiver_cpu_us_per_msg")
            or_ = med("openpgm", loss, "receiver_cpu_us_per_msg")
            print(f"| {loss} % | **host / OpenPGM** | **{h / o:.2f}x** | | {hs / os_:.2f}x | "
                  f"{hr / or_:.2f}x | |")
    return 0 if all(r["ok"] for r in results if r["pair"] == "host") else 1


if __name__ == "__main__":
    sys.exit(main())
