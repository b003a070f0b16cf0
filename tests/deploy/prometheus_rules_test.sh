#!/usr/bin/env bash
# deploy/prometheus/ringprobe.rules.yml: `promtool check rules` accepts it, `promtool test rules`
# passes tests/deploy/ringprobe_rules_test.yml (input series of three shards), and every
# ringprobe_* metric it reads is one the exporter serves (named in src/exporter/metrics.cpp).
# Exit 77 (SKIP) when promtool is not installed (Debian package prometheus).
#   prometheus_rules_test.sh SOURCE_ROOT
set -euo pipefail
root=$1
command -v promtool >/dev/null 2>&1 || { echo "SKIP: promtool not installed (Debian package prometheus)" >&2; exit 77; }
rules=$root/deploy/prometheus/ringprobe.rules.yml

promtool check rules "$rules"
promtool test rules "$root/tests/deploy/ringprobe_rules_test.yml"

status=0
for metric in $(grep -v '^ *#' "$rules" | grep -o 'ringprobe_[a-z_]*' | sort -u); do
    if ! grep -q "\"$metric\"" "$root/src/exporter/metrics.cpp"; then
        echo "$rules reads $metric, which src/exporter/metrics.cpp does not serve" >&2
        status=1
    fi
done
exit $status
