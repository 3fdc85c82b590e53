"""Fixtures of the hardening tests: a network fence, and apps over chosen settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from dependency_injector import providers
from flask import Flask

from taskcore_adapters import Settings, build_container
from taskcore_flask import close_app, create_app
from tests.hardening.fence import NetworkFence

MakeApp = Callable[..., Flask]


@pytest.fixture(autouse=True)
def fence(monkeypatch: pytest.MonkeyPatch) -> NetworkFence:
    """Every hardening test runs behind the fence; tests may inspect its attempts."""
    return NetworkFence().install(monkeypatch)


def settings_with(**sections: dict[str, Any]) -> Settings:
    """Default settings with some keys of some sections replaced."""
    base = Settings()
    changes = {name: replace(getattr(base, name), **values) for name, values in sections.items()}
    return replace(base, **changes)


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Build apps on demand (settings, adapter overrides); all are closed afterwards."""
    apps: list[Flask] = []

    def make(settings: Settings | None = None, **overrides: Any) -> Flask:
        container = build_container(settings=settings or Settings())
        for name, adapter in overrides.items():
            getattr(container, name).override(providers.Object(adapter))
        app = create_app(container)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)
