#!/usr/bin/env python3
"""tools/lib/testlog_summary.py against a testlog.json and JUnit log written here: a GoogleTest
binary that exits 0 with a GTEST_SKIP'd case shows that case as a skip, a binary that crashed
with every case passed counts as failed, a test that exits 77 is a skip, and --total adds the
suites' lines up."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools/lib"))
import testlog_summary  # noqa: E402

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" errors="0" failures="0">
  <testsuite name="ringprobe.ringprobe:integration+threads / engine_tcp.EngineTcp" tests="3">
    <testcase name="RefusedIsRefused" classname="EngineTcp"/>
    <testcase name="DelayedAck" classname="EngineTcp"><skipped message="kernel 6.7"/></testcase>
    <testcase name="Spread" classname="EngineTcp"/>
  </testsuite>
  <testsuite name="ringprobe.crashes.Crash" tests="1">
    <testcase name="PassesThenCrashesAtExit" classname="Crash"/>
  </testsuite>
  <testsuite name="ringprobe.fails.Fails" tests="1">
    <testcase name="Fails" classname="Fails"><failure message="x"/></testcase>
  </testsuite>
  <testsuite name="ringprobe" tests="2">
    <testcase name="bench_plan" classname="ringprobe"/>
    <testcase name="no_kernel" classname="ringprobe"/>
  </testsuite>
</testsuites>
"""

RECORDS = [
    {"name": "ringprobe:integration+threads / engine_tcp", "result": "OK", "duration": 3.0},
    {"name": "ringprobe:unit / crashes", "result": "FAIL", "duration": 1.0},
    {"name": "ringprobe:unit / fails", "result": "FAIL", "duration": 1.0},
    {"name": "ringprobe:bench-smoke / bench_plan", "result": "OK", "duration": 2.0},
    {"name": "ringprobe:unit / no_kernel", "result": "SKIP", "duration": 0.1},
]


class Summary(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.dir.name, "testlog.json")
        with open(self.log, "w", encoding="utf-8") as f:
            for record in RECORDS:
                f.write(json.dumps(record) + "\n")
        with open(os.path.join(self.dir.name, "testlog.junit.xml"), "w", encoding="utf-8") as f:
            f.write(JUNIT)

    def tearDown(self):
        self.dir.cleanup()

    def test_a_skipped_case_of_a_passing_binary_is_a_skip(self):
        lines = testlog_summary.summarise("debug", self.log).splitlines()
        # engine_tcp: 2 passed 1 skipped; crashes: 1 passed + 1 failed; fails: 1 failed;
        # bench_plan: 1 passed; no_kernel: 1 skipped.
        self.assertEqual(lines[0], "debug: 4 passed, 2 failed, 2 skipped")
        self.assertIn("    skipped: engine_tcp: EngineTcp.DelayedAck", lines)
        self.assertIn("    skipped: no_kernel", lines)

    def test_without_a_junit_log_each_test_counts_once(self):
        os.remove(os.path.join(self.dir.name, "testlog.junit.xml"))
        first = testlog_summary.summarise("debug", self.log).splitlines()[0]
        self.assertEqual(first, "debug: 2 passed, 2 failed, 1 skipped")

    def test_an_unreadable_log_is_a_failure(self):
        first = testlog_summary.summarise("asan", self.log + ".missing").splitlines()[0]
        self.assertEqual(first, "asan: 0 passed, 1 failed, 0 skipped")

    def test_total_adds_the_suites_and_ignores_indented_lines(self):
        summary = testlog_summary.summarise("debug", self.log)
        line = testlog_summary.total([summary, "format: 1 passed, 0 failed"])
        self.assertEqual(line, "total: 5 passed, 2 failed, 2 skipped")


if __name__ == "__main__":
    unittest.main()
