"""Reading the deployment files and docs the way their tools do, closely enough to test them.

No container engine or init system runs here, so these helpers parse a Dockerfile, a
``.dockerignore``, compose interpolation, Markdown code blocks and ``taskcore`` command lines
with the rules those tools document.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click

from taskcore_flask.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [
    ROOT / "docs" / "architecture.md",
    ROOT / "docs" / "lifecycle.md",
    ROOT / "docs" / "configuration.md",
    ROOT / "docs" / "adapters.md",
    ROOT / "docs" / "operations.md",
    ROOT / "deploy" / "README.md",
]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array of ``CMD ["a", "b"]``, after any ``--flag=value`` options."""
        text = self.args
        while text.startswith("--"):
            text = text.split(None, 1)[1]
        if self.keyword == "HEALTHCHECK":
            text = text.removeprefix("CMD").strip()
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form"
        return [str(item) for item in value]


def dockerfile(path: Path) -> list[list[Instruction]]:
    """The instructions of each build stage, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    stages: list[list[Instruction]] = []
    for text in logical:
        keyword, _, args = text.partition(" ")
        instruction = Instruction(keyword.upper(), " ".join(args.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
        parts.append(
            {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(piece, re.escape(piece))
        )
    return re.compile("".join(parts) + r"\Z")


def dockerignored(relative: str, ignore_file: Path) -> bool:
    """Whether ``.dockerignore`` keeps ``relative`` out of the build context: the last
    pattern matching the path or one of its parent folders decides; ``!`` lets it in."""
    lines = [line.strip() for line in ignore_file.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _ignore_regex(pattern.removeprefix("!"))
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``$NAME`` and ``$$`` (a dollar sign)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return _VARIABLE.sub(replace, value)


def marked_block(path: Path, name: str) -> str:
    """The code inside ``<!-- name:start -->`` ... ``<!-- name:end -->`` of a Markdown file."""
    text = path.read_text()
    match = re.search(rf"<!-- {name}:start -->\n```\w*\n(.*?)```\n<!-- {name}:end -->", text, re.S)
    assert match, f"{path.name} has no {name} block"
    return match.group(1)


def shell_blocks(path: Path) -> list[str]:
    """Every ``bash``/``sh``/``console`` code block, continuation lines joined."""
    blocks = re.findall(r"```(?:bash|sh|console|shell)\n(.*?)```", path.read_text(), re.S)
    return [_COMMENT.sub("", block.replace("\\\n", " ")) for block in blocks]


_COMMENT = re.compile(r"(?:^|\s)#.*$", re.M)
_OPERATORS = "();<>|&\n"


def _segments(text: str) -> list[list[str]]:
    """Shell words grouped by simple command: split at operators and line ends outside quotes."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=_OPERATORS)
    lexer.whitespace, lexer.whitespace_split = " \t", True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(_OPERATORS):
            segments.append([])
        else:
            segments[-1].append(token)
    return segments


def taskcore_commands(text: str) -> list[list[str]]:
    """The arguments of every ``taskcore ...`` command in shell text: the word ``taskcore``
    (or a path ending in it) in command position, after any ``VAR=value`` or ``sudo -u``."""
    commands = []
    for words in _segments(text):
        while words and (re.fullmatch(r"\w+=.*", words[0]) or words[0] == "sudo"):
            words = words[3:] if words[:2] == ["sudo", "-u"] else words[1:]
        if words and Path(words[0]).name == "taskcore":
            commands.append(words[1:])
    return commands


def parse_command(args: list[str]) -> str:
    """Parse ``taskcore ARGS`` as the real command would, down to the leaf command, without
    running it; returns the command path. Raises ``click.UsageError`` when it would not parse."""
    command: click.Command = main
    context = click.Context(main, info_name="taskcore")
    rest = list(args)
    while isinstance(command, click.Group):
        assert rest and not rest[0].startswith("-"), f"no subcommand in taskcore {args}"
        sub = command.get_command(context, rest[0])
        if sub is None:
            raise click.UsageError(f"no such command: {' '.join(args)}")
        command, name, rest = sub, rest[0], rest[1:]
        context = click.Context(command, info_name=name, parent=context)
    command.parse_args(context, rest)
    return context.command_path
