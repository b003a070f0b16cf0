#!/usr/bin/env python3
"""The scrape loop that drives Prometheus blackbox_exporter in ringprobe-bench, as Prometheus
would: one GET /probe?module=M&target=T per target per interval, spread evenly (target k mod N
due at start + k x interval / N, as the floor schedules), over a pool of kept-alive
connections to the exporter. A target whose previous scrape has not answered when it is due
again is skipped and counted, so a target never has two probes at once.

At SIGTERM or SIGINT it prints one line to stderr:
  scrape: sent=.. success=.. failed=.. errors=.. skipped=.. lateness_us_p50=.. ...
(success: the exporter answered probe_success 1; failed: probe_success 0; errors: no answer
from the exporter itself.)

Usage: scrape_loop.py --exporter HOST:PORT --targets FILE --module M --interval-ms MS
                      [--timeout-s S] [--connections C]
"""

import argparse
import asyncio
import signal
import sys
import time
import urllib.parse


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exporter", required=True, help="HOST:PORT of blackbox_exporter")
    p.add_argument("--targets", required=True, help="file of targets, one per line")
    p.add_argument("--module", required=True)
    p.add_argument("--interval-ms", type=int, required=True)
    p.add_argument("--timeout-s", type=float, default=1.0,
                   help="sent as X-Prometheus-Scrape-Timeout-Seconds")
    p.add_argument("--connections", type=int, default=128)
    return p.parse_args(argv)


class Loop:
    def __init__(self, a, targets):
        self.a = a
        host, port = a.exporter.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.requests = [
            (f"GET /probe?module={urllib.parse.quote(a.module)}&target="
             f"{urllib.parse.quote(t, safe='')} HTTP/1.1\r\nHost: {a.exporter}\r\n"
             f"X-Prometheus-Scrape-Timeout-Seconds: {a.timeout_s:g}\r\n\r\n").encode()
            for t in targets]
        self.busy = bytearray(len(targets))
        self.queue = asyncio.Queue()
        self.counts = {"sent": 0, "success": 0, "failed": 0, "errors": 0, "skipped": 0}
        self.lateness_us = []
        self.stop = asyncio.Event()

    async def schedule(self):
        n = len(self.requests)
        interval_ns = self.a.interval_ms * 1_000_000
        start = time.monotonic_ns() + 1_000_000
        k = 0
        while not self.stop.is_set():
            now = time.monotonic_ns()
            # Every scrape due by now, then a sleep of at most a millisecond.
            while start + k * interval_ns // n <= now:
                due = start + k * interval_ns // n
                target = k % n
                k += 1
                self.lateness_us.append((now - due) // 1000)
                if self.busy[target]:
                    self.counts["skipped"] += 1
                    continue
                self.busy[target] = 1
                self.queue.put_nowait(target)
            next_due = start + k * interval_ns // n
            await asyncio.sleep(max(0.0, min(0.001, (next_due - time.monotonic_ns()) / 1e9)))

    async def connection(self):
        reader = writer = None
        while not self.stop.is_set():
            target = await self.queue.get()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(self.requests[target])
                self.counts["sent"] += 1
                body = await self.read_body(reader)
                if b"\nprobe_success 1" in body:
                    self.counts["success"] += 1
                else:
                    self.counts["failed"] += 1
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError):
                self.counts["errors"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            finally:
                self.busy[target] = 0

    @staticmethod
    async def read_body(reader):
        """The body of one response: by Content-Length or chunked (the exporter streams)."""
        head = await reader.readuntil(b"\r\n\r\n")
        length, chunked = 0, False
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            return await reader.readexactly(length)
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # the empty trailer
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def quantile(self, q):
        if not self.lateness_us:
            return 0
        s = sorted(self.lateness_us)
        return s[min(len(s) - 1, int(q * (len(s) - 1)))]

    def report(self):
        parts = [f"{k}={v}" for k, v in self.counts.items()]
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
            parts.append(f"lateness_us_{name}={self.quantile(q)}")
        parts.append(f"lateness_us_max={max(self.lateness_us, default=0)}")
        print("scrape: " + " ".join(parts), file=sys.stderr, flush=True)

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        tasks = [asyncio.create_task(self.schedule())]
        tasks += [asyncio.create_task(self.connection()) for _ in range(self.a.connections)]
        await self.stop.wait()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.report()


def main(argv):
    a = parse_args(argv)
    with open(a.targets) as f:
        targets = [line.strip() for line in f if line.strip()]
    if not targets:
        print("scrape_loop: no targets", file=sys.stderr)
        return 2
    asyncio.run(Loop(a, targets).run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
