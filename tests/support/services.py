"""Reaching the real servers the integration tests use.

A server that is down is started with the machine's own command; if it still does not
answer, the test is skipped locally with the reason and fails in CI (``CI=true``), where
nothing may skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

START_COMMANDS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mariadb": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
    "rabbitmq": "rabbitmq-server -detached",
}
PORTS = {"postgresql": 5432, "mariadb": 3306, "rabbitmq": 5672}
_started: set[str] = set()


def is_listening(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"required server unavailable in CI: {reason}")
    pytest.skip(reason)


def require(service: str, wait_s: float = 60.0) -> None:
    """Make sure ``service`` listens on 127.0.0.1, starting it once if it is down."""
    port = PORTS[service]
    if is_listening(port):
        return
    if service not in _started:
        _started.add(service)
        subprocess.run(START_COMMANDS[service], shell=True, check=False, capture_output=True)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if is_listening(port):
                time.sleep(1.0 if service == "rabbitmq" else 0.2)
                return
            time.sleep(0.5)
    unavailable(f"{service} is not listening on 127.0.0.1:{port}")
