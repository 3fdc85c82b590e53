"""Reading a request's JSON body strictly, so that bad input is a 4xx and never a 500.

Flask's ``get_json`` is lenient where we are not: the body must be UTF-8, must not use
``NaN``/``Infinity``, must not nest deeper than the configured depth and must not carry
lone surrogates (they cannot be stored or re-encoded).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from taskcore.errors import InvalidInput

_LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def json_body(max_depth: int) -> Any:
    """The request's JSON document.

    Raises ``UnsupportedMediaType`` (415) when the content type is missing or not JSON,
    ``RequestEntityTooLarge`` (413) past ``MAX_CONTENT_LENGTH`` and ``InvalidInput`` (400)
    when the body is not acceptable JSON.
    """
    if not request.is_json:
        raise UnsupportedMediaType("The request body must be sent as application/json.")
    limit = request.max_content_length
    too_large = RequestEntityTooLarge(f"The request body must be at most {limit} bytes.")
    if limit is not None and (request.content_length or 0) > limit:
        raise too_large
    raw = request.get_data(cache=False)
    # Werkzeug cuts a chunked body at the limit: refuse it rather than parse a prefix.
    cut = limit is not None and request.content_length is None and len(raw) >= limit
    if cut and request.environ["wsgi.input"].read(1):
        raise too_large
    return parse_json(raw, max_depth)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Decode ``raw`` as strict JSON. Raises ``InvalidInput`` naming the ``body``."""
    try:
        text = raw.decode("utf-8")
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise _invalid(f"Must not nest deeper than {max_depth} levels.") from None
    except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
        raise _invalid(f"Is not valid JSON: {exc}") from None
    _check_document(document, max_depth, bool(_LONE_SURROGATE_ESCAPE.search(text)))
    return document


def _check_document(document: Any, max_depth: int, check_text: bool) -> None:
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= max_depth:
                raise _invalid(f"Must not nest deeper than {max_depth} levels.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if check_text and isinstance(key, str):
                    _check_text(key)
                stack.append((item, depth + 1))
        elif check_text and isinstance(value, str):
            _check_text(value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid("Must not contain unpaired UTF-16 surrogates.") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _invalid(message: str) -> InvalidInput:
    return InvalidInput({"body": [message]})
