"""A real HTTP(S) webhook receiver for the notification tests, and the receiver-side check of
LivChat's signature exactly as README.md tells people to write it."""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = "s3cret-for-hmac"
TOLERANCE = 300  # seconds: README's replay window


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """README.md's snippet: the signature covers "<timestamp>.<body>", the timestamp is recent."""
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE:
        return False  # too old (a replay) or from the future
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


class Receiver:
    """A real HTTP server: records every request (any method), answers with the next planned
    status (a 3xx with `location`). `host`: any loopback address (127.0.0.2 is a second one),
    `port` 0 for a free one; `tls`: an ssl.SSLContext to serve HTTPS with (the SNI name it saw lands in `sni`)."""

    def __init__(
        self,
        statuses: list[int] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        location: str = "",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        self.sni: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"method": self.command, "headers": self.headers, "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if location and 300 <= status < 400:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = do_PUT = answer  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        scheme = "http"
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_port
        self.url = f"{scheme}://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, request: dict, secret: str = SECRET) -> dict:
        headers = request["headers"]
        assert verify(secret, headers["X-LivChat-Timestamp"], headers["X-LivChat-Signature"], request["body"])
        return json.loads(request["body"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
