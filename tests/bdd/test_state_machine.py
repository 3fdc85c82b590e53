"""功能: 任務狀態機 — every action from every status, through the API."""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then, when

from tests.bdd.conftest import TASKS, World

scenarios("state_machine.feature")

ACTIONS = {
    "取出": ("POST", "/dequeue"),
    "執行": ("POST", "/execute"),
    "取消": ("DELETE", ""),
}


@when(
    parsers.re(r"我對任務(?P<action>取出|執行|取消|回報成功|回報失敗)"),
    target_fixture="calls_before",
)
def i_act_on_the_task(world: World, action: str) -> int:
    calls_before = len(world.calls())
    if action in ACTIONS:
        method, suffix = ACTIONS[action]
        world.send(method, f"{TASKS}/{world.task_id}{suffix}")
    else:
        world.report(action == "回報成功")
    return calls_before


@then(parsers.parse('任務狀態應該是 "{status}"'))
def the_task_status_is(world: World, status: str) -> None:
    assert world.task()["status"] == status


@then(parsers.parse("Callback API 因此被呼叫 {count:d} 次"))
def the_callback_was_called_this_often(world: World, calls_before: int, count: int) -> None:
    assert len(world.calls()) - calls_before == count


@then(parsers.parse('被拒絕時回應應該指出目前狀態 "{status}"'))
def a_refusal_names_the_current_status(world: World, status: str) -> None:
    if world.last.status_code == 409:
        assert world.last.json["currentStatus"] == status
        assert world.last.json["taskId"] == world.task_id
    elif world.last.status_code >= 400:
        assert world.last.json["taskId"] == world.task_id
