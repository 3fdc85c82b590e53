"""The hostile-request catalogue: each case is one request and the answer it must get."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

TASKS = "/api/v1/tasks"
BATCH = f"{TASKS}/batch"
SOME_ID = "00000000-0000-4000-8000-000000000000"
JSON = "application/json"
LIMIT = 1024 * 1024  # the default api.max_body_bytes


@dataclass(frozen=True)
class Case:
    """A request and its documented answer: ``status``, naming ``offender`` in ``errors``."""

    name: str
    status: int
    data: bytes | None = None
    path: str = TASKS
    method: str = "POST"
    content_type: str | None = JSON
    offender: str | None = None  # the member `errors` must name
    headers: dict[str, str] = field(default_factory=dict)
    stream: bytes | None = None  # sent chunked, as a WSGI server hands it over
    environ: dict[str, Any] = field(default_factory=dict)

    def send(self, client: FlaskClient) -> TestResponse:
        options: dict[str, Any] = {"method": self.method, "headers": dict(self.headers)}
        options["environ_overrides"] = dict(self.environ)
        if self.content_type:
            options["content_type"] = self.content_type
        if self.stream is not None:
            options["input_stream"] = io.BytesIO(self.stream)
            options["headers"]["Transfer-Encoding"] = "chunked"
            options["environ_overrides"]["wsgi.input_terminated"] = True
        elif self.data is not None:
            options["data"] = self.data
        return client.open(self.path, **options)


def task(**raw: str) -> bytes:
    """A task body whose members are given as raw JSON text, overriding a valid task."""
    members = {"name": '"job"', "callbackUrl": '"http://127.0.0.1:9/"', **raw}
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members.items()) + "}").encode()


def task_json(**fields: Any) -> bytes:
    """A task body from Python values (``json.dumps`` escapes what must be escaped)."""
    return json.dumps({"name": "job", "callbackUrl": "http://127.0.0.1:9/", **fields}).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


ENCODING = [
    Case("broken utf-8", 400, b'{"name":"\xff\xfe","callbackUrl":"http://127.0.0.1:9/"}'),
    Case("overlong utf-8 slash", 400, b'{"name":"\xc0\xaf","callbackUrl":"http://a/"}'),
    Case("overlong utf-8 nul", 400, b'{"name":"a\xc0\x80","callbackUrl":"http://a/"}'),
    Case("utf-8 encoded surrogate", 400, b'{"name":"\xed\xa0\x80","callbackUrl":"http://a/"}'),
    Case("utf-8 byte order mark", 400, b"\xef\xbb\xbf" + task()),
    Case(
        "utf-16 body", 400, task().decode().encode("utf-16"), content_type=JSON + "; charset=utf-16"
    ),
    Case(
        "latin-1 body declared latin-1",
        400,
        task(name='"caf\u00e9"').decode().encode("latin-1"),
        content_type=JSON + "; charset=latin-1",
    ),
    Case("lone surrogate escape", 400, task(name='"\\ud800"')),
    Case("lone surrogate in a payload key", 400, task(payload='{"\\udfff":1}')),
]
NUMBERS = [
    Case("float 1e400", 400, task(payload="1e400")),
    Case("float -1e400", 400, task(payload="[-1e400]")),
    Case("integer of 5000 digits", 400, task(payload="1" + "0" * 4999)),
    Case("NaN", 400, task(payload="NaN")),
    Case("Infinity", 400, task(payload="-Infinity")),
    Case("priority 10**400", 400, task(priority="1" + "0" * 400), offender="priority"),
    Case("priority 1e400", 400, task(priority="1e400")),
    Case("priority as text", 400, task(priority='"5"'), offender="priority"),
    Case("priority as boolean", 400, task(priority="true"), offender="priority"),
    Case("priority as float", 400, task(priority="5.0"), offender="priority"),
    Case("priority negative", 400, task(priority="-1"), offender="priority"),
]
STRUCTURE = [
    Case("nesting 100000 deep", 400, task(payload=nested(100_000)), offender="body"),
    Case("nesting one past the limit", 400, task(payload=nested(64)), offender="body"),
    Case("top-level array", 400, b"[" + task() + b"]", offender="body"),
    Case("top-level string", 400, b'"job"', offender="body"),
    Case("empty body", 400, b"", offender="body"),
    Case("truncated document", 400, task()[:-1], offender="body"),
    Case("duplicate keys, last one blank", 400, task()[:-1] + b',"name":" "}', offender="name"),
    Case("status chosen by the client", 400, task(status='"Completed"'), offender="status"),
    Case("task id chosen by the client", 400, task(taskId=f'"{SOME_ID}"'), offender="taskId"),
    Case("prototype pollution key", 400, task(__proto__="{}"), offender="__proto__"),
    Case("name as a list", 400, task(name='["job"]'), offender="name"),
]
CONTROL = [
    Case("NUL in name", 400, task_json(name="a\x00b"), offender="name"),
    Case("NUL in description", 400, task_json(description="a\x00b"), offender="description"),
    Case("terminal escape in name", 400, task_json(name="\x1b[31mred"), offender="name"),
    Case("name of blanks", 400, task_json(name=" \t "), offender="name"),
    Case("name of 201 characters", 400, task_json(name="n" * 201), offender="name"),
    Case(
        "description of 2001 chars", 400, task_json(description="d" * 2001), offender="description"
    ),
]
SIZE = [
    Case("body one byte past the cap", 413, task(payload=f'"{"x" * LIMIT}"')),
    Case("content-length past the cap", 413, b"{}", environ={"CONTENT_LENGTH": str(10**12)}),
    Case("chunked body past the cap", 413, stream=task(payload=f'"{"x" * (2 * LIMIT)}"')),
    Case("chunked valid task padded past the cap", 413, stream=task() + b" " * (2 * LIMIT)),
]
CONTENT_TYPES = [
    Case("text/plain", 415, task(), content_type="text/plain"),
    Case(
        "multipart form", 415, b"--b\r\n\r\n--b--", content_type="multipart/form-data; boundary=b"
    ),
    Case("url-encoded form", 415, b"name=job", content_type="application/x-www-form-urlencoded"),
    Case("no content type", 415, task(), content_type=None),
    Case("json-lookalike type", 415, task(), content_type="application/jsonx"),
    Case("json only in Accept", 415, task(), content_type=None, headers={"Accept": JSON}),
]
METHODS = [
    Case(
        "method override header",
        405,
        path=f"{TASKS}/{SOME_ID}",
        headers={"X-HTTP-Method-Override": "DELETE"},
    ),
    Case("method override query", 405, path=f"{TASKS}/{SOME_ID}?_method=DELETE"),
    Case("PUT on tasks", 405, task(), method="PUT"),
    Case(
        "PATCH a status", 405, b'{"status":"Completed"}', path=f"{TASKS}/{SOME_ID}", method="PATCH"
    ),
    Case("TRACE", 405, method="TRACE", content_type=None),
]
HEADERS = [
    Case(name, 404, path=f"{TASKS}/{SOME_ID}/execute", content_type=None, headers={key: value})
    for name, key, value in [
        ("100 kB header", "X-Padding", "p" * 100_000),
        ("100 kB Prefer header", "Prefer", "respond-async, " * 6_000),
        ("100 kB request id", "X-Request-Id", "r" * 100_000),
        ("forwarded host naming the metadata address", "X-Forwarded-Host", "169.254.169.254"),
    ]
]
PATHS = [
    Case("path traversal", 404, path=f"{TASKS}/../../etc/passwd", method="GET"),
    Case("encoded path traversal", 404, path=f"{TASKS}/..%2f..%2fetc%2fpasswd", method="GET"),
    Case("NUL in id", 400, path=f"{TASKS}/{SOME_ID[:8]}%00", method="GET", offender="taskId"),
    Case("id that is not a uuid", 400, path=f"{TASKS}/42/execute", offender="taskId"),
    Case("id of 10 kB", 400, path=f"{TASKS}/{'a' * 10_000}", method="DELETE", offender="taskId"),
    Case("emoji id", 400, path=f"{TASKS}/%F0%9F%92%A9/dequeue", offender="taskId"),
    Case("broken percent-encoding", 400, path=f"{TASKS}/%ff%fe", method="GET", offender="taskId"),
    Case("URL of 100 kB", 404, path="/api/v1/" + "a" * 100_000, method="GET"),
    Case("double slash", 404, path="//api/v1/tasks", method="GET"),
]
PAGING = [
    Case("page 10**400", 400, path=f"{TASKS}?page=1{'0' * 400}", method="GET", offender="page"),
    Case("size a million", 400, path=f"{TASKS}?size=1000000", method="GET", offender="size"),
    Case("negative page", 400, path=f"{TASKS}?page=-1", method="GET", offender="page"),
    Case("page zero", 400, path=f"{TASKS}?page=0", method="GET", offender="page"),
    Case("size zero", 400, path=f"{TASKS}?size=0", method="GET", offender="size"),
    Case("page not a number", 400, path=f"{TASKS}?page=abc", method="GET", offender="page"),
    Case("page NaN", 400, path=f"{TASKS}?page=NaN", method="GET", offender="page"),
    Case("page fraction", 400, path=f"{TASKS}?page=1.5", method="GET", offender="page"),
    Case("page empty", 400, path=f"{TASKS}?page=", method="GET", offender="page"),
    Case(
        "status in wrong case", 400, path=f"{TASKS}?status=queued", method="GET", offender="status"
    ),
    Case("status injection", 400, path=f"{TASKS}?status=Queued'%20OR%201=1--", method="GET"),
    Case(
        "execute mode unknown", 400, path=f"{TASKS}/{SOME_ID}/execute?mode=ASYNC", offender="mode"
    ),
]
CALLBACK_URLS = [
    Case(name, 400, task_json(callbackUrl=url), offender="callbackUrl")
    for name, url in [
        ("url with user and password", "http://user:secret@127.0.0.1:9/"),
        ("url with user only", "http://user@127.0.0.1:9/"),
        ("userinfo hiding the real host", "http://127.0.0.1:80@169.254.169.254/"),
        ("backslash userinfo trick", "http://127.0.0.1\\@169.254.169.254/"),
        ("file scheme", "file:///etc/passwd"),
        ("gopher scheme", "gopher://127.0.0.1:6379/_FLUSHALL"),
        ("javascript scheme", "javascript:alert(1)"),
        ("scheme-relative url", "//127.0.0.1/"),
        ("no host", "http:///path"),
        ("port past 65535", "http://127.0.0.1:99999/"),
        ("port zero", "http://127.0.0.1:0/"),
        ("broken ipv6 literal", "http://[::1/"),
        ("header injection", "http://127.0.0.1/\r\nX-Injected: 1"),
        ("url of 2049 characters", "http://127.0.0.1/" + "a" * 2032),
    ]
]


def batch(*items: bytes) -> bytes:
    """A batch body of raw task documents."""
    return b'{"tasks":[' + b",".join(items) + b"]}"


BATCHES = [
    Case("batch of 101 tasks", 400, batch(*[task()] * 101), path=BATCH, offender="tasks"),
    Case(
        "batch item that is a number", 400, batch(task(), b"7"), path=BATCH, offender="tasks.1.body"
    ),
    Case(
        "batch item with a NUL name",
        400,
        batch(task(), task_json(name="a\x00b")),
        path=BATCH,
        offender="tasks.1.name",
    ),
    Case(
        "batch payload one past the limit",
        400,
        batch(task(payload=nested(64))),
        path=BATCH,
        offender="body",
    ),
    Case("batch with a lone surrogate", 400, batch(task(), task(name='"\\ud800"')), path=BATCH),
    Case(
        "batch with an idempotency key",
        400,
        batch(task()),
        path=BATCH,
        headers={"Idempotency-Key": "k"},
        offender="Idempotency-Key",
    ),
    Case("GET on the batch path", 405, path=BATCH, method="GET", content_type=None),
]
REFUSED = [
    *ENCODING,
    *NUMBERS,
    *STRUCTURE,
    *CONTROL,
    *SIZE,
    *CONTENT_TYPES,
    *METHODS,
    *HEADERS,
    *PATHS,
    *PAGING,
    *CALLBACK_URLS,
    *BATCHES,
]
