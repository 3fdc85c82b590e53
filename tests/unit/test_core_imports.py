"""The core stays framework-free, and its public API is exactly what ``__all__`` says."""

from __future__ import annotations

import ast
import inspect
import pkgutil
import sys
import tomllib
import types
from pathlib import Path

import pytest

import taskcore
from taskcore import errors, ports

CORE_DIR = Path(taskcore.__file__).parent
CORE_FILES = sorted(CORE_DIR.rglob("*.py"))


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``, however deeply nested."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_the_core_has_modules_to_check() -> None:
    found = {p.stem for p in CORE_FILES}
    assert {"status", "task", "errors", "ports", "service", "clock"} <= found


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_each_core_module_imports_only_the_standard_library_and_taskcore(path: Path) -> None:
    outside = {
        name
        for name in imported_top_levels(path)
        if name not in sys.stdlib_module_names and name != "taskcore"
    }
    assert outside == set(), f"{path.name} imports {sorted(outside)}"


def test_the_walk_sees_imports_nested_in_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import flask.json\n    from requests import get\n")
    assert imported_top_levels(sample) == {"flask", "requests"}


def test_every_core_module_imports_cleanly() -> None:
    for module in pkgutil.walk_packages(taskcore.__path__, "taskcore."):
        __import__(module.name)


@pytest.mark.parametrize("name", taskcore.__all__)
def test_every_name_in_all_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from taskcore import {name}", namespace)
    assert namespace[name] is getattr(taskcore, name)


def test_star_import_gives_exactly_the_names_in_all() -> None:
    namespace: dict[str, object] = {}
    exec("from taskcore import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(taskcore.__all__)


def test_all_lists_each_public_name_of_the_package_once() -> None:
    public = {
        name
        for name, value in vars(taskcore).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # the __future__ feature, not an API
    }
    assert len(taskcore.__all__) == len(set(taskcore.__all__))
    assert set(taskcore.__all__) == public | {"__version__"}


def test_every_error_class_is_exported() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, taskcore.TaskcoreError)
    }
    assert defined <= set(taskcore.__all__)


def test_every_port_is_exported() -> None:
    defined = {
        name
        for name, value in vars(ports).items()
        if inspect.isclass(value) and value.__module__ == ports.__name__
    }
    assert defined <= set(taskcore.__all__)


def test_the_version_is_the_one_the_project_declares() -> None:
    pyproject = tomllib.loads((CORE_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert taskcore.__version__ == pyproject["project"]["version"]
