"""A bounded thread pool for asynchronous executions."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from taskcore.errors import Overloaded

log = logging.getLogger("taskcore.executor")


class ThreadPoolBackgroundExecutor:
    """``BackgroundExecutor``: ``workers`` threads and at most ``backlog`` jobs waiting.

    Places are counted with a semaphore so that a full executor refuses at once instead of
    growing an unbounded queue.
    """

    def __init__(self, workers: int = 16, backlog: int = 1000) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="taskcore-exec")
        self._places = threading.BoundedSemaphore(workers + backlog)

    def reserve(self) -> _Slot:
        """Reserve a place. Raises ``Overloaded`` when all are taken."""
        if not self._places.acquire(blocking=False):
            raise Overloaded("the background executor is full; retry later")
        return _Slot(self)

    def close(self) -> None:
        """Finish queued and running jobs, then stop the threads."""
        self._pool.shutdown(wait=True)

    def _run(self, job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:
            log.exception("background job failed")
        finally:
            self._places.release()


class _Slot:
    def __init__(self, owner: ThreadPoolBackgroundExecutor) -> None:
        self._owner = owner

    def run(self, job: Callable[[], object]) -> None:
        self._owner._pool.submit(self._owner._run, job)

    def cancel(self) -> None:
        self._owner._places.release()
