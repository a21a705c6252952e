#!/usr/bin/python3
"""os_headers_test: protocol/ and router/ are sans-I/O cores (docs/architecture.md): they
include no operating-system or network header, and no header of the layers above them
(issue 16, item 7).

Every `#include` in protocol/ and router/ (sources and headers) must name
  * a header of the C++ standard library (or its C compatibility headers), or
  * a header of a portable library the cores may use (THIRD_PARTY: Abseil containers, the
    ISA-L erasure code), or
  * a project header of a layer the file may depend on: protocol/ includes only protocol/,
    router/ includes protocol/ and router/.
Anything else (<arpa/inet.h>, <netinet/in.h>, <sys/socket.h>, <unistd.h>, <linux/...>,
"dataplane/...") fails with file:line. EXCEPTIONS lists the reviewed exceptions with their
reason; an exception that no longer matches anything also fails, so the list cannot go stale.
Exit status 0 pass, 1 fail.
"""
import argparse
import os
import re
import sys

# The C++20 standard library headers and the C headers it keeps (both spellings).
CXX_HEADERS = set("""
algorithm any array atomic barrier bit bitset charconv chrono codecvt compare complex concepts
condition_variable coroutine deque exception execution expected filesystem format forward_list
fstream functional future initializer_list iomanip ios iosfwd iostream istream iterator latch
limits list locale map memory memory_resource mutex new numbers numeric optional ostream queue
random ranges ratio regex scoped_allocator semaphore set shared_mutex source_location span
sstream stack stdexcept stop_token streambuf string string_view syncstream system_error thread
tuple type_traits typeindex typeinfo unordered_map unordered_set utility valarray variant vector
version
cassert cctype cerrno cfenv cfloat cinttypes climits clocale cmath csetjmp csignal cstdarg
cstddef cstdint cstdio cstdlib cstring ctime cuchar cwchar cwctype
assert.h ctype.h errno.h float.h inttypes.h limits.h math.h stdarg.h stddef.h stdint.h stdio.h
stdlib.h string.h
""".split())
# Libraries that are plain computation (no I/O): Abseil containers, ISA-L's erasure code.
THIRD_PARTY = ("absl/container/", "absl/hash/", "isa-l/")
# Which project folders each core may include from.
LAYERS = {"protocol": ("protocol/",), "router": ("protocol/", "router/")}
# (file, header) -> why it is allowed. Reviewed exceptions only.
EXCEPTIONS = {
    ("protocol/packet_arena.cc", "sys/mman.h"):
        "madvise(MADV_HUGEPAGE) on the arena's blocks: a memory hint, no I/O, no clock",
}
# Clock reads are I/O for a sans-I/O core: time is what the caller passes in.
CLOCK_CALL = re.compile(r"\b(system_clock|steady_clock|high_resolution_clock)::now\b"
                        r"|\bclock_gettime\b|\bgettimeofday\b")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def check(root):
    failures = []
    used_exceptions = set()
    for layer, allowed_project in LAYERS.items():
        base = os.path.join(root, layer)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                for number, line in enumerate(lines, 1):
                    if CLOCK_CALL.search(line.split("//")[0]):
                        failures.append(f"{rel}:{number}: reads a clock: {line.strip()}")
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, header = m.groups()
                    if (rel, header) in EXCEPTIONS:
                        used_exceptions.add((rel, header))
                        continue
                    if kind == '"':
                        if not header.startswith(allowed_project):
                            failures.append(f"{rel}:{number}: includes \"{header}\", outside "
                                            f"what {layer}/ may depend on "
                                            f"({', '.join(allowed_project)})")
                        continue
                    if header in CXX_HEADERS or header.startswith(THIRD_PARTY):
                        continue
                    failures.append(f"{rel}:{number}: includes <{header}>, not a standard or "
                                    f"portable library header (an OS or network header has "
                                    f"no place in the sans-I/O core)")
    for stale in sorted(set(EXCEPTIONS) - used_exceptions):
        failures.append(f"EXCEPTIONS entry {stale} matches no include: remove it")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = ap.parse_args()
    failures = check(os.path.abspath(args.root))
    for f in failures:
        print("FAIL: " + f)
    if failures:
        return 1
    print("ok:   protocol/ and router/ include only standard, portable and own-layer headers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
