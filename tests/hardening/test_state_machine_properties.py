"""Any sequence of operations, from one thread or many, keeps the task invariants.

The service runs on the memory adapters with a settable clock and a scripted callback
client. After every step: one status per task, Completed tasks (and only they) archived,
the queue holding exactly the Queued tasks, leases only on Processing tasks, versions up
by one per write, legal moves only, attempts never dropping, one callback per attempt;
and a refused operation changes nothing at all.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from taskcore import TaskService
from taskcore.errors import InvalidCompletionToken, TaskcoreError, TaskNotFound
from taskcore.status import TaskStatus
from tests.hardening import invariants
from tests.hardening.doubles import OUTCOMES, ScriptedCallbackClient, url_for
from tests.hardening.races import REFUSALS, build_service, together, winners

FINISHES = {"ok": "Completed", "slow": "Completed", "defer": "Processing"}


class TaskLifecycle(RuleBasedStateMachine):
    """Operations drawn at random; each outcome is compared with what the table allows."""

    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.service, self.store, self.queue, self.client = build_service()

    @rule(target=tasks, priority=st.integers(0, 9), outcome=st.sampled_from(OUTCOMES))
    def create(self, priority: int, outcome: str) -> UUID:
        task = self.service.create(name="job", callback_url=url_for(outcome), priority=priority)
        assert task.status is TaskStatus.QUEUED
        return task.task_id

    @rule(task_id=tasks)
    def dequeue(self, task_id: UUID) -> None:
        was = self._status(task_id)
        moved = self._attempt(lambda: self.service.dequeue(task_id))
        assert (moved is not None) == (was is TaskStatus.QUEUED)

    @rule()
    def dequeue_next(self) -> None:
        expected = self._next_in_line()
        taken = self.service.dequeue_next()
        assert (taken and taken.task_id) == expected
        assert taken is None or taken.status is TaskStatus.PENDING

    @rule(task_id=tasks, outcome=st.sampled_from(OUTCOMES))
    def execute(self, task_id: UUID, outcome: str) -> None:
        was = self._status(task_id)
        self.client.plan[task_id] = outcome
        done = self._attempt(lambda: self.service.execute(task_id))
        assert (done is not None) == (was in (TaskStatus.PENDING, TaskStatus.FAILED))
        if done is not None:
            assert done.status == FINISHES.get(outcome, "Failed")

    @rule(task_id=tasks, right_token=st.booleans(), success=st.booleans())
    def complete(self, task_id: UUID, right_token: bool, success: bool) -> None:
        token = self.client.tokens.get(task_id) if right_token else None
        task = self.store.get(task_id)
        done = self._attempt(
            lambda: self.service.complete(task_id, token or secrets.token_urlsafe(8), success)
        )
        accepted = token is not None and task.status is TaskStatus.PROCESSING
        assert (done is not None) == accepted
        if done is not None:
            assert done.status == ("Completed" if success else "Failed")

    @rule(task_id=tasks)
    def cancel(self, task_id: UUID) -> None:
        was = self._status(task_id)
        done = self._attempt(lambda: self.service.cancel(task_id))
        cancellable = (TaskStatus.QUEUED, TaskStatus.PENDING, TaskStatus.CANCELLED)
        assert (done is not None) == (was in cancellable)

    @rule()
    def unknown_task(self) -> None:
        task_id = uuid4()
        for operation in (self.service.dequeue, self.service.execute, self.service.cancel):
            assert self._attempt(lambda op=operation: op(task_id)) is None

    @rule(seconds=st.sampled_from([1, 14, 16, 59, 61, 3600]))
    def advance_and_reap(self, seconds: int) -> None:
        self.service.clock.advance(seconds)  # type: ignore[attr-defined]
        now = self.service.clock.now()
        due = {
            t.task_id
            for t in self.store.all_tasks().values()
            if t.status is TaskStatus.PROCESSING and t.deadline and t.deadline <= now
        }
        assert self.service.reap_expired(limit=1000) == len(due)
        assert all(self.store.get(i).status is TaskStatus.FAILED for i in due)

    @invariant()
    def invariants_hold(self) -> None:
        invariants.check_all(self.store, self.queue, self.client)

    def _status(self, task_id: UUID) -> TaskStatus:
        return self.store.get(task_id).status

    def _next_in_line(self) -> UUID | None:
        queued = [t for t in self.store.all_tasks().values() if t.status is TaskStatus.QUEUED]
        order = {task_id: seq for seq, task_id in enumerate(self.store._tasks)}
        queued.sort(key=lambda t: (-t.priority, order[t.task_id]))
        return queued[0].task_id if queued else None

    def _attempt(self, operation: Any) -> Any:
        """Run ``operation``; when it is refused, assert that it changed nothing."""
        before = self._state()
        try:
            return operation()
        except TaskcoreError as refused:
            assert isinstance(refused, (InvalidCompletionToken, TaskNotFound)) or hasattr(
                refused, "current"
            ), refused
            assert self._state() == before, f"{type(refused).__name__} changed the state"
            return None

    def _state(self) -> tuple[Any, ...]:
        history = {i: list(h) for i, h in self.store.history.items()}
        calls = {i: list(c) for i, c in self.client.calls.items()}
        return self.store.all_tasks(), sorted(self.queue._live.items()), history, calls


TaskLifecycle.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_any_sequence_of_operations_keeps_the_invariants = TaskLifecycle.TestCase


# --- the same operations from several threads at once -------------------------------------

THREADS = 4
TASK_COUNT = 3
Operation = Callable[[TaskService, ScriptedCallbackClient, UUID], object]
OPERATIONS: dict[str, Operation] = {
    "dequeue": lambda s, c, i: s.dequeue(i),
    "dequeue_next": lambda s, c, i: s.dequeue_next(),
    "execute": lambda s, c, i: s.execute(i),
    "complete": lambda s, c, i: s.complete(i, c.tokens.get(i, "wrong"), True),
    "fail_report": lambda s, c, i: s.complete(i, c.tokens.get(i, "wrong"), False),
    "cancel": lambda s, c, i: s.cancel(i),
    "reap": lambda s, c, i: (s.clock.advance(20), s.reap_expired()),  # type: ignore[attr-defined]
}
programs = st.lists(
    st.lists(
        st.tuples(st.sampled_from(sorted(OPERATIONS)), st.integers(0, TASK_COUNT - 1)),
        min_size=1,
        max_size=8,
    ),
    min_size=THREADS,
    max_size=THREADS,
)


@pytest.fixture(autouse=True)
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every few microseconds, so that races interleave as finely as they can."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(previous)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, outcomes=st.lists(st.sampled_from(OUTCOMES), min_size=3, max_size=3))
def test_operations_fired_from_several_threads_keep_the_invariants(
    program: list[list[tuple[str, int]]], outcomes: list[str]
) -> None:
    service, store, queue, client = build_service()
    ids = [service.create(name="job", callback_url=url_for(o)).task_id for o in outcomes]

    def thread(steps: list[tuple[str, int]]) -> Callable[[], object]:
        def run() -> object:
            for name, index in steps:
                with contextlib.suppress(*REFUSALS):
                    OPERATIONS[name](service, client, ids[index])
            return None

        return run

    results = together([thread(steps) for steps in program])

    assert [r for r in results if r is not None] == []
    invariants.check_all(store, queue, client)


ROUNDS = 25


def test_simultaneous_dequeues_of_one_task_have_exactly_one_winner() -> None:
    for _ in range(ROUNDS):
        service, store, queue, client = build_service()
        task_id = service.create(name="job", callback_url=url_for("ok")).task_id

        results = together([partial(service.dequeue, task_id)] * 8)

        assert len(winners(results)) == 1
        invariants.check_all(store, queue, client)


def test_simultaneous_dequeue_next_calls_hand_out_each_task_once() -> None:
    for _ in range(ROUNDS):
        service, store, queue, client = build_service()
        ids = {service.create(name="job", callback_url=url_for("ok")).task_id for _ in range(3)}

        taken = [t for t in winners(together([service.dequeue_next] * 8)) if t is not None]

        assert sorted(t.task_id for t in taken) == sorted(ids)  # type: ignore[attr-defined]
        invariants.check_all(store, queue, client)


def test_simultaneous_executes_of_one_task_call_back_once() -> None:
    for _ in range(ROUNDS):
        service, store, queue, client = build_service()
        task_id = service.create(name="job", callback_url=url_for("ok")).task_id
        service.dequeue(task_id)

        won = winners(together([partial(service.execute, task_id)] * 8))

        assert [w.status for w in won] == [TaskStatus.COMPLETED]  # type: ignore[attr-defined]
        assert client.calls[task_id] == [1]
        invariants.check_all(store, queue, client)


def test_simultaneous_completion_reports_have_exactly_one_winner() -> None:
    for _ in range(ROUNDS):
        service, store, queue, client = build_service()
        task_id = service.create(name="job", callback_url=url_for("defer")).task_id
        service.dequeue(task_id)
        service.execute(task_id)
        token = client.tokens[task_id]

        reports = [partial(service.complete, task_id, token, s) for s in (True, False) * 4]

        assert len(winners(together(reports))) == 1
        invariants.check_all(store, queue, client)


def test_simultaneous_reapers_fail_each_expired_task_once() -> None:
    for _ in range(ROUNDS):
        service, store, queue, client = build_service()
        for _ in range(3):
            task_id = service.create(name="job", callback_url=url_for("defer")).task_id
            service.dequeue(task_id)
            service.execute(task_id)
        service.clock.advance(61)  # type: ignore[attr-defined]

        reaped = winners(together([service.reap_expired] * 6))

        assert sum(reaped) == 3  # type: ignore[arg-type]
        assert store.counts()[TaskStatus.FAILED] == 3
        invariants.check_all(store, queue, client)
