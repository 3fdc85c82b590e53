"""Small assertions shared by the hardening tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from werkzeug.test import TestResponse


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert ``response`` is a problem+json document with ``status``; return its body."""
    assert response.status_code == status, response.get_data()[:300]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data())
    assert body["status"] == status and body["title"] and body["type"]
    return body


def eventually(condition: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
