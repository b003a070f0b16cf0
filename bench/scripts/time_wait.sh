#!/usr/bin/env bash
# bench/scripts/time_wait.sh BUILD_DIR [TARGETS] [SECONDS]
# Measures the TIME_WAIT sockets each close policy leaves on the machine: for each fleet
# behaviour (a healthy answer, a hang, a close without answer, a reset, a 503) it starts a fresh
# ringprobe-fleet on its own port, runs `ringprobe run` for SECONDS with closePolicy graceful
# and then reset (200 ms interval, 100 ms timeout), and counts the TIME_WAIT sockets that
# involve that port, on the fleet's side and on the prober's. Loopback only; everything
# started is stopped by PID.
set -euo pipefail
build=${1:?usage: time_wait.sh BUILD_DIR [TARGETS] [SECONDS]}
targets=${2:-200}
seconds=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

gen_config() {  # targets port policy
    python3 - "$@" <<'PY'
import json, sys
n, port, policy = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
gw = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/applicationGateways/tw"
addresses = [{"ipAddress": "127.2.%d.%d" % (i // 250, 1 + i % 250)} for i in range(n)]
print(json.dumps({"name": "rp-time-wait", "properties": {
    "backendAddressPools": [{"name": "pool", "properties": {"backendAddresses": addresses}}],
    "backendHttpSettingsCollection": [{"name": "web", "properties": {
        "port": port, "protocol": "Http", "probe": {"id": gw + "/probes/p"}}}],
    "probes": [{"name": "p", "properties": {
        "protocol": "Http", "host": "tw.test", "path": "/", "interval": 1, "timeout": 1,
        "unhealthyThreshold": 3,
        "ringprobe": {"intervalMs": 200, "timeoutMs": 100, "closePolicy": policy}}}],
    "requestRoutingRules": [{"name": "r", "properties": {"ruleType": "Basic",
        "backendAddressPool": {"id": gw + "/backendAddressPools/pool"},
        "backendHttpSettings": {"id": gw + "/backendHttpSettingsCollection/web"}}}]}}))
PY
}

# TIME_WAIT sockets of fleet port $1, as "fleet-side prober-side": the fleet's side has the port
# locally on a backend address (printed as 127.x.y.z%lo: the fleet binds to device lo), the
# prober's has it as the peer. A bare `sport = :P` would also count a socket of some earlier
# run whose ephemeral port happens to be P.
count_tw() {
    ss -Htan state time-wait | awk -v p="$1" '
        { n = split($(NF-1), l, ":"); m = split($NF, r, ":"); sub(/%.*/, "", l[1]) }
        l[n] == p && l[1] != "127.0.0.1" { fleet++ }
        r[m] == p { prober++ }
        END { printf "%d %d\n", fleet, prober }'
}

printf '%-34s %-9s %-10s %s\n' behaviour policy fleet-side prober-side
for kind in '{"kind": "http", "status": 200}' '{"kind": "hang"}' '{"kind": "close"}' \
            '{"kind": "reset"}' '{"kind": "http", "status": 503}'; do
    echo "{\"default\": $kind}" >"$work/behaviours.json"
    "$build/tools/ringprobe-fleet" --port 0 --behaviours "$work/behaviours.json" \
        >"$work/fleet.out" 2>/dev/null &
    fleet=$!
    for _ in $(seq 1 100); do grep -q '^ready' "$work/fleet.out" && break; sleep 0.05; done
    port=$(awk '/^port/ {print $2; exit}' "$work/fleet.out")
    for policy in graceful reset; do
        gen_config "$targets" "$port" "$policy" >"$work/config.json"
        "$build/src/ringprobe" run --config "$work/config.json" --duration "$seconds" --quiet \
            --listen none 2>/dev/null || "$build/src/ringprobe" run --config "$work/config.json" \
            --duration "$seconds" --quiet 2>/dev/null
        read -r tw_fleet tw_prober < <(count_tw "$port")
        printf '%-34s %-9s %-10s %s\n' "$kind" "$policy" "$tw_fleet" "$tw_prober"
        # The next policy gets a fleet port of its own so these sockets are not counted twice.
        kill "$fleet"; wait "$fleet" 2>/dev/null || true
        "$build/tools/ringprobe-fleet" --port 0 --behaviours "$work/behaviours.json" \
            >"$work/fleet.out" 2>/dev/null &
        fleet=$!
        for _ in $(seq 1 100); do grep -q '^ready' "$work/fleet.out" && break; sleep 0.05; done
        port=$(awk '/^port/ {print $2; exit}' "$work/fleet.out")
    done
    kill "$fleet"; wait "$fleet" 2>/dev/null || true
done
rm -f /dev/shm/ringprobe.rp-time-wait
