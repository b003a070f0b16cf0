#!/usr/bin/env python3
"""ringprobe-bench's charts from a results document of known figures: each peer's bar carries
ringprobe's ratio to it, a missing figure reads n/a, probes per second is bars at one size and
lines across sizes, lateness is a cumulative distribution naming the probers without one, the
command is in every SVG, and the same document draws the same bytes."""

import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench", "harness"))
import ringprobe_bench as rb  # noqa: E402

COMMAND = "bench/ringprobe-bench --targets 1k,10k --probers ringprobe,haproxy,floor"


def result(prober, cpu, rate, lateness=None):
    r = {"prober": prober, "cpu_us_per_probe": cpu, "achieved_per_s": rate}
    if lateness is not None:
        r["lateness_us"] = lateness
    return r


def document(sizes):
    doc = {"command": COMMAND, "scenario_template": {"kind": "http", "interval_ms": 1000},
           "results": {}}
    for t in sizes:
        doc["results"][str(t)] = [
            # Two rounds of ringprobe: drawn at their median, 20.
            result("ringprobe", 18.0, t * 0.99, {"p50": 80, "p90": 150, "p99": 600,
                                                 "p999": 2000, "max": 5000}),
            result("ringprobe", 22.0, t * 0.99, {"p50": 90, "p90": 160, "p99": 700,
                                                 "p999": 2100, "max": 5100}),
            result("haproxy", 40.0, t * 0.98),
            result("floor", 25.0 if t < 10000 else None, t,
                   {"p50": 40, "p90": 100, "p99": 900, "p999": 3000, "max": 8000}),
        ]
    return doc


class Charts(unittest.TestCase):
    def draw(self, sizes):
        out = tempfile.mkdtemp(prefix="rp-charts-")
        paths = rb.charts(document(sizes), out, COMMAND)
        texts = {}
        for p in paths:
            with open(p) as f:
                texts[os.path.basename(p)] = f.read()
        return out, paths, texts

    def test_three_charts_with_the_command(self):
        _, paths, texts = self.draw([1000, 10000])
        self.assertEqual(sorted(texts), ["cpu_per_probe.svg", "lateness.svg", "probes_per_s.svg"])
        for name, text in texts.items():
            self.assertIn("made by: " + COMMAND, text, name)

    def test_peer_bars_carry_ringprobes_ratio(self):
        _, _, texts = self.draw([1000, 10000])
        cpu = texts["cpu_per_probe.svg"]
        # ringprobe 20 (median of 18 and 22) against HAProxy 40 at both sizes, the floor 25 at
        # 1k; the floor has no figure at 10k.
        self.assertEqual(len(re.findall(r">0\.50x<", cpu)), 2, "ratio to HAProxy at each size")
        self.assertEqual(len(re.findall(r">0\.80x<", cpu)), 1, "ratio to the floor at 1k")
        self.assertIn(">n/a<", cpu)
        self.assertIn(">1k targets<", cpu)
        self.assertIn(">10k targets<", cpu)

    def test_rate_is_lines_across_sizes_and_bars_at_one_size(self):
        _, _, across = self.draw([1000, 10000])
        _, _, one = self.draw([1000])
        bar = 'style="fill: #1f77b4"'  # ringprobe's colour, filled: a bar (or its legend key)
        line = "stroke: #1f77b4; stroke-width: 1.5"
        self.assertNotIn(bar, across["probes_per_s.svg"])
        self.assertIn(line, across["probes_per_s.svg"])
        self.assertIn(bar, one["probes_per_s.svg"])
        self.assertNotIn(line, one["probes_per_s.svg"])

    def test_lateness_is_a_distribution_naming_who_has_none(self):
        _, _, texts = self.draw([1000, 10000])
        lat = texts["lateness.svg"]
        self.assertIn("Probe-start lateness, 10,000 targets (haproxy: n/a)", lat)
        self.assertIn("fraction of probe starts", lat)
        self.assertIn(">ringprobe<", lat)
        self.assertIn(">floor<", lat)

    def test_same_document_same_bytes(self):
        _, _, first = self.draw([1000, 10000])
        _, _, second = self.draw([1000, 10000])
        self.assertEqual(first, second)


if __name__ == "__main__":
    unittest.main()
