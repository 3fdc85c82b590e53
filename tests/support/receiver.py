"""A real HTTP callback receiver on 127.0.0.1 that records every call.

Paths choose the answer: ``/status/<code>`` answers that code, ``/sleep/<seconds>`` waits
first, ``/redirect/<code>?to=<url>`` redirects; anything else answers 200 ``{"ok": true}``.
``hook`` (if set) runs for each call before answering, e.g. to report a deferred outcome.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class ReceivedCall:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class CallbackReceiver:
    """Start with ``start()``; ``url(path)`` builds callback URLs; ``calls`` lists requests."""

    def __init__(self) -> None:
        self.calls: list[ReceivedCall] = []
        self.hook: Callable[[ReceivedCall], None] | None = None
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/ok") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
        self.hook = None

    def calls_to(self, path: str) -> list[ReceivedCall]:
        with self._lock:
            return [c for c in self.calls if c.path == path]

    def _record(self, call: ReceivedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                call = ReceivedCall(
                    parts.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                receiver._record(call)
                if receiver.hook:
                    receiver.hook(call)
                self._answer(parts.path, parse_qs(parts.query))

            do_GET = do_POST

            def _answer(self, path: str, query: dict[str, list[str]]) -> None:
                segments = path.strip("/").split("/")
                status, headers, payload = 200, {}, b'{"ok": true}'
                if segments[0] == "status" and len(segments) > 1:
                    status, payload = int(segments[1]), json.dumps({"status": segments[1]}).encode()
                elif segments[0] == "sleep" and len(segments) > 1:
                    time.sleep(float(segments[1]))
                elif segments[0] == "redirect" and len(segments) > 1:
                    status, headers = int(segments[1]), {"Location": query.get("to", ["/ok"])[0]}
                elif segments[0] == "big":
                    payload = b"x" * int(segments[1] if len(segments) > 1 else 1_000_000)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        return Handler
