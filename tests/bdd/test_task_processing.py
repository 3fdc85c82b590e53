"""功能: 任務處理 — executing tasks, their callbacks, retries and deferred reports."""

from __future__ import annotations

from pytest_bdd import parsers, scenarios, then, when

from tests.bdd.conftest import TASKS, World

scenarios("task_processing.feature")


@when("我以非同步方式執行任務")
def i_execute_the_task_asynchronously(world: World) -> None:
    world.send("POST", f"{TASKS}/{world.task_id}/execute?mode=async")


@when("Callback API 以它收到的權杖回報成功")
def the_receiver_reports_success_with_its_token(world: World) -> None:
    assert world.report(True).status_code == 200


@when("有人以錯誤的權杖回報成功")
def someone_reports_with_a_wrong_token(world: World) -> None:
    world.report(True, token="forged-token")


@then("錯誤資訊應該被記錄")
def the_error_is_recorded(world: World) -> None:
    recorded = world.task()["callbackResult"]
    assert recorded == world.last.json["callbackResult"]
    assert recorded["error"]
    assert recorded["attempt"] == 1
    assert world.last.json["executedAt"]


@then(parsers.parse("任務已嘗試 {attempts:d} 次"))
def the_task_was_attempted(world: World, attempts: int) -> None:
    assert world.task()["attempts"] == attempts
    assert [c.json["attempt"] for c in world.calls()] == list(range(1, attempts + 1))


@then(parsers.parse('任務最後應該成為 "{status}"'))
def the_task_ends_as(world: World, status: str) -> None:
    assert world.wait_for_final()["status"] == status
