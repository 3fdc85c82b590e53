"""``taskcore tasks``: create, inspect, execute and cancel tasks on a running server.

Output is a table by default and the server's JSON with ``--json``. A refusal from the
server prints its problem+json ``detail`` as one line and exits 1; a server that cannot be
reached exits 3; a bad command line exits 2 (click's usage error).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import click

from taskcore.status import TaskStatus
from taskcore_flask.client import (
    DEFAULT_TIMEOUT_S,
    DEFAULT_URL,
    URL_ENV,
    ApiError,
    ServerUnreachable,
    TaskcoreClient,
)

F = TypeVar("F", bound=Callable[..., Any])
CELL_MAX = 100  # longest value shown in a table cell; --json shows everything
NAME_MAX = 40
STATUSES = [status.value for status in TaskStatus]


class Refused(click.ClickException):
    """The server refused the request: exit status 1."""

    exit_code = 1


class Unreachable(click.ClickException):
    """No answer from the server: exit status 3."""

    exit_code = 3


def _check_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://")
    return value


def client_options(command: F) -> F:
    """The options every ``tasks`` command shares: where the server is and how to print."""
    decorators = [
        click.option(
            "--url",
            envvar=URL_ENV,
            default=DEFAULT_URL,
            show_default=True,
            callback=_check_url,
            help=f"The taskcore server (env {URL_ENV}).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the server's JSON."),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_TIMEOUT_S,
            show_default=True,
            help="Seconds to wait for an answer.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@contextmanager
def connected(url: str, timeout: float) -> Iterator[TaskcoreClient]:
    """A client whose errors leave as one-line click errors with their exit codes."""
    client = TaskcoreClient(url, timeout_s=timeout)
    try:
        yield client
    except ApiError as exc:
        raise Refused(exc.detail) from None
    except ServerUnreachable as exc:
        raise Unreachable(str(exc)) from None
    finally:
        client.close()


@click.group("tasks")
def tasks() -> None:
    """Create, inspect, execute and cancel tasks on a running server.

    The server is --url, else $TASKCORE_URL, else http://127.0.0.1:8080. Exit status: 0 on
    success, 1 when the server refuses (its problem detail is printed), 2 on a bad command
    line, 3 when the server cannot be reached.
    """


def _payload(text: str | None, file: IO[str] | None) -> Any:
    if text is not None and file is not None:
        raise click.UsageError("give --payload or --payload-file, not both")
    source, option = (text, "--payload") if file is None else (file.read(), "--payload-file")
    if source is None:
        return None
    try:
        return json.loads(source)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=f"'{option}'") from None


@tasks.command()
@click.argument("name")
@click.option("--callback-url", required=True, help="http(s) URL the task POSTs to.")
@click.option("--payload", help="JSON sent to the callback (default {}).")
@click.option(
    "--payload-file", type=click.File("r"), help="Read the payload from a file (- is stdin)."
)
@click.option("--priority", type=int, help="0 to 9, higher first (default 0).")
@click.option("--description", help="Free text, up to 2000 characters.")
@client_options
def create(
    name: str,
    callback_url: str,
    payload: str | None,
    payload_file: IO[str] | None,
    priority: int | None,
    description: str | None,
    url: str,
    as_json: bool,
    timeout: float,
) -> None:
    """Create a task called NAME; it waits Queued until it is dequeued."""
    body = _payload(payload, payload_file)
    with connected(url, timeout) as client:
        task = client.create(
            name, callback_url, payload=body, priority=priority, description=description
        )
    show_task(task, as_json)


@tasks.command()
@click.argument("task_id")
@client_options
def get(task_id: str, url: str, as_json: bool, timeout: float) -> None:
    """Show the task TASK_ID, archived or not."""
    with connected(url, timeout) as client:
        show_task(client.get(task_id), as_json)


@tasks.command("list")
@click.option(
    "--status",
    metavar="[" + "|".join(STATUSES) + "]",
    callback=lambda _ctx, _param, value: value and _canonical_status(value),
    help="Only this status (any case).",
)
@click.option("--page", type=int, default=1, show_default=True, help="Page number, from 1.")
@click.option("--size", type=int, default=20, show_default=True, help="Tasks per page, 1-100.")
@client_options
def list_tasks(
    status: str | None, page: int, size: int, url: str, as_json: bool, timeout: float
) -> None:
    """List tasks, newest first, archived ones included."""
    with connected(url, timeout) as client:
        found = client.list(status, page, size)
    show_page(found, as_json)


@tasks.command()
@click.argument("task_id")
@client_options
def cancel(task_id: str, url: str, as_json: bool, timeout: float) -> None:
    """Cancel the task TASK_ID (Queued or Pending) and show it."""
    with connected(url, timeout) as client:
        client.cancel(task_id)
        show_task(client.get(task_id), as_json)


@tasks.command()
@click.argument("task_id")
@click.option(
    "--async",
    "asynchronous",
    is_flag=True,
    help="Answer at once (Processing); the callback runs in the background.",
)
@client_options
def execute(task_id: str, asynchronous: bool, url: str, as_json: bool, timeout: float) -> None:
    """Call the callback of TASK_ID (Pending, or Failed to retry) and show the outcome."""
    with connected(url, timeout) as client:
        show_task(client.execute(task_id, asynchronous=asynchronous), as_json)


@tasks.command()
@click.argument("task_id", required=False)
@client_options
def dequeue(task_id: str | None, url: str, as_json: bool, timeout: float) -> None:
    """Take TASK_ID, or without it the next Queued task (priority, then age): Pending."""
    with connected(url, timeout) as client:
        task = client.dequeue(task_id)
    if task is None and not as_json:
        click.echo("no Queued task to dequeue", err=True)
    else:
        show_task(task, as_json)


def _canonical_status(status: str) -> str:
    """The server's spelling of a status typed in any case."""
    for value in STATUSES:
        if value.lower() == status.lower():
            return value
    raise click.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}.")


