"""Idempotent creation: what makes two create requests "the same", and the result type.

A client that retries a create with the same ``Idempotency-Key`` gets the task its first
request made instead of a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from taskcore.errors import InvalidInput, InvalidTask
from taskcore.task import Task

IDEMPOTENCY_KEY_MAX = 255
FINGERPRINTED = ("name", "description", "callback_url", "payload", "priority")


@dataclass(frozen=True, slots=True)
class Creation:
    """What a create did: the task, and whether an earlier request with its key made it."""

    task: Task
    replayed: bool = False


def check_idempotency_key(key: object) -> None:
    """Refuse a key that HTTP cannot carry as is or the stores cannot index: ``InvalidInput``."""
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX
        or not all(" " <= ch <= "~" for ch in key)
    ):
        message = f"Must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters."
        raise InvalidInput({"idempotency_key": [message]})


def fingerprint(task: Task) -> str:
    """SHA-256 of the fields a create sets, as canonical JSON: what "the same request" means.

    Fields are taken after ``Task.new`` normalised them, so requests that would create equal
    tasks (a trimmed name, a missing or null payload) are the same request. Raises
    ``InvalidTask`` when the payload is not a JSON value.
    """
    fields = {name: getattr(task, name) for name in FINGERPRINTED}
    try:
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        message = "Must be a JSON value to use an idempotency key."
        raise InvalidTask({"payload": [message]}) from None
    return hashlib.sha256(text.encode()).hexdigest()
