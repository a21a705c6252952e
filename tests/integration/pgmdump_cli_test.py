#!/usr/bin/python3
"""pgmdump_cli_test.py: pgmdump's command line, exit codes and behaviour on bad input.

  * bad arguments exit 2 with a message and the usage;
  * a missing or unreadable file, or a missing interface, exit 1 with a clear message;
  * a pcap of broken frames (make_reference_pcap --bad: truncated link header, IP
    fragment, bad UDP checksum, truncated and garbage PGM, ...) prints every frame with
    the expected error layer and reason, carries on to the good packet at the end, prints
    the summary and exits 0, in JSON and in text;
  * -c, --udp-port and a filter expression do what they say;
  * live capture on the loopback (root only, announced when not run): a UDP-encapsulated
    SPMR sent to 127.0.0.1 is printed, and SIGINT/SIGTERM stop pgmdump with exit 0.
Exit status: 0 all checks passed, 1 otherwise.
"""

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def expect(self, what, expected, got):
        self.count += 1
        if expected != got:
            self.failures.append((what, expected, got))

    def finish(self):
        print(f"pgmdump_cli_test: {self.count} checks")
        if not self.failures:
            print("pgmdump_cli_test: PASS")
            return 0
        print(f"pgmdump_cli_test: FAIL, {len(self.failures)} failures")
        for what, expected, got in self.failures:
            print(f"  {what}\n    expected: {expected!r}\n    got:      {got!r}")
        return 1


def pgmdump(binary, *args, timeout=30):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def check_arguments(c, binary, pcap):
    bad = {
        "no arguments": [],
        "both -r and -i": ["-r", pcap, "-i", "lo"],
        "unknown option": ["-r", pcap, "--bogus"],
        "missing option value": ["-r"],
        "udp port 0": ["-r", pcap, "--udp-port", "0"],
        "udp port 65536": ["-r", pcap, "--udp-port", "65536"],
        "udp port not a number": ["-r", pcap, "--udp-port", "abc"],
        "count 0": ["-r", pcap, "-c", "0"],
        "count negative": ["-r", pcap, "-c", "-3"],
        "bad filter expression": ["-r", pcap, "host and and"],
    }
    for name, args in bad.items():
        r = pgmdump(binary, *args)
        c.expect(f"{name}: exit code", EXIT_USAGE, r.returncode)
        c.expect(f"{name}: message on stderr", True, r.stderr.startswith("pgmdump: "))
        c.expect(f"{name}: nothing on stdout", "", r.stdout)
    r = pgmdump(binary, "--help")
    c.expect("--help: exit code", EXIT_OK, r.returncode)
    c.expect("--help: usage on stdout", True, "usage: pgmdump" in r.stdout)


def check_runtime_errors(c, binary, workdir):
    missing = os.path.join(workdir, "no-such-file.pcap")
    r = pgmdump(binary, "-r", missing)
    c.expect("missing file: exit code", EXIT_RUNTIME, r.returncode)
    c.expect("missing file: message names the file", True,
             missing in r.stderr and "No such file" in r.stderr)
    not_pcap = os.path.join(workdir, "not-a-pcap.pcap")
    with open(not_pcap, "w", encoding="ascii") as f:
        f.write("this is not a capture file\n")
    r = pgmdump(binary, "-r", not_pcap)
    c.expect("not a pcap: exit code", EXIT_RUNTIME, r.returncode)
    c.expect("not a pcap: message", True, r.stderr.startswith("pgmdump: cannot read"))
    wifi = os.path.join(workdir, "ieee802_11.pcap")
    with open(wifi, "wb") as f:  # pcap header, link type 105 (802.11), one 4-byte frame
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 105))
        f.write(struct.pack("<IIII", 0, 0, 4, 4) + b"\0\0\0\0")
    r = pgmdump(binary, "-r", wifi)
    c.expect("unsupported link type: exit code", EXIT_RUNTIME, r.returncode)
    c.expect("unsupported link type: message", True, "not supported" in r.stderr)
    r = pgmdump(binary, "-i", "nosuchif0")
    c.expect("missing interface: exit code", EXIT_RUNTIME, r.returncode)
    c.expect("missing interface: message", True,
             "nosuchif0" in r.stderr and ("no such interface" in r.stderr
                                          or "permission denied" in r.stderr))


