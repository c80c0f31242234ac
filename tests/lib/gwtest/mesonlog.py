# SPDX-License-Identifier: MIT
"""What tools/gw reads from meson: a test log's results by suite, and a
build's fuzz targets.  Run by tools/gw as a program:

    python3 -m gwtest.mesonlog results BUILD/meson-logs/testlog.json
        "SUITE passed failed skipped" per suite, then "* ..." for all
    python3 -m gwtest.mesonlog fuzz-targets < (meson introspect BUILD --targets)
        "NAME PATH" of every fuzz_* executable
"""
import json
import sys


def results(lines):
    """{suite: [passed, failed, skipped]} and "*" for all, from the lines
    of a meson testlog.json (one JSON object per line).  meson 1.0 records
    no suite field: the suite is in the name, "PROJECT:SUITE / TEST" (every
    test of gw is in one suite).  A result this table does not know, or a
    line that is not JSON, counts as a failure."""
    counts = {"*": [0, 0, 0]}
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            t = json.loads(line)
            result = t.get("result")
            suites = t.get("suite") or [t.get("name", "").split(" / ")[0]]
        except ValueError:
            result, suites = None, []
        if result in ("OK", "EXPECTEDFAIL"):
            k = 0
        elif result == "SKIP":
            k = 2
        else:  # FAIL, UNEXPECTEDPASS, TIMEOUT, ERROR, or garbage
            k = 1
        for s in {x.split(":")[-1] for x in suites} | {"*"}:
            counts.setdefault(s, [0, 0, 0])[k] += 1
    return counts


def fuzz_targets(targets):
    """(name, path) of every fuzz_* executable in meson's target list."""
    return [(t["name"], t["filename"][0]) for t in targets
            if t["type"] == "executable" and t["name"].startswith("fuzz_")]


def main(argv):
    if len(argv) == 2 and argv[0] == "results":
        with open(argv[1]) as f:
            counts = results(f)
        for s in sorted(counts, key=lambda s: (s == "*", s)):
            print(s, *counts[s])
        return 0
    if argv == ["fuzz-targets"]:
        for name, path in fuzz_targets(json.load(sys.stdin)):
            print(name, path)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
