"""A webhook receiver for the tests: verifies each delivery with the `standardwebhooks`
package (an implementation independent of certkeeper's) and appends what it got, one JSON
line per request, to OUTFILE. POST /gone answers 410; anything else 200 when the signature
verifies, 400 when it does not.

usage: webhook.py PORT OUTFILE SECRET
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

port, outfile, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
verifier = Webhook(secret)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verifier.verify(body, headers)
            verified = True
        except Exception as e:  # any failure to verify is recorded, and answered 400
            verified = str(e) or type(e).__name__
        with open(outfile, "a") as f:
            f.write(json.dumps({"path": self.path, "id": headers.get("webhook-id"),
                                "verified": verified, "body": body.decode()}) + "\n")
        status = 410 if self.path == "/gone" else (200 if verified is True else 400)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
