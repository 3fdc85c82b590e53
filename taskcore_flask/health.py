"""Health probes: ``/health/live`` says the process answers, ``/health/ready`` that the
store and the queue do too (a load balancer stops routing to an instance that is not ready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify

from taskcore.service import TaskService

log = logging.getLogger("taskcore.health")


def create_health_blueprint(service: TaskService) -> Blueprint:
    """The probes for the store and queue of ``service``."""
    bp = Blueprint("health", __name__, url_prefix="/health")
    probes: dict[str, Callable[[], None]] = {
        "store": service.store.ping,
        "queue": service.queue.ping,
    }

    @bp.get("/live")
    def live() -> Response:
        return jsonify(status="ok")

    @bp.get("/ready")
    def ready() -> Response:
        checks = {name: _check(name, probe) for name, probe in probes.items()}
        healthy = all(result == "ok" for result in checks.values())
        response = jsonify(status="ok" if healthy else "unavailable", checks=checks)
        response.status_code = 200 if healthy else 503
        return response

    return bp


def _check(name: str, probe: Callable[[], None]) -> str:
    try:
        probe()
    except Exception as exc:  # a probe reports any failure; it must never answer 500
        log.warning("readiness check failed: %s: %s", name, exc)
        return "unavailable"
    return "ok"
