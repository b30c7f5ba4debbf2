"""What the scripts measuring several instances share: the S3 test server, a fresh Postgres
database, and instances of the built binary (dev profile) using both.

BINARY=target/release/caller-memory to measure another build (default target/debug);
TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432).
"""

import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parent.parent
BINARY = os.environ.get("BINARY", str(REPO / "target/debug/caller-memory"))
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
POST_CALL_KEY = "dev-only-post-call-key"
CLIENT_DATA_KEY = "dev-only-client-data-key"
SEARCH_DATA_KEY = "dev-only-search-data-key"


def post(url, body, headers):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def signed(body):
    stamp = int(time.time())
    digest = hmac.new(POST_CALL_KEY.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v0={digest.hexdigest()}"


def deliver(instance, body):
    """Posts a transcription to `instance`'s post-call webhook, signed now; requires a 200."""
    headers = {"content-type": "application/json", "ElevenLabs-Signature": signed(body)}
    status, _ = post(f"{instance}/webhook/post-call", body, headers)
    assert status == 200, status


def greeting(instance, number):
    """The dynamic variables `instance` answers when `number` rings."""
    ring = json.dumps({"caller_id": number}).encode()
    headers = {"content-type": "application/json", "x-api-key": CLIENT_DATA_KEY}
    _, answer = post(f"{instance}/webhook/client-data", ring, headers)
    return answer["dynamic_variables"]


def start_instance(folder, environment):
    """Starts `BINARY --dev serve` in `folder`; returns the process and its base URL."""
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


def base_environment():
    return {
        "PATH": os.environ["PATH"],
        "PORT": "0",
        "LOG_FORMAT": "json",
        "RUST_LOG": "warn,caller_memory=info",
    }


@contextlib.contextmanager
def shared_backends(bucket):
    """Yields the environment of instances sharing a fresh prefix of `bucket` on the S3 test
    server and a fresh Postgres database; both are removed afterwards."""
    s3 = subprocess.Popen(
        [str(REPO / "scripts/s3-test-server.sh"), bucket],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    endpoint = s3.stdout.readline().strip().removeprefix("listening on ")
    database = f"cm_bench_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"CREATE DATABASE {database}"], check=True)
    try:
        yield base_environment() | {
            "BLOB_STORE_URL": f"s3://{bucket}/bench-{uuid.uuid4().hex[:8]}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ALLOW_HTTP": "true",
            "MEMORY_BACKEND": "postgres",
            "DATABASE_URL": f"{POSTGRES}/{database}",
        }
    finally:
        s3.stdin.close()
        s3.wait()
        subprocess.run(["psql", f"{POSTGRES}/postgres", "-qc", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"])


@contextlib.contextmanager
def instances(count, environment):
    """Yields the base URLs of `count` instances started with `environment`, each in a folder of
    its own; stops them afterwards."""
    with contextlib.ExitStack() as stack:
        started = []
        stack.callback(lambda: [(process.terminate(), process.wait()) for process, _ in started])
        for _ in range(count):
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            started.append(start_instance(folder, environment))
        yield [address for _, address in started]
