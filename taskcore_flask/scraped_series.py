"""Series read when Prometheus scrapes, not kept up to date: from the store, the queue and a
worker's own count.

A scrape must not fail because a backend is down: a gauge that cannot be read is logged and
left out of that scrape, and the other series are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from taskcore.ports import TaskQueue, TaskStore
from taskcore.worker import Worker
from taskcore_adapters.outbox import OutboxQueue

log = logging.getLogger("taskcore.metrics")


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


class ReadGauge(Collector):
    """One unlabelled gauge whose value ``read`` returns at each scrape."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterable[Metric]:
        try:
            value = self._read()
        except Exception as exc:  # a scrape must not fail because a backend is down
            log.warning("cannot read %s: %s", self._name, exc)
            return []
        return [GaugeMetricFamily(self._name, self._documentation, value=value)]


def backend_gauges(store: TaskStore, queue: TaskQueue) -> list[Collector]:
    """Tasks by status, the queue's depth and, in front of a broker, the outbox's backlog."""
    gauges: list[Collector] = [
        TaskCountCollector(store),
        ReadGauge("taskcore_queue_depth", "Messages waiting in the queue.", queue.depth),
    ]
    if isinstance(queue, OutboxQueue):
        gauges.append(
            ReadGauge(
                "taskcore_outbox_pending",
                "Messages stored with their tasks and not yet handed to the broker.",
                queue.backlog,
            )
        )
    return gauges


class ExecutedCollector(Collector):
    """``taskcore_worker_tasks_executed_total``: the worker's own count, read at scrape."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def describe(self) -> Iterable[Metric]:
        return [self._family(None)]

    def collect(self) -> Iterable[Metric]:
        return [self._family(self._worker.executed)]

    @staticmethod
    def _family(value: int | None) -> CounterMetricFamily:
        return CounterMetricFamily(
            "taskcore_worker_tasks_executed",
            "Tasks this worker process took from the queue and executed.",
            value=value,
        )
