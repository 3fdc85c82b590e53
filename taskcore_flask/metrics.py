"""Prometheus metrics: HTTP requests, callbacks, executions in flight and reaper actions.

Every app, and every worker process, has its own ``CollectorRegistry``, so that several
apps in one process (tests, embedding) do not clash. Callbacks are observed by decorating
the service's ``CallbackClient``, reaper actions through its ``on_reaped`` hook; gauges of
the store and the queue are read at scrape time (``scraped_series``). When
``PROMETHEUS_MULTIPROC_DIR`` is set, as ``taskcore serve`` does for its gunicorn processes,
values are kept in prometheus_client's multiprocess files and a scrape merges those of
every process (decision 0013).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from taskcore.ports import CallbackClient, CallbackRequest
from taskcore.service import TaskService
from taskcore.task import CallbackResult
from taskcore_flask.metrics_processes import MULTIPROCESS_ENV
from taskcore_flask.scraped_series import backend_gauges

REAP_REASONS = {
    "execution lost": "execution_lost",
    "completion report not received": "report_not_received",
}

CALLBACK_OUTCOMES = ("success", "deferred", "http_error", "no_response")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "<unmatched>"


class Metrics:
    """The instruments every process has: callbacks, executions in flight, reaper actions.

    ``scraped`` are collectors read at each scrape, served beside the instruments.
    """

    def __init__(self, scraped: Iterable[Collector] = ()) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = Gauge(
            "taskcore_executions_in_flight",
            "Callbacks being called now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.callbacks = Counter(
            "taskcore_callbacks",
            "Callback attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.callback_duration = Histogram(
            "taskcore_callback_duration_seconds", "Callback latency.", registry=self.registry
        )
        self.reaped = Counter(
            "taskcore_executions_reaped",
            "Executions the reaper failed, by reason.",
            ["reason"],
            registry=self.registry,
        )
        for outcome in CALLBACK_OUTCOMES:  # served as 0 before the first of each
            self.callbacks.labels(outcome)
        for reason in REAP_REASONS.values():
            self.reaped.labels(reason)
        self.served = _served_registry(self.registry)
        for collector in scraped:
            self.served.register(collector)

    def observe(self, service: TaskService) -> None:
        """Count and time the service's callbacks, and the executions its reaper fails."""
        inner = service.callbacks
        if isinstance(inner, InstrumentedCallbackClient):  # a second app over the same service
            inner = inner.inner
        service.callbacks = InstrumentedCallbackClient(inner, self)
        service.on_reaped = self.count_reaped

    def count_reaped(self, error: str) -> None:
        """Count one execution failed by the reaper with ``error``."""
        self.reaped.labels(REAP_REASONS.get(error, "other")).inc()


class ApiMetrics(Metrics):
    """An API process's: also HTTP requests, and the store's and queue's gauges."""

    def __init__(self, service: TaskService) -> None:
        super().__init__(backend_gauges(service.store, service.queue))
        labels = ["method", "route", "status"]
        self.request_duration = Histogram(
            "taskcore_http_request_duration_seconds",
            "HTTP request latency by route template.",
            labels,
            registry=self.registry,
        )
        self.requests = Counter(
            "taskcore_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )

    def exposition(self) -> Response:
        """Every series in the Prometheus text format."""
        return Response(
            generate_latest(self.served), mimetype=None, content_type=CONTENT_TYPE_LATEST
        )


def _served_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What a scrape reads: ``own``, or in multiprocess mode every process's values merged."""
    if not os.environ.get(MULTIPROCESS_ENV):
        return own
    merged = CollectorRegistry()
    MultiProcessCollector(merged)
    return merged


def callback_outcome(result: CallbackResult) -> str:
    """A small fixed set of labels: success, deferred, http_error or no_response."""
    code = result.status_code
    if code is None:
        return "no_response"
    if 200 <= code < 300 and result.error is None:
        return "deferred" if code == 202 else "success"
    return "http_error"


class InstrumentedCallbackClient:
    """``CallbackClient`` decorator counting and timing every call of the one it wraps."""

    def __init__(self, inner: CallbackClient, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def call(self, request: CallbackRequest) -> CallbackResult:
        started = time.perf_counter()
        with self._metrics.in_flight.track_inprogress():
            result = self.inner.call(request)
        self._metrics.callback_duration.observe(time.perf_counter() - started)
        self._metrics.callbacks.labels(callback_outcome(result)).inc()
        return result

    def close(self) -> None:
        self.inner.close()


def install_metrics(app: Flask, service: TaskService) -> ApiMetrics:
    """Time every request of ``app``, observe the service, serve ``/metrics``."""
    metrics = ApiMetrics(service)
    metrics.observe(service)

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        now = time.perf_counter()
        labels = _request_labels(response.status_code)
        metrics.request_duration.labels(*labels).observe(now - g.pop("metrics_started", now))
        metrics.requests.labels(*labels).inc()
        return response

    app.add_url_rule("/metrics", "metrics", metrics.exposition)
    return metrics


def _request_labels(status: int) -> tuple[str, str, str]:
    method = request.method if request.method in _METHODS else "OTHER"
    route = request.url_rule.rule if request.url_rule is not None else _UNMATCHED
    return method, route, str(status)
