"""The use cases: create (one or a batch), dequeue, execute, complete, query, cancel and reap tasks.

``TaskService`` only talks to ports. Every status change goes through a ``Task`` move and is
persisted with the store's compare-and-set, so concurrent callers get exactly one winner.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from taskcore.errors import (
    AdapterError,
    ConcurrentUpdate,
    InvalidCompletionToken,
    InvalidInput,
    InvalidTask,
    InvalidTransition,
    TaskNotFound,
)
from taskcore.idempotency import Creation, check_idempotency_key, fingerprint
from taskcore.ports import (
    BackgroundExecutor,
    CallbackClient,
    CallbackRequest,
    Clock,
    Delivery,
    TaskPage,
    TaskQueue,
    TaskStore,
)
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task

log = logging.getLogger("taskcore.service")

PAGE_SIZE_MAX = 100
BATCH_MAX = 100


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a batch: the fields ``TaskService.create`` takes, but the key."""

    name: str
    callback_url: str
    description: str = ""
    payload: Any = None
    priority: int = 0


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Timing rules: a Processing task's lease is the callback timeout plus a margin."""

    callback_timeout_s: float = 10.0
    lease_margin_s: float = 5.0
    report_timeout_s: float = 3600.0
    idempotency_window_s: float = 86400.0


def hash_token(token: str) -> str:
    """The stored form of a completion token: only its SHA-256 is kept."""
    return hashlib.sha256(token.encode()).hexdigest()


