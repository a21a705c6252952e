#!/usr/bin/python3
"""host_loss_test.py: pgmsend -> pgmrecv, unpaced, under random loss: nothing unrecoverable.

Issue 14, part 1 ("no data loss the protocol can avoid"). Two network namespaces joined by
one veth pair (the lab of host_interop_test.py); random loss of every PGM packet entering the
receiver (nftables `numgen random`, input hook: ODATA, RDATA, SPM and NCF alike). For each
loss rate, pgmsend sends --count messages of 1000 bytes as fast as it can (--rate 1e9: the
socket and the source's window back-pressure pace it) and pgmrecv --verify must deliver every
one, in order, intact, with 0 unrecoverable sequence numbers; at a loss above 0 it must have
NAKed and received repairs. Also reports, per case, the delivered rate, the receiver's kernel
drops (RcvbufErrors from /proc/net/snmp of its namespace) and the sender's window stalls.

The receive-buffer limits (net.core.rmem_max / wmem_max) are namespaced: they are raised in
the two test namespaces only, so that the tools' SO_RCVBUF/SO_SNDBUF requests are not clamped
(the tools warn when they are).

Every wait is bounded; every process started is stopped and the namespaces deleted in
`finally`. Needs root (exit 77 = skipped otherwise) and nft.

A last case runs 5 % loss with windows far smaller than the run (pgmsend --txw-sqns 16384,
pgmrecv --rxw-sqns 8192): the source's back-pressure and the receiver's refusal at its bound
must still lose nothing.

A loss case also fails when the repairs are multiplied: more than twice as many RDATA sent
as sequences the receiver missed, or duplicates beyond half of them (a source reading its
NAKs late, or a receiver repeating NAKs whose replies wait unread in its socket).

Usage: host_loss_test.py --pgmsend P --pgmrecv P [--count N] [--small-windows-count N]
                         [--loss 1,5] [--timeout S] [--no-small-windows] [--keep-tmp]
"""

import argparse
import importlib.util
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from netlab import Terminate, last_json  # noqa: E402
from netlab import raise_terminate as _on_term  # noqa: E402

spec = importlib.util.spec_from_file_location("host_interop",
                                              os.path.join(HERE, "host_interop_test.py"))
hi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hi)

SIZE = 1000
BUFFER = 16 * 1024 * 1024  # what the namespaces' rmem_max/wmem_max are raised to


def log(msg):
    print(f"host_loss: {msg}", file=sys.stderr, flush=True)


def rcvbuf_errors(lab):
    """Udp/Ip RcvbufErrors are UDP-only; raw sockets count drops in /proc/net/raw's "drops"
    column. Returns the sum of both in the receiver's namespace."""
    total = 0
    r = lab.sh("ip", "netns", "exec", lab.ns_r, "cat", "/proc/net/snmp", check=False)
    lines = [ln.split() for ln in r.stdout.splitlines() if ln.startswith("Udp:")]
    if len(lines) == 2 and "RcvbufErrors" in lines[0]:
        total += int(lines[1][lines[0].index("RcvbufErrors")])
    r = lab.sh("ip", "netns", "exec", lab.ns_r, "cat", "/proc/net/raw", check=False)
    for ln in r.stdout.splitlines()[1:]:
        f = ln.split()
        if f:
            total += int(f[-1])
    return total


