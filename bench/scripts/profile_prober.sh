#!/usr/bin/env bash
# bench/scripts/profile_prober.sh PROBER OUTDIR [more ringprobe-bench flags]
#
# Runs one ringprobe-bench scenario (10,000 HTTP targets every 5 s unless the extra flags say
# otherwise; later flags win) for one prober (ringprobe, floor or haproxy) with a 40 s window,
# and while it runs attaches perf to the prober's process: `perf stat` for 10 s (sleeps and
# wake-ups, io_uring_enter and the socket system calls) into OUTDIR/perfstat.txt, with the
# function-call interrupts (CAL in /proc/interrupts: IPIs, mostly the prober waking the fleet)
# the fleet's CPU took in the same 10 s appended, then `perf record -g` for 10 s into
# OUTDIR/perf.data. The harness's own table is OUTDIR/log.
#   perf report -i OUTDIR/perf.data --no-children --sort sym --stdio
# Needs perf (linux-perf) and a release build in build-bench (docs/benchmarks.md, "Reproducing").
set -euo pipefail
if [ $# -lt 2 ]; then
    sed -n '2,10p' "$0" >&2
    exit 2
fi
prober=$1 out=$2
shift 2
top=$(cd "$(dirname "$0")/../.." && pwd)
command -v perf >/dev/null || { echo "profile_prober.sh: perf is not installed" >&2; exit 2; }
mkdir -p "$out"
cd "$top"
bench/ringprobe-bench --build-dir build-bench --targets 10k --interval-ms 5000 --kind http \
    --probers "$prober" --nice -10 --window 40 --detect 0 --out "$out" "$@" >"$out/log" 2>&1 &
harness=$!

find_pid() {
    case $prober in
        floor) pgrep -n -f ringprobe-floor || true ;;
        haproxy) pgrep -n -x haproxy || true ;;  # the newest: `haproxy -c` runs first
        *) pgrep -n -f "ringprobe run" || true ;;
    esac
}
pid=
for _ in $(seq 1 120); do
    pid=$(find_pid)
    [ -n "$pid" ] && break
    sleep 1
done
[ -n "$pid" ] || { echo "profile_prober.sh: no $prober process appeared" >&2; wait $harness; exit 1; }
sleep 12  # past start-up and the warm-up
pid=$(find_pid)
fleet_cpu=$(( $(nproc) - 1 ))  # the harness pins the fleet to the last CPU
ipis() { awk -v col=$((fleet_cpu + 2)) '$1 == "CAL:" {print $col}' /proc/interrupts; }
ipis_before=$(ipis)
perf stat -e context-switches,task-clock,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_socket,syscalls:sys_enter_connect,syscalls:sys_enter_close \
    -p "$pid" -- sleep 10 >"$out/perfstat.txt" 2>&1
echo "function-call interrupts on the fleet's CPU $fleet_cpu in those 10 s: $(( $(ipis) - ipis_before ))" \
    >>"$out/perfstat.txt"
perf record -g -o "$out/perf.data" -p "$pid" -- sleep 10 >/dev/null 2>&1
wait $harness
grep -E "CPU us/probe|achieved|lateness" "$out/log"
