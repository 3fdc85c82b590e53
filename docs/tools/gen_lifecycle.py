"""Draw the task life cycle from ``taskcore.status.TRANSITIONS``, the one table of moves.

Writes a Mermaid state diagram and the table of moves into ``docs/lifecycle.md`` (between
its ``lifecycle-diagram`` and ``lifecycle-moves`` markers) and the same graph as
``docs/lifecycle.svg``, drawn here without any plotting library so that the output is
byte-for-byte reproducible. Run ``python docs/tools/gen_lifecycle.py`` after changing the
table; ``--check`` exits 1 when the committed files are stale.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from pathlib import Path
from xml.sax.saxutils import escape

from docgen import DOCS, replace_region, run

from taskcore.status import TRANSITIONS, TaskStatus
from taskcore.task import Task

MARKDOWN = DOCS / "lifecycle.md"
SVG = DOCS / "lifecycle.svg"
S = TaskStatus

# What makes each move happen: (short label for the pictures, the full story for the table).
# Every pair of TRANSITIONS needs an entry, and no other pair may have one.
MOVES: dict[tuple[TaskStatus, TaskStatus], tuple[str, str]] = {
    (S.QUEUED, S.PENDING): (
        "dequeue",
        "`POST /api/v1/tasks/{id}/dequeue` or `POST /api/v1/tasks/dequeue` (next in queue "
        "order); a worker taking the task makes this move and the next in one stored step",
    ),
    (S.QUEUED, S.CANCELLED): ("cancel", "`DELETE /api/v1/tasks/{id}`; the queue forgets it"),
    (S.PENDING, S.PROCESSING): (
        "execute",
        "`POST /api/v1/tasks/{id}/execute` (or a worker): the callback is being called",
    ),
    (S.PENDING, S.CANCELLED): ("cancel", "`DELETE /api/v1/tasks/{id}`"),
    (S.PROCESSING, S.COMPLETED): (
        "2xx, or success\nreported",
        "the callback answered 2xx (not 202), or the receiver of a 202 reported "
        "`success: true` on `POST /api/v1/tasks/{id}/complete`; the task moves to the archive",
    ),
    (S.PROCESSING, S.FAILED): (
        "error, non-2xx,\ntimeout, deadline",
        "the callback failed (refused, timeout, DNS, TLS, non-2xx), the receiver reported "
        "`success: false`, or the reaper found its deadline passed",
    ),
    (S.FAILED, S.PROCESSING): ("execute (retry)", "`POST /api/v1/tasks/{id}/execute` again"),
}
FILLS = {
    S.QUEUED: "#e8f0fe",
    S.PENDING: "#e8f0fe",
    S.PROCESSING: "#fef7e0",
    S.COMPLETED: "#e6f4ea",
    S.FAILED: "#fce8e6",
    S.CANCELLED: "#f1f3f4",
}
BOX_W, BOX_H = 120.0, 40.0
COLUMN, ROW = 260.0, 170.0
MARGIN, START_GAP = 24.0, 110.0
CURVE = 28.0  # how far a move bends away from its opposite move
CHAR_W, LINE_H = 6.6, 14.0  # the label font's average advance and line height
Point = tuple[float, float]


def initial_status() -> TaskStatus:
    """The status ``Task`` starts in."""
    field = next(f for f in dataclasses.fields(Task) if f.name == "status")
    return TaskStatus(field.default)


def moves() -> list[tuple[TaskStatus, TaskStatus]]:
    """Every allowed move, in the order of the enum. Raises ``SystemExit`` when ``MOVES``
    does not describe exactly the moves of the table."""
    pairs = [(a, b) for a in TaskStatus for b in TaskStatus if b in TRANSITIONS[a]]
    missing = [f"{a} -> {b}" for a, b in pairs if (a, b) not in MOVES]
    extra = [f"{a} -> {b}" for a, b in MOVES if (a, b) not in pairs]
    if missing or extra:
        raise SystemExit(f"describe these moves in MOVES: {missing}; remove these: {extra}")
    return pairs


def mermaid() -> str:
    """A Mermaid ``stateDiagram-v2`` of the table."""
    lines = ["```mermaid", "stateDiagram-v2", f"    [*] --> {initial_status()}: create"]
    lines += [f"    {a} --> {b}: {_one_line(MOVES[(a, b)][0])}" for a, b in moves()]
    lines += [f"    {s} --> [*]" for s in TaskStatus if not TRANSITIONS[s]]
    return "\n".join([*lines, "```"]) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def moves_table() -> str:
    """The moves as a Markdown table, with what triggers each one."""
    rows = ["| from | to | triggered by |", "|---|---|---|"]
    rows += [f"| {a} | {b} | {MOVES[(a, b)][1]} |" for a, b in moves()]
    ends = " and ".join(str(s) for s in TaskStatus if not TRANSITIONS[s])
    return "\n".join(rows) + f"\n\n{ends} are final: no move leaves them.\n"


def layout() -> dict[TaskStatus, Point]:
    """Box centres: a column per distance from the initial status, rows in enum order."""
    depth = {initial_status(): 0}
    todo = deque([initial_status()])
    while todo:
        current = todo.popleft()
        for target in TaskStatus:
            if target in TRANSITIONS[current] and target not in depth:
                depth[target] = depth[current] + 1
                todo.append(target)
    rows: dict[int, int] = {}
    centres: dict[TaskStatus, Point] = {}
    for status in TaskStatus:
        column = depth.get(status, max(depth.values()) + 1)
        row = rows[column] = rows.get(column, -1) + 1
        x = MARGIN + START_GAP + column * COLUMN + BOX_W / 2
        centres[status] = (x, MARGIN + 20 + row * ROW + BOX_H / 2)
    return centres


def _border(centre: Point, toward: Point, gap: float = 3.0) -> Point:
    """Where the line from a box's centre toward ``toward`` leaves the box."""
    dx, dy = toward[0] - centre[0], toward[1] - centre[1]
    scale = min(
        (BOX_W / 2 + gap) / abs(dx) if dx else math.inf,
        (BOX_H / 2 + gap) / abs(dy) if dy else math.inf,
    )
    return centre[0] + dx * scale, centre[1] + dy * scale


