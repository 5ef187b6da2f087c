"""How a sandbox is configured: where it keeps its state and which client it accepts.

This module is imported by the CLI before it knows whether a sandbox will run, so it
must not import FastAPI, uvicorn or pydantic.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from makini_cli.sandbox.chaos import ChaosPlan

# Public demo credentials, printed in the README and in `makini sandbox serve`'s banner.
# They guard nothing but a local toy server; a real client id/secret never looks like this.
DEMO_CLIENT_ID = "sandbox-client"
DEMO_CLIENT_SECRET = "sandbox-secret"

#: Shorter secrets are refused everywhere: "a" or "x" is a typo, not a choice.
MIN_SECRET_LENGTH = 8
#: A sandbox reachable from other machines needs a secret nobody can guess from the
#: README (so not the demo one) and that resists guessing over the network.
EXPOSED_MIN_SECRET_LENGTH = 16

DATA_DIR_ENV = "MAKINI_SANDBOX_DIR"
DEFAULT_RATE_LIMIT_PER_MINUTE = 600
#: Request bodies above this are refused (413) before they are read into memory: the
#: largest legitimate body (a metadata list, a connection's credentials) is a few KiB.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
#: JSON nested deeper than this is refused (400): no request needs more than 5 levels,
#: and Python's parser recurses, so 100,000 levels would crash the handler.
DEFAULT_MAX_JSON_DEPTH = 64
#: The account's plan (makini-api-facts §8.4): beyond its credits, a new connection is
#: `inactive` on a trial and runs as `overage` on a paid plan.
PLANS = ("trial", "paid")
#: `--table-rows` bounds. Every table has at least the rows its references point into
#: (raw.MIN_ROWS; not imported: this module stays light); beyond the maximum a list of
#: records would be more than a load test needs.
MIN_TABLE_ROWS = 20
MAX_TABLE_ROWS = 10_000_000


class SandboxConfigError(ValueError):
    """Settings that cannot work; the message says which and what to do instead."""


def default_data_dir() -> Path:
    """`$MAKINI_SANDBOX_DIR`, else `<user data dir>/makini/sandbox`."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs  # only needed when no override is given

    return Path(platformdirs.user_data_dir("makini")) / "sandbox"


def is_loopback(host: str) -> bool:
    """Whether `host` (a bind address or a Host header's name) can only be this machine."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SandboxSettings:
    """Everything a sandbox needs to start.

    `clock_speed`: `None` keeps the speed stored in the data dir (1.0 on a fresh one);
    a number re-anchors the stored clock at that speed without making time jump.
    `extensions=False` serves Makini's documented surface only (`--no-extensions`).
    `allowed_hosts`: Host header names accepted besides the loopback ones and the bound
    address (`--allowed-host`; see `hosts.py`). `chaos`: random faults for every request
    (`--faults`; see `chaos.py`). `plan`: one of `PLANS` (`--plan`). `table_rows`: every
    raw table of every connection has this many rows (`--table-rows`, for load tests;
    None: each table its own deterministic size).
    """

    data_dir: Path
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    clock_speed: float | None = None
    extensions: bool = True
    allowed_hosts: tuple[str, ...] = ()
    chaos: ChaosPlan | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    plan: str = "trial"
    table_rows: int | None = None

    def __post_init__(self) -> None:
        if self.rate_limit_per_minute < 1:
            raise SandboxConfigError("rate_limit_per_minute must be at least 1")
        if self.clock_speed is not None and not self.clock_speed > 0:
            raise SandboxConfigError("clock_speed must be positive")
        if not self.client_id or not self.client_secret:
            raise SandboxConfigError("client_id and client_secret must not be empty")
        if len(self.client_secret) < MIN_SECRET_LENGTH:
            raise SandboxConfigError(
                f"the client secret must be at least {MIN_SECRET_LENGTH} characters"
            )
        if self.max_body_bytes < 1 or self.max_json_depth < 1:
            raise SandboxConfigError("max_body_bytes and max_json_depth must be positive")
        if self.plan not in PLANS:
            raise SandboxConfigError(f"plan must be one of {', '.join(PLANS)}")
        if self.table_rows is not None and not (
            MIN_TABLE_ROWS <= self.table_rows <= MAX_TABLE_ROWS
        ):
            raise SandboxConfigError(
                f"table_rows must be between {MIN_TABLE_ROWS} and {MAX_TABLE_ROWS:,}"
            )

    @property
    def has_strong_secret(self) -> bool:
        return (
            len(self.client_secret) >= EXPOSED_MIN_SECRET_LENGTH
            and self.client_secret != DEMO_CLIENT_SECRET
        )


def check_exposure(settings: SandboxSettings, host: str) -> None:
    """Refuse to serve on a non-loopback address with a guessable client secret.

    On 127.0.0.1 only local programs reach the sandbox, and they can read its data dir
    anyway; on any other address (0.0.0.0 above all) the secret is all that guards it.
    """
    if is_loopback(host) or settings.has_strong_secret:
        return
    which = (
        "the public demo secret"
        if settings.client_secret == DEMO_CLIENT_SECRET
        else f"a client secret shorter than {EXPOSED_MIN_SECRET_LENGTH} characters"
    )
    raise SandboxConfigError(
        f"refusing to serve on {host} (reachable from other machines) with {which}"
    )


class DataDirError(Exception):
    """The data dir or its database cannot be used; the message names the path and why."""
