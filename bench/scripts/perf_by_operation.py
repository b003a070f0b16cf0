#!/usr/bin/env python3
"""perf_by_operation.py OUTDIR [OUTDIR...]

Splits the samples of a bench/scripts/profile_prober.sh run (OUTDIR/perf.data) by the probe
operation they were taken under (connect, close, send, socket, recv, socket options, waiting),
whatever the path there (io_uring's operations or the plain system calls), and prints each
share with its CPU microseconds a probe: perf's task-clock for the 10 s it counted
(OUTDIR/perfstat.txt) over the probes of those 10 s (the harness's achieved rate in OUTDIR/log).
Needs perf. docs/benchmarks.md, "Where a probe's CPU goes".
"""
import collections
import re
import subprocess
import sys

# First match wins, in this order: a sample under __fput is the close, even when the close's
# packets run the peer's receive path.
OPERATIONS = [
    ("connect", ("io_connect", "__sys_connect")),
    ("close", ("__fput",)),
    ("send", ("io_send", "__sys_sendto")),
    ("socket", ("io_socket", "__sys_socket")),
    ("recv", ("io_recv", "__sys_recvfrom")),
    ("socket option", ("io_uring_cmd", "__sys_setsockopt")),
    ("wait and sleep", ("do_epoll_wait", "schedule", "io_cqring_wait")),
    ("epoll_ctl", ("__x64_sys_epoll_ctl",)),
]


def folded(path):
    out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "sym",
                          "--stdio", "-g", "folded,0,caller,count"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"^(\d+) (.*;.*)$", line.strip())
        if m:
            yield int(m.group(1)), m.group(2).split(";")


def us_per_probe(outdir):
    stat = open(f"{outdir}/perfstat.txt").read()
    clock_ms = float(re.search(r"([\d.,]+)\s+msec task-clock", stat).group(1).replace(",", ""))
    log = open(f"{outdir}/log").read()
    achieved = float(re.search(r"^probes/s achieved\s+([\d,]+)", log, re.M).group(1)
                     .replace(",", ""))
    return clock_ms * 1000 / (achieved * 10)


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for outdir in sys.argv[1:]:
        per = us_per_probe(outdir)
        shares = collections.Counter()
        total = 0
        for n, frames in folded(f"{outdir}/perf.data"):
            total += n
            names = set(frames)
            for op, marks in OPERATIONS:
                if names.intersection(marks):
                    shares[op] += n
                    break
            else:
                shares["other (the prober's own code, the ring's or the loop's)"] += n
        print(f"{outdir}: {per:.1f} us a probe (perf task-clock), {total} samples")
        for op, n in shares.most_common():
            print(f"  {op:58s} {100 * n / total:5.1f} %  {per * n / total:5.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
