"""The webhook signature scheme, for the CLI and for anyone building a receiver in Python.

A delivery's `X-Webhook-Signature` header is the standard base64 (with `=` padding) of
HMAC-SHA256, keyed with the webhook's secret as UTF-8 (the whole `whsec_…` string), over
the raw bytes of the request body: the payload as compact JSON, exactly what
`JSON.stringify` gives. Verify those bytes as received, before any JSON parsing: a body
parsed and written out again rarely has the same bytes.

    from makini_cli.webhooks import verify_signature

    if not verify_signature(secret, request_body_bytes, headers["X-Webhook-Signature"]):
        return 401

`explain_failure` says why a check failed (wrong secret, a re-serialised body, hex
instead of base64, a cut-off or missing signature…); it is for people debugging a
receiver, not for the request path.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "SIGNATURE_LENGTH",
    "Failure",
    "FailureKind",
    "compact_json",
    "explain_failure",
    "sign",
    "verify_signature",
]

#: Characters in a signature: base64 of the 32 bytes of an HMAC-SHA256, padding included.
SIGNATURE_LENGTH = 44
#: What every secret the sandbox issues starts with; it is part of the key.
SECRET_PREFIX = "whsec_"

FailureKind = Literal[
    "missing",
    "whitespace",
    "hex",
    "truncated",
    "base64url",
    "not_base64",
    "wrong_length",
    "secret_prefix",
    "reserialised",
    "wrong_secret",
]


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _digest(secret: str | bytes, body: bytes) -> bytes:
    return hmac.new(_key(secret), body, hashlib.sha256).digest()


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Webhook-Signature` value for `body`: base64(HMAC-SHA256(secret, body))."""
    return base64.b64encode(_digest(secret, body)).decode("ascii")


def verify_signature(secret: str | bytes, body: bytes, signature: str) -> bool:
    """Whether `signature` is the signature of the raw `body` under `secret`.

    Compared in constant time (`hmac.compare_digest`), so the time taken says nothing
    about how much of a forged signature was right. `secret` is the webhook's secret as
    shown on create or rotate-secret (a str is encoded as UTF-8); `body` the request's
    bytes exactly as received; `signature` the header's value. An empty signature is
    never valid.
    """
    if not signature:
        return False
    expected = sign(secret, body).encode("ascii")
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters, and a
    # header may carry anything.
    return hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass"))


def compact_json(body: bytes) -> bytes | None:
    """`body` parsed and written out as `JSON.stringify` writes it (no spaces, non-ASCII
    kept), or None when it is not JSON."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Failure:
    """Why a signature check failed: `kind` for programs, `message` and `hint` (one line
    each) for people, `code` for the CLI's error output."""

    kind: FailureKind
    message: str
    hint: str

    @property
    def code(self) -> str:
        return _CODES[self.kind]


_CODES: dict[FailureKind, str] = {
    "missing": "SIGNATURE_MISSING",
    "whitespace": "SIGNATURE_WHITESPACE",
    "hex": "SIGNATURE_HEX",
    "truncated": "SIGNATURE_TRUNCATED",
    "base64url": "SIGNATURE_BASE64URL",
    "not_base64": "SIGNATURE_NOT_BASE64",
    "wrong_length": "SIGNATURE_WRONG_LENGTH",
    "secret_prefix": "SECRET_PREFIX_MISSING",
    "reserialised": "BODY_RESERIALISED",
    "wrong_secret": "SIGNATURE_MISMATCH",
}

_RAW_BODY_HINT = "verify the request body's bytes exactly as received, before any JSON parsing"


def _decodes(signature: str, *, urlsafe: bool = False) -> bytes | None:
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(signature.encode("ascii"))
        return base64.b64decode(signature.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def explain_failure(secret: str | bytes, body: bytes, signature: str | None) -> Failure | None:
    """Why `signature` does not verify `body` under `secret`, or None when it does.

    Tells apart: no signature at all; spaces around a right one; hex where base64 is
    expected; a signature cut short (a prefix of the right one); URL-safe base64; text
    that is not base64, or that decodes to something other than 32 bytes; a secret
    used without its `whsec_` prefix; a body that was parsed and re-serialised (it
    verifies once compacted back to `JSON.stringify`'s form); and, when none of these
    fits, a wrong secret (or a body that is not the bytes that were signed).

    Not constant time, and not meant to be: it runs after a check has failed, to help
    whoever holds the secret.
    """
    given = (signature or "").strip()
    if not given:
        return Failure(
            "missing",
            "no signature was given",
            "pass the value of the delivery's X-Webhook-Signature header",
        )
    if verify_signature(secret, body, given):
        if given == signature:
            return None
        return Failure(
            "whitespace",
            "the signature has spaces or a line break around it",
            "strip the header value before comparing",
        )
    digest = _digest(secret, body)
    expected = base64.b64encode(digest).decode("ascii")
    if given.lower() == digest.hex():
        return Failure(
            "hex",
            "the signature is hex, but Makini signs in base64",
            "encode the HMAC-SHA256 digest as base64 (base64.b64encode(digest)), not hexdigest()",
        )
    if len(given) < len(expected) and expected.startswith(given):
        return Failure(
            "truncated",
            f"the signature is cut short: {len(given)} of its {len(expected)} characters",
            "copy the whole header value, up to and including the trailing '='",
        )
    if any(ch in given for ch in "-_") and _decodes(given, urlsafe=True) == digest:
        return Failure(
            "base64url",
            "the signature is URL-safe base64 (- and _), but Makini uses standard base64",
            "encode with base64.b64encode, whose alphabet has + and /",
        )
    decoded = _decodes(given)
    if decoded is None:
        return Failure(
            "not_base64",
            "the signature is not base64",
            "pass the X-Webhook-Signature header's value as it is: base64 of HMAC-SHA256 "
            "over the body",
        )
    if len(decoded) != len(digest):
        return Failure(
            "wrong_length",
            f"the signature decodes to {len(decoded)} byte{'' if len(decoded) == 1 else 's'}, "
            f"not the {len(digest)} of an "
            "HMAC-SHA256",
            "the header holds base64 of the 32-byte HMAC-SHA256 digest, 44 characters",
        )
    key = _key(secret)
    if not key.startswith(SECRET_PREFIX.encode()) and verify_signature(
        SECRET_PREFIX.encode() + key, body, given
    ):
        return Failure(
            "secret_prefix",
            f"the secret lacks its {SECRET_PREFIX} prefix, which is part of the key",
            f"use the secret exactly as create or rotate-secret showed it, {SECRET_PREFIX} "
            "included",
        )
    compact = compact_json(body)
    if compact is not None and compact != body and verify_signature(secret, compact, given):
        return Failure(
            "reserialised",
            "the body was re-serialised: it verifies only once compacted back to "
            "JSON.stringify's form",
            _RAW_BODY_HINT,
        )
    return Failure(
        "wrong_secret",
        "the signature does not match: a wrong secret, or a body that is not the bytes "
        "that were signed",
        "use the webhook's current secret (after rotate-secret only the new one signs) "
        "and " + _RAW_BODY_HINT,
    )