def _echo_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def show_task(task: dict[str, Any] | None, as_json: bool) -> None:
    """One task as ``field value`` lines, or as JSON (``null`` for no task)."""
    if as_json or task is None:
        _echo_json(task)
        return
    rows = [(key, _cell(key, value)) for key, value in task.items()]
    click.echo(render_table(rows))


def show_page(page: dict[str, Any], as_json: bool) -> None:
    """A page of tasks as a table with a footer, or as JSON."""
    if as_json:
        _echo_json(page)
        return
    header = ("TASK ID", "NAME", "STATUS", "PRIORITY", "ATTEMPTS", "CREATED (UTC)", "CALLBACK")
    rows = [header, *(_summary_row(task) for task in page.get("tasks", []))]
    click.echo(render_table(rows))
    total, size = int(page.get("totalCount", 0)), max(int(page.get("pageSize", 1)), 1)
    pages = max(math.ceil(total / size), 1)
    noun = "task" if total == 1 else "tasks"
    click.echo(f"page {page.get('page', 1)} of {pages}, {total} {noun}")


def _summary_row(task: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(task.get("taskId", "")),
        _shorten(str(task.get("name", "")), NAME_MAX),
        str(task.get("status", "")),
        str(task.get("priority", "")),
        str(task.get("attempts", "")),
        _short_time(task.get("createdAt")),
        _callback(task.get("callbackResult")),
    )


def render_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, without trailing blanks."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


def _cell(key: str, value: Any) -> str:
    if key == "callbackResult":
        return _callback(value)
    if value is None or value == "":
        return "-"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _shorten(" ".join(text.split()), CELL_MAX)


def _callback(result: Any) -> str:
    """``200 in 12 ms``, ``no answer in 3 ms: connection refused``, or ``-``."""
    if not isinstance(result, dict):
        return "-"
    code = result.get("statusCode")
    text = f"{code if code is not None else 'no answer'} in {result.get('durationMs', '?')} ms"
    error = result.get("error")
    return _shorten(f"{text}: {error}" if error else text, CELL_MAX)


def _short_time(value: Any) -> str:
    """``2026-11-28 02:10:55`` in UTC, from the API's ISO 8601 timestamp."""
    if not isinstance(value, str):
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
