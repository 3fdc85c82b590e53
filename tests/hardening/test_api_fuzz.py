"""Schemathesis fuzzes every operation of the app's own OpenAPI document, in process.

The app is built with callbacks allowed to reach 127.0.0.0/8 only, and the test fence
refuses anything else, so callback URLs the fuzzer invents never leave this machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from taskcore_adapters import build_container
from taskcore_flask import close_app, create_app
from taskcore_flask.api.v1.openapi import build_spec
from tests.hardening.conftest import settings_with
from tests.hardening.fence import NetworkFence
from tests.support.receiver import CallbackReceiver

DOCUMENT = "/api/v1/openapi.json"
TASKS = "/api/v1/tasks"
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = [
    (method.upper(), path)
    for path, item in build_spec()["paths"].items()
    for method in item
    if method in METHODS
]
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
EXAMPLES = 80  # per operation and source: about 650 requests in all, 15-30 s
LOOPBACK_ONLY = settings_with(
    callbacks={"allow_networks": ["127.0.0.0/8"], "timeout_s": 0.5, "connect_timeout_s": 0.2}
)
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def app(receiver_server: CallbackReceiver) -> Iterator[Flask]:
    """The service, allowed to call back to loopback only."""
    app = create_app(build_container(settings=LOOPBACK_ONLY))
    yield app
    close_app(app)


@pytest.fixture(scope="module")
def api_schema(app: Flask) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi(DOCUMENT, app)


@pytest.fixture(scope="module")
def known_ids(app: Flask, receiver_server: CallbackReceiver) -> list[str]:
    """Tasks in several states, so that task operations hit real tasks as well as 404s."""
    client = app.test_client()
    ids = []
    for path, steps in [
        ("/ok", ()),
        ("/ok", ("dequeue",)),
        ("/status/500", ("dequeue", "execute")),
        ("/status/202", ("dequeue", "execute")),
    ]:
        body = {"name": "seed", "callbackUrl": receiver_server.url(path)}
        task_id = client.post(TASKS, json=body).json["taskId"]
        for step in steps:
            assert client.post(f"{TASKS}/{task_id}/{step}").status_code == 200
        ids.append(task_id)
    return ids


def _cases(api_schema: schemathesis.BaseSchema, method: str, path: str, ids: list[str]) -> Any:
    operation = api_schema[path][method]
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if "{taskId}" in path:  # real tasks, and the one segment that is also a route of its own
        strategies += [operation.as_strategy(path_parameters={"taskId": i}) for i in ids]
        strategies.append(operation.as_strategy(path_parameters={"taskId": "dequeue"}))
    return st.one_of(strategies)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_without_5xx_and_as_its_document_says(
    api_schema: schemathesis.BaseSchema, known_ids: list[str], method: str, path: str
) -> None:
    @FUZZ
    @given(case=_cases(api_schema, method, path, known_ids))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS)

    check()


def test_the_document_lists_every_route_of_the_api(app: Flask) -> None:
    routes = {
        (method, rule.rule.replace("<task_id:task_id>", "{taskId}"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/api/", "/health/", "/metrics"))
        for method in rule.methods or ()
        if method.lower() in METHODS
    }

    assert routes == set(OPERATIONS)


def test_fuzzed_tasks_execute_to_a_final_status_without_leaving_loopback(
    app: Flask, api_schema: schemathesis.BaseSchema, fence: NetworkFence
) -> None:
    client = app.test_client()
    create = api_schema[TASKS]["POST"].as_strategy()

    @FUZZ
    @given(case=create)
    def run(case: schemathesis.Case) -> None:
        response = case.call()
        if response.status_code != 201:
            return
        task_id = response.json()["taskId"]
        assert client.post(f"{TASKS}/{task_id}/dequeue").status_code == 200
        executed = client.post(f"{TASKS}/{task_id}/execute")
        assert executed.status_code == 200, executed.data
        assert executed.json["status"] in ("Completed", "Failed")

    run()
    assert fence.beyond_loopback() == []
