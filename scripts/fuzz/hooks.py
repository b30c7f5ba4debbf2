"""Schemathesis hooks: sign every post-call request the way ElevenLabs does, so the fuzzer
reaches the payload handling behind the signature check instead of stopping at 401."""

import hashlib
import hmac
import json
import os
import time

import schemathesis

POST_CALL_KEY = os.environ.get("POST_CALL_KEY", "dev-only-post-call-key")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/webhook/post-call" or case.body is None:
        return
    try:
        # requests serialises `json=` bodies exactly like this before sending them.
        body = json.dumps(case.body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return
    timestamp = str(int(time.time()))
    digest = hmac.new(POST_CALL_KEY.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    case.headers = dict(case.headers or {})
    case.headers["ElevenLabs-Signature"] = f"t={timestamp},v0={digest.hexdigest()}"
