"""The initial schema: active tasks, the archive of Completed tasks, and queue messages.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql, mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MYSQL = ("mysql", "mariadb")
TABLE_OPTIONS: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _timestamp() -> sa.types.TypeEngine[Any]:
    """UTC with microseconds: zoned on PostgreSQL, naive UTC elsewhere."""
    return (
        sa.DateTime(timezone=True)
        .with_variant(mysql.DATETIME(fsp=6), *MYSQL)
        .with_variant(mssql.DATETIME2(precision=6), "mssql")
        .with_variant(sa.DateTime(), "sqlite")
    )


def _json() -> sa.types.TypeEngine[Any]:
    """Any JSON value as text; MySQL's TEXT stops at 64 KiB, SQL Server's NTEXT is deprecated."""
    return (
        sa.UnicodeText()
        .with_variant(mysql.LONGTEXT(), *MYSQL)
        .with_variant(mssql.NVARCHAR(), "mssql")
    )


def _task_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("task_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.Unicode(200), nullable=False),
        sa.Column("description", sa.Unicode(2000), nullable=False),
        sa.Column("callback_url", sa.Unicode(2048), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("dequeued_at", _timestamp(), nullable=True),
        sa.Column("executed_at", _timestamp(), nullable=True),
        sa.Column("completed_at", _timestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("callback_result", _json(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("deadline", _timestamp(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table("tasks", *_task_columns(), **TABLE_OPTIONS)
    op.create_index("ix_tasks_status_created", "tasks", ["status", "created_at", "task_id"])
    op.create_index("ix_tasks_created", "tasks", ["created_at", "task_id"])
    op.create_index("ix_tasks_status_deadline", "tasks", ["status", "deadline"])
    op.create_table(
        "archived_tasks",
        *_task_columns(),
        sa.Column("archived_at", _timestamp(), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_archived_tasks_created", "archived_tasks", ["created_at", "task_id"])
    op.create_table(
        "queue_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("enqueued_at", _timestamp(), nullable=False),
        sa.Column("locked_until", _timestamp(), nullable=True),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_queue_messages_next", "queue_messages", [sa.text("priority DESC"), "id"])
    op.create_index("ix_queue_messages_task", "queue_messages", ["task_id"])


def downgrade() -> None:
    op.drop_table("queue_messages")
    op.drop_table("archived_tasks")
    op.drop_table("tasks")
