#!/usr/bin/env python3
"""ringprobe-bench's --targets: counts with k and m suffixes, refused beyond the fleet's healthy
address range, and the addresses of a million targets all inside it (none in the fault ranges,
none ending in .0 or .255)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "bench", "harness"))
import ringprobe_bench as rb  # noqa: E402


class Targets(unittest.TestCase):
    def test_suffixes(self):
        self.assertEqual(rb.parse_count("1000"), 1000)
        self.assertEqual(rb.parse_count("10k"), 10000)
        self.assertEqual(rb.parse_count("1.5K"), 1500)
        self.assertEqual(rb.parse_count("1m"), 1000000)

    def test_out_of_range_is_refused_naming_the_flag(self):
        for text in ("0", "2m", "1040385"):
            with self.assertRaises(SystemExit) as e:
                rb.parse_count(text)
            self.assertIn("--targets", str(e.exception))

    def test_a_million_addresses_stay_in_the_healthy_range(self):
        addrs = rb.addresses(rb.HEALTHY_BASE, 1000000)
        self.assertEqual(len(set(addrs)), 1000000)
        self.assertEqual(addrs[0], "127.20.0.1")
        last = [int(x) for x in addrs[-1].split(".")]
        self.assertLess(last[1], 36)
        self.assertFalse(any(a.endswith((".0", ".255")) for a in addrs[:100000]))


if __name__ == "__main__":
    unittest.main()
