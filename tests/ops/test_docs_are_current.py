"""The generated docs equal what their generators make from the code now, so they cannot
drift: the life cycle from ``TRANSITIONS``, the configuration reference from the schema."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

from taskcore.status import TRANSITIONS, TaskStatus
from taskcore_adapters.config import ConfigError, load_settings
from tests.ops.files import ROOT

TOOLS = ROOT / "docs" / "tools"


def _load(name: str) -> ModuleType:
    """A generator module, imported from its file as its siblings import it (by bare name)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


docgen, gen_config, gen_lifecycle = (_load(n) for n in ("docgen", "gen_config", "gen_lifecycle"))


def test_the_lifecycle_docs_match_the_transition_table() -> None:
    outputs = gen_lifecycle.render()
    assert set(outputs) == {ROOT / "docs" / "lifecycle.md", ROOT / "docs" / "lifecycle.svg"}
    for path, text in outputs.items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python docs/tools/gen_lifecycle.py"
        )


def test_the_configuration_reference_matches_the_schema() -> None:
    for path, text in gen_config.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is stale: run python docs/tools/gen_config.py"
        )


@pytest.mark.parametrize("tool", ["gen_lifecycle.py", "gen_config.py"])
def test_each_generator_checks_the_committed_files_from_the_command_line(tool: str) -> None:
    done = subprocess.run(
        [sys.executable, str(TOOLS / tool), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_check_mode_names_a_stale_file_and_writing_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "page.md"
    target.write_text("old\n")
    assert docgen.run(lambda: {target: "new\n"}, ["--check"]) == 1
    assert "out of date" in capsys.readouterr().err and target.read_text() == "old\n"
    assert docgen.run(lambda: {target: "new\n"}, []) == 0
    assert docgen.run(lambda: {target: "new\n"}, ["--check"]) == 0


def test_the_picture_has_a_box_per_status_and_an_arrow_per_move() -> None:
    svg = ET.fromstring((ROOT / "docs" / "lifecycle.svg").read_text(encoding="utf-8"))
    ns = "{http://www.w3.org/2000/svg}"
    names = {text.text for text in svg.iter(f"{ns}text") if text.get("class") == "name"}
    arrows = [path for path in svg.iter(f"{ns}path") if path.get("class") == "arrow"]
    moves = sum(len(targets) for targets in TRANSITIONS.values())
    assert names == {status.value for status in TaskStatus}
    assert len(arrows) == moves + 1  # and the arrow from the start into Queued


def test_the_mermaid_diagram_lists_every_move() -> None:
    diagram = gen_lifecycle.mermaid()
    for current, targets in TRANSITIONS.items():
        for target in targets:
            assert f"    {current} --> {target}: " in diagram


def test_a_move_with_no_description_stops_the_lifecycle_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    changed = dict(TRANSITIONS)
    changed[TaskStatus.CANCELLED] = frozenset({TaskStatus.QUEUED})
    monkeypatch.setattr(gen_lifecycle, "TRANSITIONS", changed)
    with pytest.raises(SystemExit, match="Cancelled -> Queued"):
        gen_lifecycle.render()


def test_a_key_with_no_meaning_stops_the_configuration_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meanings = {key: text for key, text in gen_config.MEANINGS.items() if key != "queue.group"}
    monkeypatch.setattr(gen_config, "MEANINGS", meanings)
    with pytest.raises(SystemExit, match=r"queue\.group"):
        gen_config.render()


def test_every_documented_environment_variable_sets_its_key() -> None:
    environ = {}
    for section, schema, defaults in gen_config.sections():
        for key in schema.fields:
            value = getattr(defaults, key)
            text = ",".join(value) if isinstance(value, list) else str(value)
            environ[gen_config.env_name(section, key)] = text
    environ["TASKCORE_SERVER__PORT"] = "9123"
    assert load_settings(environ=environ).server.port == 9123  # an unknown name would raise


@pytest.mark.parametrize(
    ("key", "environ"), [pytest.param(key, env, id=key) for key, _, env in gen_config.RULES]
)
def test_every_documented_rule_between_keys_is_enforced(key: str, environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(environ=environ)
