"""The store and queue of every backend, each test starting from empty tables.

Each test module gets its own migrated database per SQL backend (a SQLite file, a
PostgreSQL schema reached through ``search_path``, a MariaDB database), dropped at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from tests.support.clock import SettableClock
from tests.support.databases import (
    BACKENDS,
    SQL_BACKENDS,
    ScratchDatabases,
    empty_tables,
    sql_store,
)


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScratchDatabases]:
    scratch = ScratchDatabases(tmp_path_factory.mktemp("databases"))
    yield scratch
    scratch.drop_all()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, databases: ScratchDatabases) -> Iterator[Any]:
    """A ``TaskStore`` of each backend, empty."""
    if request.param == "memory":
        yield MemoryTaskStore()
        return
    yield from _empty_sql_store(databases, request.param)


@pytest.fixture(params=SQL_BACKENDS)
def transactional_store(
    request: pytest.FixtureRequest, databases: ScratchDatabases
) -> Iterator[Any]:
    """A ``TaskStore`` of each SQL backend, empty: those whose writes can fail part way."""
    yield from _empty_sql_store(databases, request.param)


def _empty_sql_store(databases: ScratchDatabases, backend: str) -> Iterator[Any]:
    built = sql_store(databases.url(backend))
    empty_tables(built.engine)
    yield built
    built.close()


@pytest.fixture
def queue_clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(params=BACKENDS)
def queue(
    request: pytest.FixtureRequest, databases: ScratchDatabases, queue_clock: SettableClock
) -> Iterator[Any]:
    """A ``TaskQueue`` of each backend, empty; the SQL ones read ``queue_clock``."""
    if request.param == "memory":
        yield MemoryTaskQueue()
        return
    from taskcore_adapters.sql.queue import SqlTaskQueue

    owner = sql_store(databases.url(request.param))
    empty_tables(owner.engine)
    yield SqlTaskQueue(owner.engine, clock=queue_clock)
    owner.close()
