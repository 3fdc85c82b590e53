"""The README's walkthrough and library quick start work exactly as written."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from taskcore import CallbackRequest
from taskcore_adapters.callbacks import HttpCallbackClient
from taskcore_adapters.config import CallbackSettings, load_settings
from tests.support.processes import free_port, running
from tests.support.receiver import CallbackReceiver

README = (Path(__file__).parents[2] / "README.md").read_text()


def _block(marker: str) -> str:
    match = re.search(
        rf"<!-- {marker}:start -->\n```\w+\n(.*?)```\n<!-- {marker}:end -->", README, re.S
    )
    assert match, f"README has no {marker} block"
    return match.group(1)


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    api, receiver = free_port(), free_port()
    with (
        running(["receiver", "--port", str(receiver)], f"http://127.0.0.1:{receiver}/"),
        running(
            ["serve", "--port", str(api)],
            f"http://127.0.0.1:{api}/health/live",
            env={"TASKCORE_CONFIG": ""},
        ),
    ):
        yield api, receiver


def test_the_curl_walkthrough_runs_the_whole_life_cycle(ports: tuple[int, int]) -> None:
    api, receiver = ports
    script = _block("walkthrough").replace("8080", str(api)).replace("9000", str(receiver))
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert '"status":"Queued"' in lines[0]
    assert '"status":"Pending"' in lines[1]
    assert '"status":"Completed"' in lines[2] and '"statusCode":200' in lines[2]
    assert '"status":"Completed"' in lines[3]
    assert '"totalCount":1' in lines[4]
    assert lines[5:7] == ["204", "Cancelled"]
    assert '"status":400' in lines[7] and '"callbackUrl"' in lines[7] and '"priority"' in lines[7]


def test_the_library_quick_start_runs(ports: tuple[int, int]) -> None:
    _, receiver = ports
    code = _block("quickstart").replace("9000", str(receiver))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Completed", "200", "1", "1"]


def test_the_signature_check_in_the_readme_accepts_real_callbacks_and_refuses_forgeries(
    receiver: CallbackReceiver,
) -> None:
    namespace: dict[str, object] = {}
    exec(_block("verify"), namespace)
    verify = namespace["verify"]
    secrets = ["whsec_" + base64.b64encode(b"k" * 32).decode(), "a-plain-rotated-secret"]
    client = HttpCallbackClient.from_settings(CallbackSettings(signing_secrets=secrets))
    try:
        request = CallbackRequest(uuid4(), "signed", receiver.url("/ok"), {"a": 1}, 1, "t")
        assert client.call(request).error is None
    finally:
        client.close()
    call = receiver.calls_to("/ok")[0]
    for secret in secrets:
        assert verify(secret, call.headers, call.body)
    assert not verify(secrets[0], call.headers, call.body + b" ")
    assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), call.headers, call.body)


def test_every_example_config_file_is_valid() -> None:
    files = sorted((Path(__file__).parents[2] / "config").glob("*.toml"))
    assert {f.stem for f in files} >= {
        "memory",
        "sqlite",
        "postgres-rabbitmq",
        "postgres-kafka",
        "mariadb-rabbitmq",
    }
    for path in files:
        load_settings(path, environ={})
