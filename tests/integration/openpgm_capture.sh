#!/usr/bin/env bash
# openpgm_capture.sh: record real OpenPGM traffic, with repairs, into pcap files.
#
# Builds two network namespaces joined by a veth pair (sender 10.99.0.1/24,
# receiver 10.99.0.2/24, 224.0.0.0/4 routed on the veth), drops ~5 % of the PGM
# packets arriving at the receiver (nftables, input hook) so that NAK, NCF and
# RDATA appear, runs openpgm_recv in one namespace and openpgm_send in the other,
# and captures on the receiver's veth with tcpdump.  Runs once with native PGM
# (IP protocol 113) and once UDP-encapsulated (unicast and multicast port 3055).
# tcpdump sees packets before the input hook, so dropped packets are in the capture.
#
# Usage (as root):
#   openpgm_capture.sh --send PATH/openpgm_send --recv PATH/openpgm_recv \
#       [--native-pcap FILE] [--udp-pcap FILE] [--count N] [--size BYTES] \
#       [--rate-bps BITS] [--loss PERCENT] [--udp-port N] [--group ADDR] [--router-alert]
#       [--keep-tmp]
# At least one of --native-pcap / --udp-pcap.  For every run prints
#   RESULT <native|udp> recv <receiver JSON>
#   RESULT <native|udp> send <sender JSON>
# on stdout.  Exit status: 0 when every receiver got all messages in order,
# 1 otherwise, 2 on bad usage, 77 when not root (ctest "skipped").
set -euo pipefail

SEND_BIN=${OPENPGM_SEND:-}
RECV_BIN=${OPENPGM_RECV:-}
NATIVE_PCAP=""
UDP_PCAP=""
COUNT=2000
SIZE=200
RATE_BPS=1000000
LOSS=5
UDP_PORT=3055
GROUP=239.192.0.1
DPORT=7500
KEEP_TMP=0
RA_ARGS=()

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; }
die() { echo "openpgm_capture: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
    --send) SEND_BIN=$2; shift 2 ;;
    --recv) RECV_BIN=$2; shift 2 ;;
    --native-pcap) NATIVE_PCAP=$2; shift 2 ;;
    --udp-pcap) UDP_PCAP=$2; shift 2 ;;
    --count) COUNT=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --rate-bps) RATE_BPS=$2; shift 2 ;;
    --loss) LOSS=$2; shift 2 ;;
    --udp-port) UDP_PORT=$2; shift 2 ;;
    --group) GROUP=$2; shift 2 ;;
    --router-alert) RA_ARGS=(--router-alert); shift ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument '$1'" ;;
    esac
done

if [ -z "$SEND_BIN" ] || [ ! -x "$SEND_BIN" ]; then
    die "--send: openpgm_send binary not found ('$SEND_BIN')"
fi
if [ -z "$RECV_BIN" ] || [ ! -x "$RECV_BIN" ]; then
    die "--recv: openpgm_recv binary not found ('$RECV_BIN')"
fi
[ -n "$NATIVE_PCAP$UDP_PCAP" ] || die "give --native-pcap and/or --udp-pcap"
for v in COUNT SIZE RATE_BPS LOSS UDP_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
if [ "$(id -u)" != 0 ]; then
    echo "openpgm_capture: needs root (network namespaces, raw sockets); skipping" >&2
    exit 77
fi
for tool in ip nft tcpdump timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=$(command -v python3) || die "python3 not found"
# Absolute paths: the programs run from another working directory.
SEND_BIN=$(readlink -f "$SEND_BIN")
RECV_BIN=$(readlink -f "$RECV_BIN")
abspath() { [ -z "$1" ] || readlink -f "$1"; }
NATIVE_PCAP=$(abspath "$NATIVE_PCAP")
UDP_PCAP=$(abspath "$UDP_PCAP")

ID=$$
NS_S="pgmcap-s-$ID"
NS_R="pgmcap-r-$ID"
VETH_S="pcs$ID" # interface names are at most 15 characters
VETH_R="pcr$ID"
ADDR_S=10.99.0.1
ADDR_R=10.99.0.2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/openpgm_capture.XXXXXX")
# Every background process we start: `timeout --foreground ... ip netns exec PROG` (ip
# execs PROG in the timeout's child).  --foreground makes timeout relay a signal to PROG
# once, instead of also signalling its whole process group a second time.
PIDS=()

