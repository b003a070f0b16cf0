#!/usr/bin/env bash
# tools/demo.sh: install what is missing, build a release, and run ringprobe on the embedded
# demo: ringprobe-fleet plays 1,000 backends on 127.1.0.0/16 port 8080 (demo/fleet-behaviours.json:
# mostly healthy, some resetting, some slow, some answering 503, some with the wrong body) and
# `ringprobe run` probes them as demo/demo-gateway.json says. The report table is printed once
# the first verdicts are in; both keep running until Ctrl-C.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RP_TOP"

rp_ensure_packages "${RP_BUILD_PACKAGES[@]}"
rp_build build/release -Dbuildtype=release -Dtests=false -Dbench=false

bin=build/release
run=build/demo
mkdir -p "$run"

# A demo left running by an earlier call is stopped first (by the PIDs it wrote).
for f in "$run/engine.pid" "$run/fleet.pid"; do
    if [ -f "$f" ]; then
        kill "$(cat "$f")" 2>/dev/null || true
        rm -f "$f"
    fi
done
sleep 0.3

"$bin/tools/ringprobe-fleet" --port 8080 --behaviours demo/fleet-behaviours.json \
    >"$run/fleet.out" 2>"$run/fleet.log" &
fleet_pid=$!
echo "$fleet_pid" >"$run/fleet.pid"
for _ in $(seq 1 100); do
    grep -q '^ready' "$run/fleet.out" 2>/dev/null && break
    kill -0 "$fleet_pid" 2>/dev/null || { cat "$run/fleet.log" >&2; exit 1; }
    sleep 0.05
done
grep -q '^ready' "$run/fleet.out" || { echo "ringprobe-fleet did not start" >&2; exit 1; }

"$bin/src/ringprobe" run --config demo/demo-gateway.json 2>"$run/engine.log" &
engine_pid=$!
echo "$engine_pid" >"$run/engine.pid"

stop() {
    kill "$engine_pid" "$fleet_pid" 2>/dev/null || true
    wait "$engine_pid" "$fleet_pid" 2>/dev/null || true
    rm -f "$run/engine.pid" "$run/fleet.pid"
}
trap 'stop; exit 0' INT TERM

# First probes are spread over the 2 s interval; Unhealthy needs 3 failures in a row. Wait
# (bounded) until no server is Unknown any more.
for _ in $(seq 1 60); do
    kill -0 "$engine_pid" 2>/dev/null || { cat "$run/engine.log" >&2; exit 1; }
    if out=$("$bin/tools/ringprobe-report" --name demo --health Unknown --format json 2>/dev/null) &&
        ! grep -q '"health"' <<<"$out"; then
        break
    fi
    sleep 0.5
done

"$bin/tools/ringprobe-report" --name demo --pool web | head -n 12
echo "..."
"$bin/tools/ringprobe-report" --name demo --health Unhealthy | awk 'NR <= 2 || (NR - 3) % 64 == 0' | head -n 10
echo "..."
"$bin/tools/ringprobe-report" --name demo | grep -iE '^(pool|summary|total)|healthy.*unhealthy' | tail -n 6 || true
cat <<MSG

ringprobe is probing 1,000 demo backends (engine pid $engine_pid, fleet pid $fleet_pid).
Look again any time, from another terminal:
  $bin/tools/ringprobe-report --name demo                 # every row
  $bin/tools/ringprobe-report --name demo --health Unhealthy --details
  $bin/tools/ringprobe-report --name demo --format json   # the gateway's JSON shape
$(grep -m1 'exporter on' "$run/engine.log" | sed 's/^ringprobe: /In a browser: the /')
Transitions are logged to $run/engine.log. Press Ctrl-C to stop both.
MSG
wait "$engine_pid" || true
stop