def check_bad_packets(c, binary, pcap, manifest):
    r = pgmdump(binary, "-r", pcap, "--json")
    c.expect("bad pcap: exit code", EXIT_OK, r.returncode)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    c.expect("bad pcap: one line per frame", [m["frame"] for m in manifest],
             [d["frame"] for d in lines])
    for m, d in zip(manifest, lines):
        name = f"bad pcap frame {m['frame']} ({m['name']})"
        if m["expect"] == "ok":
            c.expect(f"{name}: no error", None, d.get("error"))
            c.expect(f"{name}: decoded", "SPM", d.get("type"))
            continue
        c.expect(f"{name}: has an error", True, isinstance(d.get("error"), str))
        for key in ("error_layer", "error"):
            if key in m:
                c.expect(f"{name}: {key}", m[key], d.get(key))
        if d.get("error_layer") in ("link", "pgm"):
            c.expect(f"{name}: error_offset", True, isinstance(d.get("error_offset"), int))
    c.expect("bad pcap: summary on stderr", True,
             f"pgmdump: {len(manifest)} packets read" in r.stderr and "errors: " in r.stderr)
    text = pgmdump(binary, "-r", pcap)
    c.expect("bad pcap text: exit code", EXIT_OK, text.returncode)
    text_lines = text.stdout.splitlines()
    c.expect("bad pcap text: line count", len(manifest), len(text_lines))
    c.expect("bad pcap text: errors shown", len(manifest) - 1,
             sum(" ERROR " in line for line in text_lines))


def check_options(c, binary, pcap, manifest):
    r = pgmdump(binary, "-r", pcap, "--json", "-c", "3")
    c.expect("-c 3: lines", 3, len(r.stdout.splitlines()))
    # Frame numbers are those of the file even when a filter hides frames.
    r = pgmdump(binary, "-r", pcap, "--json", "host 10.0.2.10")
    want = [m["frame"] for m in manifest if "10.0.2.10" in (m["ip_src"], m["ip_dst"])]
    c.expect("filter 'host 10.0.2.10' (VLAN-tagged frame included)", want,
             [json.loads(line)["frame"] for line in r.stdout.splitlines()])
    # UDP on another port is not PGM: nothing UDP is shown.
    r = pgmdump(binary, "-r", pcap, "--json", "--udp-port", "4000")
    encaps = {json.loads(line)["encap"] for line in r.stdout.splitlines()}
    c.expect("--udp-port 4000: no UDP packet", {"native"}, encaps)
    r = pgmdump(binary, "-r", pcap, "--json", "--udp-port", "4000", "--udp-port", "3055")
    c.expect("--udp-port 4000 --udp-port 3055: all packets", len(manifest),
             len(r.stdout.splitlines()))


def pgm_spmr():
    """A 16-byte SPMR with a valid PGM checksum."""
    header = bytearray(b"\x1d\x4c\x9c\x40\x0c\x00\x00\x00\x0a\x0b\x0c\x0d\x0e\x0f\x00\x00")
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, 16, 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    header[6:8] = ((~total & 0xFFFF) or 0xFFFF).to_bytes(2, "big")
    return bytes(header)


def check_live(c, binary):
    if os.geteuid() != 0:
        print("pgmdump_cli_test: NOTE: live capture checks NOT RUN (they need root)")
        return
    # Own transmissions on lo carry an unfinished UDP checksum: hence --no-checksum. The
    # filter on the sender's port keeps other traffic on lo out of the way.
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    port = sender.getsockname()[1]
    proc = subprocess.Popen([binary, "-i", "lo", "--json", "-c", "1", "--no-checksum",
                             f"udp src port {port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        sender.sendto(pgm_spmr(), ("127.0.0.1", 3055))
        time.sleep(0.1)
    sender.close()
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    c.expect("live: exit code after -c 1", EXIT_OK, proc.returncode)
    first = json.loads(out.splitlines()[0]) if out.strip() else {}
    c.expect("live: SPMR seen", ("SPMR", "udp", "127.0.0.1"),
             (first.get("type"), first.get("encap"), first.get("ip_src")))
    c.expect("live: summary", True, "packets read" in err)
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = subprocess.Popen([binary, "-i", "lo"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        name = signal.Signals(sig).name
        c.expect(f"live: {name} exit code", EXIT_OK, proc.returncode)
        c.expect(f"live: {name} stops within 2 s", True, time.monotonic() - started < 2)
        c.expect(f"live: {name} summary", True, "packets read" in err)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", required=True, help="make_reference_pcap")
    parser.add_argument("--pgmdump", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    def generate(kind):
        pcap = os.path.join(args.workdir, f"{kind}.pcap")
        manifest = os.path.join(args.workdir, f"{kind}.json")
        subprocess.run([args.generator, f"--{kind}", pcap, manifest], check=True)
        with open(manifest, encoding="utf-8") as f:
            return pcap, json.load(f)["packets"]

    bad_pcap, bad_manifest = generate("bad")
    reference_pcap, reference_manifest = generate("reference")
    c = Checks()
    check_arguments(c, args.pgmdump, reference_pcap)
    check_runtime_errors(c, args.pgmdump, args.workdir)
    check_bad_packets(c, args.pgmdump, bad_pcap, bad_manifest)
    check_options(c, args.pgmdump, reference_pcap, reference_manifest)
    check_live(c, args.pgmdump)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
