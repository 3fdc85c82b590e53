"""A fast callback receiver that records when each callback arrived.

One asyncio event loop speaking just enough HTTP/1.1 (keep-alive, Content-Length bodies,
TCP_NODELAY, which asyncio sets on every TCP transport): any POST is answered 200 and its
arrival time and body kept; the body is decoded only when the harness asks, so that the hot
path is a buffer scan and a ``time.time()``.

- ``GET /_stats``: ``{"count": n, "arrivals": [[epoch_seconds, taskId], ...]}``
- ``POST /_reset``: forget everything recorded.

Run: ``python -m bench.receiver --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from typing import Any

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"received": 1}'
)


class Recorder:
    """Arrival times and raw bodies, in arrival order."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []

    def record(self, body: bytes) -> None:
        self.arrivals.append((time.time(), body))

    def stats(self) -> dict[str, Any]:
        arrivals = [[t, _task_id(b)] for t, b in self.arrivals]
        return {"count": len(arrivals), "arrivals": arrivals}


def _task_id(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("taskId") if isinstance(data, dict) else None


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


class ReceiverProtocol(asyncio.Protocol):
    """One connection: parse requests out of the buffer, answer each in order."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and self._one_request():
            pass

    def _one_request(self) -> bool:
        """Handle the first complete request in the buffer; False when none is complete."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = self.buffer[:end]
        match = _LENGTH.search(head)
        total = end + 4 + (int(match.group(1)) if match else 0)
        if len(self.buffer) < total:
            return False
        body, self.buffer = self.buffer[end + 4 : total], self.buffer[total:]
        assert self.transport is not None
        self.transport.write(self._answer(head, body))
        if _CLOSE.search(head):
            self.transport.close()
            self.transport = None
        return True

    def _answer(self, head: bytes, body: bytes) -> bytes:
        line = head.split(b"\r\n", 1)[0]
        if line.startswith(b"GET /_stats"):
            return _response("200 OK", json.dumps(self.recorder.stats()).encode())
        if line.startswith(b"POST /_reset"):
            self.recorder.arrivals.clear()
            return _OK
        if line.startswith(b"POST "):
            self.recorder.record(body)
        return _OK

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    recorder = Recorder()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ReceiverProtocol(recorder), host, port, backlog=1024, reuse_address=True
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
