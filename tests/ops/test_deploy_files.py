"""The Dockerfile, the compose file and the systemd units, checked without a container engine
or an init system: they parse, name only files that exist, and run commands that work."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from taskcore_adapters.config import Settings, load_settings
from tests.ops.files import (
    ROOT,
    Instruction,
    dockerfile,
    dockerignored,
    interpolate,
    parse_command,
)
from tests.support.processes import TASKCORE, free_port, running

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
STAGES = dockerfile(ROOT / "Dockerfile")
FINAL = STAGES[-1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
UNITS = sorted((ROOT / "deploy").glob("*.service"))


def built_here(service: dict[str, Any]) -> bool:
    return "build" in service


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


# ---- compose ------------------------------------------------------------------------------


def test_the_compose_file_runs_the_api_workers_database_broker_and_migration() -> None:
    assert {"api", "worker", "postgres", "rabbitmq", "migrate"} <= set(SERVICES)
    assert SERVICES["migrate"]["command"] == ["db", "upgrade"]
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2


def test_the_kafka_profile_adds_a_broker_and_a_worker_on_it() -> None:
    profiled = {name for name, s in SERVICES.items() if "kafka" in s.get("profiles", [])}
    assert {"kafka", "worker-kafka"} <= profiled
    env = SERVICES["worker-kafka"]["environment"]
    assert env["TASKCORE_QUEUE__BACKEND"] == "kafka" and env["TASKCORE_QUEUE__URL"] == "kafka:9092"
    assert "kafka:9092" in SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]


def test_every_build_names_a_context_and_dockerfile_that_exist() -> None:
    builds = [s["build"] for s in SERVICES.values() if built_here(s)]
    assert builds
    for build in builds:
        context = ROOT / build["context"]
        assert context.is_dir() and (context / build["dockerfile"]).is_file()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck_or_waits_for_what_it_needs(name: str) -> None:
    service = SERVICES[name]
    check = service.get("healthcheck", {})
    assert (check and not check.get("disable")) or service.get("depends_on"), name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dependencies_exist_and_a_healthy_wait_has_a_healthcheck_to_wait_for(name: str) -> None:
    for needed, rule in SERVICES[name].get("depends_on", {}).items():
        assert needed in SERVICES, f"{name} depends on unknown service {needed}"
        assert rule["condition"] in {
            "service_started",
            "service_healthy",
            "service_completed_successfully",
        }
        if rule["condition"] == "service_healthy":
            check = SERVICES[needed].get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), needed


def test_named_volumes_are_declared_and_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in COMPOSE["volumes"] or (ROOT / source).exists(), (name, source)
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if built_here(s)))
def test_each_taskcore_service_runs_a_command_that_parses(name: str) -> None:
    assert parse_command(SERVICES[name]["command"]).startswith("taskcore ")


@pytest.mark.parametrize("name", sorted(n for n, s in SERVICES.items() if built_here(s)))
def test_each_taskcore_service_is_configured_by_a_valid_environment(name: str) -> None:
    environ = {k: interpolate(str(v), {}) for k, v in SERVICES[name]["environment"].items()}
    settings: Settings = load_settings(environ=environ)
    assert settings.store.backend == "sql" and "@postgres:5432/" in settings.store.url
    assert settings.queue.backend in {"rabbitmq", "kafka"}


def test_the_api_publishes_the_port_its_command_binds() -> None:
    for name in ("api", "api-kafka"):
        command = SERVICES[name]["command"]
        port = command[command.index("--port") + 1]
        assert any(p.endswith(f":{port}") for p in SERVICES[name]["ports"]), name


def test_passwords_default_but_can_come_from_the_environment() -> None:
    url = SERVICES["api"]["environment"]["TASKCORE_STORE__URL"]
    assert "taskcore:taskcore@" in interpolate(url, {})
    assert "taskcore:s3cret@" in interpolate(url, {"TASKCORE_DB_PASSWORD": "s3cret"})


# ---- Dockerfile ---------------------------------------------------------------------------


def test_the_image_is_built_in_stages_and_the_runtime_takes_the_builders_wheels() -> None:
    assert len(STAGES) >= 2
    builder = STAGES[0][0].args.split()[-1]
    assert STAGES[0][0].args.split()[-2].upper() == "AS"
    runs = " ".join(i.args for i in FINAL if i.keyword == "RUN")
    assert f"from={builder}" in runs and "--no-index" in runs


def test_the_final_stage_runs_as_a_user_that_is_not_root() -> None:
    users = [i.args.split(":")[0] for i in FINAL if i.keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}
    keywords = [i.keyword for i in FINAL]
    assert keywords.index("ENTRYPOINT") > max(k for k, w in enumerate(keywords) if w == "USER")


def test_the_image_installs_the_extras_for_sql_rabbitmq_and_kafka() -> None:
    runs = " ".join(i.args for stage in STAGES for i in stage if i.keyword == "RUN")
    extras = set(PYPROJECT["project"]["optional-dependencies"])
    assert {"sql", "rabbitmq", "kafka"} <= extras
    assert '"taskcore[sql,rabbitmq,kafka]"' in runs and '".[sql,rabbitmq,kafka]"' in runs


def test_everything_copied_is_in_the_build_context() -> None:
    copied = []
    for stage in STAGES:
        for instruction in stage:
            words = instruction.args.split()
            if instruction.keyword == "COPY" and not words[0].startswith("--from"):
                copied += [w for w in words[:-1] if not w.startswith("--")]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source, ROOT / ".dockerignore"), source


def test_the_context_holds_what_the_wheel_build_needs_and_leaves_out_the_rest() -> None:
    ignore = ROOT / ".dockerignore"
    needed = ["pyproject.toml", PYPROJECT["project"]["readme"], "taskcore_adapters/sql/alembic.ini"]
    needed += [f"{package}/__init__.py" for package in ("taskcore", "taskcore_adapters")]
    needed += ["taskcore_flask/__init__.py", "taskcore_adapters/sql/migrations/env.py"]
    needed += ["taskcore/py.typed", "config/postgres.toml"]
    for path in needed:
        assert (ROOT / path).exists() and not dockerignored(path, ignore), path
    for path in (
        ".venv/bin/python",
        "tests/conftest.py",
        ".git/HEAD",
        "taskcore/__pycache__/x.pyc",
    ):
        assert dockerignored(path, ignore), path


def test_the_entry_point_and_command_serve_the_api_on_port_8080() -> None:
    assert only(FINAL, "ENTRYPOINT").exec_form() == ["taskcore"]
    assert only(FINAL, "CMD").exec_form() == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert "8080" in only(FINAL, "EXPOSE").args.split()
    assert parse_command(only(FINAL, "CMD").exec_form()) == "taskcore serve"


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"]])
def test_the_entry_command_answers_when_run_directly(args: list[str]) -> None:
    done = subprocess.run([TASKCORE, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: taskcore")


def _probe(port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, pointed at ``port``, run with this Python."""
    command = only(FINAL, "HEALTHCHECK").exec_form()
    assert command[0] == "python" and "/health/live" in command[-1]
    script = command[-1].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
    return subprocess.run([sys.executable, *command[1:-1], script], capture_output=True, text=True)


