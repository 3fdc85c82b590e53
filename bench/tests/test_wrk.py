"""Reading wrk's figures and the ids the Lua script captured."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import wrk
from bench.scenarios.http import BODY_BYTES, task_body

LINE = (
    'BENCH_JSON {"requests": 2000, "non2xx": 1, "elapsed_us": 2000000, "socket_errors": 0, '
    '"timeouts": 0, "mean_us": 1500.0, "max_us": 9000, "p50_us": 1000, "p90_us": 2000, '
    '"p95_us": 3000, "p99_us": 5000, "p99.9_us": 8000}'
)


def test_figures_are_requests_per_second_and_milliseconds() -> None:
    figures = wrk.parse("Running 2s test\n" + LINE + "\n")
    assert figures["rps"] == 1000.0
    assert figures["p95_ms"] == 3.0
    assert figures["p999_ms"] == 8.0
    assert figures["non2xx"] == 1


def test_output_without_figures_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        wrk.parse("unable to connect")


def test_captured_ids_are_read_from_every_thread_file(tmp_path: Path) -> None:
    (tmp_path / "ids-1").write_text("a\nb\n")
    (tmp_path / "ids-2").write_text("c\n")
    assert wrk.read_ids(tmp_path / "ids") == ["a", "b", "c"]


def test_the_load_is_pinned_and_passes_its_options_to_the_script() -> None:
    load = wrk.Load("http://127.0.0.1:1", method="POST", path="/x", once=True, cpus="1")
    argv = load.argv("wrk")
    assert argv[:3] in (["taskset", "-c", "1"], ["wrk", "-t1", "-c100"])
    assert "mode=once" in argv and "method=POST" in argv


def test_the_task_body_is_exactly_300_bytes() -> None:
    assert len(task_body("http://127.0.0.1:9100/hook")) == BODY_BYTES
