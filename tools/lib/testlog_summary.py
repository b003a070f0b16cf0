#!/usr/bin/env python3
"""Summarise a meson testlog.json as 'NAME: N passed, N failed, N skipped', followed by the
suite's slowest tests, one a line ('    12.3 s  name'), so a test that grew slow is seen.

With --total, add up the summary lines of such output into the closing line
'total: N passed, N failed, N skipped' (CI parses that line; the slowest-test lines are
indented and never match it).
"""
import json
import re
import sys

SLOWEST = 5
SUMMARY_LINE = re.compile(r"^\S+: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")


def read_log(path):
    """The testlog's records, one a test run; None when the log cannot be read."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
    except OSError:
        return None
    return records


def counts_line(name, records):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if records is None:
        counts["failed"] += 1
    for record in records or []:
        result = record.get("result", "")
        if result in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif result == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
    return f"{name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"


def slowest_lines(records, n=SLOWEST):
    timed = [(float(r.get("duration") or 0), r.get("name", "?")) for r in records or []]
    timed.sort(key=lambda t: t[0], reverse=True)
    return [f"    {seconds:6.1f} s  {name}" for seconds, name in timed[:n]]


def summarise(name, path):
    records = read_log(path)
    return "\n".join([counts_line(name, records)] + slowest_lines(records))


def total(lines):
    p = f = s = 0
    for line in "\n".join(lines).splitlines():
        m = SUMMARY_LINE.match(line)
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
