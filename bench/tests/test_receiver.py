"""The receiver answers every request of a keep-alive stream and records POST arrivals."""

from __future__ import annotations

import json

from bench.receiver import ReceiverProtocol, Recorder


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def _post(body: bytes, extra: str = "") -> bytes:
    head = f"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def _connected() -> tuple[ReceiverProtocol, FakeTransport, Recorder]:
    recorder = Recorder()
    protocol = ReceiverProtocol(recorder)
    transport = FakeTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, recorder


def test_two_pipelined_posts_get_two_answers_and_two_records() -> None:
    protocol, transport, recorder = _connected()
    protocol.data_received(_post(b'{"taskId":"a"}') + _post(b'{"taskId":"b"}'))
    assert transport.written.count(b"HTTP/1.1 200 OK") == 2
    assert [task for _, task in recorder.stats()["arrivals"]] == ["a", "b"]


def test_a_body_split_across_packets_is_recorded_once_complete() -> None:
    protocol, _, recorder = _connected()
    data = _post(b'{"taskId":"split"}')
    protocol.data_received(data[:-5])
    assert recorder.stats()["count"] == 0
    protocol.data_received(data[-5:])
    assert recorder.stats()["arrivals"][0][1] == "split"


def test_stats_list_arrivals_and_reset_forgets_them() -> None:
    protocol, transport, recorder = _connected()
    protocol.data_received(_post(b'{"taskId":"a"}'))
    protocol.data_received(b"GET /_stats HTTP/1.1\r\nHost: x\r\n\r\n")
    body = transport.written.rsplit(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["count"] == 1
    protocol.data_received(b"POST /_reset HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert recorder.stats()["count"] == 0


def test_connection_close_is_honoured() -> None:
    protocol, transport, _ = _connected()
    protocol.data_received(_post(b"{}", "Connection: close\r\n"))
    assert transport.closed
