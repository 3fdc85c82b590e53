"""The callback client against real servers on the loopback interface."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest

from taskcore.ports import CallbackRequest
from taskcore_adapters.callbacks import HttpCallbackClient
from taskcore_adapters.config import CallbackSettings
from taskcore_adapters.network_guard import NetworkPolicy
from taskcore_adapters.signing import verify
from tests.support.receiver import CallbackReceiver

SECRET = "live-test-signing-secret"
DENY_LOOPBACK = NetworkPolicy(deny=["127.0.0.0/8", "::1/128"])


def make_request(url: str, task_id: UUID | None = None) -> CallbackRequest:
    return CallbackRequest(
        task_id=task_id or uuid4(),
        name="live",
        url=url,
        payload={"n": 1, "text": "héllo"},
        attempt=1,
        token="completion-token",
    )


@pytest.fixture
def client() -> Iterator[HttpCallbackClient]:
    instance = HttpCallbackClient(timeout_s=5, signing_secrets=[SECRET])
    yield instance
    instance.close()


def test_a_2xx_callback_delivers_the_task_and_succeeds(client, receiver: CallbackReceiver):
    task_id = uuid4()
    result = client.call(make_request(receiver.url("/ok"), task_id))
    assert (result.status_code, result.error, result.body) == (200, None, '{"ok": true}')
    (call,) = receiver.calls_to("/ok")
    assert call.json == {
        "taskId": str(task_id),
        "name": "live",
        "payload": {"n": 1, "text": "héllo"},
        "attempt": 1,
    }
    assert call.headers["idempotency-key"] == f"{task_id}:1"
    assert call.headers["x-task-token"] == "completion-token"
    assert verify(SECRET, call.headers, call.body)


@pytest.mark.parametrize(("code", "error"), [(500, "HTTP 500"), (404, "HTTP 404"), (202, None)])
def test_the_answer_code_decides_the_outcome(client, receiver, code, error):
    result = client.call(make_request(receiver.url(f"/status/{code}")))
    assert (result.status_code, result.error) == (code, error)


def test_a_redirect_is_not_followed(client, receiver):
    target = receiver.url("/ok")
    result = client.call(make_request(receiver.url(f"/redirect/302?to={target}")))
    assert result.status_code == 302
    assert result.error == f"redirect not followed (302 to {target})"
    assert [c.path for c in receiver.calls] == ["/redirect/302"]


def test_a_redirect_to_a_denied_address_is_not_followed(client, receiver):
    target = "http://169.254.169.254/latest/meta-data/"
    result = client.call(make_request(receiver.url(f"/redirect/307?to={target}")))
    assert result.error == f"redirect not followed (307 to {target})"
    assert len(receiver.calls) == 1


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_closed_port_is_a_refused_connection_without_status(client):
    result = client.call(make_request(f"http://127.0.0.1:{_closed_port()}/ok"))
    assert (result.status_code, result.error, result.body) == (None, "connection refused", "")


def test_a_slow_receiver_times_out(receiver):
    client = HttpCallbackClient(timeout_s=0.5)
    result = client.call(make_request(receiver.url("/sleep/2")))
    assert result.status_code is None
    assert result.error == "timed out after 0.5s"


def test_a_large_answer_is_cut_at_the_cap(receiver):
    client = HttpCallbackClient(max_response_bytes=1024)
    result = client.call(make_request(receiver.url("/big/1000000")))
    assert (result.status_code, result.error, result.body) == (200, None, "x" * 1024)
    assert client.call(make_request(receiver.url("/ok"))).error is None


def test_calls_to_one_receiver_reuse_a_pooled_connection(client, receiver):
    for _ in range(3):
        assert client.call(make_request(receiver.url("/ok"))).error is None
    manager = client._session.get_adapter(receiver.url()).poolmanager
    pools = [manager.pools[key] for key in manager.pools.keys()]  # noqa: SIM118 (no __iter__)
    assert sum(pool.num_connections for pool in pools) == 1


def test_a_denied_loopback_target_is_refused_before_anything_is_sent(receiver):
    settings = CallbackSettings(deny_networks=["169.254.0.0/16", "127.0.0.0/8", "::1/128"])
    client = HttpCallbackClient.from_settings(settings)
    result = client.call(make_request(receiver.url("/ok")))
    assert (result.status_code, result.body) == (None, "")
    assert result.error == "callback target 127.0.0.1 is in a denied network"
    assert receiver.calls == []


def _ipv6_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HIDDEN_FORMS: dict[str, Callable[[int], str]] = {
    "name": lambda port: f"http://localhost:{port}/ok",
    "decimal": lambda port: f"http://2130706433:{port}/ok",
    "hex": lambda port: f"http://0x7f000001:{port}/ok",
    "octal": lambda port: f"http://0177.0.0.1:{port}/ok",
    "mapped-ipv6": lambda port: f"http://[::ffff:127.0.0.1]:{port}/ok",
}


@pytest.mark.parametrize("form", HIDDEN_FORMS)
def test_the_guard_checks_the_resolved_address_whatever_the_url_spelling(receiver, form):
    if form == "mapped-ipv6" and not _ipv6_works():
        pytest.skip("this machine has no IPv6 loopback")
    client = HttpCallbackClient(policy=DENY_LOOPBACK)
    result = client.call(make_request(HIDDEN_FORMS[form](receiver.port)))
    assert result.status_code is None
    assert result.error is not None and result.error.endswith("is in a denied network")
    assert receiver.calls == []


def test_an_allow_list_without_loopback_refuses_the_receiver(receiver):
    client = HttpCallbackClient(policy=NetworkPolicy(allow=["10.0.0.0/8"]))
    assert client.call(make_request(receiver.url("/ok"))).error == (
        "callback target 127.0.0.1 is in a denied network"
    )
    assert receiver.calls == []


class RawServer:
    """A one-connection-at-a-time server that misbehaves in a chosen way."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self._answer = answer
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn, contextlib.suppress(OSError):
                self._answer(conn)


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:])
    length = int({k.strip().lower(): v for k, v in fields.items()}.get(b"content-length", 0))
    while len(body) < length:
        body += conn.recv(4096)


def _drip(conn: socket.socket) -> None:
    _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(0.1)


def _hang_up(conn: socket.socket) -> None:
    _read_request(conn)


def _plain_http(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    while conn.recv(4096):
        pass


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_slow_drip_body_cannot_outlast_the_deadline(raw_server):
    server = raw_server(_drip)
    client = HttpCallbackClient(timeout_s=0.5)
    result = client.call(make_request(server.url))
    client.close()
    assert result.status_code == 200
    assert result.error == "timed out after 0.5s"
    assert len(result.body) < 100
    assert result.duration_ms < 8000  # the drip alone would take 10 s


def test_a_connection_closed_without_an_answer_is_a_failure(raw_server):
    server = raw_server(_hang_up)
    client = HttpCallbackClient()
    result = client.call(make_request(server.url))
    client.close()
    assert result.status_code is None
    assert result.error == "connection closed by the target without an answer"


def test_tls_to_a_server_that_does_not_speak_it_is_a_tls_error(raw_server):
    server = raw_server(_plain_http)
    client = HttpCallbackClient(timeout_s=5)
    result = client.call(make_request(server.url.replace("http:", "https:")))
    client.close()
    assert result.status_code is None
    assert result.error is not None and result.error.startswith("TLS error: ")