def test_the_image_command_serves_and_its_healthcheck_passes_then_fails_when_it_stops() -> None:
    port = free_port()
    args = [*only(FINAL, "CMD").exec_form()]
    args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(port)
    with running(args, f"http://127.0.0.1:{port}/health/live", {"TASKCORE_CONFIG": ""}):
        assert requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code == 200
        assert _probe(port).returncode == 0
    assert _probe(port).returncode != 0


# ---- systemd ------------------------------------------------------------------------------


def unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_there_is_a_unit_for_the_api_and_one_for_the_worker() -> None:
    assert [p.name for p in UNITS] == ["taskcore-api.service", "taskcore-worker.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_documented_command_as_an_unprivileged_user(path: Path) -> None:
    service = unit(path)["Service"]
    expected = {
        "taskcore-api.service": "taskcore serve",
        "taskcore-worker.service": "taskcore worker",
    }
    start = service["ExecStart"].split()
    assert Path(start[0]).name == "taskcore" and Path(start[0]).is_absolute()
    assert parse_command(start[1:]) == expected[path.name]
    assert parse_command(service["ExecStartPre"].split()[1:]) == "taskcore config check"
    assert service["User"] not in {"root", "0"} and service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    graceful = Settings().callbacks.timeout_s + 10  # gunicorn's graceful_timeout, a worker's drain
    assert int(service["TimeoutStopSec"]) > graceful


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_each_unit_verifies_with_systemd(path: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace("/opt/taskcore/venv/bin/taskcore", TASKCORE))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
