"""Alembic environment of the taskcore SQL store.

The database comes from, in order: a connection handed over in ``config.attributes``, the
``-x url=...`` argument, or ``sqlalchemy.url``. Logging is left to the application.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from taskcore_adapters.sql.engine import create_engine, writer
from taskcore_adapters.sql.tables import VERSION_TABLE, tables

config = context.config
OPTIONS: dict[str, Any] = {
    "target_metadata": tables().metadata,
    "version_table": VERSION_TABLE,
    "compare_type": True,
    "render_as_batch": True,
}


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return url


def run_offline() -> None:
    """Write the SQL to the output instead of running it (``--sql``)."""
    context.configure(url=_url(), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run against the handed-over connection, or a short-lived engine of its own."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), pool_size=1, max_overflow=0)
    try:
        with writer(engine).connect() as own:  # its transaction must BEGIN (PostgreSQL)
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
