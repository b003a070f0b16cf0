#!/usr/bin/env python3
"""ringprobe-floor in each of its modes (direct or plain descriptors, a quantum or a wake per
event, delayed ACK on or off, TCP or HTTP) against ringprobe-fleet on loopback: every probe it
started is answered, the fleet saw one request per probe, and the stats line names the mode.
The floor is the reference ringprobe's cost is divided by, so a mode that silently stops
probing would flatter every ratio.

Usage: floor_modes_test.py FLOOR_EXE FLEET_EXE"""

import json
import os
import signal
import subprocess
import sys
import unittest
import urllib.request

FLOOR, FLEET = sys.argv[1], sys.argv[2]
TARGETS = 200
FIRST = "127.21.0.1"


def parse_stats(text):
    line = next(l for l in text.splitlines() if l.startswith("floor:"))
    return dict(kv.split("=", 1) for kv in line.split()[1:])


class FloorModes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fleet = subprocess.Popen([FLEET, "--port", "0", "--control", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, text=True)
        cls.port = cls.control = None
        for _ in range(10):  # 'port N', 'control A:P', 'ready'
            line = cls.fleet.stdout.readline().strip()
            if line.startswith("port "):
                cls.port = int(line.split()[1])
            elif line.startswith("control "):
                cls.control = line.split()[1]
            elif line == "ready" or not line:
                break
        if cls.port is None or cls.control is None:
            cls.fleet.kill()
            raise RuntimeError("ringprobe-fleet did not start")

    @classmethod
    def tearDownClass(cls):
        cls.fleet.send_signal(signal.SIGTERM)
        try:
            cls.fleet.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.fleet.kill()
            cls.fleet.wait()

    def fleet_requests(self):
        url = f"http://{self.control}/counts?reset=1"
        with urllib.request.urlopen(url, timeout=10) as r:
            return sum(json.loads(r.read()).values())

    def run_floor(self, *flags):
        self.fleet_requests()  # zero the counts
        argv = [FLOOR, "--first", FIRST, "--count", str(TARGETS), "--port", str(self.port),
                "--interval-ms", "250", "--timeout-ms", "2000", "--duration", "1", *flags]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return parse_stats(done.stderr), self.fleet_requests()

    def check(self, *flags, expect):
        stats, seen = self.run_floor(*flags)
        for key, value in expect.items():
            self.assertEqual(stats[key], value, f"{flags}: {stats}")
        started = int(stats["probes_started"])
        # One interval's worth at least: the run is four intervals long.
        self.assertGreaterEqual(started, TARGETS, stats)
        self.assertEqual(int(stats["probes_completed"]), started, stats)
        self.assertEqual(int(stats["ok"]), started, stats)
        self.assertEqual(int(stats["prober_errors"]), 0, stats)
        if stats["kind"] == "http":
            self.assertEqual(seen, started, f"{flags}: the fleet answered {seen} requests")

    def test_default_is_direct_with_a_quantum_and_delayed_ack(self):
        self.check(expect={"descriptors": "direct", "quantum_us": "1000", "delayed_ack": "on"})

    def test_plain_descriptors(self):
        self.check("--descriptors", "plain", expect={"descriptors": "plain"})

    def test_wake_per_event(self):
        self.check("--quantum-us", "0", expect={"quantum_us": "0", "descriptors": "direct"})

    def test_quick_ack(self):
        self.check("--delayed-ack", "off", expect={"delayed_ack": "off"})

    def test_reset_close_keeps_process_descriptors(self):
        self.check("--close", "reset", expect={"descriptors": "plain", "close": "reset"})

    def test_socket_syscall_keeps_process_descriptors(self):
        self.check("--socket", "syscall", expect={"descriptors": "plain", "socket": "syscall"})

    def test_tcp(self):
        self.check("--kind", "tcp", expect={"kind": "tcp", "descriptors": "direct"})


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
