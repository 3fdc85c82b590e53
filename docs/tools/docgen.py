"""What the documentation generators share: where the docs are, marked regions, --check.

A generator renders every file it owns to text; ``run`` then writes the files, or with
``--check`` only compares them and exits 1 naming the stale ones, so that a build (or the
test suite) notices documentation that no longer matches the code.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def replace_region(text: str, name: str, body: str) -> str:
    """``text`` with what lies between ``<!-- name:start -->`` and ``<!-- name:end -->``
    replaced by ``body``. Raises ``ValueError`` when the markers are missing."""
    pattern = re.compile(
        rf"(<!-- {re.escape(name)}:start -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S
    )
    if not pattern.search(text):
        raise ValueError(f"no <!-- {name}:start --> ... <!-- {name}:end --> region")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text, count=1)


def stale(outputs: dict[Path, str]) -> list[Path]:
    """The files whose content differs from what the generator renders now."""
    return [path for path, text in outputs.items() if _read(path) != text]


def run(render: Callable[[], dict[Path, str]], argv: Sequence[str] | None = None) -> int:
    """Write the rendered files, or with ``--check`` report the stale ones (exit status 1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    outputs = render()
    outdated = stale(outputs)
    if "--check" in args:
        for path in outdated:
            print(f"out of date: {_shown(path)}", file=sys.stderr)
        return 1 if outdated else 0
    for path in outdated:
        path.write_text(outputs[path], encoding="utf-8")
        print(f"wrote {_shown(path)}")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
