"""Scenarios 1 and 2: the bare-Flask baseline and the API on the memory store, run by run.

Each run starts a fresh baseline and a fresh ``taskcore serve`` (memory) pinned to CPU 0,
with wrk and the callback receiver on CPU 1, and measures every endpoint in turn: so a
run's API figures and its baseline come from the same minute of the same machine.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from bench import servers, wrk
from bench.context import Context, Section

BODY_BYTES = 300
HTTP_COLUMNS = [
    ("rps", "req/s"), ("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"),
    ("requests", "requests"), ("non2xx", "non-2xx"), ("socket_errors", "socket errors"),
]  # fmt: skip
API = "/api/v1/tasks"


def task_body(callback_url: str, size: int = BODY_BYTES) -> bytes:
    """A create-task request body of exactly ``size`` bytes (padded in the payload)."""
    doc: dict[str, Any] = {
        "name": "bench-task",
        "callbackUrl": callback_url,
        "payload": {"orderId": 123456, "note": ""},
        "priority": 5,
    }
    bare = len(json.dumps(doc, separators=(",", ":")).encode())
    doc["payload"]["note"] = "x" * max(0, size - bare)
    return json.dumps(doc, separators=(",", ":")).encode()


def run(ctx: Context) -> list[Section]:
    base = Section("baseline", "1. Baseline: bare Flask under the same gunicorn settings",
                   "GET a small JSON document; POST a 300-byte JSON body answered 201.",
                   HTTP_COLUMNS, plot="http")  # fmt: skip
    api = Section("api-memory", "2. API on the memory store (`taskcore serve`)",
                  f"{ctx.profile.connections} connections per endpoint; ratios to the baseline "
                  "of the same runs.", HTTP_COLUMNS, plot="http")  # fmt: skip
    per_run: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with ExitStack() as stack:
        receiver = servers.receiver(ctx, stack)
        body = ctx.work / "task-body.json"
        body.write_bytes(task_body(f"{receiver}/hook"))
        for index in range(1, ctx.profile.runs + 1):
            per_run.append((_baseline_run(ctx, body, index), _api_run(ctx, body, receiver, index)))
    for name in ("GET small JSON", "POST 300-byte JSON"):
        base.add(name, [b[name] for b, _ in per_run])
    for name in ("create", "get", "list", "dequeue", "execute"):
        api.add(name, [a[name] for _, a in per_run])
    return [base, api]


def _load(ctx: Context, url: str, **options: Any) -> wrk.Load:
    options.setdefault("duration_s", ctx.profile.http_s)
    return wrk.Load(url, connections=ctx.profile.connections, cpus=ctx.load_cpus, **options)


def _measure(ctx: Context, label: str, load: wrk.Load) -> dict[str, float]:
    figures = wrk.run(load)
    ctx.say(f"  {label}: {figures['rps']:,.0f} req/s, p95 {figures['p95_ms']:.1f} ms, "
            f"non-2xx {figures['non2xx']:.0f}")  # fmt: skip
    return figures


def _baseline_run(ctx: Context, body: Path, index: int) -> dict[str, Any]:
    ctx.say(f"baseline run {index}/{ctx.profile.runs}")
    with ExitStack() as stack:
        url = servers.baseline(ctx, stack)
        wrk.run(_load(ctx, url, path="/small", duration_s=ctx.profile.warmup_s))
        return {
            "GET small JSON": _measure(ctx, "GET /small", _load(ctx, url, path="/small")),
            "POST 300-byte JSON": _measure(
                ctx, "POST /echo", _load(ctx, url, method="POST", path="/echo", body=body)
            ),
        }


def _api_run(ctx: Context, body: Path, receiver: str, index: int) -> dict[str, Any]:
    ctx.say(f"api-memory run {index}/{ctx.profile.runs}")
    work = ctx.work / f"api-{index}"
    work.mkdir(exist_ok=True)
    with ExitStack() as stack:
        url = servers.api(ctx, stack, cpus=ctx.server_cpus)
        create = dict(method="POST", path=API, body=body)
        wrk.run(_load(ctx, url, duration_s=ctx.profile.warmup_s, capture=work / "warm", **create))
        new = _load(ctx, url, capture=work / "new", **create)
        results = {"create": _measure(ctx, "create", new)}
        ids_file = work / "ids.txt"
        ids = wrk.read_ids(work / "warm") + wrk.read_ids(work / "new")
        ids_file.write_text("\n".join(ids) + "\n")
        results.update(_reads(ctx, url, ids_file))
        results.update(_moves(ctx, url, receiver, ids, work))
        return results


def _reads(ctx: Context, url: str, ids_file: Path) -> dict[str, Any]:
    get = _load(ctx, url, path=f"{API}/{{id}}", ids=ids_file)
    listing = _load(ctx, url, path=f"{API}?page=1&size=20")
    return {"get": _measure(ctx, "get", get), "list": _measure(ctx, "list", listing)}


def _moves(ctx: Context, url: str, receiver: str, ids: list[str], work: Path) -> dict[str, Any]:
    """Dequeue each created task once, then execute each dequeued one once."""
    bound = max(10.0, 2 * ctx.profile.http_s)
    ids_file = work / "ids.txt"
    dequeue = _measure(ctx, "dequeue", _load(
        ctx, url, method="POST", path=f"{API}/{{id}}/dequeue", ids=ids_file, once=True,
        duration_s=bound))  # fmt: skip
    pending = work / "pending.txt"
    pending.write_text("\n".join(ids[: int(dequeue["requests"])]) + "\n")
    before = servers.receiver_stats(receiver)["count"]
    execute = _measure(ctx, "execute", _load(
        ctx, url, method="POST", path=f"{API}/{{id}}/execute", ids=pending, once=True,
        duration_s=bound))  # fmt: skip
    execute["callbacks"] = servers.receiver_stats(receiver)["count"] - before
    execute["missing_callbacks"] = max(0, execute["requests"] - execute["callbacks"])
    execute["failed_tasks"] = _count(url, "Failed")
    return {"dequeue": dequeue, "execute": execute}


def _count(url: str, status: str) -> int:
    answer = requests.get(f"{url}{API}", params={"status": status, "size": 1}, timeout=30)
    return int(answer.json()["totalCount"])
