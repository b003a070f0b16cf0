#!/usr/bin/env python3
"""ringprobe-bench's maximum-rate search, without a fleet: measure() is replaced by a model
prober with a known capacity, so the search's answer can be checked against it. The grid alone
finds the capacity only to the grid's spacing; the refinement halves the gap after it."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench", "harness"))
import ringprobe_bench as rb  # noqa: E402


class Model:
    """A prober that achieves what is asked up to `capacity`, and `capacity` beyond."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.name = "model"

    def measure(self, prober, sc, args, exes, cpus_prober, cpus_fleet, detect=True, drain=True):
        assert not detect and not drain, "a max-rate step neither detects nor drains"
        done = min(sc.asked_per_s, self.capacity)
        return {"asked_per_s": sc.asked_per_s, "achieved_per_s": done,
                "achieved_ratio": done / sc.asked_per_s, "cpu_share": 0.5,
                "cpu_us_per_probe": 30.0, "fleet_cpu_share": 0.3}


class MaxRate(unittest.TestCase):
    def search(self, capacity, refine):
        model = Model(capacity)
        saved = rb.measure, rb.log
        rb.measure, rb.log = model.measure, lambda msg: None
        try:
            args = rb.parse_args(["--max-rate-steps", "10000,20000,30000,40000,50000",
                                  "--max-rate-refine", str(refine), "--detect", "0"])
            out = rb.max_rate(lambda: model, args, {}, [0], [1], 1000)
        finally:
            rb.measure, rb.log = saved
        return out

    def test_the_grid_alone_knows_the_capacity_only_to_its_spacing(self):
        out = self.search(37000, refine=0)
        self.assertEqual(out["sustained_per_s"], 30303.030303030304)  # 33 ms for 1,000 targets
        self.assertEqual(out["peak_per_s"], 37000)
        self.assertFalse(any(s.get("refine") for s in out["steps"]))

    def test_refinement_halves_the_gap_after_the_grid(self):
        out = self.search(37000, refine=3)
        refined = [s for s in out["steps"] if s.get("refine")]
        self.assertEqual(len(refined), 3)
        # 30,303 sustained on the grid, 40,000 not: the steps between find more than 35,000
        # kept up (within 95 % of asked; each asked rate is what a whole-millisecond interval
        # gives for 1,000 targets), and never more than the model's capacity.
        self.assertGreater(out["sustained_per_s"], 35000)
        self.assertLessEqual(out["sustained_per_s"], 37000)
        for s in refined:
            self.assertGreater(s["asked_per_s"], 30303)
            self.assertLess(s["asked_per_s"], 40001)

    def test_no_refinement_when_nothing_failed_or_nothing_kept_up(self):
        out = self.search(90000, refine=2)
        self.assertFalse(any(s.get("refine") for s in out["steps"]))
        self.assertEqual(out["sustained_per_s"], 50000)
        out = self.search(5000, refine=2)
        self.assertFalse(any(s.get("refine") for s in out["steps"]))
        self.assertIsNone(out["sustained_per_s"])


if __name__ == "__main__":
    unittest.main()
