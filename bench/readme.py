"""``python -m bench.readme [RESULTS_DIR]``: put a run's figures into ``bench/README.md``.

Rewrites the block between ``<!-- latest:start -->`` and ``<!-- latest:end -->`` from the
run's ``report.json``: the machine, the targets and every scenario's table, with its plot.
Without an argument, the newest full run is used. ``bench.run`` calls it after a full run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.context import Section

HERE = Path(__file__).parent
README = HERE / "README.md"
START, END = "<!-- latest:start -->", "<!-- latest:end -->"
MARK = {True: "met", False: "**missed**", None: "not measured"}


def columns(key: str) -> list[tuple[str, str]]:
    from bench.scenarios import e2e, http, queues

    return {"e2e": e2e.E2E_COLUMNS, "peer": e2e.E2E_COLUMNS,
            "queues": queues.COLUMNS}.get(key, http.HTTP_COLUMNS)  # fmt: skip


def block(doc: dict[str, Any], folder: str) -> str:
    """The markdown of one run for the README; images are relative to ``bench/``."""
    from bench.machine import summary
    from bench.report import section_markdown

    m, p = doc["machine"], doc["profile"]
    lines = [f"Run of {doc['finished']} ({p['name']} profile, medians of {p['runs']} runs, "
             f"(min-max)) on {summary(m)}; load average at the start "
             f"{', '.join(map(str, m['load_average']))}. {doc['pinning']}", "",
             "| target | measured | result | note |", "|---|---|---|---|"]  # fmt: skip
    lines += [f"| {t['goal']} | {t['measured']} | {MARK[t['met']]} | {t['note']} |"
              for t in doc["targets"]]  # fmt: skip
    for data in doc["sections"]:
        section = Section(data["key"], data["title"], data["what"], columns(data["key"]),
                          rows=data["rows"], notes=data["notes"])  # fmt: skip
        lines += ["", *(f"#{line}" if line.startswith("## ") else line
                        for line in section_markdown(section))]  # fmt: skip
        picture = HERE / folder / f"{data['key']}.png"
        if picture.exists():
            lines += ["", f"![{data['title']}]({folder}/{picture.name})"]
    lines += [f"\n- not measured: {reason}" for reason in doc.get("skipped", [])]
    return "\n".join(lines)


def update(results: Path, readme: Path = README) -> None:
    doc = json.loads((results / "report.json").read_text(), parse_constant=lambda _: None)
    folder = results.resolve().relative_to(HERE.resolve()).as_posix()
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    new = f"{START}\n{block(doc, folder)}\n{END}"
    readme.write_text(pattern.sub(lambda _: new, text, count=1))


def newest_full() -> Path | None:
    for folder in sorted((HERE / "results").glob("20*"), reverse=True):
        report = folder / "report.json"
        profile = json.loads(report.read_text()).get("profile") if report.exists() else None
        if profile and profile["name"] == "full":  # soak runs have no profile
            return folder
    return None


def main(argv: list[str]) -> int:
    results = Path(argv[0]) if argv else newest_full()
    if results is None:
        print("bench.readme: no full run found under bench/results", file=sys.stderr)
        return 1
    update(results)
    print(f"bench/README.md now shows {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
