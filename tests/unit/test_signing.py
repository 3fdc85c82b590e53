"""Standard Webhooks signing and the receiver-side check."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from taskcore_adapters.signing import signature, signature_headers, signing_key, verify

SECRET = "a-raw-secret-of-some-length"
KEY_BYTES = b"\x01\x02binary key bytes\xff"
WHSEC = "whsec_" + base64.b64encode(KEY_BYTES).decode()
BODY = b'{"taskId":"t","name":"n","payload":{},"attempt":1}'
NOW = 1_700_000_000


def signed(*secrets: str, body: bytes = BODY, ts: int = NOW) -> dict[str, str]:
    return signature_headers([signing_key(s) for s in secrets], "msg-1", body, ts)


def test_a_signature_is_base64_hmac_sha256_over_id_timestamp_and_body():
    digest = hmac.new(SECRET.encode(), b"msg-1.%d." % NOW + BODY, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    assert signature(SECRET.encode(), "msg-1", NOW, BODY) == expected
    assert signed(SECRET) == {
        "webhook-id": "msg-1",
        "webhook-timestamp": str(NOW),
        "webhook-signature": expected,
    }


def test_a_whsec_secret_signs_with_its_decoded_bytes_and_a_raw_one_with_its_utf8():
    assert signing_key(WHSEC) == KEY_BYTES
    assert signing_key("clé-brute-assez-longue") == "clé-brute-assez-longue".encode()


def test_a_whsec_secret_that_is_not_base64_is_refused():
    with pytest.raises(ValueError, match="base64"):
        signing_key("whsec_***")


def test_the_timestamp_defaults_to_now():
    headers = signature_headers([b"k"], "id", BODY)
    assert verify("k", headers, BODY)


@pytest.mark.parametrize("secret", [SECRET, WHSEC])
def test_a_valid_message_verifies(secret):
    assert verify(secret, signed(secret), BODY, now=NOW + 10)


def test_verification_accepts_text_bodies_and_any_header_case():
    headers = {name.upper(): value for name, value in signed(SECRET).items()}
    assert verify(SECRET, headers, BODY.decode(), now=NOW)


def test_a_tampered_body_fails():
    assert not verify(SECRET, signed(SECRET), BODY.replace(b'"n"', b'"m"'), now=NOW)


def test_a_tampered_id_or_timestamp_fails():
    headers = signed(SECRET)
    assert not verify(SECRET, {**headers, "webhook-id": "msg-2"}, BODY, now=NOW)
    assert not verify(SECRET, {**headers, "webhook-timestamp": str(NOW + 1)}, BODY, now=NOW)


def test_the_wrong_secret_fails():
    assert not verify("some-other-secret-value", signed(SECRET), BODY, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301, -10_000])
def test_a_timestamp_outside_the_tolerance_fails(skew):
    assert not verify(SECRET, signed(SECRET), BODY, now=NOW + skew)


def test_the_tolerance_can_be_widened():
    assert verify(SECRET, signed(SECRET), BODY, tolerance_s=3600, now=NOW + 3000)


def test_during_rotation_either_secret_verifies_a_message_signed_with_both():
    headers = signed(SECRET, WHSEC)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(SECRET, headers, BODY, now=NOW)
    assert verify(WHSEC, headers, BODY, now=NOW)
    assert not verify("a-retired-secret-value", headers, BODY, now=NOW)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"webhook-id": ""},
        {"webhook-timestamp": "soon"},
        {"webhook-timestamp": "\u00b2"},
        {"webhook-signature": ""},
        {"webhook-signature": "v1,not-base64 v2,whatever"},
    ],
)
def test_missing_or_malformed_headers_fail_without_raising(broken):
    headers = {**signed(SECRET), **broken} if broken else {}
    assert not verify(SECRET, headers, BODY, now=NOW)


def test_a_malformed_receiver_secret_fails_without_raising():
    assert not verify("whsec_***", signed(SECRET), BODY, now=NOW)
