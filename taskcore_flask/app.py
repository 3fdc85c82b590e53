"""The application factory: one Flask app over one container's ``TaskService``.

The container is built from the config file when none is given. The service is resolved
once, here; views, probes and metrics hold it, so requests never look anything up in the
container. The app does not close the container itself: whoever runs it calls
``close_app`` (or ``taskcore_adapters.shutdown``) when it stops.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from taskcore.service import TaskService
from taskcore_adapters.config import Settings
from taskcore_adapters.container import Container, build_container, shutdown
from taskcore_flask.api import register_api
from taskcore_flask.docs import create_docs_blueprint
from taskcore_flask.errors import register_error_handlers
from taskcore_flask.health import create_health_blueprint
from taskcore_flask.logs import install_request_ids
from taskcore_flask.metrics import install_metrics

EXTENSION = "taskcore"


class _JsonProvider(DefaultJSONProvider):
    """Keeps the key order of the client's payloads instead of sorting them."""

    sort_keys = False


def create_app(
    container: Container | None = None, *, config_path: str | Path | None = None
) -> Flask:
    """Build the REST service over ``container``, or over one built from ``config_path``.

    Raises ``ConfigError`` when the configuration is invalid, and what the adapters raise
    when they cannot be built.
    """
    container = container if container is not None else build_container(config_path)
    settings: Settings = container.settings()
    service: TaskService = container.service()
    app = Flask(__name__)
    app.json = _JsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.api.max_body_bytes
    app.extensions[EXTENSION] = container
    register_error_handlers(app)
    install_request_ids(app)
    app.extensions["taskcore.metrics"] = install_metrics(app, service)
    app.register_blueprint(create_health_blueprint(service))
    register_api(app, service, settings.api)
    app.register_blueprint(create_docs_blueprint())
    return app


def close_app(app: Flask) -> None:
    """Close every adapter of the app's container (waits for background executions)."""
    shutdown(app.extensions[EXTENSION])