log() { echo "openpgm_capture: $*" >&2; }

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait_pid "$pid" 3 >/dev/null 2>&1
    done
    # Anything still running inside our own namespaces was started by us.
    local ns
    for ns in "$NS_S" "$NS_R"; do
        if ip netns list 2>/dev/null | grep -qw "$ns"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                kill -KILL "$pid" 2>/dev/null
            done
            ip netns del "$ns" 2>/dev/null
        fi
    done
    ip link del "$VETH_S" 2>/dev/null
    if [ "$KEEP_TMP" = 1 ]; then
        log "kept temporary files in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_pid PID SECONDS: wait for a child to end, at most SECONDS, then KILL it.
# Prints nothing; returns the child's exit status (137 if it had to be killed).
wait_pid() {
    local pid=$1 limit=$2 i=0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$i" -ge $((limit * 10)) ]; then
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    local st=0
    wait "$pid" 2>/dev/null || st=$?
    return "$st"
}

# wait_for COND_CMD SECONDS WHAT
wait_for() {
    local cond=$1 limit=$2 what=$3 i=0
    until eval "$cond"; do
        if [ "$i" -ge $((limit * 10)) ]; then
            log "timed out after ${limit}s waiting for $what"
            return 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

# tx_csum_off NS DEV: turn off TX checksum offload on a veth (like `ethtool -K DEV tx off`,
# without needing ethtool).  Otherwise UDP packets cross the veth with CHECKSUM_PARTIAL and
# the capture holds only the pseudo-header sum, i.e. "bad UDP checksum" in every decoder.
tx_csum_off() {
    local ns=$1 dev=$2
    if command -v ethtool >/dev/null; then
        ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null && return 0
    fi
    ip netns exec "$ns" "$PYTHON" - "$dev" <<'EOF'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
# struct ifreq (40 bytes): name, then a pointer to the ethtool_value
ifreq = struct.pack("16sP16x", sys.argv[1].encode(), ctypes.addressof(value))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
EOF
}

setup_network() {
    ip netns add "$NS_S"
    ip netns add "$NS_R"
    ip link add "$VETH_S" type veth peer name "$VETH_R"
    ip link set "$VETH_S" netns "$NS_S"
    ip link set "$VETH_R" netns "$NS_R"
    ip -n "$NS_S" addr add "$ADDR_S/24" dev "$VETH_S"
    ip -n "$NS_R" addr add "$ADDR_R/24" dev "$VETH_R"
    local ns dev
    for ns in "$NS_S" "$NS_R"; do
        ip -n "$ns" link set lo up
    done
    tx_csum_off "$NS_S" "$VETH_S"
    tx_csum_off "$NS_R" "$VETH_R"
    ip -n "$NS_S" link set "$VETH_S" up
    ip -n "$NS_R" link set "$VETH_R" up
    ip -n "$NS_S" route add 224.0.0.0/4 dev "$VETH_S"
    ip -n "$NS_R" route add 224.0.0.0/4 dev "$VETH_R"
    # Loss on the receiver's input, native and UDP-encapsulated PGM.
    local sample="numgen random mod 100 < $LOSS"
    [ "$LOSS" -ge 100 ] && sample=""
    ip netns exec "$NS_R" nft -f - <<EOF
table ip pgmloss {
    chain in {
        type filter hook input priority 0; policy accept;
        ip protocol 113 $sample drop
        udp dport $UDP_PORT $sample drop
    }
}
EOF
}

# run_once MODE PCAP
run_once() {
    local mode=$1 pcap=$2
    local encap=() filter="ip proto 113"
    if [ "$mode" = udp ]; then
        encap=(--udp-port "$UDP_PORT")
        filter="udp port $UDP_PORT"
    fi
    local dir="$TMP/$mode"
    mkdir -p "$dir"
    # Budget: sending time at the given rate plus generous slack.
    local send_s=$(((COUNT * SIZE * 8) / (RATE_BPS > 0 ? RATE_BPS : 1) + 1))
    local recv_timeout_ms=$(((send_s + 20) * 1000))
    local limit=$((send_s + 30))

    log "$mode: capturing on $VETH_R ($filter) into $pcap"
    rm -f "$pcap"
    : >"$dir/tcpdump.err"
    # --immediate-mode: libpcap's TPACKET_V3 ring otherwise hands packets over only when a
    # block fills or its ~1 s timeout expires, and packets still in that block when tcpdump
    # is stopped are lost (here: the sender's closing FIN SPMs).  -Z root: write the pcap
    # as root, wherever it is.
    timeout --foreground "$limit" ip netns exec "$NS_R" \
        tcpdump -i "$VETH_R" -n -s 0 -U --immediate-mode -Z root -w "$pcap" "$filter" \
        >"$dir/tcpdump.out" 2>"$dir/tcpdump.err" &
    local tcpdump_pid=$!
    PIDS+=("$tcpdump_pid")
    wait_for "grep -q 'listening on' '$dir/tcpdump.err'" 10 "tcpdump to start" || {
        cat "$dir/tcpdump.err" >&2
        return 1
    }

    timeout --foreground "$limit" ip netns exec "$NS_R" \
        "$RECV_BIN" --network "$ADDR_R;$GROUP" --port "$DPORT" "${encap[@]}" "${RA_ARGS[@]}" \
        --gsi 2 --count "$COUNT" --timeout-ms "$recv_timeout_ms" --ready-file "$dir/ready" \
        >"$dir/recv.json" 2>"$dir/recv.err" &
    local recv_pid=$!
    PIDS+=("$recv_pid")
    wait_for "[ -e '$dir/ready' ] || ! kill -0 $recv_pid 2>/dev/null" 10 "the receiver to start" \
        || return 1
    if [ ! -e "$dir/ready" ]; then
        log "$mode: the receiver failed to start:"
        sed 's/^/  /' "$dir/recv.err" >&2
        return 1
    fi

    # The sender lingers (serving repairs) until we stop it once the receiver is done.
    timeout --foreground "$limit" ip netns exec "$NS_S" \
        "$SEND_BIN" --network "$ADDR_S;$GROUP" --port "$DPORT" "${encap[@]}" "${RA_ARGS[@]}" \
        --gsi 1 --count "$COUNT" --size "$SIZE" --rate-bps "$RATE_BPS" --linger-ms $((limit * 1000)) \
        >"$dir/send.json" 2>"$dir/send.err" &
    local send_pid=$!
    PIDS+=("$send_pid")

    local recv_rc=0 send_rc=0
    wait_pid "$recv_pid" "$((limit + 5))" || recv_rc=$?
    # SIGTERM ends the sender's linger: it closes with FIN SPMs and exits 0.
    kill -TERM "$send_pid" 2>/dev/null || true
    wait_pid "$send_pid" 10 || send_rc=$?
    sleep 0.3 # let the FIN SPMs reach the capture
    kill -TERM "$tcpdump_pid" 2>/dev/null || true
    wait_pid "$tcpdump_pid" 10 || true

    echo "RESULT $mode recv $(tr -d '\n' <"$dir/recv.json")"
    echo "RESULT $mode send $(tr -d '\n' <"$dir/send.json")"
    local summary
    summary=$(grep -o '[0-9]* packets captured' "$dir/tcpdump.err" || echo 'no tcpdump summary')
    log "$mode: receiver exit $recv_rc, sender exit $send_rc, $summary"
    if [ "$recv_rc" != 0 ] || [ "$send_rc" != 0 ]; then
        log "$mode: receiver stderr:"
        sed 's/^/  /' "$dir/recv.err" >&2
        log "$mode: sender stderr:"
        sed 's/^/  /' "$dir/send.err" >&2
        return 1
    fi
    [ -s "$pcap" ] || { log "$mode: empty capture"; return 1; }
}

setup_network
status=0
if [ -n "$NATIVE_PCAP" ]; then
    run_once native "$NATIVE_PCAP" || status=1
fi
if [ -n "$UDP_PCAP" ]; then
    run_once udp "$UDP_PCAP" || status=1
fi
if [ "$status" = 0 ]; then
    log "all receivers completed"
else
    log "FAILED: a receiver did not complete"
fi
exit "$status"
