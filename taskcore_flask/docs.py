"""``/docs``: Swagger UI over the OpenAPI document, served from the installed bundle.

Every asset comes from the ``swagger_ui_bundle`` package through this app, so the page works
on machines without internet access.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template_string, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>taskcore API</title>
    <link rel="stylesheet" href="{{ url_for('docs.asset', filename='swagger-ui.css') }}">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{{ url_for('docs.asset', filename='swagger-ui-bundle.js') }}"></script>
    <script src="{{ url_for('docs.asset', filename='swagger-ui-standalone-preset.js') }}">
    </script>
    <script src="{{ url_for('docs.initializer') }}"></script>
  </body>
</html>
"""

_INITIALIZER = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
};
"""


def create_docs_blueprint(spec_endpoint: str = "api_v1.openapi") -> Blueprint:
    """The documentation page for the OpenAPI document served at ``spec_endpoint``."""
    bp = Blueprint("docs", __name__, url_prefix="/docs")
    assets = str(swagger_ui_path)

    @bp.get("")
    def page() -> str:
        return render_template_string(_PAGE)

    @bp.get("/swagger-initializer.js")
    def initializer() -> Response:
        script = _INITIALIZER % json.dumps(url_for(spec_endpoint))
        return Response(script, mimetype="text/javascript")

    @bp.get("/assets/<path:filename>")
    def asset(filename: str) -> Response:
        return send_from_directory(assets, filename, max_age=3600)

    return bp
