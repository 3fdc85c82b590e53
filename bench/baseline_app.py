"""The ceiling for any Flask service here: a bare app with nothing but JSON in and out.

Served by gunicorn with the settings ``taskcore serve`` uses on the memory store, so that
the API's figures can be read as a fraction of what Flask itself allows on this machine.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, jsonify, request

app = Flask(__name__)
_THING = {"id": str(uuid.uuid4()), "name": "baseline", "status": "Queued", "priority": 5}


@app.get("/small")
def small() -> Any:
    """A small JSON document, like a task."""
    return jsonify(_THING)


@app.post("/echo")
def echo() -> Any:
    """Parse a JSON body, answer 201 with a small document naming what was sent."""
    data = request.get_json()
    return jsonify({"id": str(uuid.uuid4()), "name": data.get("name"), "status": "Queued"}), 201


@app.get("/health/live")
def live() -> Any:
    return jsonify({"status": "ok"})
