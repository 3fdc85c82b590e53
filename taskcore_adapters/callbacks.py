"""The HTTP callback client: POST a task to its callback URL and report what happened.

``call`` never raises: every failure (timeout, refused connection, DNS, TLS, a denied
network, a non-2xx answer, even a bug) becomes a ``CallbackResult`` with a short reason, so
that the use case always has an outcome to record. One pooled ``requests.Session`` serves
every call; it ignores proxies, netrc and cookies, so nothing from the environment or from
one receiver leaks into another receiver's callbacks.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.exceptions as rexc
import urllib3.exceptions

from taskcore import __version__
from taskcore.ports import CallbackRequest
from taskcore.task import CallbackResult
from taskcore_adapters.config import CallbackSettings
from taskcore_adapters.network_guard import DeniedNetwork, GuardedAdapter, NetworkPolicy
from taskcore_adapters.signing import signature_headers, signing_key

log = logging.getLogger("taskcore.callbacks")

CHUNK_BYTES = 16384
QUOTE_MAX = 200  # longest piece of a server's text quoted in a reason
_BAD_URL = (rexc.InvalidURL, rexc.MissingSchema, rexc.InvalidSchema, rexc.URLRequired)
_CONNECTION_REASONS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((urllib3.exceptions.NameResolutionError, socket.gaierror), "DNS lookup failed for {host}"),
    ((ConnectionRefusedError,), "connection refused"),
    ((http.client.RemoteDisconnected,), "connection closed by the target without an answer"),
    ((ConnectionResetError, BrokenPipeError), "connection reset by the target"),
    (
        (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead),
        "connection closed before the whole answer arrived",
    ),
    ((urllib3.exceptions.DecodeError,), "the answer's content encoding is invalid"),
)


class _Failure(Exception):
    """A failure whose reason is already worded for the outcome."""


class HttpCallbackClient:
    """The ``CallbackClient`` port over HTTP, with signing, a network guard and a deadline.

    The whole call (connect, wait, body) is bounded by ``timeout_s``: the body is read in
    chunks, each allowed only the time that remains, so a slow drip cannot stretch it.
    Raises ``ValueError`` at construction for a malformed ``whsec_`` secret or network.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        max_response_bytes: int = 65536,
        signing_secrets: Sequence[str] = (),
        policy: NetworkPolicy | None = None,
        pool_size: int = 32,
    ) -> None:
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.max_response_bytes = max_response_bytes
        self.policy = policy if policy is not None else NetworkPolicy()
        self._keys = [signing_key(secret) for secret in signing_secrets]
        self._session = _new_session(self.policy, pool_size)

    @classmethod
    def from_settings(cls, settings: CallbackSettings) -> HttpCallbackClient:
        """A client configured by the ``[callbacks]`` section."""
        return cls(
            timeout_s=settings.timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_response_bytes=settings.max_response_bytes,
            signing_secrets=settings.signing_secrets,
            policy=NetworkPolicy(settings.deny_networks, settings.allow_networks),
            pool_size=settings.pool_size,
        )

    def call(self, request: CallbackRequest) -> CallbackResult:
        """POST the task to its callback URL; never raises."""
        started = time.monotonic()
        status: int | None = None
        body, error, unexpected = "", None, None
        try:
            status, body, error = self._exchange(request, started + self.timeout_s)
        except Exception as exc:  # the port's promise: every failure is an outcome
            error = self._reason(exc, request.url)
            unexpected = exc if error.startswith("internal error") else None
        elapsed = round((time.monotonic() - started) * 1000)
        result = CallbackResult(status, body, elapsed, error, request.attempt)
        if error is not None:
            _log_failure(request, result, unexpected)
        return result

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def _exchange(self, request: CallbackRequest, deadline: float) -> tuple[int, str, str | None]:
        body = _encode(request)
        response = self._session.send(
            self._prepared(request, body),
            timeout=(self.connect_timeout_s, self.timeout_s),
            allow_redirects=False,
            stream=True,
        )
        with contextlib.closing(response):  # closing early discards what was not read
            text, error = self._read_body(response, deadline, request.url)
        return response.status_code, text, error or _status_error(response)

    def _prepared(self, request: CallbackRequest, body: bytes) -> requests.PreparedRequest:
        """The POST, prepared by parts: ``Session.post`` would also copy the session's
        cookie jar and merge its auth and environment settings, all empty here, at a
        third of the call's CPU time."""
        prepared = requests.PreparedRequest()
        prepared.prepare_method("POST")
        prepared.prepare_url(request.url, None)
        prepared.prepare_headers({**self._session.headers, **self._headers(request, body)})
        prepared.prepare_cookies(self._session.cookies)  # its policy accepts none
        prepared.prepare_body(body, None)
        return prepared

    def _headers(self, request: CallbackRequest, body: bytes) -> dict[str, str]:
        key = f"{request.task_id}:{request.attempt}"
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Task-Token": request.token,
        }
        if self._keys:
            headers.update(signature_headers(self._keys, key, body))
        return headers

    def _read_body(
        self, response: requests.Response, deadline: float, url: str
    ) -> tuple[str, str | None]:
        chunks: list[bytes] = []
        left, error = self.max_response_bytes, None
        try:
            self._bound_socket(response.raw, deadline)
            while left > 0:
                chunk = response.raw.read1(min(CHUNK_BYTES, left), decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
                self._bound_socket(response.raw, deadline)
        except Exception as exc:
            error = self._reason(exc, url)
        return b"".join(chunks).decode("utf-8", errors="replace"), error

    def _bound_socket(self, raw: Any, deadline: float) -> None:
        """Give the next read only the time left; fail once the deadline has passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(self._timed_out())
        sock = _response_socket(raw)
        if sock is not None:
            sock.settimeout(remaining)

    def _reason(self, exc: BaseException, url: str) -> str:
        if isinstance(exc, (DeniedNetwork, _Failure)):
            return str(exc)
        if isinstance(exc, rexc.ConnectTimeout):
            return f"connect timed out after {self.connect_timeout_s:g}s"
        if isinstance(exc, (rexc.Timeout, urllib3.exceptions.TimeoutError)):
            return self._timed_out()
        if isinstance(exc, rexc.SSLError):
            return f"TLS error: {_tls_reason(exc)}"
        if isinstance(exc, rexc.TooManyRedirects):
            return "too many redirects"
        if isinstance(exc, (*_BAD_URL, urllib3.exceptions.LocationParseError)):
            return "invalid callback URL"
        if isinstance(exc, rexc.RequestException) and not isinstance(exc, rexc.ConnectionError):
            return f"request failed ({type(exc).__name__})"
        if isinstance(exc, (rexc.ConnectionError, urllib3.exceptions.HTTPError, OSError)):
            return _connection_reason(exc, urlsplit(url).hostname or "?")
        return f"internal error ({type(exc).__name__})"

    def _timed_out(self) -> str:
        return f"timed out after {self.timeout_s:g}s"


def _new_session(policy: NetworkPolicy, pool_size: int) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy, netrc or CA settings picked up from the environment
    session.headers["User-Agent"] = f"taskcore/{__version__}"
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = GuardedAdapter(
        policy, pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _encode(request: CallbackRequest) -> bytes:
    document = {
        "taskId": str(request.task_id),
        "name": request.name,
        "payload": request.payload,
        "attempt": request.attempt,
    }
    try:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise _Failure("payload cannot be encoded as JSON") from None
    return text.encode("utf-8")


def _status_error(response: requests.Response) -> str | None:
    code = response.status_code
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        location = response.headers.get("Location")
        target = f" to {location[:QUOTE_MAX]}" if location else ""
        return f"redirect not followed ({code}{target})"
    return f"HTTP {code}"


def _response_socket(raw: Any) -> socket.socket | None:
    """The socket a streamed response reads from, if it can be reached."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:  # the server closes after this answer: the response owns the socket
        reader = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: reasons, causes, contexts and arguments."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (getattr(current, "reason", None), current.__cause__, current.__context__)
        stack.extend(x for x in (*linked, *current.args) if isinstance(x, BaseException))


def _connection_reason(exc: BaseException, host: str) -> str:
    causes = list(_causes(exc))
    for types, reason in _CONNECTION_REASONS:
        if any(isinstance(cause, types) for cause in causes):
            return reason.format(host=host)
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return f"connection failed: {cause.strerror.lower()}"
    return "connection failed"


def _tls_reason(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return str(cause.reason or cause).lower().replace("_", " ")[:QUOTE_MAX]
    return "handshake failed"


def _log_failure(
    request: CallbackRequest, result: CallbackResult, unexpected: BaseException | None
) -> None:
    """One line per failed callback; the completion token is never logged."""
    log.warning(
        "callback to %s failed: %s",
        _safe_target(request.url),
        result.error,
        extra={
            "task_id": str(request.task_id),
            "attempt": request.attempt,
            "status_code": result.status_code,
            "duration_ms": result.duration_ms,
        },
        exc_info=unexpected,
    )


def _safe_target(url: str) -> str:
    """The URL without credentials or query string, which may carry secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparseable URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"
