"""Fixtures for the REST API tests: apps over memory adapters and the real callback client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dependency_injector import providers
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from taskcore.service import TaskService
from taskcore_adapters import Settings, build_container
from taskcore_flask import close_app, create_app
from tests.support.backends import Backend

MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(backend: Backend) -> Iterator[MakeApp]:
    """Build apps on demand (``settings``, adapter overrides); all are closed afterwards."""
    apps: list[Flask] = []

    def make(settings: Settings | None = None, **overrides: Any) -> Flask:
        # Adapter doubles are memory fakes: tests that inject one run on the memory backend.
        chosen = (settings or Settings()) if overrides else backend.settings(settings)
        container = build_container(settings=chosen)
        for name, adapter in overrides.items():
            getattr(container, name).override(providers.Object(adapter))
        app = create_app(container)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def service(app: Flask) -> TaskService:
    service: TaskService = app.extensions["taskcore"].service()
    return service


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """``app`` behind a real threaded HTTP server on 127.0.0.1, for HTTP clients."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(10)
