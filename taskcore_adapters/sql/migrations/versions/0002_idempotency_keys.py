"""Idempotency keys of task creations: which request a key made, and the task it created.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01 00:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql, mysql

revision = "0002"
down_revision = "0001"
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


def _key() -> sa.types.TypeEngine[Any]:
    """Compared byte for byte: binary where the default collation ignores case or padding."""
    return sa.String(255).with_variant(sa.VARBINARY(255), *MYSQL, "mssql")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", _key(), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        **TABLE_OPTIONS,
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
