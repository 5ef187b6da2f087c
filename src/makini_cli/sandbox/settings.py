"""How a sandbox is configured: where it keeps its state and which client it accepts.

This module is imported by the CLI before it knows whether a sandbox will run, so it
must not import FastAPI, uvicorn or pydantic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

# Public demo credentials, printed in the README and in `makini sandbox serve`'s banner.
# They guard nothing but a local toy server; a real client id/secret never looks like this.
DEMO_CLIENT_ID = "sandbox-client"
DEMO_CLIENT_SECRET = "sandbox-secret"

DATA_DIR_ENV = "MAKINI_SANDBOX_DIR"
DEFAULT_RATE_LIMIT_PER_MINUTE = 600


def default_data_dir() -> Path:
    """`$MAKINI_SANDBOX_DIR`, else `<user data dir>/makini/sandbox`."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs  # only needed when no override is given

    return Path(platformdirs.user_data_dir("makini")) / "sandbox"


@dataclass(frozen=True)
class SandboxSettings:
    """Everything a sandbox needs to start.

    `clock_speed`: `None` keeps the speed stored in the data dir (1.0 on a fresh one);
    a number re-anchors the stored clock at that speed without making time jump.
    `extensions=False` serves Makini's documented surface only (`--no-extensions`).
    """

    data_dir: Path
    client_id: str = DEMO_CLIENT_ID
    client_secret: str = field(default=DEMO_CLIENT_SECRET, repr=False)
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    clock_speed: float | None = None
    extensions: bool = True

    def __post_init__(self) -> None:
        if self.rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be at least 1")
        if self.clock_speed is not None and not self.clock_speed > 0:
            raise ValueError("clock_speed must be positive")
        if not self.client_id or not self.client_secret:
            raise ValueError("client_id and client_secret must not be empty")
