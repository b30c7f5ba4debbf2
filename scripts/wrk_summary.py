"""Reads a wrk report (run with --latency) on stdin and prints one line:
"<requests/s> <p99 in ms> <non-2xx responses> <socket errors>"."""

import re
import sys

UNITS_IN_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}

report = sys.stdin.read()
rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.MULTILINE)
if not rate or not p99:
    sys.exit(f"unreadable wrk report:\n{report}")
non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
errors = re.search(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
)
print(
    f"{float(rate.group(1)):.0f}",
    f"{float(p99.group(1)) * UNITS_IN_MS[p99.group(2)]:.3f}",
    int(non_2xx.group(1)) if non_2xx else 0,
    sum(int(count) for count in errors.groups()) if errors else 0,
)
