"""The webhook signature scheme: base64(HMAC-SHA256(secret, raw body)), and the reasons a
check fails. Expected values are computed here with hmac/base64 over literal bytes, or
written out (vectors from RFC 4231 and from `openssl dgst -sha256 -hmac … -binary | base64`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from makini_cli.webhooks import explain_failure, sign, verify_signature
from makini_cli.webhooks.signature import compact_json

SECRET = "whsec_MfKQ9r3V7xJ2nT8cLw5yHd1sPq6uZa4bEg0iXo3kRtY"
#: A delivery body as the sandbox sends it: compact JSON, exactly JSON.stringify's bytes.
BODY = (
    b'{"id":"evt_0123456789abcdef01234567","event":"sync.completed",'
    b'"created_at":"2026-11-30T03:00:00Z","connection_key":"10000715260448",'
    b'"body":{"sync_id":"sync_1","type":"incremental","trigger":"schedule",'
    b'"scopes":["assets"],"records_processed":12,"error":null}}'
)
#: openssl dgst -sha256 -hmac "$SECRET" -binary | base64, over BODY
BODY_SIGNATURE = "rWb2eM7QkNJTKd1oFVG2kVwR9VRzl1qVWm4A9T+0TMA="


def hmac_b64(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def test_rfc_4231_vector() -> None:
    # RFC 4231 test case 2: HMAC-SHA256 hex 5bdcc146…3843, here as base64.
    digest = bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert base64.b64encode(digest).decode() == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    assert sign("Jefe", b"what do ya want for nothing?") == (
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    )
    assert sign(b"Jefe", b"what do ya want for nothing?") == (
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    )


def test_a_delivery_body_under_a_whsec_secret() -> None:
    assert sign(SECRET, BODY) == BODY_SIGNATURE
    assert sign(SECRET, BODY) == hmac_b64(SECRET.encode(), BODY)
    assert verify_signature(SECRET, BODY, BODY_SIGNATURE)
    assert verify_signature(SECRET.encode(), BODY, BODY_SIGNATURE)
    assert explain_failure(SECRET, BODY, BODY_SIGNATURE) is None


def test_the_key_is_the_secret_as_utf8_and_the_message_the_raw_bytes() -> None:
    body = '{"event":"sites.updated","body":["Zürich 工場"]}'.encode()
    # openssl over the same UTF-8 bytes
    assert sign(SECRET, body) == "NtM9kQ+RHp3HY+IEOW09NZtZJSThvNqPDB0efghJ7eY="
    assert sign("clé", b"x") == hmac_b64("clé".encode(), b"x")
    assert sign("clé", b"x") != hmac_b64("clé".encode("latin-1"), b"x")


@pytest.mark.parametrize(
    "signature",
    [
        "",
        BODY_SIGNATURE[:-1],
        BODY_SIGNATURE + "=",
        " " + BODY_SIGNATURE,
        BODY_SIGNATURE.lower(),
        hmac_b64(b"whsec_other", BODY),
        "é" * 44,
        "\ud800" * 44,
    ],
)
def test_anything_but_the_exact_signature_is_refused(signature: str) -> None:
    assert not verify_signature(SECRET, BODY, signature)


def test_one_changed_byte_of_the_body_fails() -> None:
    changed = BODY.replace(b'"records_processed":12', b'"records_processed":13')
    assert not verify_signature(SECRET, changed, BODY_SIGNATURE)


# ---------------------------------------------------------------------- explanations


def kind(secret: str, body: bytes, signature: str | None) -> str | None:
    failure = explain_failure(secret, body, signature)
    if failure is not None:
        assert failure.message and failure.hint and failure.code
        assert "\n" not in failure.message + failure.hint
    return failure.kind if failure else None


def test_missing() -> None:
    assert kind(SECRET, BODY, None) == "missing"
    assert kind(SECRET, BODY, "") == "missing"
    assert kind(SECRET, BODY, "  ") == "missing"


def test_wrong_secret() -> None:
    other = hmac_b64(b"whsec_someoneelse", BODY)
    failure = explain_failure(SECRET, BODY, other)
    assert failure is not None and failure.kind == "wrong_secret"
    assert failure.code == "SIGNATURE_MISMATCH"
    assert "secret" in failure.message


def test_reserialised_body() -> None:
    # The receiver parsed the JSON and wrote it out again (Python's default separators
    # and ASCII escapes), then checked the sender's signature over that.
    pretty = json.dumps(json.loads(BODY)).encode()
    assert pretty != BODY
    assert kind(SECRET, pretty, BODY_SIGNATURE) == "reserialised"
    indented = json.dumps(json.loads(BODY), indent=2).encode()
    assert kind(SECRET, indented, BODY_SIGNATURE) == "reserialised"
    unicode_body = '{"body":["Zürich"]}'.encode()
    escaped = json.dumps(json.loads(unicode_body)).encode()  # "Z\u00fcrich"
    assert kind(SECRET, escaped, hmac_b64(SECRET.encode(), unicode_body)) == "reserialised"


def test_compact_json_is_json_stringify() -> None:
    assert compact_json(b'{ "a" : [1, 2], "b": "\\u00e9" }') == '{"a":[1,2],"b":"é"}'.encode()
    assert compact_json(b"not json") is None


def test_hex_instead_of_base64() -> None:
    hex_digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert kind(SECRET, BODY, hex_digest) == "hex"
    assert kind(SECRET, BODY, hex_digest.upper()) == "hex"


def test_truncated() -> None:
    failure = explain_failure(SECRET, BODY, BODY_SIGNATURE[:20])
    assert failure is not None and failure.kind == "truncated"
    assert "20 of its 44" in failure.message
    assert kind(SECRET, BODY, BODY_SIGNATURE[:-1]) == "truncated"  # the "=" lost


def test_not_base64() -> None:
    assert kind(SECRET, BODY, "this is no signature!") == "not_base64"
    assert kind(SECRET, BODY, "é" * 10) == "not_base64"


def test_url_safe_base64() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    urlsafe = base64.urlsafe_b64encode(digest).decode()
    assert urlsafe != BODY_SIGNATURE  # this vector has a + and a /
    assert kind(SECRET, BODY, urlsafe) == "base64url"


def test_base64_of_something_else() -> None:
    sha1 = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha1).digest()).decode()
    failure = explain_failure(SECRET, BODY, sha1)
    assert failure is not None and failure.kind == "wrong_length"
    assert "20 bytes" in failure.message


def test_secret_without_its_prefix() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert kind(bare, BODY, BODY_SIGNATURE) == "secret_prefix"


def test_spaces_around_a_right_signature() -> None:
    assert kind(SECRET, BODY, f" {BODY_SIGNATURE}\n") == "whitespace"
