"""``python -m bench.soak [--minutes 5]``: the production shape under steady load with
failing callbacks, then a check that nothing was lost, doubled, answered 5xx or leaked.

Starts on 127.0.0.1: a fresh PostgreSQL database, a fresh RabbitMQ queue, ``taskcore serve``
(gunicorn, ``server.workers`` processes), two ``taskcore worker`` processes and a callback
receiver that fails callbacks at random (500, answers later than ``callbacks.timeout_s``,
connection resets). wrk keeps 100 connections creating, reading, listing and cancelling
tasks for the given minutes while a sampler records memory and task counts; then the run
waits until no task is Queued, Pending or Processing and judges. Everything it started is
stopped, the database dropped and the queue deleted. Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench import flow, machine, servers, services, wrk
from bench.context import PROFILES, Context
from bench.scenarios.http import task_body
from bench.soak import checks, report
from bench.soak.sampler import Sampler, active, task_counts

RESULTS = Path(__file__).parent.parent / "results"
SCRIPT = Path(__file__).parent.parent / "lua" / "soak.lua"
DB = "taskcore_bench_soak"
MARK = "SOAK_JSON "
WORKER_PROCESSES, WORKER_THREADS = 2, 8


@dataclass(frozen=True)
class Options:
    """What the run does; every field is a command-line option."""

    minutes: float = 5.0
    connections: int = 100
    rate: float = 80.0  # requests/s over all connections; 0: as fast as answers come
    mix: str = "create:70,get:15,list:5,cancel:10"
    error_rate: float = 0.20
    slow_rate: float = 0.05
    reset_rate: float = 0.05
    callback_timeout_s: float = 2.0
    slow_s: float = 3.0
    sample_s: float = 2.0
    drain_s: float = 300.0
    request_timeout_s: float = 10.0

    @property
    def load_s(self) -> float:
        return self.minutes * 60


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    try:
        wrk.ensure_wrk()
    except wrk.WrkMissing as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    out = RESULTS / (datetime.now().strftime("%Y-%m-%d-%H%M%S") + "-soak")
    out.mkdir(parents=True)
    ctx = Context(dataclasses.replace(PROFILES["quick"], name="soak", runs=1), out)
    ctx.say(f"soak for {options.minutes:g} min: results in {out}")
    with ctx.stack:
        result = soak(ctx, options)
    paths = report.write(out, result)
    ctx.say("report: " + ", ".join(str(p) for p in paths))
    for check in result["checks"]:
        ctx.say(f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    verdict = checks.passed(result["checks"])
    ctx.say(f"verdict: {'PASSED' if verdict else 'FAILED'}")
    return 0 if verdict else 1


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    for f in dataclasses.fields(Options):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, type=type(f.default), default=f.default,
                            help=f"default {f.default}")  # fmt: skip
    return Options(**vars(parser.parse_args(argv)))


def soak(ctx: Context, options: Options) -> dict[str, Any]:
    """Start the system, load it, let it drain, and gather everything the report needs."""
    result: dict[str, Any] = {"options": dataclasses.asdict(options), "notes": [],
                              "machine": machine.describe()}  # fmt: skip
    with ExitStack() as stack:
        for service in ("postgresql", "rabbitmq"):
            services.ensure(ctx, ctx.stack, service)
        receiver_url = servers.receiver(ctx, stack, _fault_options(options))
        db_url = stack.enter_context(services.database(DB))
        config = _config(ctx, stack, db_url, options)
        services.migrate(ctx, config)
        env = {"TASKCORE_CONFIG": str(config)}
        url, api = servers.api_process(ctx, stack, env)
        workers = [servers.worker(ctx, stack, env, WORKER_THREADS)
                   for _ in range(WORKER_PROCESSES)]  # fmt: skip
        sampler = Sampler(api, workers, db_url, options.sample_s).start()
        stack.callback(sampler.stop)  # before the servers stop, whatever happens
        result["load"] = _load(ctx, url, receiver_url, options, sampler)
        result["drain"] = _drain(ctx, db_url, options, sampler)
        sampler.stop()
        result["processes"] = sampler.processes()
        result["tasks"] = _tasks(db_url)
        result["deliveries"] = _deliveries(receiver_url)
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["sampler"] = {"samples": sampler.samples, "errors": sampler.errors,
                         "api_processes": sampler.api_children}  # fmt: skip
    result["series"] = sampler.series()
    _judge(result, options)
    return result


def _fault_options(options: Options) -> list[str]:
    return ["--error-rate", str(options.error_rate), "--slow-rate", str(options.slow_rate),
            "--reset-rate", str(options.reset_rate), "--slow-s", str(options.slow_s)]  # fmt: skip


def _config(ctx: Context, stack: ExitStack, db_url: str, options: Options) -> Path:
    """The production shape: SQL store on PostgreSQL, RabbitMQ queue; short callback timeout."""
    name = f"bench-soak-{uuid.uuid4().hex[:8]}"
    stack.callback(services.delete_rabbitmq_queue, name)
    path = ctx.work / "soak.toml"
    path.write_text(
        "[store]\n"
        'backend = "sql"\n'
        f'url = "{services.sqlalchemy_url(db_url)}"\n'
        'migrate = "check"\n\n'
        "[queue]\n"
        'backend = "rabbitmq"\n'
        f'url = "{services.RABBITMQ_URL}"\n'
        f'name = "{name}"\n\n'
        "[callbacks]\n"
        f"timeout_s = {options.callback_timeout_s}\n"
        f"connect_timeout_s = {min(options.callback_timeout_s, 1.0)}\n"
    )
    return path


def _load(
    ctx: Context, url: str, receiver_url: str, options: Options, sampler: Sampler
) -> dict[str, Any]:
    """wrk with ``lua/soak.lua`` for the whole duration, with a progress line now and then."""
    body = ctx.work / "task-body.json"
    body.write_bytes(task_body(f"{receiver_url}/hook"))
    load = wrk.Load(
        url, connections=options.connections, duration_s=options.load_s,
        timeout_s=options.request_timeout_s, script=SCRIPT,
        extra={"body": str(body), "rate": f"{options.rate:g}", "mix": options.mix,
               "connections": str(options.connections), "capture": str(ctx.work / "created"),
               "errors": str(ctx.work / "unexpected")},
    )  # fmt: skip
    ctx.say(f"load: {options.connections} connections, {options.rate:g} req/s, {options.mix}")
    started = sampler.now()
    reporter = _Progress(ctx, sampler, started)
    output = reporter.during(lambda: wrk.output(load))
    (ctx.work / "wrk.txt").write_text(output)
    figures = wrk.marked(output, MARK)
    figures.update(started_s=started, ended_s=sampler.now())
    figures["socket_errors"] = sum(figures[k] for k in ("connect_errors", "read_errors",
                                                        "write_errors", "timeouts"))  # fmt: skip
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["created"] = wrk.read_ids(ctx.work / "created")
    return figures


class _Progress:
    """One line every ``every_s`` while a blocking call runs: tasks, backlog, memory, load."""

    def __init__(self, ctx: Context, sampler: Sampler, since: float, every_s: float = 30) -> None:
        self.ctx, self.sampler, self.since, self.every_s = ctx, sampler, since, every_s

    def during(self, call: Callable[[], str]) -> str:
        stop = threading.Event()
        thread = threading.Thread(target=self._loop, args=(stop,), daemon=True)
        thread.start()
        try:
            return call()
        finally:
            stop.set()
            thread.join(5)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_s):
            if self.sampler.samples:
                self.ctx.say("  " + describe(self.sampler.samples[-1], self.since))


def describe(sample: dict[str, Any], since: float) -> str:
    tasks = sample["tasks"]
    memory = ", ".join(f"{k} {v:.0f}" for k, v in sorted(sample["rss_mib"].items()))
    return (f"{sample['t'] - since:5.0f} s: {sum(tasks.values()):,} tasks, "
            f"{active(tasks):,} not final; RSS MiB {memory}; load {sample['load']}")  # fmt: skip


def _drain(ctx: Context, db_url: str, options: Options, sampler: Sampler) -> dict[str, Any]:
    """Wait (bounded) until no task is Queued, Pending or Processing."""
    started = sampler.now()
    ctx.say(f"load done; waiting up to {options.drain_s:.0f} s for every task to be final")
    try:
        flow.wait_until(lambda: active(task_counts(db_url)) == 0, options.drain_s,
                        "every task final", every_s=1.0)  # fmt: skip
        drained = True
    except TimeoutError as exc:
        ctx.say(f"  {exc}")
        drained = False
    left = task_counts(db_url)
    ctx.say(f"  after {sampler.now() - started:.0f} s: {active(left):,} not final")
    return {"drained": drained, "seconds": sampler.now() - started, "counts": left}


def _tasks(db_url: str) -> dict[str, checks.TaskRow]:
    """Every task in the store after the run, by id."""
    import psycopg

    rows: dict[str, checks.TaskRow] = {}
    with psycopg.connect(db_url) as conn:
        for task_id, attempts in conn.execute(
            "SELECT task_id::text, attempts FROM archived_tasks"
        ).fetchall():
            rows[task_id] = checks.TaskRow("Completed", attempts)
        for task_id, status, attempts, result in conn.execute(
            "SELECT task_id::text, status, attempts, callback_result FROM tasks"
        ).fetchall():
            rows[task_id] = checks.TaskRow(status, attempts, _error(result))
    return rows


def _error(callback_result: Any) -> str | None:
    if callback_result is None:
        return None
    data = json.loads(callback_result) if isinstance(callback_result, str) else callback_result
    return data.get("error") if isinstance(data, dict) else None


def _deliveries(receiver_url: str) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(f"{receiver_url}/_deliveries", timeout=120).json()
    data["deliveries"] = [checks.Delivery(*row) for row in data["deliveries"]]
    return data


def _judge(result: dict[str, Any], options: Options) -> None:
    """Account for every task, judge memory per process, and list the checks."""
    load = result["load"]
    accounting = checks.account(load["created"], result["tasks"],
                                result["deliveries"]["deliveries"])  # fmt: skip
    since = load["started_s"]
    trends = {
        name: checks.memory_trend(
            [(t - since, mib) for t, mib in points if since <= t <= load["ended_s"]],
            checks.warmup_s(options.minutes),
        )
        for name, points in sorted(result["series"].items())
    }
    result["accounting"] = accounting
    result["trends"] = trends
    result["checks"] = checks.checks(accounting, load["statuses"], load["socket_errors"],
                                     trends, result["processes"])  # fmt: skip
    if not result["drain"]["drained"]:
        result["notes"].append(f"Tasks were not all final {options.drain_s:.0f} s after the load.")
    if result["sampler"]["errors"]:
        result["notes"].append(f"{len(result['sampler']['errors'])} samples failed: "
                               f"{result['sampler']['errors'][:3]}")  # fmt: skip
