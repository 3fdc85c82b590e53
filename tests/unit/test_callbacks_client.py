"""The callback client's request format and outcome mapping, with the transport mocked."""

from __future__ import annotations

import errno
import io
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
import requests
import responses
import urllib3.exceptions

import taskcore
from taskcore.ports import CallbackRequest
from taskcore_adapters.callbacks import HttpCallbackClient
from taskcore_adapters.config import CallbackSettings
from taskcore_adapters.signing import verify

URL = "http://receiver.test/hook"
TASK_ID = UUID("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
SECRET = "a-raw-secret-of-some-length"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_request(url: str = URL, payload: object = None, attempt: int = 2) -> CallbackRequest:
    return CallbackRequest(
        task_id=TASK_ID,
        name="resize images",
        url=url,
        payload={"size": 3, "label": "café"} if payload is None else payload,
        attempt=attempt,
        token="secret-completion-token",
    )


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def client() -> Iterator[HttpCallbackClient]:
    instance = HttpCallbackClient()
    yield instance
    instance.close()


def sent(mocked: responses.RequestsMock, index: int = 0) -> requests.PreparedRequest:
    return mocked.calls[index].request


def test_the_body_is_compact_utf8_json_with_the_task_fields(mocked, client):
    mocked.post(URL, json={"ok": True})
    client.call(make_request())
    body = sent(mocked).body
    assert isinstance(body, bytes)
    assert (
        body
        == (
            '{"taskId":"6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b","name":"resize images",'
            '"payload":{"size":3,"label":"café"},"attempt":2}'
        ).encode()
    )


def test_the_headers_carry_type_agent_idempotency_key_and_completion_token(mocked, client):
    mocked.post(URL)
    client.call(make_request())
    headers = sent(mocked).headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"taskcore/{taskcore.__version__}"
    assert headers["Idempotency-Key"] == f"{TASK_ID}:2"
    assert headers["X-Task-Token"] == "secret-completion-token"


def test_without_secrets_no_signature_headers_are_sent(mocked, client):
    mocked.post(URL)
    client.call(make_request())
    assert not {"webhook-id", "webhook-timestamp", "webhook-signature"} & {
        name.lower() for name in sent(mocked).headers
    }


def test_proxies_and_netrc_from_the_environment_are_ignored(mocked, client, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NETRC", "/nonexistent/netrc")
    mocked.post(URL)
    client.call(make_request())
    request = sent(mocked)
    assert not request.req_kwargs["proxies"]
    assert "Authorization" not in request.headers


def test_the_call_streams_with_connect_and_read_timeouts(mocked):
    client = HttpCallbackClient(timeout_s=4, connect_timeout_s=1.5)
    mocked.post(URL)
    client.call(make_request())
    kwargs = sent(mocked).req_kwargs
    assert kwargs["timeout"] == (1.5, 4)
    assert kwargs["stream"] is True


def test_a_connect_timeout_longer_than_the_whole_timeout_is_cut_to_it():
    assert HttpCallbackClient(timeout_s=2, connect_timeout_s=5).connect_timeout_s == 2


def test_a_signed_callback_verifies_with_the_receiver_check(mocked):
    client = HttpCallbackClient(signing_secrets=[SECRET])
    mocked.post(URL)
    client.call(make_request())
    request = sent(mocked)
    assert request.headers["webhook-id"] == f"{TASK_ID}:2"
    assert request.headers["webhook-timestamp"].isdigit()
    assert verify(SECRET, request.headers, request.body)
    assert not verify("another-secret-of-length", request.headers, request.body)


def test_every_configured_secret_signs_so_either_verifies_during_rotation(mocked):
    client = HttpCallbackClient(signing_secrets=[SECRET, WHSEC])
    mocked.post(URL)
    client.call(make_request())
    request = sent(mocked)
    assert len(request.headers["webhook-signature"].split()) == 2
    assert verify(SECRET, request.headers, request.body)
    assert verify(WHSEC, request.headers, request.body)


def test_a_malformed_whsec_secret_is_refused_when_the_client_is_built():
    with pytest.raises(ValueError, match="base64"):
        HttpCallbackClient(signing_secrets=["whsec_not base64!"])


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_a_2xx_answer_is_a_success(mocked, client, code):
    body = "" if code == 204 else "done"
    mocked.post(URL, status=code, body=body)
    result = client.call(make_request())
    assert (result.status_code, result.error, result.attempt, result.body) == (code, None, 2, body)
    assert result.duration_ms >= 0


@pytest.mark.parametrize("code", [400, 401, 404, 409, 418, 500, 502, 503])
def test_a_4xx_or_5xx_answer_is_a_failure_named_by_its_code(mocked, client, code):
    mocked.post(URL, status=code, body="nope")
    result = client.call(make_request())
    assert (result.status_code, result.error, result.body) == (code, f"HTTP {code}", "nope")


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_is_a_failure_naming_its_location(mocked, client, code):
    mocked.post(URL, status=code, headers={"Location": "http://169.254.169.254/latest"})
    result = client.call(make_request())
    assert result.status_code == code
    assert result.error == f"redirect not followed ({code} to http://169.254.169.254/latest)"
    assert len(mocked.calls) == 1


def test_a_redirect_without_location_is_still_a_failure(mocked, client):
    mocked.post(URL, status=304)
    assert client.call(make_request()).error == "redirect not followed (304)"


def test_the_response_body_is_cut_at_the_configured_size(mocked):
    client = HttpCallbackClient(max_response_bytes=100)
    mocked.post(URL, body=b"x" * 10_000)
    result = client.call(make_request())
    assert result.body == "x" * 100
    assert result.error is None


def test_a_zero_size_cap_keeps_no_body(mocked):
    client = HttpCallbackClient(max_response_bytes=0)
    mocked.post(URL, body=b"ignored")
    assert client.call(make_request()).body == ""


def test_a_body_that_is_not_utf8_is_decoded_with_replacements(mocked, client):
    mocked.post(URL, body=b"ok \xff\xfe end")
    assert client.call(make_request()).body == "ok \ufffd\ufffd end"


class SlowBody(io.RawIOBase):
    """A body whose every read takes a while, like a receiver dripping its answer."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        time.sleep(0.1)
        buffer[:1] = b"x"
        return 1


def test_a_body_still_arriving_at_the_deadline_is_a_timeout(mocked):
    client = HttpCallbackClient(timeout_s=0.3)
    mocked.post(URL, body=io.BufferedReader(SlowBody()), auto_calculate_content_length=False)
    result = client.call(make_request())
    assert (result.status_code, result.error) == (200, "timed out after 0.3s")
    assert set(result.body) <= {"x"}


NO_CONNECTION: Any = None  # the wrappers only keep it for their message


def _gaierror() -> Exception:
    reason = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return urllib3.exceptions.NameResolutionError("receiver.test", NO_CONNECTION, reason)


def _wrapped(cause: BaseException) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(NO_CONNECTION, URL, cause))


def _cert_error() -> requests.exceptions.SSLError:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] failed")
    cause.verify_message = "self-signed certificate"
    return requests.exceptions.SSLError(_wrapped(cause))


def _ssl_error() -> requests.exceptions.SSLError:
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    cause.reason = "WRONG_VERSION_NUMBER"
    return requests.exceptions.SSLError(cause)


FAILURES = [
    (requests.ConnectTimeout(), "connect timed out after 3s"),
    (requests.ReadTimeout(), "timed out after 10s"),
    (requests.Timeout(), "timed out after 10s"),
    (_wrapped(ConnectionRefusedError(errno.ECONNREFUSED, "refused")), "connection refused"),
    (_wrapped(_gaierror()), "DNS lookup failed for receiver.test"),
    (_wrapped(ConnectionResetError(errno.ECONNRESET, "reset")), "connection reset by the target"),
    (
        _wrapped(OSError(errno.ENETUNREACH, "Network is unreachable")),
        "connection failed: network is unreachable",
    ),
    (requests.ConnectionError("boom"), "connection failed"),
    (requests.exceptions.SSLError("handshake"), "TLS error: handshake failed"),
    (_cert_error(), "TLS error: certificate verify failed: self-signed certificate"),
    (_ssl_error(), "TLS error: wrong version number"),
    (requests.TooManyRedirects(), "too many redirects"),
    (requests.exceptions.InvalidURL(), "invalid callback URL"),
    (requests.exceptions.ChunkedEncodingError(), "request failed (ChunkedEncodingError)"),
    (requests.RequestException(), "request failed (RequestException)"),
    (ValueError("odd"), "internal error (ValueError)"),
    (RuntimeError("bug"), "internal error (RuntimeError)"),
]


@pytest.mark.parametrize(("exc", "reason"), FAILURES, ids=[r for _, r in FAILURES])
def test_no_exception_escapes_a_call_and_each_becomes_a_reason(mocked, client, exc, reason):
    mocked.post(URL, body=exc)
    result = client.call(make_request())
    assert (result.status_code, result.body, result.error, result.attempt) == (None, "", reason, 2)


def test_a_payload_that_is_not_json_is_a_failure_not_an_exception(mocked, client):
    result = client.call(make_request(payload={"bad": float("nan")}))
    assert (result.status_code, result.error) == (None, "payload cannot be encoded as JSON")
    assert client.call(make_request(payload=object())).error == result.error
    assert not mocked.calls


@pytest.mark.parametrize("url", ["ftp://receiver.test/x", "http://", "not a url"])
def test_an_unusable_url_is_a_failure_not_an_exception(client, url):
    result = client.call(make_request(url=url))
    assert (result.status_code, result.error) == (None, "invalid callback URL")


def test_a_failure_logs_one_line_with_the_task_id_and_never_the_token(mocked, client, caplog):
    mocked.post(URL + "?sig=query-secret", status=500)
    with caplog.at_level(logging.INFO, logger="taskcore.callbacks"):
        client.call(make_request(url=URL + "?sig=query-secret"))
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.task_id == str(TASK_ID)
    assert record.getMessage() == "callback to http://receiver.test/hook failed: HTTP 500"
    for secret in ("secret-completion-token", "query-secret"):
        assert secret not in record.getMessage()
    assert record.exc_info is None


def test_an_unexpected_error_is_logged_with_its_traceback(mocked, client, caplog):
    mocked.post(URL, body=RuntimeError("bug"))
    with caplog.at_level(logging.WARNING, logger="taskcore.callbacks"):
        client.call(make_request())
    (record,) = caplog.records
    assert record.exc_info is not None


def test_a_success_logs_nothing(mocked, client, caplog):
    mocked.post(URL)
    with caplog.at_level(logging.DEBUG, logger="taskcore.callbacks"):
        client.call(make_request())
    assert not caplog.records


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://[::1]:8080/a?b=c", "http://[::1]:8080/a"),
        ("http://user:pw@receiver.test/a", "http://receiver.test/a"),
        ("http://receiver.test:99999/a", "(unparseable URL)"),
    ],
)
def test_logged_targets_drop_credentials_and_queries(mocked, client, caplog, url, shown):
    with caplog.at_level(logging.WARNING, logger="taskcore.callbacks"):
        client.call(make_request(url=url))
    assert caplog.records[0].getMessage().startswith(f"callback to {shown} failed")


def test_cookies_set_by_one_receiver_are_never_sent_back(mocked, client):
    mocked.post(URL, headers={"Set-Cookie": "session=abc; Path=/"})
    client.call(make_request())
    client.call(make_request())
    assert "Cookie" not in sent(mocked, 1).headers


def test_from_settings_applies_the_callbacks_section(mocked):
    settings = CallbackSettings(
        timeout_s=7,
        connect_timeout_s=2,
        max_response_bytes=5,
        signing_secrets=[SECRET],
        deny_networks=["10.0.0.0/8"],
        allow_networks=["10.0.0.0/8", "127.0.0.0/8"],
        pool_size=4,
    )
    client = HttpCallbackClient.from_settings(settings)
    mocked.post(URL, body="123456789")
    result = client.call(make_request())
    assert result.body == "12345"
    assert sent(mocked).req_kwargs["timeout"] == (2, 7)
    assert verify(SECRET, sent(mocked).headers, sent(mocked).body)
    assert not client.policy.allows("10.1.1.1")
    assert client.policy.allows("127.0.0.1")
    assert not client.policy.allows("192.168.0.1")


def test_closing_twice_is_harmless():
    client = HttpCallbackClient()
    client.close()
    client.close()


def test_the_answer_body_is_json_text_when_the_receiver_sends_json(mocked, client):
    mocked.post(URL, json={"accepted": True}, status=202)
    result = client.call(make_request())
    assert json.loads(result.body) == {"accepted": True}
