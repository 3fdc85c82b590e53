"""Racing operations against one service on the memory adapters, and judging the results."""

from __future__ import annotations

import threading
from collections.abc import Callable

from taskcore import TaskService
from taskcore.errors import ConcurrentUpdate, InvalidCompletionToken, InvalidTransition
from taskcore.service import ServiceSettings
from taskcore_adapters import MemoryTaskQueue
from tests.hardening.doubles import RecordingStore, ScriptedCallbackClient
from tests.support.clock import SettableClock

SERVICE_SETTINGS = ServiceSettings(callback_timeout_s=10, lease_margin_s=5, report_timeout_s=60)
REFUSALS = (InvalidTransition, ConcurrentUpdate, InvalidCompletionToken)  # the expected 409/403s


def build_service() -> tuple[TaskService, RecordingStore, MemoryTaskQueue, ScriptedCallbackClient]:
    """A service on recording memory adapters, a settable clock and a scripted client."""
    clock = SettableClock()
    store, queue, client = RecordingStore(), MemoryTaskQueue(), ScriptedCallbackClient(clock)
    service = TaskService(store, queue, client, clock, settings=SERVICE_SETTINGS)
    return service, store, queue, client


def together(actions: list[Callable[[], object]]) -> list[object]:
    """Run each action on its own thread, released at once; results or refusals, in order."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = actions[index]()
        except BaseException as exc:  # returned, to be judged by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def winners(results: list[object]) -> list[object]:
    """The results that are not refusals; anything raised but a refusal fails the test."""
    unexpected = [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, REFUSALS)
    ]
    assert unexpected == []
    return [r for r in results if not isinstance(r, BaseException)]
