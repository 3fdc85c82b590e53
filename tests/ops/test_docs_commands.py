"""Every command the docs show works: ``taskcore`` command lines parse, the walkthroughs run
against a real server and print what the docs say, and the names the docs give for
metrics, log fields, services and files exist."""

from __future__ import annotations

import io
import itertools
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

from taskcore.worker import Worker
from taskcore_adapters import Settings, build_container, shutdown
from taskcore_adapters.config import LogSettings
from taskcore_flask import close_app, create_app
from taskcore_flask.cli import main
from taskcore_flask.logs import configure_logging
from tests.ops.files import (
    DOC_FILES,
    ROOT,
    marked_block,
    parse_command,
    shell_blocks,
    taskcore_commands,
)
from tests.support.processes import free_port, running
from tests.support.receiver import CallbackReceiver

OPERATIONS = ROOT / "docs" / "operations.md"
DEPLOY = ROOT / "deploy" / "README.md"
_FENCED = re.compile(r"```.*?```", re.S)


def documented_commands() -> list[object]:
    """Every ``taskcore`` command of the docs' shell blocks, and of inline code that goes
    beyond naming a command (``taskcore tasks execute ID``, not ``taskcore serve``)."""
    params: list[object] = []
    for path in DOC_FILES:
        found = [c for block in shell_blocks(path) for c in taskcore_commands(block)]
        prose = _FENCED.sub("", path.read_text())
        spans = [span.split()[1:] for span in re.findall(r"`(taskcore [^`]+)`", prose)]
        found += [args for args in spans if len(args) > len(command_names(args))]
        params += [
            pytest.param(args, id=f"{path.name}-{index}-{'-'.join(args[:2])}")
            for index, args in enumerate(found)
        ]
    return params


def command_names(args: list[str]) -> list[str]:
    """The leading words of ``args`` that name (sub)commands, e.g. ``["db", "upgrade"]``."""
    names: list[str] = []
    command: click.Command | None = main
    while isinstance(command, click.Group) and len(names) < len(args):
        command = command.get_command(click.Context(command), args[len(names)])
        if command is None:
            break
        names.append(args[len(names)])
    return names


@pytest.mark.parametrize("args", documented_commands())
def test_every_taskcore_command_in_the_docs_parses(args: list[str]) -> None:
    assert parse_command(args).startswith("taskcore ")


def test_every_command_named_in_the_docs_prose_exists() -> None:
    for path in DOC_FILES:
        prose = _FENCED.sub("", path.read_text())
        for span in re.findall(r"`(taskcore [^`]+)`", prose):
            args = span.split()[1:]
            assert command_names(args), f"{path.name}: {span}"


def test_the_docs_run_every_tasks_subcommand() -> None:
    block = marked_block(OPERATIONS, "tasks-cli")
    shown = {args[1] for args in taskcore_commands(block) if args[0] == "tasks"}
    assert shown == {"create", "get", "list", "cancel", "execute", "dequeue"}


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    with running(
        ["serve", "--port", str(port)],
        f"http://127.0.0.1:{port}/health/live",
        {"TASKCORE_CONFIG": ""},
    ):
        yield port


def run_block(block: str, api: int, receiver: int) -> str:
    """A documented bash block with the docs' ports swapped for the test's, and its output."""
    script = block.replace("8080", str(api)).replace("9000", str(receiver))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TASKCORE_URL", None)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout
    output = done.stdout
    return output.replace(f":{api}", ":8080").replace(f":{receiver}", ":9000")


