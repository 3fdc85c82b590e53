"""Creating a task with an idempotency key, through ``TaskService`` on the memory adapters:
one key creates one task and publishes it once, for as long as its window lasts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from taskcore import Creation, IdempotencyConflict, TaskcoreError
from taskcore.errors import InvalidInput, InvalidTask
from taskcore.idempotency import fingerprint
from taskcore.ports import CallbackRequest
from taskcore.service import ServiceSettings, TaskService
from taskcore.status import TaskStatus
from taskcore.task import CallbackResult, Task
from taskcore_adapters import build_container, shutdown
from taskcore_adapters.config import ConfigError, load_settings
from taskcore_adapters.memory import MemoryTaskQueue, MemoryTaskStore
from tests.support.clock import SettableClock

URL = "http://127.0.0.1:9/hook"
WINDOW_S = 600.0
BODY: dict[str, Any] = {"name": "report", "callback_url": URL, "payload": {"a": 1}}


class NoCallbacks:
    """A ``CallbackClient`` these tests never reach."""

    def call(self, request: CallbackRequest) -> CallbackResult:
        raise AssertionError("no callback is expected")

    def close(self) -> None:
        """Nothing pooled."""


class CountingQueue(MemoryTaskQueue):
    """The memory queue, counting publishes (it keeps one entry per task by design)."""

    def __init__(self) -> None:
        super().__init__()
        self.published = 0

    def publish(self, task_id: Any, priority: int) -> None:
        self.published += 1
        super().publish(task_id, priority)


@pytest.fixture
def store() -> MemoryTaskStore:
    return MemoryTaskStore()


@pytest.fixture
def queue() -> CountingQueue:
    return CountingQueue()


@pytest.fixture
def service(store: MemoryTaskStore, queue: CountingQueue, clock: SettableClock) -> TaskService:
    settings = ServiceSettings(idempotency_window_s=WINDOW_S)
    return TaskService(store, queue, NoCallbacks(), clock, settings=settings)


def create(service: TaskService, key: str | None = "k-1", **changes: Any) -> Creation:
    return service.create_or_replay(**(BODY | changes), idempotency_key=key)


def total(store: MemoryTaskStore) -> int:
    return store.list_page(None, 0, 1).total


def test_the_first_create_with_a_key_is_new_and_published(
    service: TaskService, store: MemoryTaskStore, queue: CountingQueue
) -> None:
    creation = create(service)

    assert creation.replayed is False
    assert creation.task.status is TaskStatus.QUEUED
    assert store.get(creation.task.task_id) == creation.task
    assert queue.published == 1


def test_the_same_key_and_body_replay_the_first_task_without_publishing_again(
    service: TaskService, store: MemoryTaskStore, queue: CountingQueue, clock: SettableClock
) -> None:
    first = create(service)
    clock.advance(30)

    again = create(service)

    assert again == Creation(first.task, replayed=True)
    assert total(store) == 1
    assert queue.published == 1
    assert len(queue) == 1


def test_a_replay_shows_the_task_as_it_is_now(service: TaskService) -> None:
    first = create(service).task
    service.dequeue(first.task_id)

    again = create(service)

    assert again.replayed
    assert (again.task.task_id, again.task.status) == (first.task_id, TaskStatus.PENDING)


def test_create_returns_the_original_task_for_a_replay(service: TaskService) -> None:
    first = service.create(**BODY, idempotency_key="k-plain")

    assert service.create(**BODY, idempotency_key="k-plain") == first


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(
    service: TaskService, store: MemoryTaskStore, queue: CountingQueue
) -> None:
    create(service)

    with pytest.raises(IdempotencyConflict) as caught:
        create(service, payload={"a": 2})

    assert caught.value.key == "k-1"
    assert isinstance(caught.value, TaskcoreError)
    assert (total(store), queue.published) == (1, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other"},
        {"description": "more"},
        {"callback_url": URL + "?x=1"},
        {"payload": {"a": 1.5}},
        {"payload": [1]},
        {"priority": 1},
    ],
    ids=["name", "description", "callback_url", "payload", "payload-type", "priority"],
)
def test_every_field_of_the_body_counts_for_the_same_request(
    service: TaskService, change: dict[str, Any]
) -> None:
    create(service)

    with pytest.raises(IdempotencyConflict):
        create(service, **change)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "  report  "},
        {"payload": {"a": 1}, "description": "", "priority": 0},
    ],
    ids=["untrimmed-name", "defaults-spelled-out"],
)
def test_bodies_that_make_the_same_task_are_the_same_request(
    service: TaskService, change: dict[str, Any]
) -> None:
    first = create(service)

    assert create(service, **change) == Creation(first.task, replayed=True)


def test_a_missing_or_null_payload_is_the_same_request(service: TaskService) -> None:
    body = {"name": "n", "callback_url": URL}
    first = service.create_or_replay(**body, idempotency_key="k-null")

    again = service.create_or_replay(**body, payload=None, idempotency_key="k-null")

    assert again.task.task_id == first.task.task_id


def test_the_order_of_payload_keys_does_not_matter(service: TaskService) -> None:
    first = create(service, payload={"a": 1, "b": {"c": 2, "d": 3}})

    again = create(service, payload={"b": {"d": 3, "c": 2}, "a": 1})

    assert again.task.task_id == first.task.task_id


def test_the_key_is_live_until_the_window_ends_then_creates_a_new_task(
    service: TaskService, clock: SettableClock, queue: CountingQueue
) -> None:
    first = create(service).task
    clock.advance(WINDOW_S)
    assert create(service).task == first

    clock.advance(0.001)
    second = create(service)

    assert second.replayed is False
    assert second.task.task_id != first.task_id
    assert queue.published == 2
    assert create(service).task == second.task


def test_an_expired_key_may_be_reused_with_another_body(
    service: TaskService, clock: SettableClock
) -> None:
    first = create(service).task
    clock.advance(WINDOW_S + 1)

    second = create(service, name="renamed")

    assert (second.replayed, second.task.name) == (False, "renamed")
    assert second.task.task_id != first.task_id


def test_different_keys_create_different_tasks(service: TaskService) -> None:
    assert create(service, key="k-a").task != create(service, key="k-b").task


def test_without_a_key_every_create_is_new(service: TaskService, store: MemoryTaskStore) -> None:
    create(service, key=None)
    again = create(service, key=None)

    assert again.replayed is False
    assert total(store) == 2


@pytest.mark.parametrize(
    "key",
    ["", "x" * 256, "caf\u00e9", "tab\there", "line\n", "nul\x00", "del\x7f", "\u2603"],
    ids=["empty", "256-chars", "latin-1", "tab", "newline", "nul", "del", "unicode"],
)
def test_a_key_must_be_1_to_255_printable_ascii_characters(
    service: TaskService, store: MemoryTaskStore, key: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        create(service, key=key)

    assert list(caught.value.errors) == ["idempotency_key"]
    assert total(store) == 0


@pytest.mark.parametrize("key", ["x" * 255, " ", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"])
def test_any_printable_ascii_key_up_to_255_characters_is_accepted(
    service: TaskService, key: str
) -> None:
    assert create(service, key=key).replayed is False
    assert create(service, key=key).replayed is True


def test_an_invalid_body_does_not_use_up_the_key(
    service: TaskService, store: MemoryTaskStore
) -> None:
    with pytest.raises(InvalidTask):
        create(service, name="")

    assert create(service).replayed is False
    assert total(store) == 1


def test_a_payload_that_is_not_json_cannot_be_created_with_a_key(service: TaskService) -> None:
    with pytest.raises(InvalidTask) as caught:
        create(service, payload={"when": object()})

    assert list(caught.value.errors) == ["payload"]
    assert create(service, key=None, payload={"when": object()}).replayed is False


def test_the_fingerprint_is_a_sha256_that_depends_on_the_fields_only() -> None:
    clock = SettableClock()
    one = Task.new(name="n", callback_url=URL, now=clock.now(), payload={"é": 1})
    clock.advance(5)
    twin = Task.new(name="n", callback_url=URL, now=clock.now(), payload={"é": 1})

    assert one.task_id != twin.task_id
    assert fingerprint(one) == fingerprint(twin)
    assert len(fingerprint(one)) == 64
    assert int(fingerprint(one), 16) >= 0


def test_threads_creating_with_one_key_create_one_task_and_publish_once(
    service: TaskService, store: MemoryTaskStore, queue: CountingQueue
) -> None:
    barrier = threading.Barrier(10)

    def racer(_: int) -> Creation:
        barrier.wait(10)
        return create(service, key="k-race")

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(racer, range(10)))

    assert len({r.task.task_id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False] + [True] * 9
    assert (total(store), queue.published) == (1, 1)


def test_the_window_is_configured_by_api_idempotency_window_s() -> None:
    settings = load_settings(environ={"TASKCORE_API__IDEMPOTENCY_WINDOW_S": "90"})
    container = build_container(settings=settings)
    try:
        assert container.service().settings.idempotency_window_s == 90.0
    finally:
        shutdown(container)


def test_the_window_defaults_to_one_day() -> None:
    assert load_settings(environ={}).api.idempotency_window_s == 86400.0
    assert ServiceSettings().idempotency_window_s == 86400.0


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_window_that_is_not_a_positive_number_is_refused_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match=r"api\.idempotency_window_s"):
        load_settings(environ={"TASKCORE_API__IDEMPOTENCY_WINDOW_S": value})
