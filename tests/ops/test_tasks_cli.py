"""``taskcore tasks`` against a real ``taskcore serve`` process calling back the loopback
receiver, and its formatting and error paths against canned answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from click.testing import CliRunner, Result

from taskcore_flask.cli import main
from taskcore_flask.client import ApiError, TaskcoreClient
from tests.support.processes import free_port, running
from tests.support.receiver import CallbackReceiver


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{url}/health/live", {"TASKCORE_CONFIG": ""}):
        yield url


def tasks(*args: str, url: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run ``taskcore tasks ARGS`` in process; ``url`` is passed as ``--url``; a
    ``TASKCORE_URL`` of the environment running the tests is ignored unless ``env`` has one."""
    extra = ["--url", url] if url else []
    environment = {"TASKCORE_URL": None, **(env or {})}
    return CliRunner().invoke(main, ["tasks", *args, *extra], env=environment)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def create(server: str, receiver: CallbackReceiver, path: str = "/hooks/x", *more: str) -> str:
    result = tasks(
        "create", "cli-test", "--callback-url", receiver.url(path), *more, "--json", url=server
    )
    return str(as_json(result)["taskId"])


def fields(result: Result) -> dict[str, str]:
    """The ``field value`` lines of a one-task table."""
    assert result.exit_code == 0, result.output
    return dict(line.split(None, 1) for line in result.stdout.splitlines())


def test_create_prints_the_new_task_as_a_table(server: str, receiver: CallbackReceiver) -> None:
    result = tasks(
        "create",
        "send-welcome-email",
        "--callback-url",
        receiver.url("/hooks/welcome"),
        "--payload",
        '{"userId": 42}',
        "--priority",
        "5",
        "--description",
        "first mail",
        url=server,
    )
    shown = fields(result)
    assert shown["name"] == "send-welcome-email" and shown["status"] == "Queued"
    assert shown["payload"] == '{"userId": 42}' and shown["priority"] == "5"
    assert shown["description"] == "first mail" and shown["dequeuedAt"] == "-"


def test_create_with_json_prints_the_servers_document(
    server: str, receiver: CallbackReceiver
) -> None:
    result = tasks(
        "create",
        "report",
        "--callback-url",
        receiver.url(),
        "--payload",
        "[1, 2]",
        "--json",
        url=server,
    )
    task = as_json(result)
    assert task["status"] == "Queued" and task["payload"] == [1, 2] and task["priority"] == 0


