"""Prometheus metrics of one app: HTTP requests, tasks by status and callback outcomes.

Every app has its own ``CollectorRegistry``, so that several apps in one process (tests,
embedding) do not clash. Callbacks are observed by decorating the service's
``CallbackClient``; task counts are read from the store at scrape time.
"""

from __future__ import annotations

import logging
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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskcore.ports import CallbackClient, CallbackRequest, TaskStore
from taskcore.service import TaskService
from taskcore.task import CallbackResult

log = logging.getLogger("taskcore.metrics")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_UNMATCHED = "<unmatched>"


class TaskCountCollector(Collector):
    """``taskcore_tasks{status}``: the store's counts, read when Prometheus scrapes."""

    def __init__(self, store: TaskStore) -> None:
        self._store = store

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        try:
            counts = self._store.counts()
        except Exception as exc:  # a scrape must not fail because the store is down
            log.warning("cannot count tasks: %s", exc)
            return []
        for status, count in sorted(counts.items()):
            family.add_metric([status.value], count)
        return [family]

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("taskcore_tasks", "Tasks by status.", labels=["status"])


class Metrics:
    """The instruments of one app, in their own registry."""

    def __init__(self, store: TaskStore) -> None:
        self.registry = CollectorRegistry()
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
        self.in_flight = Gauge(
            "taskcore_executions_in_flight", "Callbacks being called now.", registry=self.registry
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
        self.registry.register(TaskCountCollector(store))

    def exposition(self) -> Response:
        """The registry in the Prometheus text format."""
        return Response(
            generate_latest(self.registry), mimetype=None, content_type=CONTENT_TYPE_LATEST
        )


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


def install_metrics(app: Flask, service: TaskService) -> Metrics:
    """Time every request of ``app``, observe the service's callbacks, serve ``/metrics``."""
    metrics = Metrics(service.store)
    inner = service.callbacks
    if isinstance(inner, InstrumentedCallbackClient):  # a second app over the same service
        inner = inner.inner
    service.callbacks = InstrumentedCallbackClient(inner, metrics)

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
