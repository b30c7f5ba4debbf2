"""Schemathesis hooks: sign every post-call request the way ElevenLabs does, so the fuzzer
reaches the payload handling behind the signature check instead of stopping at 401."""

import hashlib
import hmac
import json
import os
import time

import schemathesis

POST_CALL_KEY = os.environ.get("POST_CALL_KEY", "dev-only-post-call-key")


def sent_bytes(body):
    """The bytes the requests transport sends for a JSON body (see its serialize_json)."""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    if not isinstance(body, (dict, list, str, int, float, bool)):
        body = str(body)
    # requests serialises `json=` bodies exactly like this before sending them.
    return json.dumps(body, allow_nan=False).encode("utf-8")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/webhook/post-call":
        return
    try:
        body = sent_bytes(case.body)
    except (TypeError, ValueError):
        return
    timestamp = str(int(time.time()))
    digest = hmac.new(POST_CALL_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    if case.headers is None:
        case.headers = {}
    # Changed in place: schemathesis sends the headers object it already holds.
    case.headers["ElevenLabs-Signature"] = f"t={timestamp},v0={digest.hexdigest()}"
