"""Standard Webhooks signatures for callbacks, and the check a receiver runs.

Each callback carries ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``; the
signature is ``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, one per configured
secret, separated by spaces, so that secrets can be rotated without downtime: receivers
accept a message when any signature matches. A secret written ``whsec_<base64>`` uses the
decoded bytes as the key (as the Standard Webhooks libraries do); any other string uses its
UTF-8 bytes.

Receiver side, e.g. in a Flask view::

    from taskcore_adapters.signing import verify

    if not verify(SECRET, request.headers, request.get_data()):
        abort(401)

The same check works without taskcore: recompute the HMAC over ``id.timestamp.body`` with
the key and compare it, in constant time, with each ``v1,`` entry of the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

# The format prefix of Standard Webhooks secrets, not a secret itself.
SECRET_PREFIX = "whsec_"  # nosec B105
VERSION = "v1"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret. Raises ``ValueError`` for a malformed ``whsec_`` secret."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a whsec_ signing secret must be followed by base64") from None


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_headers(
    keys: Iterable[bytes], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every key (for rotation)."""
    ts = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(signature(key, msg_id, ts, body) for key in keys)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signatures}


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether a received callback was signed with ``secret`` within ``tolerance_s``.

    ``headers`` may use any letter case. A timestamp too far in the past or the future is
    refused, which stops replays of old captured messages. Never raises for bad input.
    """
    found = {name.lower(): value for name, value in headers.items()}
    msg_id = found.get("webhook-id")
    ts_text = found.get("webhook-timestamp", "")
    if not msg_id or not (ts_text.isascii() and ts_text.isdigit()):
        return False
    timestamp = int(ts_text)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    try:
        key = signing_key(secret)
    except ValueError:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = signature(key, msg_id, timestamp, raw).encode("ascii")
    offered = found.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, item.encode("utf-8")) for item in offered)
