#!/usr/bin/env bash
# tools/fuzz.sh: a bounded libFuzzer run of the report segment validator (tests/fuzz/report_fuzz.cpp).
# Builds with clang++ (ASan + UBSan + libFuzzer) into build/fuzz and runs for FUZZ_SECONDS
# (default 30). Quiet on success; prints the fuzzer's log and the crashing input on failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/fuzz"
mkdir -p "$out/corpus"
cxx=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$cxx" ]; then
    echo "fuzz: clang++ not found: apt-get install clang libclang-rt-14-dev" >&2
    exit 1
fi
seconds=${FUZZ_SECONDS:-30}
log="$out/report_fuzz.log"
if ! "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$top/include" -I"$top/src" -I"$top/tests" \
    "$top/tests/fuzz/report_fuzz.cpp" \
    "$top/src/report/image.cpp" "$top/src/report/names.cpp" "$top/src/report/reader.cpp" \
    "$top/src/report/render.cpp" "$top/src/report/facts.cpp" "$top/src/report/fault_part.cpp" \
    "$top/src/report/probe_log.cpp" "$top/src/report/remedy.cpp" "$top/src/report/text.cpp" \
    "$top/src/report/json_document.cpp" "$top/src/report/render_json.cpp" \
    "$top/src/report/render_powershell.cpp" "$top/src/report/render_table.cpp" \
    "$top/src/report/render_troubleshoot.cpp" "$top/src/report/selection.cpp" \
    "$top/src/report/terminal.cpp" "$top/src/report/capacity_words.cpp" \
    "$top/src/common/text.cpp" "$top/src/common/json.cpp" "$top/src/common/shard.cpp" \
    -o "$out/report_fuzz" >"$log" 2>&1; then
    cat "$log" >&2
    echo "fuzz: build failed" >&2
    exit 1
fi
cd "$out"
if ! ./report_fuzz -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -seed=1 \
    -artifact_prefix="$out/" corpus >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "fuzz: report_fuzz found a failure; the input is in $out/ (crash-*, timeout-*)" >&2
    exit 1
fi
