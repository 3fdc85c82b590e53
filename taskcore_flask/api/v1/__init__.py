"""Version 1 of the REST API: the task endpoints and their OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from taskcore.service import TaskService
from taskcore_adapters.config import ApiSettings
from taskcore_flask.api.v1.openapi import build_spec
from taskcore_flask.api.v1.views import create_tasks_blueprint


def create_blueprint(service: TaskService, settings: ApiSettings) -> Blueprint:
    """The ``/api/v1`` blueprint bound to ``service``; the OpenAPI document is built once."""
    bp = create_tasks_blueprint(service, settings.max_json_depth)
    document = build_spec()

    def openapi() -> Response:
        return jsonify(document)

    bp.add_url_rule("/openapi.json", "openapi", openapi)
    return bp
