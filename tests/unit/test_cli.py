"""The ``taskcore`` command line, in process (serve and worker run for real elsewhere)."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from taskcore_flask.cli import api_server_class, main
from taskcore_flask.receiver import make_receiver


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_explains_every_command(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "db", "config", "receiver"):
        assert command in result.output


def test_version_is_printed(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "taskcore" in result.output


def test_config_check_summarises_a_valid_file(runner: CliRunner) -> None:
    result = runner.invoke(main, ["config", "check", "config/memory.toml"])
    assert result.exit_code == 0
    assert "store=memory queue=memory" in result.output


def test_config_check_names_the_bad_key_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[queue]\nbackend = "carrier-pigeon"\n')
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: invalid configuration: queue.backend: Must be one of: memory, sql, rabbitmq, kafka."
    ]


def test_the_worker_refuses_the_memory_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["worker", "--config", "config/memory.toml"])
    assert result.exit_code == 1
    assert "worker needs a shared store" in result.output


def test_db_upgrade_refuses_a_memory_store(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade", "--config", "config/memory.toml"])
    assert result.exit_code == 1
    assert "db upgrade needs store.backend" in result.output


def test_serve_refuses_an_invalid_config_before_starting(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nport = 70000\n")
    result = runner.invoke(main, ["serve", "--config", str(bad)])
    assert result.exit_code == 1
    assert "server.port" in result.output


def test_the_api_server_runs_one_process_on_the_memory_store(
    monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(api_server_class(), "run", lambda self: seen.update(self.options))
    result = runner.invoke(main, ["serve", "--workers", "4", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 1 and seen["bind"] == "127.0.0.1:8123"
    assert seen["worker_class"] == "gthread"


def test_the_demo_receiver_prints_each_callback_and_answers_200() -> None:
    out = io.StringIO()
    server = make_receiver("127.0.0.1", 0, out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks/x"
        answer = requests.post(
            url, json={"taskId": "t"}, headers={"Idempotency-Key": "t:1"}, timeout=5
        )
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200
    printed = json.loads(out.getvalue())
    assert printed["path"] == "/hooks/x" and printed["idempotencyKey"] == "t:1"
