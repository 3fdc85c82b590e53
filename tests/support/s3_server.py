"""A small in-memory S3 server, for Tansu's durable storage in tests: ``python s3_server.py PORT``.

Tansu's S3 engine keeps records, offsets and groups as objects and coordinates with
conditional writes (If-Match / If-None-Match). Objects live in this process, so they outlive
any number of broker restarts. It serves what the engine asks for: path-style bucket
creation, PUT (conditional, the check atomic with the write), GET and HEAD (ranges,
conditions), DELETE and ListObjectsV2. Authentication headers are ignored.

Why not moto: its listing renders every key through templates (about 150 ms for 300
objects), and Tansu lists a partition's records on every fetch, so a thousand tasks took
minutes instead of seconds.
"""

from __future__ import annotations

import hashlib
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    etag: str
    modified: datetime


class Bucket:
    """Objects by key, changed under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, StoredObject] = {}


class S3Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    buckets: ClassVar[dict[str, Bucket]] = {}
    create_lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: thousands of requests per test."""

    def do_PUT(self) -> None:
        bucket_name, key, _ = self._target()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not key:
            with self.create_lock:
                self.buckets.setdefault(bucket_name, Bucket())
            return self._answer(200)
        bucket = self._bucket(bucket_name)
        if bucket is None:
            return None
        with bucket.lock:
            if not self._preconditions_hold(bucket.objects.get(key)):
                return self._error(412, "PreconditionFailed")
            stored = StoredObject(
                body, f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"', datetime.now(UTC)
            )
            bucket.objects[key] = stored
        return self._answer(200, headers={"ETag": stored.etag})

    def do_GET(self) -> None:
        self._read(send_body=True)

    def do_HEAD(self) -> None:
        self._read(send_body=False)

    def do_DELETE(self) -> None:
        bucket_name, key, _ = self._target()
        bucket = self._bucket(bucket_name)
        if bucket is not None:
            with bucket.lock:
                bucket.objects.pop(key, None)
            self._answer(204)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._error(501, "NotImplemented")

    def _read(self, send_body: bool) -> None:
        bucket_name, key, query = self._target()
        bucket = self._bucket(bucket_name)
        if bucket is None:
            return
        if not key:
            return self._answer(200, self._listing(bucket_name, bucket, query), send_body=send_body)
        with bucket.lock:
            stored = bucket.objects.get(key)
        if stored is None:
            return self._error(404, "NoSuchKey", send_body=send_body)
        if not self._preconditions_hold(stored):
            status = 304 if "If-None-Match" in self.headers else 412
            return self._error(status, "PreconditionFailed", send_body=False)
        headers = {"ETag": stored.etag, "Last-Modified": format_datetime(stored.modified, True)}
        body, status = stored.body, 200
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            first, _, last = ranged.removeprefix("bytes=").partition("-")
            start = int(first) if first else len(body) - int(last)
            end = int(last) if first and last else len(body) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            body, status = body[start : end + 1], 206
        self._answer(
            status, body, headers, content_type="application/octet-stream", send_body=send_body
        )

    def _listing(self, name: str, bucket: Bucket, query: dict[str, str]) -> bytes:
        """ListObjectsV2: keys under ``prefix`` after the token, grouped by ``delimiter``."""
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        after = query.get("continuation-token") or query.get("start-after", "")
        limit = int(query.get("max-keys", 1000))
        with bucket.lock:
            keys = sorted(k for k in bucket.objects if k.startswith(prefix) and k > after)
            objects = {k: bucket.objects[k] for k in keys}
        contents: list[str] = []
        prefixes: list[str] = []
        last = ""
        for key in keys:
            if len(contents) + len(prefixes) == limit:
                break
            last = key
            folder = key.find(delimiter, len(prefix)) if delimiter else -1
            if folder >= 0:
                common = key[: folder + len(delimiter)]
                if not prefixes or prefixes[-1] != common:
                    prefixes.append(common)
                continue
            stored = objects[key]
            contents.append(
                f"<Contents><Key>{escape(key)}</Key>"
                f"<LastModified>{stored.modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
                f"<ETag>{escape(stored.etag)}</ETag><Size>{len(stored.body)}</Size>"
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        truncated = bool(last) and last != keys[-1]
        token = (
            f"<NextContinuationToken>{escape(last)}</NextContinuationToken>" if truncated else ""
        )
        common = "".join(
            f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(name)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>{limit}</MaxKeys>"
            f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{token}"
            f"{''.join(contents)}{common}</ListBucketResult>"
        ).encode()

    def _preconditions_hold(self, stored: StoredObject | None) -> bool:
        wanted = self.headers.get("If-Match")
        if wanted is not None and (stored is None or wanted.strip('"') != stored.etag.strip('"')):
            return False
        unwanted = self.headers.get("If-None-Match")
        if unwanted is None or stored is None:
            return True
        return not (unwanted == "*" or unwanted.strip('"') == stored.etag.strip('"'))

    def _target(self) -> tuple[str, str, dict[str, str]]:
        """(bucket, key, query) of a path-style request."""
        url = urlsplit(self.path)
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        return bucket, key, query

    def _bucket(self, name: str) -> Bucket | None:
        bucket = self.buckets.get(name)
        if bucket is None:
            self._error(404, "NoSuchBucket")
        return bucket

    def _error(self, status: int, code: str, send_body: bool = True) -> None:
        body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
        self._answer(status, body, send_body=send_body)

    def _answer(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/xml",
        send_body: bool = True,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and status not in (204, 304):
            self.wfile.write(body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), S3Handler)
    server.daemon_threads = True
    server.serve_forever()
