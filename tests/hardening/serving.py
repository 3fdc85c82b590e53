"""A real ``taskcore serve`` on a SQLite file, for faults that need a process to kill."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support.processes import free_port, running


def sqlite_env(database: Path) -> dict[str, str]:
    """Short timeouts and a fast reaper, so that a lost execution is reaped within seconds."""
    return {
        "TASKCORE_STORE__BACKEND": "sql",
        "TASKCORE_STORE__URL": f"sqlite:///{database}",
        "TASKCORE_STORE__MIGRATE": "auto",
        "TASKCORE_SERVER__WORKERS": "1",
        "TASKCORE_CALLBACKS__TIMEOUT_S": "2",
        "TASKCORE_EXECUTION__LEASE_MARGIN_S": "0.5",
        "TASKCORE_EXECUTION__REAPER_INTERVAL_S": "0.2",
        "TASKCORE_LOG__LEVEL": "ERROR",
        "TMPDIR": str(database.parent),  # a killed server leaves its metrics files there
    }


@contextmanager
def served(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``taskcore serve`` on a free port: its base URL and its process (a group leader)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(["serve", "--port", str(port)], f"{base}/health/live", env) as process:
        yield base, process


def post_in_background(url: str) -> threading.Thread:
    """POST ``url`` from a thread that ignores the connection dying under it."""

    def call() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.post(url, timeout=10)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread
