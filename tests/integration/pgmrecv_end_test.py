#!/usr/bin/python3
"""pgmrecv_end_test: pgmrecv without --count ends with the session it receives, not with
another one's FIN (issue 15).

Two network namespaces joined by a veth pair (host_interop_test.Lab). pgmrecv (no --count)
listens on GROUP:PORT; source A (pgmsend, its own GSI) sends a slow stream there; once
pgmrecv has A's data, source B (another GSI, same GROUP:PORT) sends a few messages and ends
with OPT_FIN. pgmrecv must still be running once B's session has ended (FIN and linger
past); then A ends (its last message, FIN) and pgmrecv must exit 0 by itself, having
reported A's session ended.

Every wait is bounded; processes and namespaces are removed in `finally`. Needs root
(exit 77 = skipped otherwise).

Usage: pgmrecv_end_test.py --pgmsend P --pgmrecv P
"""
import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("host_interop",
                                              os.path.join(HERE, "host_interop_test.py"))
hi = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hi)

PORT = "7900"
FIN_LINGER = "0.5"  # pgmrecv --fin-linger: how long an ended session waits for repairs


def log(msg):
    print(f"pgmrecv_end: {msg}", file=sys.stderr, flush=True)


def err_of(tmp, name):
    try:
        with open(os.path.join(tmp, f"{name}.err"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pgmsend", required=True)
    ap.add_argument("--pgmrecv", required=True)
    a = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        log("needs root and ip (network namespaces, raw sockets); skipped")
        return 77
    tmp = tempfile.mkdtemp(prefix="pgmrecv_end.")
    lab = hi.Lab(tmp)
    problems = []
    try:
        lab.setup()
        ready = os.path.join(tmp, "rx.ready")
        rx = lab.start("rx", lab.ns_r,
                       [os.path.abspath(a.pgmrecv), "-i", hi.ADDR_R, "-g", hi.GROUP, "--port",
                        PORT, "--timeout", "30", "--fin-linger", FIN_LINGER, "--ready-file",
                        ready])
        if not hi.wait_until(lambda: os.path.exists(ready), 10, "pgmrecv"):
            raise RuntimeError("pgmrecv did not start: " + err_of(tmp, "rx"))

        def send(name, gsi, extra):
            return lab.start(name, lab.ns_s,
                             [os.path.abspath(a.pgmsend), "-i", hi.ADDR_S, "-g", hi.GROUP,
                              "--port", PORT, "--gsi", gsi, "--start-delay", "0.1"] + extra)

        # A: 200 messages of 100 bytes at about 30 a second: 6.5 s, ended by its FIN.
        tx_a = send("a", "0000000000aa", ["--size", "100", "--count", "200", "--rate",
                                          "3000", "--linger", "0.2"])
        # The generated messages are binary: the size of pgmrecv's output counts them.
        if not hi.wait_until(lambda: os.path.getsize(os.path.join(tmp, "rx.out")) >= 300, 10,
                             "A's first messages at pgmrecv"):
            problems.append("pgmrecv got no data from A")
        else:
            tx_b = send("b", "0000000000bb", ["--size", "100", "--count", "3", "--linger",
                                              "0.2"])
            b_rc = lab.stop(tx_b, timeout=15) if not hi.wait_until(
                lambda: tx_b.poll() is not None, 15, "B's end") else tx_b.returncode
            if b_rc != 0:
                problems.append(f"B exit {b_rc}: {err_of(tmp, 'b')[-300:]}")
            # B's FIN has arrived and its linger (0.5 s) passed well within this.
            time.sleep(2.0)
            if rx.poll() is not None:
                problems.append(f"pgmrecv exited ({rx.returncode}) when B, another source on "
                                f"the same group:port, ended: {err_of(tmp, 'rx')[-500:]}")
            if tx_a.poll() is not None:
                problems.append("A ended before B's end was checked: too fast for this test")
            if not hi.wait_until(lambda: tx_a.poll() is not None, 20, "A's end"):
                problems.append("A did not end")
            if rx.poll() is None and not hi.wait_until(lambda: rx.poll() is not None, 10,
                                                       "pgmrecv's end after A's FIN"):
                problems.append("pgmrecv did not end when A, its session, ended")
            elif rx.returncode not in (0, None) and not problems:
                problems.append(f"pgmrecv exit {rx.returncode} after A ended: "
                                f"{err_of(tmp, 'rx')[-500:]}")
            err = err_of(tmp, "rx")
            if not problems and "session 000000000000aa" not in err and \
                    "session 0000000000aa" not in err:
                problems.append(f"pgmrecv did not report A's session ended: {err[-500:]}")
    finally:
        lab.cleanup()
        for name in ("rx", "a", "b"):
            log(f"{name} stderr: {err_of(tmp, name)[-400:]!r}")
        shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        log("FAIL " + p)
    log("ok" if not problems else f"{len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
