"""功能: 任務建立 — creating tasks through the API, valid or not."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from pytest_bdd import given, parsers, scenarios, then, when

from tests.bdd.conftest import TASKS, World

scenarios("task_creation.feature")


def valid_task_info(world: World) -> dict[str, Any]:
    return {
        "name": "產生月報",
        "description": "每月一號產生上個月的報表",
        "callbackUrl": world.receiver.url("/ok"),
        "payload": {"month": "2026-01"},
        "priority": 5,
    }


def example_value(text: str) -> Any:
    """An Examples cell: ``N 個字元的字串`` is a string of N characters, anything else JSON."""
    if match := re.fullmatch(r"(\d+) 個字元的字串", text):
        return "x" * int(match.group(1))
    return json.loads(text)


@given("我有有效的任務資訊")
def valid_task(world: World) -> None:
    world.task_info = valid_task_info(world)


@given("我的任務資訊缺少 callbackUrl")
def task_without_callback_url(world: World) -> None:
    world.task_info = valid_task_info(world)
    del world.task_info["callbackUrl"]


@given(parsers.parse("任務資訊的 {field} 是 {value}"))
def task_field_is(world: World, field: str, value: str) -> None:
    world.task_info[field] = example_value(value)


@when(parsers.parse('我發送 POST 請求到 "{path}"'))
def i_post_to(world: World, path: str) -> None:
    world.send("POST", path, json=world.task_info)


@then("回應應該包含任務 ID")
def the_response_has_a_task_id(world: World) -> None:
    body = world.last.json
    task_id = UUID(body["taskId"])
    assert (body["status"], body["name"]) == ("Queued", "產生月報")
    assert body["createdAt"]
    assert world.last.headers["Location"].endswith(f"{TASKS}/{task_id}")


@then("任務應該被加入到 Queue")
def the_task_is_queued(world: World) -> None:
    task_id = world.last.json["taskId"]
    taken = world.client.post(f"{TASKS}/dequeue")
    assert (taken.status_code, taken.json["taskId"]) == (200, task_id)
    assert world.client.post(f"{TASKS}/dequeue").status_code == 204


@then("錯誤訊息應該指出缺少的欄位")
def the_error_names_the_missing_field(world: World) -> None:
    problem = world.last.json
    assert list(problem["errors"]) == ["callbackUrl"]
    assert "callbackUrl" in problem["detail"]
    assert world.client.get(TASKS).json["totalCount"] == 0


@then(parsers.parse("錯誤訊息應該指出欄位 {field}"))
def the_error_names_the_field(world: World, field: str) -> None:
    assert list(world.last.json["errors"]) == [field]
    assert all(world.last.json["errors"][field])
    assert world.client.get(TASKS).json["totalCount"] == 0
