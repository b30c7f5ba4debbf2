#!/usr/bin/env python3
"""Client-data and search-data throughput and p99 with one and with two instances sharing a bucket
(the S3 test server) and Postgres, beside one instance on the local disk with the embedded store,
all of the same build (dev profile).

Starts the three instances (scripts/shared_backends.py), teaches the sample caller to each setup
with the signed sample transcription, waits until every instance greets her by name, then runs
wrk (2 threads, CONNECTIONS connections, DURATION) on each operation and setup, in ROUNDS
interleaved rounds. Two instances are loaded at once with half the connections each, as a
round-robin load balancer spreads them: their rates add up and the higher p99 is reported.
Prints the mean of the rounds. The instances, the S3 server, Postgres and wrk share the machine,
so the figures are for its cores in total, not per instance.

Usage: scripts/instances-load.py
  CONNECTIONS=16   DURATION=5s   ROUNDS=2
  BINARY=target/release/caller-memory to measure another build (default target/debug)
"""

import os
import subprocess
import time

from shared_backends import (
    CLIENT_DATA_KEY,
    REPO,
    SEARCH_DATA_KEY,
    base_environment,
    deliver,
    greeting,
    instances,
    shared_backends,
)

CONNECTIONS = int(os.environ.get("CONNECTIONS", "16"))
DURATION = os.environ.get("DURATION", "5s")
ROUNDS = int(os.environ.get("ROUNDS", "2"))
BUCKET = "caller-memory-bench"
SAMPLE = REPO / "payloads/post_call_transcription.json"
SAMPLE_NUMBER = "+14155550123"
SAMPLE_NAME = "Maria"
OPERATIONS = {
    "client-data": (REPO / "payloads/client_data.json", CLIENT_DATA_KEY),
    "search-data": (REPO / "payloads/search_data.json", SEARCH_DATA_KEY),
}


def learn_sample(setup):
    """Delivers the sample transcription to the setup's first instance and waits until each of
    its instances greets the caller by name."""
    deliver(setup[0], SAMPLE.read_bytes())
    deadline = time.monotonic() + 30
    for instance in setup:
        while greeting(instance, SAMPLE_NUMBER).get("user_name") != SAMPLE_NAME:
            if time.monotonic() > deadline:
                raise SystemExit(f"{instance} did not learn the sample caller within 30 s")
            time.sleep(0.05)


def wrk(instance, operation, connections):
    """Starts one wrk run on `instance`'s `operation`."""
    body, key = OPERATIONS[operation]
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{connections}", f"-d{DURATION}", "--latency",
         "-s", str(REPO / "scripts/wrk-post.lua"), f"{instance}/webhook/{operation}"],
        env=os.environ | {"WRK_BODY": str(body), "WRK_KEY": key},
        stdout=subprocess.PIPE,
        text=True,
    )


def summary(run):
    """(requests/s, p99 ms, failed requests) of a finished wrk run."""
    report, _ = run.communicate()
    line = subprocess.run(
        ["python3", str(REPO / "scripts/wrk_summary.py")],
        input=report, capture_output=True, text=True, check=True,
    ).stdout.split()
    return float(line[0]), float(line[1]), int(line[2]) + int(line[3])


def measure(setup, operation):
    """Loads every instance of `setup` at once, with the connections shared between them."""
    runs = [wrk(instance, operation, CONNECTIONS // len(setup)) for instance in setup]
    figures = [summary(run) for run in runs]
    return (sum(rate for rate, _, _ in figures), max(p99 for _, p99, _ in figures),
            sum(failed for _, _, failed in figures))


def main():
    with instances(1, base_environment()) as local, \
            shared_backends(BUCKET) as environment, instances(2, environment) as shared:
        setups = {
            "local disk + embedded, 1 instance": local,
            "bucket + Postgres, 1 instance": shared[:1],
            "bucket + Postgres, 2 instances": shared,
        }
        learn_sample(local)
        learn_sample(shared)
        results = {}
        for round in range(ROUNDS):
            names = list(setups)
            # Each round starts with another setup, so that none is always measured first.
            names = names[round % len(names):] + names[:round % len(names)]
            for name in names:
                for operation in OPERATIONS:
                    figures = measure(setups[name], operation)
                    print(f"round {round + 1}: {name}, {operation}: {figures[0]:,.0f} requests/s, "
                          f"p99 {figures[1]:.2f} ms, {figures[2]} failed", flush=True)
                    results.setdefault((name, operation), []).append(figures)
        print(f"\nmean of {ROUNDS} rounds (wrk, 2 threads, {CONNECTIONS} connections, {DURATION}):")
        for (name, operation), rows in results.items():
            rate = sum(row[0] for row in rows) / len(rows)
            p99 = sum(row[1] for row in rows) / len(rows)
            failed = sum(row[2] for row in rows)
            print(f"| {name} | {operation} | {rate:,.0f} requests/s | p99 {p99:.2f} ms | {failed} failed |")


if __name__ == "__main__":
    main()
