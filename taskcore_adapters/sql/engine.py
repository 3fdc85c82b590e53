"""Engines configured per dialect, write transactions, and driver-error translation.

Every store and queue call runs through ``translated`` so that a driver failure reaches the
service as ``StoreUnavailable`` / ``QueueUnavailable`` with the cause chained.

A transaction that must be atomic goes through ``writer(engine).begin()``: on PostgreSQL
connections are in autocommit mode and only a writer's transaction sends ``BEGIN``, so a
single read or a single-statement write costs one round trip, not three.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from taskcore.errors import AdapterError

WRITE_OPTION = "taskcore_write"
DEFAULT_BUSY_TIMEOUT_S = 5.0
PING_AFTER_IDLE_S = 1.0


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout_s: float = 5.0,
) -> Engine:
    """An engine that survives database restarts and suits its dialect.

    ``pool_timeout_s`` also bounds connecting and, on SQLite, waiting for the write lock.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {}
    if _is_sqlite_memory(parsed):
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        options.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout_s)
    if backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
        # An unreachable host must fail within the pool timeout, not hang a request.
        options["connect_args"] = {"connect_timeout": max(1, math.ceil(pool_timeout_s))}
    if backend in ("mysql", "mariadb"):
        # READ COMMITTED avoids InnoDB gap locks between concurrent claims and inserts.
        options.update(isolation_level="READ COMMITTED", pool_recycle=3600)
    if backend == "postgresql":
        options.update(isolation_level="AUTOCOMMIT")  # writers BEGIN: configure_postgresql
    engine = sa.create_engine(parsed, **options)
    ping_idle_connections(engine)
    if backend == "sqlite":
        configure_sqlite(engine, busy_timeout_s=pool_timeout_s)
    if backend == "postgresql":
        configure_postgresql(engine)
    return engine


def ping_idle_connections(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a pooled connection before use when it sat idle for ``idle_s`` or more.

    ``pool_pre_ping`` pings on every checkout: a round trip per store call, several per
    task. A connection used a moment ago is almost always alive; one that sat idle may have
    been closed by a restart or a proxy, so only those are pinged, and a dead one is
    replaced before the caller sees it. A connection that dies while in use still fails
    that one call, and the pool is then refreshed (SQLAlchemy's disconnect handling).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["taskcore_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("taskcore_idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as failure:
            raise exc.DisconnectionError(f"idle connection is dead: {failure}") from failure
        if not alive:
            raise exc.DisconnectionError("idle connection is dead")


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def configure_sqlite(engine: Engine, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
    """WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions.

    pysqlite's own transaction handling is switched off so that this module decides how a
    transaction begins: a writer takes the write lock up front, which keeps compare-and-set
    safe across processes and avoids the lock upgrade that fails instead of waiting.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        _use_wal(cursor, busy_timeout_s)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _use_wal(cursor: Any, timeout_s: float) -> None:
    """Put the database file in WAL mode (it stays so), waiting up to ``timeout_s``.

    The switch needs the file to itself and SQLite answers "database is locked" at once
    rather than waiting the busy timeout, so connections opened together on a new file
    retry here. Once the file is in WAL mode the pragma changes nothing and takes no lock.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            mode = str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as failure:
            if "locked" not in str(failure):
                raise
            mode = "locked"
        if mode in ("wal", "memory") or time.monotonic() >= deadline:
            return  # past the deadline the file keeps its mode: slower, still correct
        time.sleep(0.01)


def configure_postgresql(engine: Engine) -> None:
    """``BEGIN`` for a writer's transactions on connections that otherwise autocommit.

    With the isolation level fixed at AUTOCOMMIT for the whole pool, psycopg sends no
    ``BEGIN`` of its own and SQLAlchemy does not switch the level at each checkout (which
    an ``execution_options`` level does, and costs more than the query it wraps); a
    transaction still ends with the driver's ``COMMIT`` or ``ROLLBACK``.
    """

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine, marked for atomic transactions: ``BEGIN`` on PostgreSQL, ``BEGIN
    IMMEDIATE`` (the write lock up front) on SQLite."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def translated(error: type[AdapterError], what: str) -> Iterator[None]:
    """Turn driver and pool failures into ``error``, keeping the cause."""
    try:
        yield
    except exc.DBAPIError as failure:
        raise error(f"{what} failed: {_first_line(failure.orig)}") from failure
    except (exc.TimeoutError, exc.DisconnectionError) as failure:
        raise error(f"{what} failed: {_first_line(failure)}") from failure


def _first_line(failure: BaseException | None) -> str:
    text = str(failure).strip().splitlines()
    name = type(failure).__name__
    return f"{name}: {text[0]}" if text else name