class TaskService:
    """The application's use cases over a store, a queue and a callback client.

    ``on_reaped``, when set, is called with the error of each execution the reaper fails
    (``execution lost`` or ``completion report not received``), for metrics.
    """

    def __init__(
        self,
        store: TaskStore,
        queue: TaskQueue,
        callbacks: CallbackClient,
        clock: Clock,
        executor: BackgroundExecutor | None = None,
        settings: ServiceSettings | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        self.callbacks = callbacks
        self.clock = clock
        self.executor = executor
        self.settings = settings or ServiceSettings()
        self.on_reaped: Callable[[str], object] | None = None

    def create(
        self,
        *,
        name: str,
        callback_url: str,
        description: str = "",
        payload: Any = None,
        priority: int = 0,
        idempotency_key: str | None = None,
    ) -> Task:
        """``create_or_replay``, returning only the task; raises what it raises."""
        return self.create_or_replay(
            name=name,
            callback_url=callback_url,
            description=description,
            payload=payload,
            priority=priority,
            idempotency_key=idempotency_key,
        ).task

    def create_or_replay(
        self,
        *,
        name: str,
        callback_url: str,
        description: str = "",
        payload: Any = None,
        priority: int = 0,
        idempotency_key: str | None = None,
    ) -> Creation:
        """Store a new Queued task and publish it, at most once per ``idempotency_key``.

        A key used again with the same fields within ``idempotency_window_s`` replays: it
        returns the task the key created, as it is now, and publishes nothing. Raises
        ``InvalidTask``, ``InvalidInput`` (a bad key), ``IdempotencyConflict`` (the key's
        window is open and the fields differ), ``AdapterError``.
        """
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
        task = Task.new(
            name=name,
            callback_url=callback_url,
            description=description,
            payload=payload,
            priority=priority,
            now=self.clock.now(),
        )
        stored = self._add(task, idempotency_key)
        if stored.task_id != task.task_id:
            log.info("task creation replayed", extra={"task_id": str(stored.task_id)})
            return Creation(stored, replayed=True)
        self.queue.publish(task.task_id, task.priority)
        log.debug("task created", extra={"task_id": str(task.task_id)})
        return Creation(task)

    def create_many(self, specs: Sequence[TaskSpec]) -> list[Task]:
        """Store 1 to ``BATCH_MAX`` new Queued tasks in one store call and publish them.

        All or nothing: every spec is checked first, and one bad spec refuses the batch
        with ``InvalidTask`` naming each broken field as ``tasks.<index>.<field>``; a store
        failure stores none. Returns the tasks in the order of ``specs``. There is no
        idempotency key: retrying a batch whose answer was lost creates it again. Raises
        ``InvalidInput`` (no specs, or too many), ``InvalidTask``, ``AdapterError``.
        """
        if not 1 <= len(specs) <= BATCH_MAX:
            raise InvalidInput({"tasks": [f"Must hold 1 to {BATCH_MAX} tasks."]})
        now = self.clock.now()
        tasks: list[Task] = []
        errors: dict[str, list[str]] = {}
        for index, spec in enumerate(specs):
            try:
                tasks.append(
                    Task.new(
                        name=spec.name,
                        callback_url=spec.callback_url,
                        description=spec.description,
                        payload=spec.payload,
                        priority=spec.priority,
                        now=now,
                    )
                )
            except InvalidTask as exc:
                errors.update({f"tasks.{index}.{k}": v for k, v in exc.errors.items()})
        if errors:
            raise InvalidTask(errors)
        self.store.add_many(tasks)
        self.queue.publish_many([(task.task_id, task.priority) for task in tasks])
        log.debug("%d tasks created", len(tasks))
        return tasks

    def get(self, task_id: UUID) -> Task:
        """The task, archived ones included. Raises ``TaskNotFound``."""
        return self.store.get(task_id)

    def list(self, status: TaskStatus | None = None, page: int = 1, size: int = 20) -> TaskPage:
        """One page of tasks, newest first. Raises ``InvalidInput`` for bad paging."""
        errors: dict[str, list[str]] = {}
        if page < 1:
            errors["page"] = ["Must be 1 or more."]
        if not 1 <= size <= PAGE_SIZE_MAX:
            errors["size"] = [f"Must be from 1 to {PAGE_SIZE_MAX}."]
        if errors:
            raise InvalidInput(errors)
        return self.store.list_page(status, (page - 1) * size, size)

    def dequeue(self, task_id: UUID) -> Task:
        """Queued -> Pending for one task. Raises ``TaskNotFound``, ``InvalidTransition``."""
        task = self._move(self.store.get(task_id), lambda t: t.dequeue(self.clock.now()))
        self.queue.discard(task_id)
        return task

    def dequeue_next(self) -> Task | None:
        """Take the next Queued task (priority, then FIFO) to Pending; None when none is left.

        Messages whose task is no longer Queued are acknowledged and skipped.
        """
        return self._claim_next(self._dequeue_now)

    def execute_next(self) -> Task | None:
        """Take the next Queued task and run its callback: one step of a worker.

        The task goes Queued -> Processing in one compare-and-set (``Task.take``), so it has
        a lease from the moment it leaves the queue. Returns the recorded outcome, or None
        when the queue is empty.
        """
        token = secrets.token_urlsafe(32)
        started = self._claim_next(lambda task: self._take(task, token))
        return None if started is None else self._run_callback(started, token)

    def _claim_next(self, move: Callable[[Task], Task]) -> Task | None:
        """Apply ``move`` to the task of the next message; ack it once the move is stored."""
        while (delivery := self.queue.receive()) is not None:
            try:
                task = self._move(self.store.get(delivery.task_id), move)
            except (TaskNotFound, InvalidTransition, ConcurrentUpdate):
                self.queue.ack(delivery)
                continue
            except BaseException:
                self.queue.release(delivery)
                raise
            self._ack_after_move(delivery)
            return task
        return None

    def _ack_after_move(self, delivery: Delivery) -> None:
        # The move is committed: a lost ack only means the message comes again and is skipped.
        try:
            self.queue.ack(delivery)
        except AdapterError as exc:
            log.warning(
                "ack failed after dequeue: %s", exc, extra={"task_id": str(delivery.task_id)}
            )

    def execute(self, task_id: UUID) -> Task:
        """Run the callback now and return the recorded outcome.

        Raises ``TaskNotFound``, ``InvalidTransition`` (not Pending or Failed),
        ``ConcurrentUpdate`` (another execution started first).
        """
        started, token = self._start(task_id)
        return self._run_callback(started, token)

    def execute_async(self, task_id: UUID) -> Task:
        """Start an execution in the background and return the Processing task at once.

        Raises what ``execute`` raises, and ``Overloaded`` when no background place is free.
        """
        if self.executor is None:
            raise RuntimeError("this TaskService has no background executor")
        slot = self.executor.reserve()
        try:
            started, token = self._start(task_id)
        except BaseException:
            slot.cancel()
            raise
        slot.run(lambda: self._run_callback(started, token))
        return started

    def complete(self, task_id: UUID, token: str, success: bool, result: Any = None) -> Task:
        """Record the outcome a receiver reports for a Processing task (deferred completion).

        Raises ``TaskNotFound``, ``InvalidCompletionToken``, ``InvalidTransition``.
        """
        task = self.store.get(task_id)
        expected = task.token_hash or ""
        if not hmac.compare_digest(expected.encode(), hash_token(token).encode()):
            raise InvalidCompletionToken(task_id)
        now = self.clock.now()
        if success:
            return self._move(task, lambda t: t.complete(now, None, result))
        return self._move(task, lambda t: t.fail(now, self._reported_failure(t), result))

    def cancel(self, task_id: UUID) -> Task:
        """Queued or Pending -> Cancelled; already Cancelled is a no-op.

        Raises ``TaskNotFound``, ``InvalidTransition``.
        """
        task = self.store.get(task_id)
        if task.status is TaskStatus.CANCELLED:
            return task
        cancelled = self._move(task, lambda t: t.cancel(self.clock.now()))
        self.queue.discard(task_id)
        return cancelled

    def reap_expired(self, limit: int = 100) -> int:
        """Fail Processing tasks whose lease ran out; returns how many this call failed."""
        now = self.clock.now()
        reaped = 0
        for task in self.store.expired(now, limit):
            error = "completion report not received" if task.awaiting_report else "execution lost"
            try:
                self.store.save(task.fail(now, _no_answer(task.attempts, error)))
            except (ConcurrentUpdate, InvalidTransition):
                continue
            log.warning("execution reaped: %s", error, extra={"task_id": str(task.task_id)})
            reaped += 1
            if self.on_reaped is not None:
                self.on_reaped(error)
        return reaped

    def republish_queued(self, limit: int = 10_000) -> int:
        """Publish every Queued task again, for queues that lost messages; returns the count.

        Duplicates are harmless: a message whose task is no longer Queued is skipped.
        """
        ids = self.store.queued_ids(limit)
        for task_id in ids:
            self.queue.publish(task_id, self.store.get(task_id).priority)
        return len(ids)

    def _add(self, task: Task, key: str | None) -> Task:
        if key is None:
            self.store.add(task)
            return task
        window = timedelta(seconds=self.settings.idempotency_window_s)
        return self.store.add_idempotent(task, key, fingerprint(task), task.created_at - window)

    def _dequeue_now(self, task: Task) -> Task:
        return task.dequeue(self.clock.now())

    def _start(self, task_id: UUID) -> tuple[Task, str]:
        task = self.store.get(task_id)
        if task.status not in (TaskStatus.PENDING, TaskStatus.FAILED):
            raise InvalidTransition(task_id, task.status, TaskStatus.PROCESSING)
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        started = self._move(task, lambda t: t.start(now, self._deadline(now), hash_token(token)))
        return started, token

    def _take(self, task: Task, token: str) -> Task:
        now = self.clock.now()
        return task.take(now, self._deadline(now), hash_token(token))

    def _deadline(self, now: datetime) -> datetime:
        """When an execution starting ``now`` counts as lost: its lease."""
        return now + timedelta(
            seconds=self.settings.callback_timeout_s + self.settings.lease_margin_s
        )

    def _run_callback(self, started: Task, token: str) -> Task:
        request = CallbackRequest(
            task_id=started.task_id,
            name=started.name,
            url=started.callback_url,
            payload=started.payload,
            attempt=started.attempts,
            token=token,
        )
        try:
            outcome = self.callbacks.call(request)
        except Exception as exc:  # the client promises not to raise; never strand the task
            log.exception("callback client raised", extra={"task_id": str(started.task_id)})
            outcome = _no_answer(started.attempts, f"internal error: {type(exc).__name__}")
        return self._record(started, outcome)

    def _record(self, started: Task, outcome: CallbackResult) -> Task:
        now = self.clock.now()
        code = outcome.status_code
        if code == 202 and outcome.error is None:
            report_by = now + timedelta(seconds=self.settings.report_timeout_s)
            moved = started.await_report(now, outcome, report_by)
        elif code is not None and 200 <= code < 300 and outcome.error is None:
            moved = started.complete(now, outcome)
        else:
            moved = started.fail(now, outcome)
            log.debug("task failed: %s", outcome.error, extra={"task_id": str(started.task_id)})
        try:
            self.store.save(moved)
        except ConcurrentUpdate:  # a report or the reaper got there first; theirs stands
            return self.store.get(started.task_id)
        return moved

    def _move(self, task: Task, move: Callable[[Task], Task]) -> Task:
        moved: Task = move(task)
        self.store.save(moved)
        return moved

    @staticmethod
    def _reported_failure(task: Task) -> CallbackResult:
        base = task.callback_result or _no_answer(task.attempts, None)
        return CallbackResult(
            status_code=base.status_code,
            body=base.body,
            duration_ms=base.duration_ms,
            error="receiver reported failure",
            attempt=base.attempt,
        )


def _no_answer(attempt: int, error: str | None) -> CallbackResult:
    return CallbackResult(status_code=None, body="", duration_ms=0, error=error, attempt=attempt)
