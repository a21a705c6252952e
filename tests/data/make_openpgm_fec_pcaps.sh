#!/usr/bin/env bash
# make_openpgm_fec_pcaps.sh: record parity packets made by OpenPGM 5.3 into the pcaps next
# to this script, for tests/unit/fec_test.cc (the parity bytes our codec must reproduce).
#
# openpgm_send (tests/interop, Debian's libpgm 5.3.128) sends with PGM_USE_FEC (k = 4,
# n = 8, on-demand parity), UDP-encapsulated (port 3055) to 239.192.0.1 on the loopback
# interface of a private network namespace, and tcpdump records it. No receiver: while the
# source lingers, this script sends it parity NAKs itself (one per transmission group, four
# rounds), which it answers with parity NCFs and parity RDATA, parity index 0, 1, 2, 3.
# OpenPGM 5.3.128 makes parity only with a TXW_SECS window (--txw-secs): with TXW_SQNS its
# parity buffer has no room and the first parity packet aborts the source. Proactive parity
# cannot be recorded at all: 5.3.128 never sets the socket's tg_sqn_shift, so its proactive
# path queues the wrong group and crashes the source (a NULL window entry in
# pgm_txw_retransmit_try_peek). docs/decisions.md D32.
# Fragmented APDUs cannot be recorded either: 5.3.128 crashes in its SSE checksum copy
# (pgm_compat_csum_partial_copy from pgm_send) on any APDU larger than one packet here, FEC
# or not, so the OPT_FRAGMENT encoding is checked against OpenPGM's source code instead.
# Two sessions:
#   openpgm_fec_equal.pcap   8 messages of 100 bytes: equal TSDUs
#   openpgm_fec_varlen.pcap  8 messages of 100, 90, 80, 70, 100, ... bytes (OPT_VAR_PKTLEN)
# Checksum offload on lo leaves the UDP checksums partial in the capture; the script fills
# them in (the PGM checksums are OpenPGM's own, untouched).
# Usage (as root): make_openpgm_fec_pcaps.sh PATH/openpgm_send
set -euo pipefail
SEND=${1:?usage: $0 PATH/openpgm_send}
OUT=$(cd "$(dirname "$0")" && pwd)
NS=pgmd-fec-$$
TMP=$(mktemp -d)
cleanup() { ip netns del "$NS" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 224.0.0.0/4 dev lo

# Parity NAKs to the source (UDP encapsulation: unicast to port 3055): TSI 706700000001.4000,
# NAK_SQN = TG_SQN | (count - 1), one packet asked for each time.
nak() {  # group sequence numbers...
    ip netns exec "$NS" python3 - "$@" <<'PY'
import socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return (~s & 0xFFFF) or 0xFFFF
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for round_ in range(4):
    for tg in map(int, sys.argv[1:]):
        body = struct.pack("!I", tg | 0) + struct.pack("!HH4s", 1, 0, socket.inet_aton("127.0.0.1")) \
            + struct.pack("!HH4s", 1, 0, socket.inet_aton("239.192.0.1"))
        hdr = struct.pack("!HHBBH6sH", 7500, 4000, 0x08, 0x80, 0, bytes.fromhex("706700000001"), 0)
        pkt = bytearray(hdr + body)
        struct.pack_into("!H", pkt, 6, csum(bytes(pkt)))
        sock.sendto(bytes(pkt), ("127.0.0.1", 3055))
    time.sleep(0.15)
PY
}

capture() {  # name, "group sequence numbers", openpgm_send arguments...
    local name=$1 groups=$2
    shift 2
    ip netns exec "$NS" tcpdump -i lo -U -s 0 -w "$TMP/$name" udp port 3055 2>/dev/null &
    local dump=$!
    sleep 1
    ip netns exec "$NS" "$SEND" --network "127.0.0.1;239.192.0.1" --udp-port 3055 \
        --gsi 1 --sport 4000 --fec 4,8,0,ondemand --txw-secs 30 --max-rte 1000000 --start-delay-ms 200 --linger-ms 2000 \
        --quiet "$@" >/dev/null &
    local send=$!
    sleep 0.8
    # shellcheck disable=SC2086
    nak $groups
    wait "$send"
    sleep 0.3
    kill -INT "$dump"
    wait "$dump" || true
    fix_udp_checksums "$TMP/$name" "$OUT/$name"
}

fix_udp_checksums() {  # in.pcap out.pcap (Ethernet-less loopback frames: DLT_EN10MB, IPv4)
    python3 - "$1" "$2" <<'PY'
import struct, sys
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
data = bytearray(open(sys.argv[1], "rb").read())
pos = 24
while pos < len(data):
    incl = struct.unpack_from("<I", data, pos + 8)[0]
    ip = pos + 16 + 14
    ihl = (data[ip] & 0x0F) * 4
    udp = ip + ihl
    length = struct.unpack_from("!H", data, udp + 4)[0]
    struct.pack_into("!H", data, udp + 6, 0)
    pseudo = bytes(data[ip + 12:ip + 20]) + struct.pack("!BBH", 0, 17, length)
    c = csum(pseudo + bytes(data[udp:udp + length])) or 0xFFFF
    struct.pack_into("!H", data, udp + 6, c)
    pos += 16 + incl
open(sys.argv[2], "wb").write(bytes(data))
PY
}
capture openpgm_fec_equal.pcap "0 4" --count 8 --size 100
capture openpgm_fec_varlen.pcap "0 4" --count 8 --size 100 --size-step 10
