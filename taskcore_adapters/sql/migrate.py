"""Schema migrations: apply, revert and verify the Alembic revisions shipped in this package.

``taskcore db upgrade`` calls ``upgrade``; the store calls ``check_up_to_date`` (or
``ensure_up_to_date`` with ``store.migrate = "auto"``) before serving.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from taskcore.errors import StoreUnavailable
from taskcore_adapters.sql.engine import create_engine, translated, writer
from taskcore_adapters.sql.tables import VERSION_TABLE

HERE = Path(__file__).resolve().parent
WHAT = "the schema migration"
SCHEMA_LOCK_WAIT_S = 60
_MYSQL_LOCK = "CONCAT('taskcore_schema.', DATABASE())"
SCHEMA_LOCKS = {  # (take, release); PostgreSQL's key is taskcore's advisory lock id
    "postgresql": ("SELECT pg_advisory_lock(7220115001)", "SELECT pg_advisory_unlock(7220115001)"),
    "mysql": (
        f"SELECT GET_LOCK({_MYSQL_LOCK}, {SCHEMA_LOCK_WAIT_S})",
        f"SELECT RELEASE_LOCK({_MYSQL_LOCK})",
    ),
}
SCHEMA_LOCKS["mariadb"] = SCHEMA_LOCKS["mysql"]


class SchemaNotReady(StoreUnavailable):
    """The database schema is missing or not at the revision this code needs."""


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration of this package, wherever it is installed or run from."""
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision shipped with this code."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise RuntimeError("the package ships no migrations")
    return revision


@contextmanager
def _engine(target: str | Engine) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = create_engine(target, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _schema_lock(connection: Connection) -> Iterator[None]:
    """Serialise migrations: several processes may start at once with ``migrate = "auto"``.

    The lock belongs to the session and is released only after the migration's transaction
    committed, so the next holder reads the new revision. On SQLite the ``BEGIN IMMEDIATE``
    the migration transaction starts with is the lock; its wait is the busy timeout, raised
    here to the other dialects' 60 s since a migration holds the write lock far longer than
    the store's ordinary writes.
    """
    if connection.dialect.name == "sqlite":
        with _sqlite_busy_timeout(connection, SCHEMA_LOCK_WAIT_S):
            yield
        return
    take, release = SCHEMA_LOCKS.get(connection.dialect.name, (None, None))
    if take is None or release is None:
        yield
        return
    granted = connection.exec_driver_sql(take).scalar()
    connection.commit()
    if granted == 0:
        raise StoreUnavailable(
            f"another schema migration has held its lock for {SCHEMA_LOCK_WAIT_S} s; retry"
        )
    try:
        yield
    finally:
        connection.exec_driver_sql(release)
        connection.commit()


@contextmanager
def _sqlite_busy_timeout(connection: Connection, seconds: float) -> Iterator[None]:
    # Set through the driver: a statement through SQLAlchemy would begin a transaction.
    cursor = connection.connection.cursor()
    try:
        previous = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        cursor.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
    finally:
        cursor.close()


def _run(target: str | Engine, action: str, revision: str) -> None:
    config = alembic_config()
    with (
        translated(StoreUnavailable, WHAT),
        _engine(target) as engine,
        writer(engine).connect() as connection,
        _schema_lock(connection),
        connection.begin(),
    ):
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision``. Raises ``StoreUnavailable``."""
    _run(target, "upgrade", revision)


def downgrade(target: str | Engine, revision: str) -> None:
    """Revert the migrations down to ``revision`` (``"base"`` drops everything)."""
    _run(target, "downgrade", revision)


def current(target: str | Engine) -> str | None:
    """The revision the database is at, or None when it has no taskcore schema."""
    with (
        translated(StoreUnavailable, WHAT),
        _engine(target) as engine,
        engine.connect() as connection,
    ):
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def check_up_to_date(target: str | Engine) -> None:
    """Return when the schema is at head; raise ``SchemaNotReady`` saying what to run."""
    found, needed = current(target), head()
    if found != needed:
        state = "has no taskcore schema" if found is None else f"is at revision {found}"
        raise SchemaNotReady(
            f"database schema not ready: the database {state}, this version needs revision "
            f'{needed}; run `taskcore db upgrade` or set store.migrate = "auto"'
        )


def ensure_up_to_date(engine: Engine) -> None:
    """Upgrade to head unless already there; processes starting together upgrade once."""
    if current(engine) != head():
        upgrade(engine)


def offline_sql(url: str, revision: str = "head") -> str:
    """The SQL an upgrade to ``revision`` would run, without connecting (``--sql`` mode)."""
    config = alembic_config(url)
    config.output_buffer = io.StringIO()
    command.upgrade(config, revision, sql=True)
    return config.output_buffer.getvalue()
