#!/usr/bin/env bash
# check-format.sh: fails when a tracked C/C++ file differs from what clang-format makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h' '*.c' 2>/dev/null || true)
[ -n "$files" ] || { echo "check-format: no tracked C/C++ files found" >&2; exit 1; }
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "check-format: $(echo "$files" | wc -w) files formatted"
