"""Metrics of the processes that are not one API app: gunicorn's several, and the workers.

``taskcore serve`` runs gunicorn processes that each count their own requests and callbacks.
In prometheus_client's multiprocess mode those values are kept in files of one directory,
which ``serve`` creates for itself, names in ``PROMETHEUS_MULTIPROC_DIR`` and removes when it
stops; a scrape of any process merges every process's files (``Metrics``). The files of a
process that exited keep its counters and lose its live gauges (``process_exited``).
prometheus_client picks its mode when it is first imported, and gunicorn's processes are
forks of the one that sets the variable: this module imports it only inside its functions.

A ``taskcore worker`` process serves its own metrics over HTTP (``serve_worker_metrics``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from taskcore.service import TaskService
    from taskcore.worker import Worker
    from taskcore_adapters.config import ServerSettings

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """A new, private directory named in ``PROMETHEUS_MULTIPROC_DIR`` while the block runs.

    It replaces any directory the environment named, whose files may belong to others, and
    is removed with its files at the end by the process that made it: a gunicorn worker,
    forked inside the block, leaves through it too when it exits.
    """
    path = Path(tempfile.mkdtemp(prefix="taskcore-metrics-"))
    owner = os.getpid()
    previous = os.environ.get(MULTIPROCESS_ENV)
    os.environ[MULTIPROCESS_ENV] = str(path)
    try:
        yield path
    finally:
        if os.getpid() == owner:
            if previous is None:
                os.environ.pop(MULTIPROCESS_ENV, None)
            else:
                os.environ[MULTIPROCESS_ENV] = previous
            shutil.rmtree(path, ignore_errors=True)


def process_exited(_server: Any, worker: Any) -> None:
    """gunicorn's ``child_exit`` hook: drop the live gauges of a process that has ended."""
    if not os.environ.get(MULTIPROCESS_ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve_worker_metrics(
    service: TaskService, worker: Worker, server: ServerSettings, port: int | None = None
) -> WSGIServer | None:
    """Observe ``service`` and serve its metrics on ``http://{server.host}:{port}/metrics``.

    ``port`` defaults to ``server.worker_metrics_port``; 0 serves nothing. Raises
    ``click.ClickException`` when the port cannot be bound.
    """
    port = server.worker_metrics_port if port is None else port
    if not port:
        return None
    from prometheus_client import start_http_server

    from taskcore_flask.metrics import Metrics
    from taskcore_flask.scraped_series import ExecutedCollector

    metrics = Metrics([ExecutedCollector(worker)])
    metrics.observe(service)
    try:
        httpd, _thread = start_http_server(port, server.host, metrics.served)
    except OSError as exc:
        raise click.ClickException(f"cannot serve metrics on {server.host}:{port}: {exc}") from None
    click.echo(f"taskcore worker: metrics on http://{server.host}:{port}/metrics", err=True)
    return httpd
