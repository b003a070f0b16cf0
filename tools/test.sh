#!/usr/bin/env bash
# tools/test.sh: install what is missing, build, and run every test.
#  1. debug build with tests: every suite (unit, model, integration, bench smoke)
#  2. the same under AddressSanitizer + UndefinedBehaviorSanitizer
#  3. the threaded suites under ThreadSanitizer
#  4. a bounded libFuzzer run of the report validator (clang)
#  5. with RP_TEST_PACKAGE=1: the Debian package, built and installed into an empty root
# Before any of them: every C++ file formatted as .clang-format says (tools/format.sh --check).
# Quiet when all passes; prints the failing logs otherwise. Exit status non-zero on any failure.
# The summary gives each suite's counts (a GoogleTest binary by its cases, so a GTEST_SKIP is a
# skip; the skipped cases listed) and its five slowest tests (tools/lib/testlog_summary.py),
# then the closing 'total: N passed, N failed, N skipped' line.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RP_TOP"

rp_ensure_packages "${RP_BUILD_PACKAGES[@]}" "${RP_TEST_PACKAGES[@]}"

status=0
summary=()

if rp_quiet format bash tools/format.sh --check; then
    summary+=("format: 1 passed, 0 failed")
else
    status=1
    summary+=("format: 0 passed, 1 failed")
fi

# run_suite NAME BUILD_DIR [meson test args...]
run_suite() {
    local name=$1 dir=$2
    shift 2
    if meson test -C "$dir" --print-errorlogs -q "$@" >"build/logs/test-$name.log" 2>&1; then
        :
    else
        cat "build/logs/test-$name.log" >&2
        status=1
    fi
    summary+=("$(python3 "$RP_TOP/tools/lib/testlog_summary.py" "$name" "$dir/meson-logs/testlog.json")")
}

rp_build build/debug -Dbuildtype=debug -Dtests=true -Dbench=true
run_suite debug build/debug

rp_build build/asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
    -Djemalloc=disabled -Dtests=true -Dbench=true
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_suite asan build/asan --no-suite slow

rp_build build/tsan -Dbuildtype=debug -Db_sanitize=thread -Djemalloc=disabled \
    -Dtests=true -Dbench=false
TSAN_OPTIONS=halt_on_error=1 run_suite tsan build/tsan --suite threads

if [ -x tools/fuzz.sh ]; then
    if ! rp_quiet fuzz bash tools/fuzz.sh; then
        status=1
        summary+=("fuzz: 0 passed, 1 failed")
    else
        summary+=("fuzz: 1 passed, 0 failed")
    fi
fi

# The Debian package takes minutes to build from scratch, so its check is opt-in:
# RP_TEST_PACKAGE=1 tools/test.sh builds it (tools/package.sh, lintian included), then installs
# it into an empty root and runs it there (tests/packaging/deb_check.sh).
if [ "${RP_TEST_PACKAGE:-0}" = 1 ]; then
    if deb=$(bash tools/package.sh) && rp_quiet package-check bash tests/packaging/deb_check.sh "$deb"
    then
        summary+=("package: 1 passed, 0 failed")
    else
        status=1
        summary+=("package: 0 passed, 1 failed")
    fi
fi

printf '%s\n' "${summary[@]}"
python3 "$RP_TOP/tools/lib/testlog_summary.py" --total "${summary[@]}"
exit $status
