"""The REST API, one blueprint per version."""

from __future__ import annotations

from flask import Flask

from taskcore.service import TaskService
from taskcore_adapters.config import ApiSettings
from taskcore_flask.api import v1


def register_api(app: Flask, service: TaskService, settings: ApiSettings) -> None:
    """Mount every API version on ``app``."""
    app.register_blueprint(v1.create_blueprint(service, settings))
