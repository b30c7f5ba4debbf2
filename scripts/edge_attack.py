"""The two attacks of scripts/attack-edge.sh, against a server on 127.0.0.1 only.

upload: CONCURRENCY fake-signature post-call uploads of UPLOAD_MB each, sent chunked as fast as
        the server takes them, each restarted when refused, for DURATION seconds.
slowloris: CONNECTIONS connections that send a header line every LINE_EVERY seconds, each
        reopened when closed, for DURATION seconds.

Meanwhile, every SAMPLE_EVERY seconds, it samples the server's staging folder size and open
connections, and sends a genuine signed transcription and a genuine ring on new connections,
timing each. Prints one line per sample and a summary.
"""

import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import time

HOST = "127.0.0.1"
PORT = int(os.environ["PORT"])
SERVER_PID = int(os.environ["SERVER"])
STAGING = os.environ["STAGING"]
POST_CALL_KEY = b"dev-only-post-call-key"
CLIENT_DATA_KEY = "dev-only-client-data-key"
SAMPLE_PATH = os.environ["SAMPLE"]
DURATION = float(os.environ.get("DURATION", "30"))
SAMPLE_EVERY = float(os.environ.get("SAMPLE_EVERY", "1"))


def staged_bytes():
    total = 0
    try:
        with os.scandir(STAGING) as entries:
            for entry in entries:
                try:
                    total += entry.stat().st_blocks * 512  # space actually used on disk
                except FileNotFoundError:
                    pass
    except FileNotFoundError:
        pass
    return total


def server_connections():
    """TCP sockets the server process holds open (its listening socket excluded)."""
    count = 0
    for fd in os.listdir(f"/proc/{SERVER_PID}/fd"):
        try:
            if os.readlink(f"/proc/{SERVER_PID}/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return max(count - 1, 0)


async def request(head, body=b""):
    """Sends one request on a new connection and returns (status, seconds)."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 30)
        writer.write(head + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 30)
        status = int(line.split()[1]) if line else 0
        writer.close()
    except (OSError, asyncio.TimeoutError, IndexError, ValueError):
        status = 0
    return status, time.perf_counter() - started


async def genuine_transcription(number):
    with open(SAMPLE_PATH, "rb") as sample:
        event = json.load(sample)
    event["data"]["conversation_id"] = f"conv_genuine_{number}"
    body = json.dumps(event).encode()
    timestamp = str(int(time.time()))
    digest = hmac.new(POST_CALL_KEY, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    head = (f"POST /webhook/post-call HTTP/1.1\r\nhost: {HOST}\r\ncontent-type: application/json\r\n"
            f"elevenlabs-signature: t={timestamp},v0={digest}\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode()
    return await request(head, body)


async def genuine_ring():
    body = b'{"caller_id": "+14155550123", "agent_id": "agent_1"}'
    head = (f"POST /webhook/client-data HTTP/1.1\r\nhost: {HOST}\r\ncontent-type: application/json\r\n"
            f"x-api-key: {CLIENT_DATA_KEY}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n").encode()
    return await request(head, body)


async def fake_upload(stop, megabytes, outcomes):
    chunk = b" " * (1024 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            forged = f"t={int(time.time())},v0={'ab' * 32}"
            writer.write((f"POST /webhook/post-call HTTP/1.1\r\nhost: {HOST}\r\n"
                          f"content-type: application/json\r\nelevenlabs-signature: {forged}\r\n"
                          "transfer-encoding: chunked\r\n\r\n").encode())
            for _ in range(megabytes):
                if stop.is_set():
                    break
                writer.write(framed)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 60)
            outcomes.append(line.split()[1].decode() if line else "closed")
            writer.close()
        except (OSError, asyncio.TimeoutError, IndexError):
            outcomes.append("reset")
            await asyncio.sleep(0.05)


async def slow_headers(stop, line_every, outcomes):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(HOST, PORT)
            writer.write(f"POST /webhook/client-data HTTP/1.1\r\nhost: {HOST}\r\n".encode())
            line = 0
            while not stop.is_set():
                await asyncio.sleep(line_every)
                writer.write(f"x-line-{line}: a\r\n".encode())
                await writer.drain()
                line += 1
                if reader.at_eof():
                    break
            outcomes.append("closed by server" if not stop.is_set() else "open at the end")
            writer.close()
        except (OSError, asyncio.TimeoutError):
            outcomes.append("closed by server")
            await asyncio.sleep(0.05)


async def main(attack):
    stop = asyncio.Event()
    outcomes = []
    if attack == "upload":
        count, megabytes = int(os.environ.get("CONCURRENCY", "20")), int(os.environ.get("UPLOAD_MB", "200"))
        attackers = [asyncio.create_task(fake_upload(stop, megabytes, outcomes)) for _ in range(count)]
        print(f"attack: {count} concurrent fake-signature uploads of {megabytes} MB, chunked, for {DURATION:.0f} s")
    else:
        count, every = int(os.environ.get("CONNECTIONS", "3000")), float(os.environ.get("LINE_EVERY", "5"))
        attackers = []
        for _ in range(count):
            attackers.append(asyncio.create_task(slow_headers(stop, every, outcomes)))
            await asyncio.sleep(0.001)
        print(f"attack: {count} connections sending a header line every {every:.0f} s, for {DURATION:.0f} s")
    started = time.perf_counter()
    rows, number = [], 0
    print(f"{'t (s)':>6} {'staged on disk':>15} {'server conns':>12} {'transcription':>18} {'ring':>14}")
    while time.perf_counter() - started < DURATION:
        await asyncio.sleep(SAMPLE_EVERY)
        number += 1
        (post_status, post_time), (ring_status, ring_time) = await asyncio.gather(
            genuine_transcription(number), genuine_ring())
        row = (time.perf_counter() - started, staged_bytes(), server_connections(),
               post_status, post_time, ring_status, ring_time)
        rows.append(row)
        print(f"{row[0]:6.1f} {row[1] / 2**20:12.1f} MiB {row[2]:12d} "
              f"{post_status:5d} {post_time * 1000:9.1f} ms {ring_status:5d} {ring_time * 1000:7.1f} ms", flush=True)
    stop.set()
    await asyncio.sleep(0.5)
    for task in attackers:
        task.cancel()
    await asyncio.gather(*attackers, return_exceptions=True)

    def summary(values):
        values = sorted(values)
        return f"p50 {statistics.median(values) * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"

    posts = [row for row in rows if row[3] == 200]
    rings = [row for row in rows if row[5] == 200]
    print(f"peak staged on disk: {max(row[1] for row in rows) / 2**20:.1f} MiB; "
          f"peak server connections: {max(row[2] for row in rows)}")
    print(f"genuine transcriptions stored: {len(posts)}/{len(rows)}"
          + (f" ({summary([row[4] for row in posts])})" if posts else ""))
    print(f"genuine rings answered: {len(rings)}/{len(rows)}"
          + (f" ({summary([row[6] for row in rings])})" if rings else ""))
    tally = {}
    for outcome in outcomes:
        tally[outcome] = tally.get(outcome, 0) + 1
    print("attack outcomes: " + ", ".join(f"{key}: {value}" for key, value in sorted(tally.items())))
    return 0 if len(posts) == len(rows) and len(rings) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
