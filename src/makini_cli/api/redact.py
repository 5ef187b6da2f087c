"""Redaction for `--debug` traces: no secret ever reaches the terminal or a CI log."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

SECRET_HEADERS = {
    "authorization",
    "cookie",
    "set-cookie",
    "x-webhook-signature",
    "proxy-authorization",
    "x-sandbox-control",
}
SECRET_KEY = re.compile(r"token|secret|password|credential", re.IGNORECASE)
REDACTED = "[redacted]"


def headers(items: Mapping[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_HEADERS else v) for k, v in items.items()}


def value(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: (REDACTED if isinstance(k, str) and SECRET_KEY.search(k) else value(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [value(v) for v in data]
    return data


def body(raw: bytes, limit: int = 2000) -> str:
    """A redacted, shortened rendering of a JSON or form body."""
    if not raw:
        return ""
    text = raw.decode("utf-8", errors="replace")
    try:
        rendered = json.dumps(value(json.loads(text)), ensure_ascii=False)
    except json.JSONDecodeError:
        if ("=" in text and "&" in text) or text.count("=") == 1:
            pairs = []
            for part in text.split("&"):
                key, _, val = part.partition("=")
                pairs.append(f"{key}={REDACTED}" if SECRET_KEY.search(key) else f"{key}={val}")
            rendered = "&".join(pairs)
        else:
            rendered = f"<{len(raw)} bytes, not JSON>"
    return rendered if len(rendered) <= limit else rendered[:limit] + "…"