def run_case(lab, a, loss, index, count, tx_extra=(), rx_extra=()):
    lab.set_loss(loss, 3999)
    port = str(7800 + index)
    ready = os.path.join(lab.tmp, f"loss{index}.ready")
    n = str(count)
    rx_argv = [a.pgmrecv, "-i", hi.ADDR_R, "-g", hi.GROUP, "--port", port, "--count", n,
               "--verify", "--quiet", "--json", "--timeout", str(a.timeout), "--ready-file",
               ready] + list(rx_extra)
    tx_argv = [a.pgmsend, "-i", hi.ADDR_S, "-g", hi.GROUP, "--port", port, "--count", n,
               "--size", str(SIZE), "--rate", "1000000000", "--start-delay", "0.3",
               "--linger", str(a.timeout), "--json", "--quiet"] + list(tx_extra)
    drops_before = rcvbuf_errors(lab)
    rx = lab.start(f"loss{index}.recv", lab.ns_r, rx_argv)
    if not hi.wait_until(lambda: os.path.exists(ready) or rx.poll() is not None, 10,
                         "the receiver") or not os.path.exists(ready):
        return False, "receiver did not start: " + lab.output(f"loss{index}.recv")[1][-500:]
    t0 = time.monotonic()
    tx = lab.start(f"loss{index}.send", lab.ns_s, tx_argv)
    try:
        rx_rc = rx.wait(timeout=a.timeout + 10)
    except Exception:  # subprocess.TimeoutExpired: the receiver's own --timeout failed
        rx_rc = lab.stop(rx)
    secs = max(1e-9, time.monotonic() - t0 - 0.3)
    tx_rc = lab.stop(tx)  # SIGTERM ends the linger: FIN, exit 0
    rx_out, rx_err = lab.output(f"loss{index}.recv")
    tx_out, tx_err = lab.output(f"loss{index}.send")
    rj, tj = last_json(rx_out) or {}, last_json(tx_out) or {}
    result = {
        "loss": loss, "messages": count, "delivered": rj.get("delivered"),
        "unrecoverable": rj.get("unrecoverable_losses"), "in_order": rj.get("in_order"),
        "delivered_per_sec": round((rj.get("delivered") or 0) / secs),
        "naks_sent": rj.get("nak_sqns_sent"), "rdata": rj.get("rdata"),
        "kernel_drops": rcvbuf_errors(lab) - drops_before,
        "sender_rdata": tj.get("rdata"), "sender_naks_too_late": tj.get("naks_too_late"),
        "sender_window_stalls": tj.get("window_stalls"),
        "window_refused": rj.get("window_refused"), "duplicates": rj.get("duplicates"),
        "sender_rx_queue_delay_mean_ms": tj.get("rx_queue_delay_mean_ms"),
        "receiver_exit": rx_rc, "sender_exit": tx_rc,
    }
    problems = []
    if rx_rc != 0:
        problems.append(f"receiver exit {rx_rc}")
    if tx_rc != 0:
        problems.append(f"sender exit {tx_rc}")
    if rj.get("delivered") != count:
        problems.append(f"{rj.get('delivered')} of {count} messages")
    if not rj.get("in_order", False) or rj.get("bad", 0) or rj.get("first_seq") != 0:
        problems.append("not every message in order and intact")
    if rj.get("unrecoverable_losses", 1) != 0:
        problems.append(f"{rj.get('unrecoverable_losses')} unrecoverable")
    if loss > 0 and not (rj.get("nak_sqns_sent", 0) > 0 and rj.get("rdata", 0) > 0):
        problems.append("no NAKs or no repairs at a loss above 0")
    # Each loss needs about one RDATA (a few more when the RDATA or NCF is lost too). A
    # source that reads its NAKs late, or a receiver that repeats NAKs whose reply is unread
    # in its socket, multiplies them (4-12 x before the fix, with as many duplicates).
    needed = count - rj.get("odata", 0) + rj.get("window_refused", 0)
    if loss > 0 and (tj.get("rdata") or 0) > 2 * needed + 100:
        problems.append(f"{tj.get('rdata')} RDATA sent for about {needed} sequences missed")
    if loss > 0 and (rj.get("duplicates") or 0) > needed // 2 + 100:
        problems.append(f"{rj.get('duplicates')} duplicate repairs received")
    detail = json.dumps(result)
    if problems:
        detail = "; ".join(problems) + ": " + detail + " receiver stderr: " + rx_err[-600:] + \
            " sender stderr: " + tx_err[-300:]
    return not problems, detail


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgmsend", required=True)
    ap.add_argument("--pgmrecv", required=True)
    ap.add_argument("--count", type=int, default=200000,
                    help="messages per loss case (the repair multiplication the check below "
                    "catches showed at 200,000, not at 50,000)")
    ap.add_argument("--small-windows-count", type=int, default=50000)
    ap.add_argument("--loss", default="1,5", help="comma-separated loss percentages")
    ap.add_argument("--timeout", type=int, default=25, help="seconds per case (receiver)")
    ap.add_argument("--no-small-windows", action="store_true",
                    help="skip the case with windows far smaller than the run")
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args()
    for opt in ("pgmsend", "pgmrecv"):
        path = getattr(a, opt)
        if not os.access(path, os.X_OK):
            log(f"--{opt}: not an executable: {path}")
            return 2
        setattr(a, opt, os.path.abspath(path))
    if os.geteuid() != 0:
        log("needs root (network namespaces, raw sockets); skipping")
        return 77
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            log(f"'{tool}' not found; skipping")
            return 77
    losses = [float(x) if "." in x else int(x) for x in a.loss.split(",") if x]
    # (label, loss, pgmsend options, pgmrecv options). The last case makes both windows far
    # smaller than the run, so that the source's back-pressure (a full window waits for its
    # NAKed packets) and the receiver's refusal at its bound are what keeps every message.
    cases = [(f"{loss} % loss", loss, a.count, (), ()) for loss in losses]
    if not a.no_small_windows:
        cases.append(("5 % loss, txw 16384, rxw 8192", 5, a.small_windows_count,
                      ("--txw-sqns", "16384"), ("--rxw-sqns", "8192")))

    signal.signal(signal.SIGTERM, _on_term)
    tmp = tempfile.mkdtemp(prefix="host_loss.")
    lab = hi.Lab(tmp)
    failed = []
    t0 = time.monotonic()
    try:
        lab.setup()
        for ns in (lab.ns_s, lab.ns_r):  # namespaced sysctls: the host is not touched
            lab.sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                   f"net.core.rmem_max={BUFFER}", f"net.core.wmem_max={BUFFER}", check=False)
        for i, (label, loss, count, tx_extra, rx_extra) in enumerate(cases):
            start = time.monotonic()
            ok, detail = run_case(lab, a, loss, i, count, tx_extra, rx_extra)
            log(f"{'ok  ' if ok else 'FAIL'} {label} ({time.monotonic() - start:.1f} s): "
                f"{detail}")
            print(f"RESULT {label}: {'ok' if ok else 'FAIL'}", flush=True)
            if not ok:
                failed.append(label)
    except Terminate:
        log("terminated")
        failed.append("terminated")
    finally:
        lab.cleanup()
        if a.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(failed)} failed, {time.monotonic() - t0:.1f} s" +
        (": " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
