#!/usr/bin/env python3
"""Summarise a meson testlog.json as 'NAME: N passed, N failed, N skipped', followed by the
suite's slowest tests, one a line ('    12.3 s  name'), so a test that grew slow is seen.

A GoogleTest binary registered with `protocol: 'gtest'` counts as its test cases, read from the
JUnit log meson writes beside testlog.json (testlog.junit.xml): a GTEST_SKIP'd case is a skip
even when the binary exits 0, and the skipped cases are listed under the counts. A binary that
failed with no failed case in its JUnit log (a crash, a sanitizer report at exit, a timeout)
counts one failure more. Every other test counts once, by its result: a test that exits 77 is a
skip.

With --total, add up the summary lines of such output into the closing line
'total: N passed, N failed, N skipped' (CI parses that line; the slowest-test and skipped-case
lines are indented and never match it).
"""
import json
import re
import sys
import xml.etree.ElementTree as ET

SLOWEST = 5
SUMMARY_LINE = re.compile(r"^\S+: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?$")
PASSED = ("OK", "EXPECTEDFAIL")


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


def junit_path(testlog_path):
    return re.sub(r"\.json$", "", testlog_path) + ".junit.xml"


def read_cases(path):
    """{'PROJECT.TEST': [(case name, 'passed'|'failed'|'skipped'), ...]} from meson's JUnit log,
    for the tests whose own JUnit output meson merged (suites named PROJECT.TEST.SUITE; a
    GoogleTest suite name has no dot)."""
    cases = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return cases
    for suite in root.iter("testsuite"):
        name = suite.get("name", "")
        if "." not in name:
            continue
        test, gtest_suite = name.rsplit(".", 1)
        for case in suite.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                outcome = "failed"
            elif case.find("skipped") is not None or case.get("status") == "notrun":
                outcome = "skipped"
            else:
                outcome = "passed"
            cases.setdefault(test, []).append((f"{gtest_suite}.{case.get('name', '?')}", outcome))
    return cases


def split_name(record):
    """('ringprobe', 'health') from a record named 'ringprobe:unit / health'."""
    full = record.get("name", "?")
    return full.split(":", 1)[0], full.rsplit(" / ", 1)[-1]


def cases_of(record, cases):
    """The record's cases: meson 1.0 names its suites PROJECT.FULL NAME.SUITE, later ones
    PROJECT.TEST.SUITE."""
    project, test = split_name(record)
    full = record.get("name", "?")
    return cases.get(f"{project}.{full}") or cases.get(f"{project}.{test}")


def count(records, junit):
    """The counts and the skipped cases' names ('test: Suite.Case')."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    skipped = []
    if records is None:
        counts["failed"] += 1
    all_cases = read_cases(junit) if junit else {}
    for record in records or []:
        result = record.get("result", "")
        test = split_name(record)[1]
        cases = cases_of(record, all_cases)
        if not cases:
            if result in PASSED:
                counts["passed"] += 1
            elif result == "SKIP":
                counts["skipped"] += 1
                skipped.append(test)
            else:
                counts["failed"] += 1
            continue
        for case, outcome in cases:
            counts[outcome] += 1
            if outcome == "skipped":
                skipped.append(f"{test}: {case}")
        if result not in PASSED and result != "SKIP":
            if not any(outcome == "failed" for _, outcome in cases):
                counts["failed"] += 1
    return counts, skipped


def counts_line(name, counts):
    return f"{name}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"


def slowest_lines(records, n=SLOWEST):
    timed = [(float(r.get("duration") or 0), r.get("name", "?")) for r in records or []]
    timed.sort(key=lambda t: t[0], reverse=True)
    return [f"    {seconds:6.1f} s  {name}" for seconds, name in timed[:n]]


def summarise(name, path, junit=None):
    records = read_log(path)
    counts, skipped = count(records, junit if junit is not None else junit_path(path))
    lines = [counts_line(name, counts)]
    lines += [f"    skipped: {s}" for s in skipped]
    return "\n".join(lines + slowest_lines(records))


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
