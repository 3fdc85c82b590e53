"""The ``taskcore`` command: serve the API, run workers, migrate the database, check config."""

from __future__ import annotations

import functools
import signal
import sys
import threading
from typing import Any

import click

import taskcore
from taskcore.worker import Reaper, Worker
from taskcore_adapters.config import ConfigError, Settings, load_settings
from taskcore_adapters.container import build_container, shutdown
from taskcore_adapters.outbox import republish_on_start
from taskcore_flask.tasks_cli import tasks

CONFIG_HELP = "TOML config file (default: $TASKCORE_CONFIG, else memory store and queue)."


def _settings(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(taskcore.__version__, prog_name="taskcore")
def main() -> None:
    """taskcore: asynchronous tasks with HTTP callbacks.

    Create tasks over the REST API, let workers (or API calls) execute them by calling
    their callback URLs, and query or cancel them. Every command reads the same TOML
    config; TASKCORE_<SECTION>__<KEY> environment variables override it.
    """


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--host", default=None, help="Address to bind (default: server.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default: server.port, 8080).")
@click.option("--workers", type=int, default=None, help="gunicorn processes (SQL store only).")
@click.option("--threads", type=int, default=None, help="Threads per process.")
def serve(
    config_path: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
) -> None:
    """Serve the REST API under gunicorn.

    On the memory store the API runs as one process with threads, since memory cannot be
    shared between processes. Each process also runs the reaper, which fails executions
    whose deadline has passed.
    """
    settings = _settings(config_path)
    server = settings.server
    processes = workers or server.workers
    if settings.store.backend == "memory" and processes > 1:
        processes = 1
    options = {
        "bind": f"{host or server.host}:{port or server.port}",
        "workers": processes,
        "threads": threads or server.threads,
        "worker_class": "gthread",
        "timeout": int(settings.callbacks.timeout_s + settings.execution.lease_margin_s + 30),
        "graceful_timeout": int(settings.callbacks.timeout_s + 10),
        "keepalive": 5,
        "accesslog": None,
    }
    from taskcore_flask.metrics_processes import multiprocess_directory

    with multiprocess_directory():  # before any gunicorn process imports prometheus_client
        api_server_class()(settings, options).run()


@functools.cache
def api_server_class() -> type:
    """gunicorn's application class, imported only when the API is served."""
    from gunicorn.app.base import BaseApplication

    from taskcore_flask.metrics_processes import process_exited

    class ApiServer(BaseApplication):  # type: ignore[misc]
        """gunicorn running ``create_app``; each worker process builds its own container."""

        def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
            self.settings = settings
            self.options = options
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)
            self.cfg.set("worker_exit", _on_worker_exit)
            self.cfg.set("child_exit", process_exited)

        def load(self) -> Any:
            return _load_app(self.settings)

    return ApiServer


def _load_app(settings: Settings) -> Any:
    """Build this worker process's app, and start its reaper."""
    from taskcore_flask.app import create_app
    from taskcore_flask.logs import configure_logging

    configure_logging(settings.log)
    container = build_container(settings=settings)
    app = create_app(container)
    reaper = Reaper(container.service(), settings.execution.reaper_interval_s).start()
    _RUNNING.update(container=container, reaper=reaper)
    return app


_RUNNING: dict[str, Any] = {}


def _on_worker_exit(server: Any, worker: Any) -> None:
    reaper = _RUNNING.pop("reaper", None)
    if reaper is not None:
        reaper.stop()
    container = _RUNNING.pop("container", None)
    if container is not None:
        shutdown(container)


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Tasks executed at once by this process.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics on this port of server.host (default: server.worker_metrics_port; "
    "0: none).",
)
def worker(config_path: str | None, concurrency: int, metrics_port: int | None) -> None:
    """Consume the queue and execute tasks (distributed mode).

    Runs until SIGTERM or SIGINT, then finishes the callbacks in flight and exits. Needs a
    store shared between processes (store.backend = "sql").
    """
    settings = _settings(config_path)
    if settings.store.backend == "memory":
        raise click.ClickException(
            'worker needs a shared store: set store.backend = "sql" (the memory store lives '
            "inside the API process, whose own executor runs its tasks)"
        )
    from taskcore_flask.logs import configure_logging
    from taskcore_flask.metrics_processes import serve_worker_metrics

    configure_logging(settings.log)
    container = build_container(settings=settings)
    service = container.service()
    republish_on_start(container.queue(), settings.queue)
    running = Worker(service, concurrency)
    serve_worker_metrics(service, running, settings.server, metrics_port)
    running.start()
    reaper = Reaper(service, settings.execution.reaper_interval_s).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"taskcore worker: {concurrency} threads on {settings.queue.backend}", err=True)
    stop.wait()
    running.stop()
    reaper.stop()
    shutdown(container)
    click.echo(f"taskcore worker: stopped after {running.executed} tasks", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=9000, show_default=True, help="Port to bind.")
def receiver(host: str, port: int) -> None:
    """Run a local callback receiver that prints each callback and answers 200.

    For trying taskcore out and for demos; point a task's callbackUrl at it.
    """
    from taskcore_flask.receiver import make_receiver

    server = make_receiver(host, port)
    click.echo(f"taskcore receiver: listening on http://{host}:{port}/", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@main.group()
def db() -> None:
    """Manage the SQL store's schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(config_path: str | None, revision: str) -> None:
    """Apply the migrations up to REVISION on the configured database."""
    settings = _settings(config_path)
    if settings.store.backend != "sql":
        raise click.ClickException('db upgrade needs store.backend = "sql" in the config')
    from taskcore_adapters.sql.migrate import current, upgrade

    upgrade(settings.store.url, revision)
    click.echo(f"database at revision {current(settings.store.url)}")


@main.group()
def config() -> None:
    """Inspect configuration files."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
def config_check(path: str) -> None:
    """Validate the config file at PATH (with environment overrides) and summarise it."""
    settings = _settings(path)
    click.echo(
        f"ok: store={settings.store.backend} queue={settings.queue.backend} "
        f"callbacks.timeout_s={settings.callbacks.timeout_s:g}"
    )


main.add_command(tasks)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
