#!/usr/bin/env python3
"""Summarise a meson testlog.json as 'NAME: N passed, N failed, N skipped'.

With --total, add up such lines into the closing line 'total: N passed, N failed, N skipped'.
"""
import json
import re
import sys


def summarise(name, path):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                result = json.loads(line).get("result", "")
                if result in ("OK", "EXPECTEDFAIL"):
                    counts["passed"] += 1
                elif result == "SKIP":
                    counts["skipped"] += 1
                else:
                    counts["failed"] += 1
    except OSError:
        counts["failed"] += 1
    return f"{name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"


def total(lines):
    p = f = s = 0
    for line in lines:
        m = re.search(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?", line)
        if m:
            p += int(m.group(1))
            f += int(m.group(2))
            s += int(m.group(3) or 0)
    return f"total: {p} passed, {f} failed, {s} skipped"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--total":
        print(total(sys.argv[2:]))
    else:
        print(summarise(sys.argv[1], sys.argv[2]))
