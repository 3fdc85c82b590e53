"""Whatever a client sends, a refusal is a 4xx problem, never a 500."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import TASKS

_CHECKS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": _json,
        "description": _json,
        "callbackUrl": _json | st.just("http://127.0.0.1:9/"),
        "payload": _json,
        "priority": _json,
    },
)


def _stays_one_segment(text: str) -> bool:
    """URL parsers drop tabs and newlines, and treat ``/``, ``.``, ``..`` as path syntax."""
    return not set(text) & set("/\t\n\r") and text not in (".", "..")


def _is_problem(response: Any) -> bool:
    return bool(response.mimetype == "application/problem+json" and response.json["status"] < 500)


@_CHECKS
@given(body=_fields | _json)
def test_any_json_body_is_created_or_refused_with_400(app: Flask, body: Any) -> None:
    response = app.test_client().post(TASKS, data=json.dumps(body), content_type="application/json")

    assert response.status_code in (201, 400)
    assert response.status_code == 201 or _is_problem(response)


@_CHECKS
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_refused_with_400_unless_they_form_a_valid_task(
    app: Flask, raw: bytes
) -> None:
    response = app.test_client().post(TASKS, data=raw, content_type="application/json")

    assert response.status_code in (201, 400)


@_CHECKS
@given(query=st.dictionaries(st.sampled_from(["status", "page", "size", "x"]), st.text()))
def test_any_listing_query_answers_200_or_400(app: Flask, query: dict[str, str]) -> None:
    response = app.test_client().get(TASKS, query_string=query)

    assert response.status_code in (200, 400)


@_CHECKS
@given(
    segment=st.text(min_size=1).filter(_stays_one_segment),
    method=st.sampled_from(["get", "delete", "post", "put"]),
    action=st.sampled_from(["", "/dequeue", "/execute", "/complete", "/other"]),
)
def test_any_task_path_answers_with_a_4xx_problem(
    app: Flask, segment: str, method: str, action: str
) -> None:
    response = getattr(app.test_client(), method)(f"{TASKS}/{segment}{action}", json={})

    assert 400 <= response.status_code < 500
    assert response.status_code == 204 or _is_problem(response)
