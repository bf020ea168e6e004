"""A callback receiver on 127.0.0.1: records every POST, answers with the statuses it is told to, checks signatures.

    python -m tests.support.receiver --port 9555 [--secret-id ARN] [--status 500 --status 200]

Tests start it in a thread; from the command line it prints each notice (and whether its signature verifies, given
the signing secret's id on the local stack) so a callback can be tried by hand against ``make run``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedNotice:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver does (Standard Webhooks): recompute the HMAC, compare in constant time, bound the age."""
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    notice_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{notice_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


@dataclass
class Receiver:
    """Answers each POST with the next of ``statuses`` (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[ReceivedNotice] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(
                    ReceivedNotice(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                index = min(len(receiver.received), len(receiver.statuses)) - 1
                self.send_response(receiver.statuses[index])
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/data-extract"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9555)
    parser.add_argument("--status", type=int, action="append", help="answer with these statuses in turn")
    parser.add_argument("--secret-id", help="signing secret id/ARN on the local stack (AWS_ENDPOINT_URL must be set)")
    args = parser.parse_args()
    secret = None
    if args.secret_id:
        import boto3

        secret = boto3.client("secretsmanager").get_secret_value(SecretId=args.secret_id)["SecretString"]
    with Receiver(statuses=args.status or [200], port=args.port) as receiver:
        print(f"listening on {receiver.url}", flush=True)
        seen = 0
        try:
            while True:
                time.sleep(0.2)
                for notice in receiver.received[seen:]:
                    verdict = (
                        ""
                        if secret is None
                        else f" signature {'valid' if verify(secret, notice.headers, notice.body) else 'INVALID'}"
                    )
                    print(
                        f"POST {notice.path} webhook-id={notice.headers.get('webhook-id')}{verdict} "
                        f"{notice.body.decode()}",
                        flush=True,
                    )
                seen = len(receiver.received)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
