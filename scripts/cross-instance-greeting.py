#!/usr/bin/env python3
"""How soon one instance greets with what another learnt.

Starts the S3 test server (scripts/s3-test-server.sh) and a fresh Postgres database, then two
instances of the built binary (dev profile, BLOB_STORE_URL in the bucket, MEMORY_BACKEND=postgres).
For each of N new callers it delivers a signed transcription to instance A and, from its 200 on,
rings both instances every 10 ms until each greets the caller by name. Prints the delays: A's is
the time to learn the call; B's adds at most CACHE_TTL_MS, since B's first ring remembered that
the caller had no card yet.

Usage: scripts/cross-instance-greeting.py [calls]   (default 30)
  BINARY=target/release/caller-memory to measure another build (default target/debug)
  TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432)
"""

import json
import statistics
import sys
import time
import uuid

from shared_backends import REPO, deliver, greeting, instances, shared_backends

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
BUCKET = "caller-memory-bench"


def transcription(index):
    event = json.loads((REPO / "payloads/post_call_transcription.json").read_bytes())
    number = f"+1415666{index:04}"
    data = event["data"]
    data["conversation_id"] = f"conv_bench_{uuid.uuid4().hex[:12]}"
    data["metadata"]["phone_call"]["external_number"] = number
    data["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] = number
    name = f"Bench{index}"
    data["analysis"]["data_collection_results"]["first_name"]["value"] = name
    return number, name, json.dumps(event).encode()


def main():
    with shared_backends(BUCKET) as environment, instances(2, environment) as (learner, greeter):
        on_learner, on_other = [], []
        for index in range(CALLS):
            number, name, body = transcription(index)
            deliver(learner, body)
            accepted = time.monotonic()
            greeted = {}
            while len(greeted) < 2:
                for instance in (learner, greeter):
                    if instance not in greeted and greeting(instance, number).get("user_name") == name:
                        greeted[instance] = (time.monotonic() - accepted) * 1000
                if time.monotonic() - accepted > 30:
                    raise SystemExit(f"{name} was never greeted by both instances")
                time.sleep(0.01)
            on_learner.append(greeted[learner])
            on_other.append(greeted[greeter])
        for label, delays in (("A, which learnt it", on_learner), ("B, the other", on_other)):
            delays.sort()
            print(f"{CALLS} calls: post-call 200 on A -> greeted by name on {label} (ms): "
                  f"p50 {statistics.median(delays):.0f}, "
                  f"p90 {delays[int(len(delays) * 0.9) - 1]:.0f}, max {delays[-1]:.0f}")


if __name__ == "__main__":
    main()
