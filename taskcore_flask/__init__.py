"""The REST service: a Flask app factory over ``taskcore``'s service and its adapters.

The factory is imported on first use, so that the ``taskcore`` command starts fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["close_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from taskcore_flask import app

        return getattr(app, name)
    raise AttributeError(name)
