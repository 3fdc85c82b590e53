"""The receiver answers every request of a keep-alive stream and records POST arrivals."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from bench.receiver import Faults, ReceiverProtocol, Recorder


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


class FaultyTransport(FakeTransport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted


def _faulty(faults: Faults) -> tuple[ReceiverProtocol, FaultyTransport, Recorder]:
    recorder = Recorder()
    protocol = ReceiverProtocol(recorder, faults, random.Random(1))
    transport = FaultyTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    return protocol, transport, recorder


def test_the_fault_draw_splits_the_unit_interval_by_the_rates() -> None:
    faults = Faults(error_rate=0.2, slow_rate=0.1, reset_rate=0.1)
    draws = {0.0: "error", 0.19: "error", 0.2: "slow", 0.35: "reset", 0.4: "ok", 0.99: "ok"}
    assert {d: faults.choose(d) for d in draws} == draws


def test_fault_rates_adding_up_past_one_are_refused() -> None:
    with pytest.raises(ValueError):
        Faults(error_rate=0.6, reset_rate=0.5)


def test_a_failed_callback_is_answered_500_and_recorded_with_its_attempt() -> None:
    protocol, transport, recorder = _faulty(Faults(error_rate=1.0))
    protocol.data_received(_post(b'{"taskId":"a","attempt":1}'))
    assert transport.written.startswith(b"HTTP/1.1 500 ")
    assert recorder.deliveries() == {"answers": {"error": 1}, "deliveries": [["a", 1, "error"]]}


def test_a_reset_callback_gets_no_answer_and_its_connection_is_aborted() -> None:
    protocol, transport, recorder = _faulty(Faults(reset_rate=1.0))
    protocol.data_received(_post(b'{"taskId":"a","attempt":1}'))
    assert transport.aborted and transport.written == b""
    assert recorder.deliveries()["answers"] == {"reset": 1}


class Draws(random.Random):
    """Fault draws in a given order."""

    def __init__(self, *draws: float) -> None:
        super().__init__()
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0)


def test_a_slow_answer_holds_back_the_next_answer_on_its_connection() -> None:
    async def scenario() -> tuple[bytes, bytes]:
        recorder, transport = Recorder(), FaultyTransport()
        protocol = ReceiverProtocol(recorder, Faults(slow_rate=0.5, slow_s=0.01), Draws(0.1, 0.9))
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.data_received(_post(b'{"taskId":"slow"}') + _post(b'{"taskId":"quick"}'))
        before = transport.written
        await asyncio.sleep(0.1)  # well past the 10 ms hold
        return before, transport.written

    before, after = asyncio.run(scenario())
    assert before == b""
    assert after.count(b"HTTP/1.1 200 OK") == 2


def test_control_requests_are_never_failed() -> None:
    protocol, transport, _ = _faulty(Faults(error_rate=1.0))
    protocol.data_received(b"POST /_reset HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert transport.written.startswith(b"HTTP/1.1 200 OK")
