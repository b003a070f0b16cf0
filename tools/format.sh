#!/usr/bin/env bash
# tools/format.sh: format every C++ file in the repository with its .clang-format.
#   tools/format.sh          rewrite the files in place
#   tools/format.sh --check  change nothing; list the files that are not formatted, exit 1 if any
# clang-format's output depends on its version; this is Debian 12's clang-format 14.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RP_TOP"

mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^tests/fixtures/')
if [ "${1:-}" = --check ]; then
    bad=()
    for f in "${files[@]}"; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then
            bad+=("$f")
        fi
    done
    if [ ${#bad[@]} -gt 0 ]; then
        printf 'not formatted (run tools/format.sh): %s\n' "${bad[@]}" >&2
        exit 1
    fi
else
    clang-format --style=file -i "${files[@]}"
fi
