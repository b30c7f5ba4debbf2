"""An S3-protocol server for the tests: moto's S3 service on 127.0.0.1, on a free port.

Prints "listening on http://127.0.0.1:PORT" once it accepts requests, creates the buckets named
on the command line, and stops when its standard input closes (when the test process that
started it ends, however it ends).

Requests are handled one at a time: moto checks a conditional write (If-None-Match, If-Match)
and then stores the object in two steps, which concurrent threads could interleave, whereas a
real S3 server decides each conditional write atomically.
"""

import os
import sys
import threading
import urllib.request

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

# moto routes a request to its S3 service by the signature's credential scope.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)


class QuietHandler(WSGIRequestHandler):
    def log(self, *args, **kwargs):
        pass


def one_at_a_time(app):
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # The whole body is produced inside the lock: the answer depends on it.
            return [b"".join(app(environ, start_response))]

    return serialised


def main():
    app = one_at_a_time(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    for bucket in sys.argv[1:]:
        request = urllib.request.Request(
            f"{endpoint}/{bucket}", method="PUT", headers={"Authorization": AUTHORIZATION}
        )
        urllib.request.urlopen(request).read()
    print(f"listening on {endpoint}", flush=True)
    # The starter may stop reading once it has the address: nothing more goes to its pipe.
    sys.stdout = open(os.devnull, "w")
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
