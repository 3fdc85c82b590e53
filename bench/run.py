"""``python -m bench.run [--profile quick|full] [--only KEY,...]``: measure, then write the report.

Starts everything it needs on 127.0.0.1, stops what it started, and writes
``bench/results/<date-time>/`` with ``report.md``, ``report.json`` and one PNG per scenario.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bench import readme, report, wrk
from bench.context import PROFILES, Context, Section

RESULTS = Path(__file__).with_name("results")
Scenario = Callable[[Context], list[Section]]


def scenarios() -> dict[str, Scenario]:
    """Every scenario by key, in the order they run."""
    from bench.scenarios import e2e, http, peer, queues, scale

    return {"http": http.run, "e2e": e2e.run, "peer": peer.run, "scale": scale.run,
            "queues": queues.run}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--only", default="", help="comma-separated scenario keys")
    args = parser.parse_args(argv)
    try:
        wrk.ensure_wrk()
    except wrk.WrkMissing as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    out = RESULTS / datetime.now().strftime("%Y-%m-%d-%H%M%S")
    out.mkdir(parents=True)
    ctx = Context(PROFILES[args.profile], out)
    ctx.say(f"profile {args.profile}: results in {out}")
    chosen = [k for k in args.only.split(",") if k] or list(scenarios())
    with ctx.stack:
        for key in chosen:
            _run_one(ctx, key, scenarios()[key])
    paths = report.write(ctx)
    ctx.say("report: " + ", ".join(str(p) for p in paths))
    if ctx.profile.name == "full" and not args.only:
        readme.update(out)
        ctx.say("bench/README.md shows this run")
    return 0


def _run_one(ctx: Context, key: str, scenario: Scenario) -> None:
    """Run a scenario; a failure is recorded in the report and the others still run."""
    ctx.say(f"scenario {key}")
    try:
        ctx.sections.extend(scenario(ctx))
    except Exception as exc:
        (ctx.work / f"{key}-error.txt").write_text(traceback.format_exc())
        ctx.skipped.append(f"{key}: {type(exc).__name__}: {exc}")
        ctx.say(f"scenario {key} failed: {exc} (details in work/{key}-error.txt)")


if __name__ == "__main__":
    sys.exit(main())
