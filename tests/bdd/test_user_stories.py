"""US-001 … US-005: the PRD's user stories, each as a feature of its own."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pytest_bdd import given, parsers, scenarios, then, when

from taskcore_adapters import MemoryTaskQueue
from tests.bdd.conftest import TASKS, World, closed_port_url
from tests.support.backends import Backend

scenarios(
    "us_001_create_task.feature",
    "us_002_dequeue_task.feature",
    "us_003_execute_task.feature",
    "us_004_query_task.feature",
    "us_005_cancel_task.feature",
)


def create(world: World, name: str, priority: int = 0) -> str:
    body = {"name": name, "callbackUrl": world.callback_url, "priority": priority}
    response = world.client.post(TASKS, json=body)
    assert response.status_code == 201, response.data
    task_id: str = response.json["taskId"]
    return task_id


# --- US-001 ----------------------------------------------------------------------------------


@given("我有任務的基本資訊和 Callback URL")
def basic_task_info(world: World) -> None:
    world.task_info = {"name": "寄送通知", "callbackUrl": world.receiver.url("/ok")}


@then("系統應該將任務加入 Queue 並回傳任務 ID")
def the_task_is_queued_and_its_id_returned(world: World) -> None:
    assert world.last.status_code == 201, world.last.data
    task_id = UUID(world.last.json["taskId"])
    delivery = world.queue().receive()  # look at the queue without taking the task away
    assert delivery is not None and delivery.task_id == task_id
    world.queue().release(delivery)


@then("任務狀態為 Queued")
def the_task_is_queued(world: World) -> None:
    assert world.last.json["status"] == "Queued"
    assert world.task()["status"] == "Queued"


# --- US-002 ----------------------------------------------------------------------------------


@given("Queue 中存在待處理任務")
def a_waiting_task(world: World) -> None:
    world.wanted_status = "Queued"
    assert world.task_id


@then("系統應該從 Queue 移除任務")
def the_task_left_the_queue(world: World) -> None:
    assert world.last.status_code == 200, world.last.data
    assert world.client.post(f"{TASKS}/dequeue").status_code == 204
    again = world.client.post(f"{TASKS}/{world.task_id}/dequeue")
    assert (again.status_code, again.json["currentStatus"]) == (409, "Pending")


@then("在資料庫建立任務記錄，狀態為 Pending")
def the_task_is_recorded_pending(world: World) -> None:
    assert world.last.json["status"] == "Pending"
    task = world.task()
    assert task["status"] == "Pending" and task["dequeuedAt"]


@given(parsers.parse("Queue 中依序加入優先權為 {priorities} 的任務"), target_fixture="created")
def tasks_with_priorities(world: World, priorities: str) -> list[tuple[str, int]]:
    values = [int(p) for p in priorities.split("、")]
    return [(create(world, f"p{p}-{n}", p), p) for n, p in enumerate(values)]


@when("我呼叫 POST /api/v1/tasks/dequeue 直到 Queue 清空", target_fixture="taken")
def dequeue_until_empty(world: World) -> list[dict[str, Any]]:
    taken = []
    while world.send("POST", f"{TASKS}/dequeue").status_code == 200:
        assert world.last.json["status"] == "Pending"
        taken.append(world.last.json)
        assert len(taken) <= 100, "the queue never emptied"
    return taken


@then(parsers.parse("取出的優先權順序應該是 {priorities}，同優先權先進先出"))
def taken_in_priority_order(
    created: list[tuple[str, int]], taken: list[dict[str, Any]], priorities: str, backend: Backend
) -> None:
    if not backend.has_priority:  # Kafka keeps the order of arrival only
        assert [t["taskId"] for t in taken] == [task_id for task_id, _ in created]
        return
    assert [t["priority"] for t in taken] == [int(p) for p in priorities.split("、")]
    expected = sorted(created, key=lambda c: -c[1])  # stable: equal priorities keep FIFO
    assert [t["taskId"] for t in taken] == [task_id for task_id, _ in expected]


@then(parsers.parse("最後一次呼叫的回應狀態碼應該是 {code:d}"))
def the_last_answer_is(world: World, code: int) -> None:
    assert world.last.status_code == code
    assert world.last.data == b""


# --- US-003 ----------------------------------------------------------------------------------


@given("資料庫中存在 Pending 狀態的任務")
def a_pending_task(world: World) -> None:
    world.wanted_status = "Pending"


@given(parsers.parse("Callback API 的回應是 {answer}"))
def the_callback_answers(world: World, answer: str) -> None:
    refused = answer == "連線被拒"
    world.callback_url = closed_port_url() if refused else world.receiver.url(f"/status/{answer}")


@then("系統應該更新狀態為 Processing")
def the_task_was_processing_during_the_callback(world: World) -> None:
    assert world.seen_during_callback == ["Processing"]


@then("呼叫任務中指定的 Callback API")
def the_callback_was_called(world: World) -> None:
    [call] = world.calls()
    assert call.path == "/ok"
    assert call.json == {"taskId": world.task_id, "name": "bdd", "payload": {"n": 1}, "attempt": 1}
    assert call.headers["content-type"] == "application/json"
    assert call.headers["idempotency-key"] == f"{world.task_id}:1"
    assert call.headers["user-agent"].startswith("taskcore/")


@then("根據 Callback 結果更新最終狀態")
def the_final_status_follows_the_callback(world: World) -> None:
    body = world.last.json
    assert (world.last.status_code, body["status"]) == (200, "Completed")
    assert body["executedAt"] and body["callbackResult"]["statusCode"] == 200
    assert world.task()["status"] == "Completed"


@then(parsers.parse("記錄的 Callback 狀態碼是 {code}"))
def the_recorded_status_code_is(world: World, code: str) -> None:
    recorded = world.task()["callbackResult"]
    assert recorded["statusCode"] == (None if code == "無" else int(code))
    assert (recorded["error"] is None) == (world.task()["status"] == "Completed")


# --- US-004 ----------------------------------------------------------------------------------


@given("系統中存在特定任務")
def a_known_task(world: World) -> None:
    world.wanted_status = "Queued"


@then("系統應該回傳任務的詳細資訊和當前狀態")
def the_details_are_returned(world: World) -> None:
    assert world.last.status_code == 200
    body = world.last.json
    assert body["taskId"] == world.task_id
    assert (body["name"], body["status"]) == ("bdd", "Queued")
    assert body["callbackUrl"] == world.callback_url
    assert body["createdAt"] and body["updatedAt"]


@given(parsers.parse("系統中有 {queued:d} 個 Queued 任務和 {pending:d} 個 Pending 任務"))
def some_queued_and_pending_tasks(world: World, queued: int, pending: int) -> None:
    for n in range(queued + pending):
        task_id = create(world, f"t{n}")
        if n >= queued:
            assert world.client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200


@then(
    parsers.parse("列表應該有 {count:d} 筆任務，總數為 {total:d}，第 {page:d} 頁，每頁 {size:d} 筆")
)
def the_listing_is(world: World, count: int, total: int, page: int, size: int) -> None:
    body = world.last.json
    assert len(body["tasks"]) == count
    assert (body["totalCount"], body["page"], body["pageSize"]) == (total, page, size)
    assert body["tasks"][0]["name"] == "t4"  # newest first


# --- US-005 ----------------------------------------------------------------------------------


@given(parsers.parse("任務狀態為 {status}"))
def a_task_with_status(world: World, status: str) -> None:
    world.wanted_status = status


@then("系統應該更新任務狀態為 Cancelled")
def the_task_is_cancelled(world: World) -> None:
    assert world.last.status_code == 204 and world.last.data == b""
    assert world.task()["status"] == "Cancelled"


@then("如果任務在 Queue 中則移除")
def the_task_is_no_longer_queued(world: World) -> None:
    assert world.client.post(f"{TASKS}/dequeue").status_code == 204
    queue = world.queue()
    if isinstance(queue, MemoryTaskQueue):  # the only queue that can say how long it is
        assert len(queue) == 0
    assert world.client.post(f"{TASKS}/{world.task_id}/execute").status_code == 409
    assert world.calls() == []
