#!/usr/bin/env bash
# demo.sh: the main job, from a fresh Debian 12 machine (as root).
#
# Until the pgmd daemon exists, the demo shows what the project has: an OpenPGM source and
# receiver (Debian's libpgm) in two network namespaces, 5 % loss injected on the
# receiver's link with nftables so that NAKs, NCFs and repairs happen, the traffic captured
# and decoded by pgmdump (built on pgmd's codec), then a summary per packet type.
# Everything it creates (namespaces, processes, files) is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

scripts/setup.sh --build-dir build --build-type RelWithDebInfo >/dev/null
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: network namespaces need root" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/pgmd-demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "== OpenPGM source -> receiver, 1000 messages, 5 % loss on the receiver's link =="
tests/integration/openpgm_capture.sh --send build/tests/interop/openpgm_send \
  --recv build/tests/interop/openpgm_recv --native-pcap "$tmp/native.pcap" \
  --count 1000 --loss 5 | sed -n 's/^RESULT native recv /receiver: /p'

echo
echo "== pgmdump: the first repair exchange in the capture =="
build/cli/pgmdump -r "$tmp/native.pcap" 2>/dev/null |
  awk '/ NAK /{found=1} found && n < 6 {print; n++}'

echo
echo "== pgmdump --json, summarised per packet type =="
build/cli/pgmdump -r "$tmp/native.pcap" --json 2>/dev/null | /usr/bin/python3 -c '
import collections, json, sys
types = collections.Counter(); errors = collections.Counter(); payload = 0
for line in sys.stdin:
    p = json.loads(line)
    if "error" in p:
        errors[p["error"]] += 1
        continue
    types[p["type"]] += 1
    payload += p.get("tsdu_length", 0)
print("%-8s%9s" % ("type", "packets"))
for t in ("SPM", "ODATA", "NAK", "NCF", "RDATA", "SPMR"):
    print("%-8s%9d" % (t, types[t]))
print("parse errors: %d  data bytes: %d" % (sum(errors.values()), payload))
'
