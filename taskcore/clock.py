"""The system clock: the one place that reads the wall time."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """``Clock`` reading the system time in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return datetime.now(UTC)