def normalised(text: str) -> str:
    """Output with what changes from run to run (ids, times, durations) replaced."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", "<time>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "<short-time>", text)
    return re.sub(r" in \d+ ms", " in <n> ms", text)


def test_the_tasks_walkthrough_prints_what_the_docs_show(
    server: int, receiver: CallbackReceiver
) -> None:
    output = run_block(marked_block(OPERATIONS, "tasks-cli"), server, receiver.port)
    documented = marked_block(OPERATIONS, "tasks-cli-output")
    assert normalised(output) == normalised(documented)
    assert receiver.calls[0].path == "/hooks/welcome"


def test_the_health_probes_answer_as_documented(server: int) -> None:
    output = run_block(marked_block(OPERATIONS, "probes"), server, 9)
    assert output.splitlines() == [
        '{"status":"ok"}',
        '{"status":"ok","checks":{"store":"ok","queue":"ok"}}',
    ]
    assert "\n".join(output.splitlines()) in OPERATIONS.read_text()


def documented_series() -> dict[str, str]:
    """Each series of the metrics table, and the processes that serve it."""
    section = OPERATIONS.read_text().split("## Metrics")[1].split("\n## ")[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `taskcore_")]
    return {row[1].strip().strip("`"): row[4].strip() for row in rows}


def served_names(exposition: str) -> set[str]:
    """The series of an exposition, histograms by their own name."""
    names = set(re.findall(r"^(taskcore_\w+?)(?:_bucket|_count|_sum)?[{ ]", exposition, re.M))
    return names | set(re.findall(r"^(taskcore_\w+)[{ ]", exposition, re.M))


def test_every_metric_the_docs_name_is_served(receiver: CallbackReceiver) -> None:
    app = create_app(build_container(settings=Settings()))
    try:
        client = app.test_client()
        body = {"name": "m", "callbackUrl": receiver.url("/hooks/metrics")}
        task = client.post("/api/v1/tasks", json=body).json
        client.post(f"/api/v1/tasks/{task['taskId']}/dequeue")
        client.post(f"/api/v1/tasks/{task['taskId']}/execute")
        exposition = client.get("/metrics").get_data(as_text=True)
    finally:
        close_app(app)
    series = documented_series()
    section = OPERATIONS.read_text().split("## Metrics")[1].split("\n## ")[0]
    named = set(re.findall(r"\b(taskcore_[a-z_]+?)(?:_bucket)?\b", section))
    assert named == set(series)
    api = {name for name, by in series.items() if by.startswith("API") and "broker" not in by}
    assert api - served_names(exposition) == set()
    assert 'route="/api/v1/tasks/<task_id:task_id>/execute"' in exposition
    assert 'taskcore_callbacks_total{outcome="success"} 1.0' in exposition


def test_every_worker_metric_the_docs_name_is_served(receiver: CallbackReceiver) -> None:
    from prometheus_client import generate_latest

    from taskcore_flask.metrics import Metrics
    from taskcore_flask.scraped_series import ExecutedCollector

    container = build_container(settings=Settings())
    try:
        worker = Worker(container.service())
        metrics = Metrics([ExecutedCollector(worker)])
        metrics.observe(container.service())
        exposition = generate_latest(metrics.served).decode()
    finally:
        shutdown(container)
    worker_series = {name for name, by in documented_series().items() if "worker" in by}
    assert worker_series - served_names(exposition) == set()
    assert "taskcore_http_requests_total" not in exposition


def test_the_callback_outcomes_the_docs_name_are_the_ones_counted() -> None:
    from taskcore.task import CallbackResult
    from taskcore_flask.metrics import callback_outcome

    results = [(200, None), (202, None), (500, "HTTP 500"), (None, "connection refused")]
    outcomes = {callback_outcome(CallbackResult(code, "", 1, error, 1)) for code, error in results}
    row = next(
        line for line in OPERATIONS.read_text().splitlines() if "`taskcore_callbacks_total`" in line
    )
    assert set(re.findall(r"`(\w+)`", row.split("|")[3])) == outcomes | {"outcome"}


def test_the_documented_log_lines_have_the_fields_a_server_writes(
    receiver: CallbackReceiver,
) -> None:
    text = OPERATIONS.read_text()
    examples = [json.loads(line) for line in text.splitlines() if line.startswith('{"level"')]
    stream = io.StringIO()
    handler = configure_logging(LogSettings(level="INFO", format="json", access=True), stream)
    logging.getLogger("taskcore.service").setLevel(logging.DEBUG)  # for `task created`
    app = create_app(build_container(settings=Settings()))
    try:
        client = app.test_client()
        body = {"name": "logs", "callbackUrl": "http://127.0.0.1:9/refused"}
        task = client.post("/api/v1/tasks", json=body).json
        client.post(f"/api/v1/tasks/{task['taskId']}/dequeue")
        client.post(f"/api/v1/tasks/{task['taskId']}/execute")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("taskcore.http.access").setLevel(logging.NOTSET)
        logging.getLogger("taskcore.service").setLevel(logging.NOTSET)
        close_app(app)
    written = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(examples) == 3
    for example in examples:
        same = [
            w
            for w in written
            if w["logger"] == example["logger"] and w["level"] == example["level"]
        ]
        assert any(set(w) == set(example) for w in same), example["logger"]


def test_the_python_in_the_architecture_notes_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = (ROOT / "docs" / "architecture.md").read_text()
    [snippet] = re.findall(r"```python\n(.*?)```", notes, re.S)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sqlite.toml").write_text((ROOT / "config" / "sqlite.toml").read_text())
    monkeypatch.chdir(tmp_path)
    names: dict[str, object] = {}
    code = snippet.replace("...\n", "total = service.list().total\n")
    exec(compile(code, "architecture.md", "exec"), names)
    assert names["total"] == 0
    assert (tmp_path / "taskcore.db").exists()


def test_the_compose_commands_name_services_and_profiles_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = set(compose["services"])
    profiles = {p for s in compose["services"].values() for p in s.get("profiles", [])}
    lines = [line for block in shell_blocks(DEPLOY) for line in block.splitlines()]
    commands = [line.split()[2:] for line in lines if line.startswith("docker compose")]
    assert len(commands) == 5
    for words in commands:
        for flag, value in itertools.pairwise(words):
            if flag == "--profile":
                assert value in profiles
            if flag == "--scale":
                assert value.split("=")[0] in services
        if words[0] in ("run", "logs"):
            assert words[-1] in services


def test_the_files_and_units_the_deploy_guide_names_exist() -> None:
    text = "\n".join(shell_blocks(DEPLOY))
    for path in re.findall(r"\b((?:deploy|config)/[\w.-]+)", text):
        assert (ROOT / path).is_file(), path
    for name in re.findall(r"systemctl enable --now (.*)", text)[0].split():
        assert (ROOT / "deploy" / f"{name}.service").is_file(), name
