"""Scratch databases for the SQL adapters: one per backend and test module, dropped after."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
import sqlalchemy as sa

from taskcore_adapters.config import StoreSettings
from tests.support.services import require

PG_ROOT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_ROOT = "mysql+pymysql://root@127.0.0.1:3306/"
SQL_BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]
BACKENDS = ["memory", *SQL_BACKENDS]
SERVICES = {"postgresql": "postgresql", "mariadb": "mariadb"}


class ScratchDatabases:
    """Creates one empty database per backend on demand and drops them all at the end."""

    def __init__(self, directory: Path, migrate: bool = True) -> None:
        self.directory = directory
        self.migrate = migrate
        self._urls: dict[str, str] = {}
        self._drops: list[tuple[str, str]] = []

    def url(self, backend: str) -> str:
        """The URL of this module's database on ``backend`` (skips when the server is down)."""
        if backend not in self._urls:
            self._urls[backend] = self.create(backend)
            if self.migrate:
                from taskcore_adapters.sql.migrate import upgrade

                upgrade(self._urls[backend])
        return self._urls[backend]

    def create(self, backend: str) -> str:
        """A new, empty database on ``backend``, dropped by ``drop_all``; skips when the
        server is down."""
        if backend in SERVICES:
            require(SERVICES[backend])
        name = f"taskcore_ct_{uuid4().hex[:10]}"
        if backend == "sqlite":
            return f"sqlite:///{self.directory / (name + '.db')}"
        if backend == "postgresql":
            _admin(PG_ROOT, f"CREATE SCHEMA {name}")
            self._drops.append((PG_ROOT, f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            return f"{PG_ROOT}?options={quote(f'-csearch_path={name}')}"
        _admin(MARIADB_ROOT, f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        self._drops.append((MARIADB_ROOT, f"DROP DATABASE IF EXISTS {name}"))
        return f"{MARIADB_ROOT}{name}"

    def drop_all(self) -> None:
        for root, statement in reversed(self._drops):
            _admin(root, statement)
        self._drops.clear()


def _admin(url: str, statement: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def empty_tables(engine: sa.Engine) -> None:
    """Delete every row the adapters wrote, keeping the schema."""
    with engine.begin() as conn:
        for table in ("idempotency_keys", "queue_messages", "archived_tasks", "tasks"):
            conn.exec_driver_sql(f"DELETE FROM {table}")


def sql_store(url: str) -> Any:
    """A store built the way the container builds it, on an already migrated database."""
    from taskcore_adapters.sql.store import SqlTaskStore

    return SqlTaskStore.from_settings(StoreSettings(backend="sql", url=url, migrate="check"))
