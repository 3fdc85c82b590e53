"""A local callback receiver for trying taskcore out: prints each callback, answers 200.

Not for production: it exists so that the README walkthrough has somewhere to call.
"""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def make_receiver(host: str, port: int, out: TextIO = sys.stdout) -> ThreadingHTTPServer:
    """A server that prints one JSON line per callback to ``out`` and answers 200."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            line = {
                "path": self.path,
                "idempotencyKey": self.headers.get("Idempotency-Key"),
                "body": body.decode("utf-8", "replace"),
            }
            print(json.dumps(line), file=out, flush=True)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "15")
            self.end_headers()
            self.wfile.write(b'{"received": 1}')

    return _Server((host, port), Handler)
