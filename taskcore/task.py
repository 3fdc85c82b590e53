"""The Task value object, its named moves and the rules for a new task.

A ``Task`` is frozen: every move returns a new instance with ``version + 1``. Stores persist
a move with a compare-and-set on that version, which gives concurrent moves one winner.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

from taskcore.errors import InvalidTask, InvalidTransition
from taskcore.status import TaskStatus, can_move

NAME_MAX = 200
DESCRIPTION_MAX = 2000
URL_MAX = 2048
PRIORITY_MIN = 0
PRIORITY_MAX = 9


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """What one callback attempt produced; ``status_code`` is None when no HTTP answer came."""

    status_code: int | None
    body: str
    duration_ms: int
    error: str | None
    attempt: int


@dataclass(frozen=True, slots=True)
class Task:
    """A unit of work: call ``callback_url`` with ``payload`` and record the outcome."""

    task_id: UUID
    name: str
    callback_url: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    payload: Any = field(default_factory=dict)
    priority: int = 0
    status: TaskStatus = TaskStatus.QUEUED
    dequeued_at: datetime | None = None
    executed_at: datetime | None = None
    completed_at: datetime | None = None
    attempts: int = 0
    callback_result: CallbackResult | None = None
    result: Any = None
    deadline: datetime | None = None
    token_hash: str | None = None
    version: int = 1

    @classmethod
    def new(
        cls,
        *,
        name: str,
        callback_url: str,
        now: datetime,
        description: str = "",
        payload: Any = None,
        priority: int = 0,
        task_id: UUID | None = None,
    ) -> Task:
        """Build a Queued task, trimming ``name``; raises ``InvalidTask`` naming each bad field."""
        errors = check_new_task(name, callback_url, description, priority)
        if errors:
            raise InvalidTask(errors)
        return cls(
            task_id=task_id or uuid4(),
            name=name.strip(),
            description=description,
            callback_url=callback_url,
            payload={} if payload is None else payload,
            priority=priority,
            created_at=now,
            updated_at=now,
        )

    @property
    def awaiting_report(self) -> bool:
        """Processing after the receiver answered 202: it will report the outcome itself."""
        result = self.callback_result
        return (
            self.status is TaskStatus.PROCESSING
            and result is not None
            and (result.status_code == 202 and result.attempt == self.attempts)
        )

    def dequeue(self, now: datetime) -> Task:
        """Queued -> Pending."""
        return self._move_to(TaskStatus.PENDING, now, dequeued_at=now)

    def start(self, now: datetime, deadline: datetime, token_hash: str | None) -> Task:
        """Pending or Failed -> Processing: a new attempt with a deadline (its lease)."""
        return self._move_to(
            TaskStatus.PROCESSING,
            now,
            executed_at=now,
            attempts=self.attempts + 1,
            deadline=deadline,
            token_hash=token_hash,
            callback_result=None,
            result=None,
        )

    def take(self, now: datetime, deadline: datetime, token_hash: str | None) -> Task:
        """Queued -> Pending -> Processing as one stored step: a worker dequeues and starts.

        Both moves are checked; the version goes up by one, so one compare-and-set stores
        them, and the task is never left Pending (without a lease) between the two.
        """
        started = self.dequeue(now).start(now, deadline, token_hash)
        return dataclasses.replace(started, version=self.version + 1)

    def await_report(self, now: datetime, outcome: CallbackResult, deadline: datetime) -> Task:
        """Stay Processing after a 202: record the answer and extend the lease."""
        if self.status is not TaskStatus.PROCESSING:
            raise InvalidTransition(self.task_id, self.status, TaskStatus.PROCESSING)
        return self._replace(now, callback_result=outcome, deadline=deadline)

    def complete(self, now: datetime, outcome: CallbackResult | None, result: Any = None) -> Task:
        """Processing -> Completed; the store moves it to the archive."""
        return self._move_to(
            TaskStatus.COMPLETED,
            now,
            completed_at=now,
            deadline=None,
            callback_result=outcome or self.callback_result,
            result=result,
        )

    def fail(self, now: datetime, outcome: CallbackResult | None, result: Any = None) -> Task:
        """Processing -> Failed; a manual execute may retry it."""
        return self._move_to(
            TaskStatus.FAILED,
            now,
            deadline=None,
            callback_result=outcome or self.callback_result,
            result=result,
        )

    def cancel(self, now: datetime) -> Task:
        """Queued or Pending -> Cancelled."""
        return self._move_to(TaskStatus.CANCELLED, now)

    def _move_to(self, target: TaskStatus, now: datetime, **changes: Any) -> Task:
        if not can_move(self.status, target):
            raise InvalidTransition(self.task_id, self.status, target)
        return self._replace(now, status=target, **changes)

    def _replace(self, now: datetime, **changes: Any) -> Task:
        return dataclasses.replace(self, updated_at=now, version=self.version + 1, **changes)


def check_new_task(
    name: object, callback_url: object, description: object = "", priority: object = 0
) -> dict[str, list[str]]:
    """Return the broken rules of a new task, by snake_case field name; empty when valid."""
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= NAME_MAX:
        errors["name"] = [f"Must be 1 to {NAME_MAX} characters after trimming."]
    elif _has_control_characters(name, allowed=""):
        errors["name"] = ["Must not contain control characters."]
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        errors["description"] = [f"Must be a string of at most {DESCRIPTION_MAX} characters."]
    elif _has_control_characters(description, allowed="\t\n\r"):
        errors["description"] = ["Must not contain control characters other than tab and newline."]
    url_problem = check_callback_url(callback_url)
    if url_problem:
        errors["callback_url"] = [url_problem]
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not PRIORITY_MIN <= priority <= PRIORITY_MAX
    ):
        errors["priority"] = [f"Must be an integer from {PRIORITY_MIN} to {PRIORITY_MAX}."]
    return errors


def _has_control_characters(text: str, allowed: str) -> bool:
    return any((ord(ch) < 32 or 127 <= ord(ch) < 160) and ch not in allowed for ch in text)


def check_callback_url(url: object) -> str | None:
    """Why ``url`` is not an absolute http(s) URL with a host, or None when it is."""
    if not isinstance(url, str) or not url:
        return "Must be an absolute http or https URL."
    if len(url) > URL_MAX:
        return f"Must be at most {URL_MAX} characters."
    if any(ch.isspace() for ch in url) or _has_control_characters(url, allowed=""):
        return "Must not contain whitespace or control characters."
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Is not a valid URL."
    if parts.scheme not in ("http", "https"):
        return "Must use the http or https scheme."
    if not parts.hostname:
        return "Must name a host."
    if parts.username is not None or parts.password is not None:
        return "Must not carry credentials (user:password@)."
    if port == 0:
        return "Must not use port 0."
    return None
