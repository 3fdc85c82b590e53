"""``ListTotals``: the ``totalCount`` of listings, exact while small, briefly cached when large.

Counting a million rows costs PostgreSQL tens of milliseconds, several times the page
itself, and every listing needs a total. Below ``exact_below`` matching tasks the total is
counted on every call; above, the last count is served for up to ``max_age_s`` and then
recounted in the background while callers keep getting the previous figure, so no listing
waits for a large count except the very first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from taskcore.errors import AdapterError
from taskcore.status import TaskStatus

EXACT_BELOW = 10_000

log = logging.getLogger("taskcore.store.sql")

Count = Callable[[TaskStatus | None], int]


class ListTotals:
    """Totals per status filter (None: every task), for one store."""

    def __init__(
        self,
        count: Count,
        *,
        max_age_s: float,
        exact_below: int = EXACT_BELOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._count = count
        self._max_age_s = max_age_s
        self._exact_below = exact_below
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[TaskStatus | None, tuple[int, float]] = {}
        self._refreshing: set[TaskStatus | None] = set()
        self._refresher = ThreadPoolExecutor(1, thread_name_prefix="taskcore-totals")

    def total(self, status: TaskStatus | None) -> int:
        """How many tasks match ``status``. Raises ``StoreUnavailable`` when it must count."""
        with self._lock:
            known = self._known.get(status)
            if known is not None and known[0] >= self._exact_below and self._max_age_s > 0:
                if self._clock() - known[1] >= self._max_age_s:
                    self._refresh_later(status)
                return known[0]
        return self._recount(status)

    def close(self) -> None:
        """Stop the background recount (waits for one in progress)."""
        self._refresher.shutdown(wait=True, cancel_futures=True)

    def _recount(self, status: TaskStatus | None) -> int:
        started = self._clock()
        value = self._count(status)
        with self._lock:
            self._known[status] = (value, started)
            self._refreshing.discard(status)
        return value

    def _refresh_later(self, status: TaskStatus | None) -> None:
        """Queue one background recount of ``status`` (the lock is held)."""
        if status in self._refreshing:
            return
        self._refreshing.add(status)
        try:
            self._refresher.submit(self._refresh, status)
        except RuntimeError:  # closed: the stale figure stays
            self._refreshing.discard(status)

    def _refresh(self, status: TaskStatus | None) -> None:
        try:
            self._recount(status)
        except AdapterError as failure:
            with self._lock:
                self._refreshing.discard(status)
            log.warning("listing total not refreshed: %s", failure)