def test_a_payload_can_come_from_a_file(server: str, receiver: CallbackReceiver, tmp_path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text('{"rows": [1, 2, 3]}')
    result = tasks(
        "create",
        "import",
        "--callback-url",
        receiver.url(),
        "--payload-file",
        str(payload),
        "--json",
        url=server,
    )
    assert as_json(result)["payload"] == {"rows": [1, 2, 3]}


def test_get_shows_one_task(server: str, receiver: CallbackReceiver) -> None:
    task_id = create(server, receiver)
    shown = fields(tasks("get", task_id, url=server))
    assert shown["taskId"] == task_id and shown["status"] == "Queued"
    assert shown["callbackResult"] == "-"


def test_dequeue_then_execute_calls_the_callback_and_shows_the_outcome(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver, "/hooks/ran")
    assert fields(tasks("dequeue", task_id, url=server))["status"] == "Pending"
    shown = fields(tasks("execute", task_id, url=server))
    assert shown["status"] == "Completed" and shown["attempts"] == "1"
    assert shown["callbackResult"].startswith("200 in ")
    assert len(receiver.calls_to("/hooks/ran")) == 1


def test_a_failed_callback_is_shown_with_its_reason(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver, "/status/503")
    tasks("dequeue", task_id, url=server)
    shown = fields(tasks("execute", task_id, url=server))
    assert shown["status"] == "Failed"
    assert shown["callbackResult"].startswith("503 in ") and ": " in shown["callbackResult"]


def test_dequeue_without_an_id_takes_the_next_task_by_priority(
    server: str, receiver: CallbackReceiver
) -> None:
    create(server, receiver, "/hooks/low", "--priority", "8")
    urgent = create(server, receiver, "/hooks/urgent", "--priority", "9")
    assert as_json(tasks("dequeue", "--json", url=server))["taskId"] == urgent


def test_dequeue_on_an_empty_queue_says_so_and_succeeds(
    server: str, receiver: CallbackReceiver
) -> None:
    while as_json(tasks("dequeue", "--json", url=server)) is not None:
        pass
    result = tasks("dequeue", url=server)
    assert result.exit_code == 0
    assert result.stdout == "" and "no Queued task to dequeue" in result.stderr


def test_execute_async_answers_processing_then_the_task_completes(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver, "/sleep/0.3")
    tasks("dequeue", task_id, url=server)
    assert as_json(tasks("execute", task_id, "--async", "--json", url=server))["status"] == (
        "Processing"
    )
    deadline = time.monotonic() + 10
    while as_json(tasks("get", task_id, "--json", url=server))["status"] == "Processing":
        assert time.monotonic() < deadline, "the background execution never finished"
        time.sleep(0.05)
    assert as_json(tasks("get", task_id, "--json", url=server))["status"] == "Completed"


def test_cancel_shows_the_cancelled_task(server: str, receiver: CallbackReceiver) -> None:
    task_id = create(server, receiver)
    assert fields(tasks("cancel", task_id, url=server))["status"] == "Cancelled"
    assert as_json(tasks("cancel", task_id, "--json", url=server))["status"] == "Cancelled"


def test_list_pages_newest_first_with_a_footer(server: str, receiver: CallbackReceiver) -> None:
    older, newer = create(server, receiver), create(server, receiver)
    result = tasks("list", "--size", "2", url=server)
    assert result.exit_code == 0, result.output
    header, first, second, footer = result.stdout.splitlines()
    assert header.split() == [
        "TASK",
        "ID",
        "NAME",
        "STATUS",
        "PRIORITY",
        "ATTEMPTS",
        "CREATED",
        "(UTC)",
        "CALLBACK",
    ]
    assert first.startswith(newer) and second.startswith(older)
    assert footer.startswith("page 1 of ") and footer.endswith(" tasks")


def test_list_filters_by_a_status_typed_in_any_case(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver)
    tasks("cancel", task_id, url=server)
    page = as_json(tasks("list", "--status", "cancelled", "--size", "100", "--json", url=server))
    assert {task["status"] for task in page["tasks"]} == {"Cancelled"}
    assert task_id in {task["taskId"] for task in page["tasks"]}
    assert page["pageSize"] == 100


def test_the_server_url_can_come_from_the_environment(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver)
    result = tasks("get", task_id, "--json", env={"TASKCORE_URL": server})
    assert as_json(result)["taskId"] == task_id


def test_a_refused_move_prints_the_servers_detail_on_one_line_and_exits_1(
    server: str, receiver: CallbackReceiver
) -> None:
    task_id = create(server, receiver)
    tasks("dequeue", task_id, url=server)
    tasks("execute", task_id, url=server)
    result = tasks("cancel", task_id, url=server)
    assert result.exit_code == 1
    assert result.stderr == f"Error: task {task_id} is Completed; it cannot become Cancelled\n"


@pytest.mark.parametrize(
    ("args", "detail"),
    [
        (["get", "00000000-0000-0000-0000-000000000000"], "does not exist"),
        (["get", "not-a-uuid"], "taskId: Must be a UUID."),
        (["list", "--size", "500"], "size"),
        (["create", "x", "--callback-url", "ftp://example.org/x", "--priority", "12"], "priority"),
    ],
)
def test_refusals_are_one_line_naming_the_problem(
    server: str, args: list[str], detail: str
) -> None:
    result = tasks(*args, url=server)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert detail in result.stderr


def test_a_server_that_cannot_be_reached_exits_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = tasks("get", "00000000-0000-0000-0000-000000000000", url=url)
    assert result.exit_code == 3
    assert result.stderr == f"Error: cannot reach {url}: connection refused\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "--callback-url", "http://a", "--payload", "{oops"], "not JSON"),
        (
            ["create", "x", "--callback-url", "http://a", "--payload", "1", "--payload-file", "-"],
            "not both",
        ),
        (["create", "x"], "--callback-url"),
        (["get", "x", "--url", "127.0.0.1:8080"], "http:// or https://"),
        (["list", "--status", "Lost"], "is not one of Queued, Pending"),
    ],
)
def test_a_bad_command_line_is_a_usage_error_before_any_request(
    args: list[str], message: str
) -> None:
    with responses.RequestsMock():  # any request would fail the test
        result = tasks(*args)
    assert result.exit_code == 2
    assert message in result.stderr


