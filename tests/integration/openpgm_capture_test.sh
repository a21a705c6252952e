#!/usr/bin/env bash
# openpgm_capture_test.sh: capture real OpenPGM traffic with repairs and check that
# pgmdump decodes all of it.
#
# Usage (as root):
#   openpgm_capture_test.sh PGMDUMP OPENPGM_SEND OPENPGM_RECV
#   openpgm_capture_test.sh --zmq PGMDUMP
#   PGMDUMP may be "none": then only tshark checks the capture (for use without pgmdump).
#
# Runs openpgm_capture.sh (native PGM and UDP-encapsulated on port 3055, ~5 % loss at
# the receiver), or with --zmq zmq_capture.py (ZeroMQ epgm:// PUB -> SUB, UDP port
# 3055), then for each capture asserts:
#   (a) pgmdump -r FILE --json [--udp-port 3055] prints one JSON object per packet and
#       none of them has an "error";
#   (b) SPM, ODATA, NAK, NCF and RDATA all appear;
#   (c) if tshark is installed: its per-type packet counts equal pgmdump's, and every
#       PGM checksum is good.
# Exit: 0 pass, 1 fail, 77 skipped (not root; --zmq: no python3-zmq with PGM).
set -euo pipefail

MODE=openpgm
if [ "${1:-}" = --zmq ]; then
    MODE=zmq
    shift
    [ $# -eq 1 ] || { echo "usage: $0 --zmq PGMDUMP|none" >&2; exit 2; }
    PGMDUMP=$1
else
    if [ $# -ne 3 ]; then
        echo "usage: $0 PGMDUMP|none OPENPGM_SEND OPENPGM_RECV" >&2
        echo "       $0 --zmq PGMDUMP|none" >&2
        exit 2
    fi
    PGMDUMP=$1
    SEND_BIN=$2
    RECV_BIN=$3
fi
UDP_PORT=3055
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "openpgm_capture_test: needs root (network namespaces, raw sockets); skipping" >&2
    exit 77
fi
if [ "$PGMDUMP" != none ] && [ ! -x "$PGMDUMP" ]; then
    echo "openpgm_capture_test: pgmdump not found at '$PGMDUMP'" >&2
    exit 1
fi
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/openpgm_capture_test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fail() {
    echo "openpgm_capture_test: FAIL: $*" >&2
    exit 1
}

# 1. Capture.  The capture scripts bound all their own waits; `timeout` is a backstop.
rc=0
if [ "$MODE" = zmq ]; then
    # /usr/bin/python3: Debian's interpreter, the one python3-zmq is installed for.
    timeout 100 /usr/bin/python3 "$HERE/zmq_capture.py" --pcap "$TMP/zmq.pcap" \
        --port "$UDP_PORT" --count 2000 --size 200 --loss 5 >"$TMP/capture.out" || rc=$?
else
    timeout 100 "$HERE/openpgm_capture.sh" --send "$SEND_BIN" --recv "$RECV_BIN" \
        --native-pcap "$TMP/native.pcap" --udp-pcap "$TMP/udp.pcap" --udp-port "$UDP_PORT" \
        --count 2000 --size 200 --rate-bps 1000000 --loss 5 >"$TMP/capture.out" || rc=$?
fi
cat "$TMP/capture.out"
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || fail "capture run failed (exit $rc): a receiver did not get all messages"

# 2. Decode and check each capture.
check_capture() {
    local name=$1 pcap=$2
    shift 2
    local dump_args=("$@") # extra pgmdump args, e.g. --udp-port 3055
    local tshark_args=()
    [ ${#dump_args[@]} -gt 0 ] && tshark_args=(-d "udp.port==$UDP_PORT,pgm")

    local packets
    packets=$(timeout 30 tcpdump -n -r "$pcap" 2>/dev/null | wc -l)
    [ "$packets" -gt 0 ] || fail "$name: empty capture"

    local tshark_counts="$TMP/$name.tshark"
    : >"$tshark_counts"
    if command -v tshark >/dev/null; then
        timeout 60 tshark -n -r "$pcap" "${tshark_args[@]}" -Y pgm -T fields \
            -e pgm.hdr.type -e pgm.hdr.cksum.status 2>/dev/null >"$tshark_counts" \
            || fail "$name: tshark could not read the capture"
    fi

    local dump_out="$TMP/$name.json"
    if [ "$PGMDUMP" != none ]; then
        local drc=0
        timeout 60 "$PGMDUMP" -r "$pcap" --json "${dump_args[@]}" >"$dump_out" \
            2>"$TMP/$name.pgmdump.err" || drc=$?
        if [ "$drc" != 0 ]; then
            sed 's/^/  /' "$TMP/$name.pgmdump.err" >&2
            fail "$name: pgmdump exited with status $drc"
        fi
    else
        : >"$dump_out"
    fi

    "$PYTHON" - "$name" "$packets" "$dump_out" "$tshark_counts" "$PGMDUMP" <<'EOF'
import json, sys
name, packets, dump_path, tshark_path, pgmdump = sys.argv[1:6]
packets = int(packets)
REQUIRED = ["SPM", "ODATA", "NAK", "NCF", "RDATA"]
CODES = {0x00: "SPM", 0x01: "POLL", 0x02: "POLR", 0x04: "ODATA", 0x05: "RDATA",
         0x08: "NAK", 0x09: "NNAK", 0x0A: "NCF", 0x0C: "SPMR", 0x0D: "ACK"}
problems = []

def type_name(t):
    if isinstance(t, int):
        return CODES.get(t, str(t))
    t = str(t).strip().upper()
    if t.startswith("0X"):
        try:
            return CODES.get(int(t, 16), t)
        except ValueError:
            pass
    return t

tshark = {}
bad_cksum = 0
with open(tshark_path) as f:
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if not parts[0]:
            continue
        t = type_name(int(parts[0], 0))
        tshark[t] = tshark.get(t, 0) + 1
        # pgm.hdr.cksum.status: 0 bad, 1 good, 2 unverified.  tshark 4.0's PGM dissector
        # emits the field twice ("125,1"): first a mislabelled checksum byte, then the status.
        status = parts[1].split(",")[-1] if len(parts) > 1 else ""
        if status != "1":
            bad_cksum += 1
if tshark:
    print(f"{name}: tshark types: {dict(sorted(tshark.items()))}")
    if bad_cksum:
        problems.append(f"tshark reports {bad_cksum} PGM packets without a good checksum")

if pgmdump != "none":
    counts, errors, objects, non_json = {}, [], 0, []
    with open(dump_path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                non_json.append(f"line {n}: {e}: {line[:120]}")
                continue
            if not isinstance(obj, dict):
                non_json.append(f"line {n}: not a JSON object")
                continue
            if "type" not in obj and "error" not in obj:
                continue  # e.g. a summary object
            objects += 1
            if obj.get("error") not in (None, False, "", 0):
                errors.append(f"line {n}: {line[:200]}")
            if "type" in obj and obj["type"] is not None:
                t = type_name(obj["type"])
                counts[t] = counts.get(t, 0) + 1
    print(f"{name}: pgmdump: {objects} packet objects for {packets} captured packets; "
          f"types: {dict(sorted(counts.items()))}")
    if non_json:
        problems.append(f"{len(non_json)} output lines are not JSON objects, first: {non_json[0]}")
    if errors:
        problems.append(f"pgmdump reports {len(errors)} parse errors, first ones:\n    "
                        + "\n    ".join(errors[:5]))
    if objects < packets:
        problems.append(f"pgmdump printed {objects} packet objects for {packets} packets")
    missing = [t for t in REQUIRED if counts.get(t, 0) == 0]
    if missing:
        problems.append(f"pgmdump shows no {', '.join(missing)} packets")
    if tshark:
        for t in REQUIRED:
            if counts.get(t, 0) != tshark.get(t, 0):
                problems.append(
                    f"{t}: pgmdump counts {counts.get(t, 0)}, tshark {tshark.get(t, 0)}")
else:
    if not tshark:
        problems.append("neither pgmdump nor tshark available to check the capture")
    missing = [t for t in REQUIRED if tshark.get(t, 0) == 0]
    if missing:
        problems.append(f"tshark shows no {', '.join(missing)} packets")

if problems:
    for p in problems:
        print(f"{name}: FAIL: {p}", file=sys.stderr)
    sys.exit(1)
print(f"{name}: OK")
EOF
}

status=0
if [ "$MODE" = zmq ]; then
    check_capture zmq "$TMP/zmq.pcap" --udp-port "$UDP_PORT" || status=1
else
    check_capture native "$TMP/native.pcap" || status=1
    check_capture udp "$TMP/udp.pcap" --udp-port "$UDP_PORT" || status=1
fi
if [ "$status" = 0 ]; then
    echo "openpgm_capture_test: PASS"
else
    echo "openpgm_capture_test: FAIL" >&2
fi
exit "$status"
