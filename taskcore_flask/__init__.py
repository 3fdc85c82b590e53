"""The REST service: a Flask app factory over ``taskcore``'s service and its adapters."""

from __future__ import annotations

from taskcore_flask.app import close_app, create_app

__all__ = ["close_app", "create_app"]
