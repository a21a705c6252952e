#!/usr/bin/env bash
# setup.sh: install every Debian package pgmd needs (build, tests, interop peers,
# benchmarks), then configure and build. Idempotent: a second run installs nothing
# new and rebuilds only what changed.
#
#   scripts/setup.sh [--build-dir DIR] [--build-type Debug|Release|RelWithDebInfo|Sanitize]
#                    [--no-build] [--no-install] [-- EXTRA CMAKE ARGUMENTS]
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build_dir="$here/build"
build_type=RelWithDebInfo
do_build=1
do_install=1
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --build-type) build_type=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-install) do_install=0; shift ;;
    --) shift; cmake_args=("$@"); break ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# One list, grouped by purpose. Keep it sorted within each group.
packages=(
  # build
  bpftool build-essential clang clang-format cmake g++ libclang-rt-14-dev ninja-build pkg-config
  # libraries
  libabsl-dev libboost-program-options-dev libbpf-dev libcap-dev libisal-dev libnl-3-dev
  libnl-route-3-dev libpcap-dev libsystemd-dev
  nlohmann-json3-dev
  # tests and benchmarks
  curl googletest libbenchmark-dev libgmock-dev libgtest-dev prometheus-node-exporter
  python3-pytest strace tcpdump tshark
  # interop peers
  libpgm-dev libzmq3-dev python3-zmq
  # network lab
  bridge-utils iproute2 mininet nftables procps smcroute
  # documentation
  groff-base man-db
)

if [ "$do_install" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: installing packages needs root (run as root, or pass --no-install)" >&2
    exit 1
  fi
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer for it.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -qq
    apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

# With ccache as the compiler launcher (CMAKE_CXX_COMPILER_LAUNCHER=ccache in the environment
# or the build directory's cache), compiles that use the precompiled headers (CMakeLists.txt,
# PGMD_PCH) are cached only with this sloppiness (ccache(1), "Precompiled headers").
if [[ "${CMAKE_CXX_COMPILER_LAUNCHER:-}" == *ccache* ]] ||
   grep -qs '^CMAKE_CXX_COMPILER_LAUNCHER:.*ccache' "$build_dir/CMakeCache.txt"; then
  export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:+$CCACHE_SLOPPINESS,}pch_defines,time_macros"
fi

if [ "$do_build" = 1 ]; then
  cmake -S "$here" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "${cmake_args[@]}" >/dev/null
  cmake --build "$build_dir"
fi
