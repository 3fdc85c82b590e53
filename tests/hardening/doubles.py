"""Doubles for attacking the service: a scripted callback client and stores that
record or fail, all built on the shipped memory adapters.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from uuid import UUID

from taskcore.errors import StoreUnavailable
from taskcore.ports import CallbackRequest, TaskPage
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from taskcore_adapters import MemoryTaskStore
from tests.support.clock import SettableClock

OUTCOMES = ("ok", "fail", "timeout", "defer", "raise", "slow")
SLOW_S = 3600.0  # a "slow" callback lets this much time pass: longer than any lease


def url_for(outcome: str) -> str:
    """A callback URL whose path names the scripted outcome (nothing listens there)."""
    return f"http://127.0.0.1:9/{outcome}"


class ScriptedCallbackClient:
    """``CallbackClient`` answering by script: per task if planned, else by the URL's path.

    It records every call and the latest completion token of each task, as a receiver would.
    """

    def __init__(self, clock: SettableClock) -> None:
        self.clock = clock
        self.plan: dict[UUID, str] = {}
        self.tokens: dict[UUID, str] = {}
        self.calls: dict[UUID, list[int]] = defaultdict(list)
        self._lock = threading.Lock()

    def call(self, request: CallbackRequest) -> CallbackResult:
        with self._lock:
            self.tokens[request.task_id] = request.token
            self.calls[request.task_id].append(request.attempt)
            outcome = self.plan.get(request.task_id) or urlsplit(request.url).path.strip("/")
        if outcome == "raise":
            raise RuntimeError("a bug in the callback client")
        if outcome == "slow":
            self.clock.advance(SLOW_S)
        return _result(outcome, request.attempt)

    def close(self) -> None:
        """Nothing to release."""


def _result(outcome: str, attempt: int) -> CallbackResult:
    code, error = {
        "ok": (200, None),
        "slow": (200, None),
        "defer": (202, None),
        "fail": (500, "HTTP 500"),
        "timeout": (None, "timed out after 10s"),
    }[outcome]
    return CallbackResult(code, "", 1, error, attempt)


@dataclass(frozen=True)
class Saved:
    """One successful write of a task, as the store accepted it."""

    version: int
    status: TaskStatus
    attempts: int


class RecordingStore(MemoryTaskStore):
    """A memory store that keeps the history of every accepted write, per task."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[UUID, list[Saved]] = defaultdict(list)
        self._history_lock = threading.Lock()

    def add(self, task: Task) -> None:
        super().add(task)
        self._remember(task)

    def save(self, task: Task) -> None:
        super().save(task)
        self._remember(task)

    def all_tasks(self) -> dict[UUID, Task]:
        """Every task, archived ones included, by id."""
        page = self.list_page(None, 0, 1_000_000)
        return {task.task_id: task for task in page.tasks}

    def _remember(self, task: Task) -> None:
        with self._history_lock:
            self.history[task.task_id].append(Saved(task.version, task.status, task.attempts))


class FailingStore:
    """Wraps a ``MemoryTaskStore``; broken methods raise ``StoreUnavailable`` and write nothing.

    It stands for a database that went down. ``break_(name, after=n)`` lets ``n`` more calls
    of ``name`` through first; ``repair()`` brings the database back.
    """

    def __init__(self, inner: MemoryTaskStore | None = None) -> None:
        self.inner = inner or MemoryTaskStore()
        self._passes: dict[str, int] = {}
        self._lock = threading.Lock()

    def break_(self, *names: str, after: int = 0) -> None:
        with self._lock:
            self._passes.update(dict.fromkeys(names, after))

    def repair(self) -> None:
        with self._lock:
            self._passes.clear()

    def __getattr__(self, name: str) -> Callable[..., object]:
        method = getattr(self.inner, name)

        def guarded(*args: object, **kwargs: object) -> object:
            self._maybe_fail(name)
            return method(*args, **kwargs)

        return guarded

    def _maybe_fail(self, name: str) -> None:
        with self._lock:
            passes = self._passes.get(name)
            if passes is None:
                return
            if passes > 0:
                self._passes[name] = passes - 1
                return
        raise StoreUnavailable(f"the task store failed: {name} (injected)")

    def snapshot(self) -> TaskPage:
        """Everything the inner store holds, read past the fault."""
        return self.inner.list_page(None, 0, 1_000_000)
