"""A small HTTP client of the v1 REST API, for the ``taskcore tasks`` commands and scripts.

It speaks JSON over one ``requests.Session`` and turns every refusal into ``ApiError``
carrying the server's problem+json ``detail`` on one line, and every missing answer into
``ServerUnreachable``, so that a command line prints one sentence instead of a traceback.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "TASKCORE_URL"
DEFAULT_TIMEOUT_S = 60.0
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class ApiError(Exception):
    """The server answered with an error; ``detail`` is its problem+json detail, one line."""

    def __init__(self, status: int, detail: str, problem: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problem = problem or {}


class ServerUnreachable(Exception):
    """No HTTP answer came back: the server is down, the name does not resolve, or it is slow."""


class TaskcoreClient:
    """The task endpoints of one server; every method raises ``ApiError`` or
    ``ServerUnreachable`` instead of returning an error."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = session or requests.Session()
        self._session.trust_env = False  # the server named is the one reached: no proxies

    def create(
        self,
        name: str,
        callback_url: str,
        *,
        payload: Any = None,
        priority: int | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create a task; the server fills in what is left out (payload ``{}``, priority 0)."""
        return self._json(
            "POST", "/tasks", json=_task_body(name, callback_url, payload, priority, description)
        )

    def create_many(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create 1 to 100 tasks in one request, all or none; returns them in order.

        Each item takes the keyword arguments of ``create`` (``name``, ``callback_url``,
        ``payload``, ``priority``, ``description``).
        """
        body = {"tasks": [_task_body(**task) for task in tasks]}
        created: list[dict[str, Any]] = self._json("POST", "/tasks/batch", json=body)["tasks"]
        return created

    def get(self, task_id: str) -> dict[str, Any]:
        """One task, archived ones included."""
        return self._json("GET", f"/tasks/{_segment(task_id)}")

    def list(self, status: str | None = None, page: int = 1, size: int = 20) -> dict[str, Any]:
        """One page ``{tasks, totalCount, page, pageSize}``, newest first."""
        params: dict[str, Any] = {"page": page, "size": size}
        if status is not None:
            params["status"] = status
        return self._json("GET", "/tasks", params=params)

    def cancel(self, task_id: str) -> None:
        """Cancel a Queued or Pending task (a Cancelled one stays so)."""
        self._request("DELETE", f"/tasks/{_segment(task_id)}")

    def execute(self, task_id: str, *, asynchronous: bool = False) -> dict[str, Any]:
        """Call the task's callback and return the outcome, or return at once (Processing)."""
        params = {"mode": "async"} if asynchronous else None
        return self._json("POST", f"/tasks/{_segment(task_id)}/execute", params=params)

    def dequeue(self, task_id: str | None = None) -> dict[str, Any] | None:
        """Take this task, or the next one in queue order; None when nothing is Queued."""
        path = "/tasks/dequeue" if task_id is None else f"/tasks/{_segment(task_id)}/dequeue"
        response = self._request("POST", path)
        return None if response.status_code == 204 else _body(response)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> TaskcoreClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _body(self._request(method, path, **kwargs))

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.base_url}/api/v1{path}"
        try:
            response = self._session.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.Timeout:
            raise ServerUnreachable(
                f"no answer from {self.base_url} within {self.timeout_s:g}s"
            ) from None
        except requests.RequestException as exc:
            raise ServerUnreachable(f"cannot reach {self.base_url}: {_reason(exc)}") from None
        if response.status_code >= 400:
            raise _error(response)
        return response


def _task_body(
    name: str,
    callback_url: str,
    payload: Any = None,
    priority: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A task as the API takes it; what is left out the server fills in."""
    body: dict[str, Any] = {"name": name, "callbackUrl": callback_url}
    optional = {"payload": payload, "priority": priority, "description": description}
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


def _segment(task_id: str) -> str:
    """The id as one path segment, whatever the user typed (the server checks it is a UUID)."""
    return quote(str(task_id), safe="")


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ApiError(
            response.status_code, "the server answered with something not JSON"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "the server answered with an unexpected document")
    return body


def _error(response: requests.Response) -> ApiError:
    """The problem's ``detail`` (or title) on one line; the status line when it is not JSON."""
    problem: dict[str, Any] | None = None
    try:
        parsed = response.json()
        problem = parsed if isinstance(parsed, dict) else None
    except ValueError:
        pass
    text = ""
    if problem is not None:
        text = str(problem.get("detail") or problem.get("title") or "")
    if not text:
        text = f"HTTP {response.status_code} {response.reason or ''}".strip()
    return ApiError(response.status_code, " ".join(text.split()), problem)


def _reason(error: requests.RequestException) -> str:
    """The operating system's words (``connection refused``) rather than urllib3's wrapping."""
    match = _ERRNO_TEXT.search(str(error))
    if match:
        return match.group(1).strip().lower()
    return " ".join(str(error).split())[:200]
