"""The control token of a `--no-extensions` sandbox.

Such a sandbox must look like Makini's documented API and nothing more, so its
`/sandbox/*` control routes answer 404, like any path Makini does not serve, unless the
request carries `X-Sandbox-Control` with this data dir's control token. The token lives
in `<data dir>/control.token` (0600): whoever can read the data dir can steer the
sandbox anyway, and the CLI's `makini sandbox …` commands read it from there. With
extensions on, the control routes answer admin tokens as before.

Imported by the CLI: no FastAPI, no pydantic.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

HEADER = "X-Sandbox-Control"
FILE_NAME = "control.token"


def token_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def ensure_token(data_dir: Path) -> str:
    """The data dir's control token, made on first use."""
    from makini_cli.config.files import write_private

    path = token_path(data_dir)
    existing = read_token(data_dir)
    if existing:
        return existing
    token = "sbx_ctl_" + secrets.token_urlsafe(32)
    write_private(path, token.encode())
    return token


def read_token(data_dir: Path) -> str | None:
    """The control token if the data dir has one and it can be read, else None."""
    try:
        return token_path(data_dir).read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
