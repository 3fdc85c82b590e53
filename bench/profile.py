"""``python -m bench.profile TARGET [--seconds S]``: where the time goes under load.

Starts what the target needs, drives it (wrk for the API endpoints, the end-to-end flow for
``e2e-*``), samples the server processes with py-spy (``--gil``: only threads holding the
GIL, that is, doing Python work) and prints the functions that were on the CPU most, by
their own time and including what they call. The raw stacks and a flame graph are kept in
``bench/results/profile-<target>-<time>/``.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import servers, wrk
from bench.context import PROFILES, Context
from bench.procs import BIN, pinned
from bench.scenarios.http import API, task_body

TARGETS = ("api-create", "api-get", "api-list", "api-execute", "baseline-get", "baseline-post",
           "e2e-rabbitmq", "e2e-sql")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--batch", type=int, default=1, help="e2e: tasks per create request")
    args = parser.parse_args(argv)
    stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out = Path(__file__).with_name("results") / f"profile-{args.target}-{stamp}"
    out.mkdir(parents=True)
    ctx = Context(PROFILES["quick"], out)
    with ctx.stack, ExitStack() as stack:
        profiled = {"api": _api, "baseline": _baseline, "e2e": _e2e}[args.target.split("-")[0]]
        raw = profiled(ctx, stack, args)
    print(summary(raw, args.top))
    print(f"\nraw stacks and flame graph in {out}", file=sys.stderr)
    return 0


def _record(
    ctx: Context, pid: int, seconds: float, name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    raw = ctx.out / f"{name}-{pid}.txt"
    argv = [
        str(BIN / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--gil",
        "--format",
        "raw",
        "--rate",
        "250",
        "--duration",
        str(int(seconds)),
        "-o",
        str(raw),
    ]
    spy = subprocess.Popen(pinned(ctx.load_cpus, argv), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    return spy, raw


def _api(ctx: Context, stack: ExitStack, args: argparse.Namespace) -> list[Path]:
    receiver = servers.receiver(ctx, stack)
    body = ctx.work / "body.json"
    body.write_bytes(task_body(f"{receiver}/hook"))
    url, proc = servers.api_process(ctx, stack, cpus=ctx.server_cpus)
    ids = ctx.work / "ids.txt"
    seed_s = max(3.0, args.seconds) if args.target == "api-execute" else 3.0
    wrk.run(_load(ctx, url, seed_s, method="POST", path=API, body=body, capture=ctx.work / "ids"))
    ids.write_text("\n".join(wrk.read_ids(ctx.work / "ids")) + "\n")
    if args.target == "api-execute":
        wrk.run(
            _load(ctx, url, 60, method="POST", path=f"{API}/{{id}}/dequeue", ids=ids, once=True)
        )
    load = {
        "api-create": dict(method="POST", path=API, body=body),
        "api-get": dict(path=f"{API}/{{id}}", ids=ids),
        "api-list": dict(path=f"{API}?page=1&size=20"),
        "api-execute": dict(method="POST", path=f"{API}/{{id}}/execute", ids=ids, once=True),
    }[args.target]
    spy, raw = _record(ctx, proc.pid, args.seconds, "api")
    figures = wrk.run(_load(ctx, url, args.seconds, **load))
    spy.wait(timeout=args.seconds + 60)
    print(f"{args.target}: {figures['rps']:,.0f} req/s, p95 {figures['p95_ms']:.1f} ms")
    return [raw]


def _baseline(ctx: Context, stack: ExitStack, args: argparse.Namespace) -> list[Path]:
    body = ctx.work / "body.json"
    body.write_bytes(task_body("http://127.0.0.1:9/hook"))
    url, proc = servers.baseline_process(ctx, stack)
    load = dict(path="/small") if args.target == "baseline-get" else dict(
        method="POST", path="/echo", body=body)  # fmt: skip
    wrk.run(_load(ctx, url, 2, **load))
    spy, raw = _record(ctx, proc.pid, args.seconds, "baseline")
    figures = wrk.run(_load(ctx, url, args.seconds, **load))
    spy.wait(timeout=args.seconds + 60)
    print(f"{args.target}: {figures['rps']:,.0f} req/s, p95 {figures['p95_ms']:.1f} ms")
    return [raw]


def _load(ctx: Context, url: str, seconds: float, **options: Any) -> wrk.Load:
    return wrk.Load(url, duration_s=seconds, cpus=ctx.load_cpus, **options)


def _e2e(ctx: Context, stack: ExitStack, args: argparse.Namespace) -> list[Path]:
    """One end-to-end run of many tasks with the API and every worker under py-spy."""
    from bench.scenarios import e2e

    setup = "postgresql+rabbitmq" if args.target == "e2e-rabbitmq" else "postgresql+sql"
    running = e2e.sql_setup(ctx, stack, setup, servers.receiver(ctx, stack))
    spies = [_record(ctx, proc.pid, args.seconds, f"e2e-{i}") for i, proc in
             enumerate(running.procs)]  # fmt: skip
    result = e2e.sql_run(running, int(args.seconds * 100), args.batch)
    for spy, _ in spies:
        spy.wait(timeout=args.seconds + 60)
    print(f"{setup}: {result['tasks_per_s']:,.0f} tasks/s, p95 {result['p95_ms']:.0f} ms")
    return [raw for _, raw in spies]


def summary(raws: list[Path], top: int) -> str:
    """The functions most often on the CPU, by own samples and by samples including callees."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for raw in raws:
        for line in raw.read_text().splitlines() if raw.exists() else []:
            stack_text, _, count_text = line.rpartition(" ")
            frames = [_short(f) for f in stack_text.split(";") if f]
            count = int(count_text)
            samples += count
            if frames:
                own[frames[-1]] += count
            for frame in set(frames):
                if not _GENERIC.search(frame):
                    total[frame] += count
    share = max(samples, 1)
    lines = [f"{samples} samples holding the GIL", "", "own time:"]
    lines += [f"{100 * n / share:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"{100 * n / share:5.1f}%  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


_GENERIC = re.compile(
    r"^process |^Thread\.|_bootstrap|futures/thread|Arbiter\.|click/core|app/base|^<module>|"
    r"^serve \(|init_process|^main \(|^run \(|^invoke \("
)


def _short(frame: str) -> str:
    """``function (path/to/module.py:line)`` as ``function (module.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})"


if __name__ == "__main__":
    sys.exit(main())
