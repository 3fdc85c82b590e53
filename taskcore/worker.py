"""Background loops that drive tasks without a client: the worker and the reaper.

The worker takes the next Queued task and executes it, with bounded concurrency; the
reaper fails executions whose lease ran out. Both stop cleanly when their event is set:
a running callback is finished, never abandoned half-recorded.
"""

from __future__ import annotations

import logging
import threading

from taskcore.errors import AdapterError, TaskcoreError
from taskcore.service import TaskService

log = logging.getLogger("taskcore.worker")


class Worker:
    """``concurrency`` threads, each looping: take the next task, execute it."""

    def __init__(
        self,
        service: TaskService,
        concurrency: int = 8,
        idle_wait_s: float = 0.05,
        max_idle_wait_s: float = 1.0,
    ) -> None:
        self.service = service
        self.concurrency = concurrency
        self.idle_wait_s = idle_wait_s
        self.max_idle_wait_s = max_idle_wait_s
        self.stop_event = threading.Event()
        self.executed = 0
        self._count_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Worker:
        """Start the threads and return at once."""
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"taskcore-worker-{index}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask every thread to stop after its current task, and wait for them."""
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def run_once(self) -> bool:
        """Take and execute one task; False when the queue had none."""
        if self.service.execute_next() is None:
            return False
        with self._count_lock:
            self.executed += 1
        return True

    def _loop(self) -> None:
        wait = self.idle_wait_s
        while not self.stop_event.is_set():
            try:
                busy = self.run_once()
            except AdapterError as exc:
                log.warning("worker cannot reach an adapter: %s", exc)
                busy = False
            except Exception:  # a worker thread must outlive any one bad step
                log.exception("worker step failed")
                busy = False
            wait = self.idle_wait_s if busy else min(wait * 2, self.max_idle_wait_s)
            if not busy:
                self.stop_event.wait(wait)


class Reaper:
    """Every ``interval_s``, fail Processing tasks whose lease ran out (``reap_expired``)."""

    def __init__(self, service: TaskService, interval_s: float = 5.0) -> None:
        self.service = service
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="taskcore-reaper", daemon=True)

    def start(self) -> Reaper:
        """Start the loop in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current round."""
        self.stop_event.set()
        if self._thread.is_alive():
            self._thread.join(self.interval_s + 5)

    def _loop(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                self.service.reap_expired()
            except TaskcoreError as exc:
                log.warning("reaper round failed: %s", exc)
