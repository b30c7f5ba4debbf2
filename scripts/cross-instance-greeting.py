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

import hashlib
import hmac
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent
CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
BINARY = os.environ.get("BINARY", str(REPO / "target/debug/caller-memory"))
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
POST_CALL_KEY = "dev-only-post-call-key"
CLIENT_DATA_KEY = "dev-only-client-data-key"
BUCKET = "caller-memory-bench"


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def signed(body):
    stamp = int(time.time())
    digest = hmac.new(POST_CALL_KEY.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v0={digest.hexdigest()}"


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


def start_instance(folder, environment):
    process = subprocess.Popen(
        [BINARY, "--dev", "serve"],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in process.stdout:
        found = re.search(r'"address":"([^"]+)".*"message":"listening"|"message":"listening".*"address":"([^"]+)"', line)
        if found:
            # Keep reading, so that the instance never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, "http://" + (found.group(1) or found.group(2))
    raise SystemExit(f"the instance did not start (exit {process.wait()})")


def main():
    s3 = subprocess.Popen(
        [str(REPO / "scripts/s3-test-server.sh"), BUCKET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    endpoint = s3.stdout.readline().strip().removeprefix("listening on ")
    database = f"cm_bench_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    environment = {
        "PATH": os.environ["PATH"],
        "PORT": "0",
        "LOG_FORMAT": "json",
        "RUST_LOG": "warn,caller_memory=info",
        "BLOB_STORE_URL": f"s3://{BUCKET}/bench-{uuid.uuid4().hex[:8]}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "MEMORY_BACKEND": "postgres",
        "DATABASE_URL": f"{POSTGRES}/{database}",
    }
    instances = []
    try:
        with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
            instances = [start_instance(folder, environment) for folder in (first, second)]
            (_, learner), (_, greeter) = instances
            on_learner, on_other = [], []
            for index in range(CALLS):
                number, name, body = transcription(index)
                headers = {"content-type": "application/json", "ElevenLabs-Signature": signed(body)}
                status, _ = post(f"{learner}/webhook/post-call", body, headers)
                assert status == 200
                accepted = time.monotonic()
                ring = json.dumps({"caller_id": number}).encode()
                ring_headers = {"content-type": "application/json", "x-api-key": CLIENT_DATA_KEY}
                greeted = {}
                while len(greeted) < 2:
                    for instance in (learner, greeter):
                        if instance in greeted:
                            continue
                        _, greeting = post(f"{instance}/webhook/client-data", ring, ring_headers)
                        if greeting["dynamic_variables"].get("user_name") == name:
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
    finally:
        for process, _ in instances:
            process.terminate()
            process.wait()
        s3.stdin.close()
        s3.wait()
        subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])


if __name__ == "__main__":
    main()
