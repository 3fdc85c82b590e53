"""Starting the servers a scenario needs; each is registered on an ``ExitStack`` that stops it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import requests

from bench.context import Context
from bench.procs import HOST, Proc, free_port, pinned, tool, wait_http

_serial = iter(range(1, 1_000_000))


def _start(
    ctx: Context, stack: ExitStack, name: str, argv: list[str], env: dict[str, str] | None = None
) -> Proc:
    proc = Proc(argv, ctx.work / f"{next(_serial):03d}-{name}.log", env)
    stack.callback(proc.stop)
    return proc


def receiver(ctx: Context, stack: ExitStack, options: Sequence[str] = ()) -> str:
    """The callback receiver on the load generator's CPU; its base URL. ``options`` are
    more ``bench.receiver`` arguments (its fault rates)."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.receiver", "--port", str(port), *options]
    proc = _start(ctx, stack, "receiver", pinned(ctx.load_cpus, argv))
    url = f"http://{HOST}:{port}"
    wait_http(f"{url}/_stats", proc.popen)
    return url


def receiver_stats(url: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(f"{url}/_stats", timeout=30).json()
    return data


def receiver_reset(url: str) -> None:
    requests.post(f"{url}/_reset", timeout=10)


def server_threads() -> int:
    """The thread count ``taskcore serve`` uses by default, so the baseline matches it."""
    from taskcore_adapters.config import load_settings

    return load_settings(None).server.threads


def baseline(ctx: Context, stack: ExitStack) -> str:
    """The bare Flask app under gunicorn like ``taskcore serve`` on memory: gthread, 1 process."""
    return baseline_process(ctx, stack)[0]


def baseline_process(ctx: Context, stack: ExitStack) -> tuple[str, Proc]:
    """``baseline``, and its gunicorn master process."""
    port = free_port()
    argv = [
        tool("gunicorn"), "--worker-class", "gthread", "--workers", "1",
        "--threads", str(server_threads()), "--keep-alive", "5", "--bind", f"{HOST}:{port}",
        "bench.baseline_app:app",
    ]  # fmt: skip
    proc = _start(ctx, stack, "baseline", pinned(ctx.server_cpus, argv))
    url = f"http://{HOST}:{port}"
    wait_http(f"{url}/health/live", proc.popen)
    return url, proc


def api(
    ctx: Context, stack: ExitStack, env: dict[str, str] | None = None, cpus: str | None = None
) -> str:
    """``taskcore serve`` on a free port (memory store unless ``env`` says otherwise)."""
    return api_process(ctx, stack, env, cpus)[0]


def api_process(
    ctx: Context, stack: ExitStack, env: dict[str, str] | None = None, cpus: str | None = None
) -> tuple[str, Proc]:
    """``api``, and the process (the gunicorn master) that serves it."""
    port = free_port()
    argv = [tool("taskcore"), "serve", "--host", HOST, "--port", str(port)]
    proc = _start(ctx, stack, "api", pinned(cpus, argv), env)
    url = f"http://{HOST}:{port}"
    wait_http(f"{url}/health/live", proc.popen)
    return url, proc


def worker(ctx: Context, stack: ExitStack, env: dict[str, str], concurrency: int) -> Proc:
    """One ``taskcore worker`` process."""
    argv = [tool("taskcore"), "worker", "--concurrency", str(concurrency)]
    return _start(ctx, stack, "worker", argv, env)


def command(
    ctx: Context, stack: ExitStack, name: str, argv: list[str], env: dict[str, str]
) -> Proc:
    """Any other long-running command (a Celery worker, a broker)."""
    return _start(ctx, stack, name, argv, env)
