"""taskcore: an asynchronous task service with HTTP callbacks.

The core is framework-free: the domain (``Task``, ``TaskStatus``), its errors, the ports the
service needs, and ``TaskService`` with the use cases. Adapters live in ``taskcore_adapters``.
"""

from __future__ import annotations

from taskcore.clock import SystemClock
from taskcore.errors import (
    AdapterError,
    ConcurrentUpdate,
    IdempotencyConflict,
    InvalidCompletionToken,
    InvalidInput,
    InvalidTask,
    InvalidTransition,
    Overloaded,
    QueueUnavailable,
    StoreUnavailable,
    TaskcoreError,
    TaskNotFound,
)
from taskcore.idempotency import Creation
from taskcore.ports import (
    BackgroundExecutor,
    CallbackClient,
    CallbackRequest,
    Clock,
    Delivery,
    Slot,
    TaskPage,
    TaskQueue,
    TaskStore,
)
from taskcore.service import ServiceSettings, TaskService
from taskcore.status import TRANSITIONS, TaskStatus
from taskcore.task import CallbackResult, Task

__version__ = "1.0.0"

__all__ = [
    "TRANSITIONS",
    "AdapterError",
    "BackgroundExecutor",
    "CallbackClient",
    "CallbackRequest",
    "CallbackResult",
    "Clock",
    "ConcurrentUpdate",
    "Creation",
    "Delivery",
    "IdempotencyConflict",
    "InvalidCompletionToken",
    "InvalidInput",
    "InvalidTask",
    "InvalidTransition",
    "Overloaded",
    "QueueUnavailable",
    "ServiceSettings",
    "Slot",
    "StoreUnavailable",
    "SystemClock",
    "Task",
    "TaskNotFound",
    "TaskPage",
    "TaskQueue",
    "TaskService",
    "TaskStatus",
    "TaskStore",
    "TaskcoreError",
    "__version__",
]
