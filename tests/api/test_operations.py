"""Health probes, metrics, the OpenAPI document and the documentation page."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from taskcore.errors import StoreUnavailable
from taskcore.ports import CallbackRequest
from taskcore.task import CallbackResult
from taskcore_flask.metrics import InstrumentedCallbackClient, Metrics
from tests.api.conftest import MakeApp
from tests.api.doubles import DownQueue, FlakyStore
from tests.api.support import TASKS, closed_port_url, create, create_pending
from tests.support.backends import Backend
from tests.support.clock import SettableClock
from tests.support.metrics import value
from tests.support.receiver import CallbackReceiver


def test_liveness_always_answers_200(client: FlaskClient) -> None:
    response = client.get("/health/live")

    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readiness_reports_every_check_ok(client: FlaskClient) -> None:
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"store": "ok", "queue": "ok"}}


def test_readiness_is_503_naming_the_store_when_its_ping_fails(make_app: MakeApp) -> None:
    store = FlakyStore()
    client = make_app(store=store).test_client()
    store.failure = StoreUnavailable("database is down")

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json["checks"] == {"store": "unavailable", "queue": "ok"}
    assert client.get("/health/live").status_code == 200


def test_readiness_is_503_naming_the_queue_when_its_ping_fails(make_app: MakeApp) -> None:
    client = make_app(queue=DownQueue()).test_client()

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json["checks"] == {"store": "ok", "queue": "unavailable"}


def test_metrics_show_requests_tasks_and_callbacks(
    client: FlaskClient, receiver: CallbackReceiver
) -> None:
    create(client, receiver.url())
    done = create_pending(client, receiver.url("/ok"))
    client.post(f"{TASKS}/{done}/execute")
    failed = create_pending(client, closed_port_url())
    client.post(f"{TASKS}/{failed}/execute")

    response = client.get("/metrics")

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert (
        'taskcore_http_requests_total{method="POST",route="/api/v1/tasks",status="201"} 3.0' in text
    )
    assert "taskcore_http_request_duration_seconds_bucket{" in text
    assert 'route="/api/v1/tasks/<task_id:task_id>/execute"' in text
    assert 'taskcore_tasks{status="Queued"} 1.0' in text
    assert 'taskcore_tasks{status="Completed"} 1.0' in text
    assert 'taskcore_tasks{status="Failed"} 1.0' in text
    assert 'taskcore_callbacks_total{outcome="success"} 1.0' in text
    assert 'taskcore_callbacks_total{outcome="no_response"} 1.0' in text
    assert "taskcore_callback_duration_seconds_count 2.0" in text
    assert "taskcore_executions_in_flight 0.0" in text


def scraped(client: FlaskClient, name: str, **labels: str) -> float | None:
    """The value of one sample of ``/metrics``, or None when it is not served."""
    return value(client.get("/metrics").get_data(as_text=True), name, **labels)


def test_metrics_show_the_queue_depth_as_tasks_are_created_and_dequeued(
    client: FlaskClient, receiver: CallbackReceiver, backend: Backend
) -> None:
    create(client, receiver.url())
    create(client, receiver.url())
    assert scraped(client, "taskcore_queue_depth") == 2

    assert client.post(f"{TASKS}/dequeue").status_code == 200

    assert scraped(client, "taskcore_queue_depth") == 1
    behind_outbox = backend.name.endswith(("rabbitmq", "kafka"))
    assert scraped(client, "taskcore_outbox_pending") == (0 if behind_outbox else None)


def test_metrics_count_the_executions_the_reaper_fails_by_reason(
    make_app: MakeApp, receiver: CallbackReceiver, clock: SettableClock
) -> None:
    app = make_app(clock=clock)
    client, service = app.test_client(), app.extensions["taskcore"].service()
    reaped = {"reason": "report_not_received"}
    assert scraped(client, "taskcore_executions_reaped_total", **reaped) == 0
    task_id = create_pending(client, receiver.url("/status/202"))
    assert client.post(f"{TASKS}/{task_id}/execute").json["status"] == "Processing"
    clock.advance(service.settings.report_timeout_s + 1)

    assert service.reap_expired() == 1

    assert scraped(client, "taskcore_executions_reaped_total", **reaped) == 1
    assert scraped(client, "taskcore_executions_reaped_total", reason="execution_lost") == 0


def test_each_reaper_error_has_its_own_short_reason() -> None:
    metrics = Metrics()
    for error in ("execution lost", "completion report not received", "execution lost"):
        metrics.count_reaped(error)

    value = metrics.registry.get_sample_value
    assert value("taskcore_executions_reaped_total", {"reason": "execution_lost"}) == 2
    assert value("taskcore_executions_reaped_total", {"reason": "report_not_received"}) == 1


def test_metrics_leave_out_the_queue_depth_when_the_queue_is_down(make_app: MakeApp) -> None:
    client = make_app(queue=DownQueue()).test_client()

    response = client.get("/metrics")

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "taskcore_queue_depth " not in text
    assert 'taskcore_tasks{status="Queued"} 0.0' in text


def test_metrics_label_unmatched_routes_without_their_raw_path(client: FlaskClient) -> None:
    client.get("/no/such/path/123")

    text = client.get("/metrics").get_data(as_text=True)

    assert 'route="<unmatched>",status="404"' in text
    assert "/no/such/path" not in text


def test_every_app_has_its_own_metrics(make_app: MakeApp, receiver: CallbackReceiver) -> None:
    first, second = make_app().test_client(), make_app().test_client()
    create(first, receiver.url())

    text = second.get("/metrics").get_data(as_text=True)

    assert 'route="/api/v1/tasks",status="201"' not in text


def test_metrics_still_answer_when_the_store_is_down(make_app: MakeApp) -> None:
    store = FlakyStore()
    client = make_app(store=store).test_client()
    store.failure = StoreUnavailable("database is down")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert "taskcore_tasks{" not in response.get_data(as_text=True)


def test_two_apps_over_one_container_do_not_count_callbacks_twice(
    app: Flask, receiver: CallbackReceiver
) -> None:
    from taskcore_flask import create_app

    second = create_app(app.extensions["taskcore"]).test_client()
    task_id = create_pending(second, receiver.url())
    second.post(f"{TASKS}/{task_id}/execute")

    text = second.get("/metrics").get_data(as_text=True)

    assert 'taskcore_callbacks_total{outcome="success"} 1.0' in text


def _rule_paths(app: Flask) -> set[str]:
    skip = ("static", "docs.")
    return {
        re.sub(r"<[^>]+>", "{taskId}", rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith(skip)
    }


def test_the_openapi_document_lists_every_route_of_the_app(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "taskcore"
    assert set(document["paths"]) == _rule_paths(app)
    for path, operations in document["paths"].items():
        rule_methods = {
            m.lower()
            for rule in app.url_map.iter_rules()
            if re.sub(r"<[^>]+>", "{taskId}", rule.rule) == path
            for m in rule.methods or ()
        }
        assert set(operations) - {"parameters"} == rule_methods - {"head", "options"}, path


def test_the_openapi_schemas_come_from_the_wire_format(client: FlaskClient) -> None:
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]

    task = schemas["Task"]["properties"]
    assert {"taskId", "callbackUrl", "createdAt", "callbackResult", "status"} <= set(task)
    assert not {"tokenHash", "token_hash", "version"} & set(task)
    assert set(schemas["TaskCreate"]["required"]) == {"name", "callbackUrl"}
    assert schemas["TaskCreate"]["additionalProperties"] is False
    assert {"type", "title", "status", "detail", "errors"} <= set(schemas["Problem"]["properties"])


def test_the_openapi_document_describes_parameters_and_answers(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]

    listing = paths["/api/v1/tasks"]["get"]
    execute = paths["/api/v1/tasks/{taskId}/execute"]
    assert {p["name"] for p in listing["parameters"]} == {"status", "page", "size"}
    assert {"200", "202", "404", "409"} <= set(execute["post"]["responses"])
    assert execute["parameters"][0]["name"] == "taskId"
    assert "415" in paths["/api/v1/tasks"]["post"]["responses"]


def test_the_docs_page_loads_swagger_ui_from_the_app_itself(client: FlaskClient) -> None:
    page = client.get("/docs")

    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert len(assets) == 4
    for asset in assets:
        assert asset.startswith("/docs/"), asset
        assert client.get(asset).status_code == 200, asset
    initializer = client.get("/docs/swagger-initializer.js").get_data(as_text=True)
    assert '"/api/v1/openapi.json"' in initializer


def test_a_missing_docs_asset_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get("/docs/assets/../../secret")

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


class _RecordingClient:
    """A callback client that answers 200 and remembers being closed."""

    def __init__(self) -> None:
        self.closed = False

    def call(self, request: CallbackRequest) -> CallbackResult:
        return CallbackResult(200, "", 1, None, request.attempt)

    def close(self) -> None:
        self.closed = True


def test_the_instrumented_callback_client_passes_close_through() -> None:
    inner = _RecordingClient()
    wrapped = InstrumentedCallbackClient(inner, Metrics())

    wrapped.close()

    assert inner.closed
