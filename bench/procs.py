"""Processes the harness starts: pinned to CPUs, on free loopback ports, stopped by their PID.

Only what the harness started is ever stopped, by the process group it created.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def pinned(cpus: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cpus`` when pinning is possible, else unchanged."""
    if cpus is None or cpu_count() < 2 or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", cpus, *argv]


def is_listening(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float = 60.0) -> None:
    """Return once ``url`` answers at all; raise if the process died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout_s:.0f} s")


class Proc:
    """One started command; its output goes to a log file in the run's folder."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self._out = log.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env={**os.environ, **(env or {})},
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group it leads; SIGKILL it if it lingers."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._out.close()

    def _signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)


@contextmanager
def started(*procs: Proc) -> Iterator[tuple[Proc, ...]]:
    """Stop every process when the block ends, newest first, whatever happened."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            proc.stop()


def tool(name: str) -> str:
    """The path of a console script installed in the virtualenv."""
    return str(BIN / name)
