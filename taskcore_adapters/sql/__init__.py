"""The SQLAlchemy adapters: a durable ``TaskStore`` and a table-backed ``TaskQueue``.

Importing this package imports nothing heavy; SQLAlchemy is loaded by its modules.
"""