API = "http://127.0.0.1:8080/api/v1"


@responses.activate
def test_an_error_that_is_not_problem_json_shows_the_status_line() -> None:
    responses.get(f"{API}/tasks/abc", body="<html>Bad Gateway</html>", status=502)
    result = tasks("get", "abc")
    assert result.exit_code == 1
    assert result.stderr == "Error: HTTP 502 Bad Gateway\n"


@responses.activate
def test_a_detail_on_several_lines_is_printed_on_one() -> None:
    problem = {"title": "Store unavailable", "status": 503, "detail": "Store\nunavailable;\n retry"}
    responses.get(f"{API}/tasks/abc", json=problem, status=503)
    assert tasks("get", "abc").stderr == "Error: Store unavailable; retry\n"


@responses.activate
def test_a_problem_without_detail_falls_back_to_its_title() -> None:
    responses.delete(f"{API}/tasks/abc", json={"title": "Conflict", "status": 409}, status=409)
    assert tasks("cancel", "abc").stderr == "Error: Conflict\n"


@responses.activate
def test_long_values_are_cut_in_tables_but_not_in_json() -> None:
    task = {"taskId": "abc", "payload": {"text": "y" * 300}, "callbackResult": None}
    responses.get(f"{API}/tasks/abc", json=task)
    shown = fields(tasks("get", "abc"))
    assert len(shown["payload"]) == 100 and shown["payload"].endswith("...")
    assert as_json(tasks("get", "abc", "--json")) == task


@responses.activate
def test_a_callback_without_an_answer_is_shown_with_its_error() -> None:
    result = {"statusCode": None, "durationMs": 3, "error": "connection refused", "attempt": 1}
    responses.get(f"{API}/tasks/abc", json={"taskId": "abc", "callbackResult": result})
    shown = fields(tasks("get", "abc"))
    assert shown["callbackResult"] == "no answer in 3 ms: connection refused"


@responses.activate
def test_list_shows_times_in_utc_and_counts_the_pages() -> None:
    task = {
        "taskId": "abc",
        "name": "n",
        "status": "Queued",
        "priority": 1,
        "attempts": 0,
        "createdAt": "2026-01-02T05:04:05.123456+02:00",
        "callbackResult": None,
    }
    page = {"tasks": [task], "totalCount": 41, "page": 2, "pageSize": 20}
    responses.get(f"{API}/tasks", json=page)
    lines = tasks("list", "--page", "2").stdout.splitlines()
    assert lines[1].split() == ["abc", "n", "Queued", "1", "0", "2026-01-02", "03:04:05", "-"]
    assert lines[2] == "page 2 of 3, 41 tasks"


@responses.activate
def test_a_server_that_does_not_answer_in_time_exits_3() -> None:
    responses.get(f"{API}/tasks/abc", body=requests.Timeout("read timed out"))
    result = tasks("get", "abc", "--timeout", "2")
    assert result.exit_code == 3
    assert result.stderr == "Error: no answer from http://127.0.0.1:8080 within 2s\n"


@responses.activate
def test_a_failure_without_an_os_reason_is_quoted_briefly() -> None:
    responses.get(f"{API}/tasks/abc", body=requests.ConnectionError("proxy said\nno"))
    assert (
        tasks("get", "abc").stderr == "Error: cannot reach http://127.0.0.1:8080: proxy said no\n"
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"body": "<html>ok</html>"}, "something not JSON"),
        ({"json": [1, 2]}, "an unexpected document"),
    ],
)
@responses.activate
def test_a_success_that_is_not_a_task_document_is_refused(
    answer: dict[str, Any], message: str
) -> None:
    responses.get(f"{API}/tasks/abc", **answer)
    result = tasks("get", "abc")
    assert result.exit_code == 1 and message in result.stderr


def test_the_client_works_from_python_too(server: str, receiver: CallbackReceiver) -> None:
    with TaskcoreClient(server, timeout_s=10) as client:
        task = client.create("from-python", receiver.url("/hooks/py"), priority=2)
        assert client.dequeue(task["taskId"])["status"] == "Pending"  # type: ignore[index]
        assert client.execute(task["taskId"])["status"] == "Completed"
        with pytest.raises(ApiError) as refused:
            client.cancel(task["taskId"])
    assert refused.value.status == 409 and refused.value.problem["currentStatus"] == "Completed"