def _normal(a: Point, b: Point) -> Point:
    """The unit vector left of the direction a -> b (up for a move to the right)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy)
    return dy / length, -dx / length


def _xy(point: Point) -> str:
    return f"{point[0]:.1f},{point[1]:.1f}"


def _label(at: Point, normal: Point, text: str) -> str:
    """Multi-line text centred beside ``at``, pushed along ``normal`` clear of the line."""
    lines = text.split("\n")
    width, height = CHAR_W * max(len(line) for line in lines), LINE_H * len(lines)
    push = width / 2 * abs(normal[0]) + height / 2 * abs(normal[1]) + 4
    x, y = at[0] + normal[0] * push, at[1] + normal[1] * push - height / 2 + LINE_H - 3
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if i == 0 else LINE_H}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="move" x="{x:.1f}" y="{y:.1f}">{spans}</text>'


def _edge(a: Point, b: Point, text: str, bent: bool) -> list[str]:
    """One arrow (bent when the opposite move exists) and its label beside it."""
    nx, ny = _normal(a, b)
    middle = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    control = (middle[0] + nx * CURVE, middle[1] + ny * CURVE) if bent else middle
    start, end = _border(a, control), _border(b, control)
    if bent:
        path = f"M{_xy(start)} Q{_xy(control)} {_xy(end)}"
        mid = ((start[0] + 2 * control[0] + end[0]) / 4, (start[1] + 2 * control[1] + end[1]) / 4)
    else:
        path, mid = f"M{_xy(start)} L{_xy(end)}", middle
    arrow = f'<path class="arrow" d="{path}" marker-end="url(#head)"/>'
    return [arrow, _label(mid, (nx, ny), text)]


def _start(first: Point) -> list[str]:
    """The dot every task starts from, and its ``create`` arrow to the first status."""
    dot = (MARGIN + 8, first[1])
    tail, head = (dot[0] + 11, dot[1]), _border(first, dot)
    middle = ((tail[0] + head[0]) / 2, tail[1])
    return [
        f'<circle class="start" cx="{dot[0]:.1f}" cy="{dot[1]:.1f}" r="8"/>',
        f'<path class="arrow" d="M{_xy(tail)} L{_xy(head)}" marker-end="url(#head)"/>',
        _label(middle, _normal(tail, head), "create"),
    ]


def _box(status: TaskStatus, centre: Point) -> list[str]:
    x, y = centre[0] - BOX_W / 2, centre[1] - BOX_H / 2
    fill = FILLS.get(status, "#ffffff")
    final = " final" if not TRANSITIONS[status] else ""
    return [
        f'<rect class="state{final}" x="{x:.1f}" y="{y:.1f}" width="{BOX_W:.0f}" '
        f'height="{BOX_H:.0f}" rx="8" fill="{fill}"/>',
        f'<text class="name" x="{centre[0]:.1f}" y="{centre[1] + 5:.1f}">{status}</text>',
    ]


STYLE = """<style>
.state { stroke: #3c4043; stroke-width: 1.5; }
.final { stroke-width: 3; }
.name { font: 600 14px sans-serif; text-anchor: middle; fill: #202124; }
.move { font: 12px sans-serif; text-anchor: middle; fill: #3c4043;
        paint-order: stroke; stroke: #ffffff; stroke-width: 4px; stroke-linejoin: round; }
.arrow { fill: none; stroke: #5f6368; stroke-width: 1.5; }
.start { fill: #202124; }
</style>"""
MARKER = (
    '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
    'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/>'
    "</marker></defs>"
)


def svg() -> str:
    """The state diagram as a standalone SVG picture."""
    centres = layout()
    body = _start(centres[initial_status()])
    for a, b in moves():
        body += _edge(centres[a], centres[b], MOVES[(a, b)][0], bent=a in TRANSITIONS[b])
    for status, centre in centres.items():
        body += _box(status, centre)
    width = max(x for x, _ in centres.values()) + BOX_W / 2 + MARGIN
    height = max(y for _, y in centres.values()) + BOX_H / 2 + MARGIN
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        'aria-label="taskcore task life cycle">'
    )
    title = "<title>taskcore task life cycle (generated from taskcore.status.TRANSITIONS)</title>"
    background = f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>'
    return "\n".join([head, title, STYLE, MARKER, background, *body, "</svg>"]) + "\n"


def render() -> dict[Path, str]:
    """Every file this generator owns, as it should be now."""
    text = MARKDOWN.read_text(encoding="utf-8")
    text = replace_region(text, "lifecycle-diagram", mermaid())
    text = replace_region(text, "lifecycle-moves", moves_table())
    return {MARKDOWN: text, SVG: svg()}


if __name__ == "__main__":
    raise SystemExit(run(render))
