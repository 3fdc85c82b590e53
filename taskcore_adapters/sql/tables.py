"""The schema as SQLAlchemy Core tables, built on demand (nothing is built at import).

Column types are chosen to behave the same on SQLite, PostgreSQL, MariaDB/MySQL and
SQL Server: timestamps are always UTC with microseconds, JSON is stored as text that this
module encodes, and task ids use the portable ``Uuid`` type.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mssql, mysql
from sqlalchemy.engine import Dialect

VERSION_TABLE = "taskcore_schema_version"
MYSQL_DIALECTS = ("mysql", "mariadb")
TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
BINARY_KEY_DIALECTS = (*MYSQL_DIALECTS, "mssql")
KEY_MAX = 255


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect.

    Databases without zones get naive UTC on write and UTC attached on read, so a value
    always comes back equal to what was written.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in MYSQL_DIALECTS:
            return mysql.DATETIME(fsp=6)
        if dialect.name == "mssql":
            return mssql.DATETIME2(precision=6)
        return sa.DateTime(timezone=dialect.name == "postgresql")

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JsonText(sa.types.TypeDecorator[Any]):
    """Any JSON value stored as text.

    ``None`` is SQL NULL for optional columns, or the JSON ``null`` where a value is
    required (a payload may be ``null``).
    """

    impl = sa.UnicodeText
    cache_ok = True

    def __init__(self, none_as_null: bool = True) -> None:
        super().__init__()
        self.none_as_null = none_as_null

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in MYSQL_DIALECTS:  # TEXT stops at 64 KiB
            return mysql.LONGTEXT()
        if dialect.name == "mssql":  # NTEXT is deprecated
            return mssql.NVARCHAR()
        return sa.UnicodeText()

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None and self.none_as_null:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class ExactKey(sa.types.TypeDecorator[str]):
    """An ASCII key compared byte for byte on every dialect.

    MySQL, MariaDB and SQL Server compare strings by collation: case-insensitively and
    ignoring trailing spaces by default. They store the key as ``VARBINARY`` instead.
    """

    impl = sa.String(KEY_MAX)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in BINARY_KEY_DIALECTS:
            return sa.VARBINARY(KEY_MAX)
        return sa.String(KEY_MAX)

    def process_bind_param(self, value: str | None, dialect: Dialect) -> Any:
        if value is None or dialect.name not in BINARY_KEY_DIALECTS:
            return value
        return value.encode("ascii")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value.decode("ascii") if isinstance(value, bytes | bytearray) else value


def _task_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("task_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("description", sa.Unicode(2000), nullable=False),
        sa.Column("callback_url", sa.Unicode(2048), nullable=False),
        sa.Column("payload", JsonText(none_as_null=False), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("dequeued_at", UtcDateTime(), nullable=True),
        sa.Column("executed_at", UtcDateTime(), nullable=True),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("callback_result", JsonText(), nullable=True),
        sa.Column("result", JsonText(), nullable=True),
        sa.Column("deadline", UtcDateTime(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


class Tables:
    """The tables of one schema and their shared ``MetaData``."""

    def __init__(self) -> None:
        self.metadata = sa.MetaData()
        self.tasks = sa.Table("tasks", self.metadata, *_task_columns(), **TABLE_OPTIONS)
        self.archived = sa.Table(
            "archived_tasks",
            self.metadata,
            *_task_columns(),
            sa.Column("archived_at", UtcDateTime(), nullable=False),
            **TABLE_OPTIONS,
        )
        self.queue = sa.Table(
            "queue_messages",
            self.metadata,
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("task_id", sa.Uuid(), nullable=False),
            sa.Column("priority", sa.SmallInteger(), nullable=False),
            sa.Column("enqueued_at", UtcDateTime(), nullable=False),
            sa.Column("locked_until", UtcDateTime(), nullable=True),
            **TABLE_OPTIONS,
        )
        self.keys = sa.Table(
            "idempotency_keys",
            self.metadata,
            sa.Column("key", ExactKey(), primary_key=True),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("task_id", sa.Uuid(), nullable=False),
            sa.Column("created_at", UtcDateTime(), nullable=False),
            **TABLE_OPTIONS,
        )
        self._add_indexes()

    def _add_indexes(self) -> None:
        """The access paths: listings newest first, the reaper, the queue, expired keys."""
        tasks, archived, queue = self.tasks, self.archived, self.queue
        sa.Index("ix_tasks_status_created", tasks.c.status, tasks.c.created_at, tasks.c.task_id)
        sa.Index("ix_tasks_created", tasks.c.created_at, tasks.c.task_id)
        sa.Index("ix_tasks_status_deadline", tasks.c.status, tasks.c.deadline)
        sa.Index("ix_archived_tasks_created", archived.c.created_at, archived.c.task_id)
        sa.Index("ix_queue_messages_next", queue.c.priority.desc(), queue.c.id)
        sa.Index("ix_queue_messages_task", queue.c.task_id)
        sa.Index("ix_idempotency_keys_created", self.keys.c.created_at)

    @property
    def task_columns(self) -> list[str]:
        """The names of the columns ``tasks`` and ``archived_tasks`` share."""
        return [column.name for column in self.tasks.columns]


@lru_cache(maxsize=1)
def tables() -> Tables:
    """The schema, built once on first use."""
    return Tables()
