"""A fast callback receiver that records when each callback arrived, and can fail some.

One asyncio event loop speaking just enough HTTP/1.1 (keep-alive, Content-Length bodies,
TCP_NODELAY, which asyncio sets on every TCP transport): any POST is answered 200 and its
arrival time and body kept; the body is decoded only when the harness asks, so that the hot
path is a buffer scan and a ``time.time()``.

With fault rates (the soak run), each POST is instead answered at random: 500, an answer
held back for ``--slow-s`` (past the caller's timeout), or a connection reset (RST, no
answer); the rest 200. Each delivery is recorded with the answer it got.

- ``GET /_stats``: ``{"count": n, "arrivals": [[epoch_seconds, taskId], ...]}``
- ``GET /_deliveries``: ``{"answers": {answer: n}, "deliveries": [[taskId, attempt,
  answer], ...]}``, answer one of ``ok``, ``error``, ``slow``, ``reset``
- ``POST /_reset``: forget everything recorded.

Run: ``python -m bench.receiver --port 9100 [--error-rate 0.2 --slow-rate 0.05 --slow-s 3
--reset-rate 0.05 --seed 1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"received": 1}'
)


@dataclass(frozen=True)
class Faults:
    """How often a callback is failed, and how: each rate is a probability per POST."""

    error_rate: float = 0.0
    slow_rate: float = 0.0
    reset_rate: float = 0.0
    slow_s: float = 3.0

    def __post_init__(self) -> None:
        if min(self.error_rate, self.slow_rate, self.reset_rate) < 0 or self.total > 1:
            raise ValueError("fault rates must be >= 0 and add up to at most 1")

    @property
    def total(self) -> float:
        return self.error_rate + self.slow_rate + self.reset_rate

    def choose(self, draw: float) -> str:
        """The answer for a uniform ``draw`` in [0, 1): error, slow, reset or ok."""
        for answer, rate in (("error", self.error_rate), ("slow", self.slow_rate),
                             ("reset", self.reset_rate)):  # fmt: skip
            if draw < rate:
                return answer
            draw -= rate
        return "ok"


class Recorder:
    """Arrival times, raw bodies and the answer each got, in arrival order."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes, str]] = []

    def record(self, body: bytes, answer: str = "ok") -> None:
        self.arrivals.append((time.time(), body, answer))

    def clear(self) -> None:
        self.arrivals.clear()

    def stats(self) -> dict[str, Any]:
        arrivals = [[t, _callback(b)[0]] for t, b, _ in self.arrivals]
        return {"count": len(arrivals), "arrivals": arrivals}

    def deliveries(self) -> dict[str, Any]:
        rows = [[*_callback(b), answer] for _, b, answer in self.arrivals]
        return {"answers": dict(Counter(a for _, _, a in self.arrivals)), "deliveries": rows}


def _callback(body: bytes) -> tuple[str | None, int | None]:
    """The ``taskId`` and ``attempt`` of a callback body (None where absent)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    return data.get("taskId"), data.get("attempt")


def _response(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


_ERROR = _response("500 Internal Server Error", b'{"received": false}')


class ReceiverProtocol(asyncio.Protocol):
    """One connection: parse requests out of the buffer, answer each in order.

    A held-back (slow) answer stops the parsing of later requests on the connection until
    it is written, so answers keep their order.
    """

    def __init__(
        self, recorder: Recorder, faults: Faults | None = None, rng: random.Random | None = None
    ) -> None:
        self.recorder = recorder
        self.faults = faults if faults is not None and faults.total > 0 else None
        self.rng = rng or random.Random()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.holding = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._drain()

    def _drain(self) -> None:
        while self.transport is not None and not self.holding and self._one_request():
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
        line = head.split(b"\r\n", 1)[0]
        if self.faults is not None and line.startswith(b"POST ") and not _is_control(line):
            self._faulty(head, body)
        else:
            self._write(head, self._answer(line, body))
        return True

    def _write(self, head: bytes, answer: bytes) -> None:
        assert self.transport is not None
        self.transport.write(answer)
        if _CLOSE.search(head):
            self.transport.close()
            self.transport = None

    def _answer(self, line: bytes, body: bytes) -> bytes:
        if line.startswith(b"GET /_stats"):
            return _response("200 OK", json.dumps(self.recorder.stats()).encode())
        if line.startswith(b"GET /_deliveries"):
            return _response("200 OK", json.dumps(self.recorder.deliveries()).encode())
        if line.startswith(b"POST /_reset"):
            self.recorder.clear()
            return _OK
        if line.startswith(b"POST "):
            self.recorder.record(body)
        return _OK

    def _faulty(self, head: bytes, body: bytes) -> None:
        """Answer a callback the way the fault draw says, and record that answer."""
        assert self.faults is not None and self.transport is not None
        answer = self.faults.choose(self.rng.random())
        self.recorder.record(body, answer)
        if answer == "reset":
            _reset(self.transport)
            self.transport = None
        elif answer == "slow":
            self.holding = True
            asyncio.get_running_loop().call_later(self.faults.slow_s, self._release, head)
        else:
            self._write(head, _OK if answer == "ok" else _ERROR)

    def _release(self, head: bytes) -> None:
        """Write a held-back answer (if the caller is still there) and go on parsing."""
        self.holding = False
        if self.transport is not None and not self.transport.is_closing():
            self._write(head, _OK)
            self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


def _is_control(line: bytes) -> bool:
    return line.startswith(b"POST /_")


def _reset(transport: asyncio.Transport) -> None:
    """Close with a TCP RST: SO_LINGER 0, then abort without sending anything."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def serve(
    host: str, port: int, faults: Faults | None = None, seed: int | None = None
) -> None:
    recorder = Recorder()
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ReceiverProtocol(recorder, faults, rng), host, port, backlog=1024,
        reuse_address=True,
    )  # fmt: skip
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share answered 500")
    parser.add_argument("--slow-rate", type=float, default=0.0, help="share answered late")
    parser.add_argument("--slow-s", type=float, default=3.0, help="how late")
    parser.add_argument("--reset-rate", type=float, default=0.0, help="share reset (RST)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    faults = Faults(args.error_rate, args.slow_rate, args.reset_rate, args.slow_s)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, faults, args.seed))


if __name__ == "__main__":
    main()
