"""Fixtures of the in-process tier: the sandbox runs in this process (uvicorn in a thread,
on 127.0.0.1, an ephemeral port), and commands run through `main(argv)` (tests/inproc.py).

- `bundled` is the sandbox a run with nothing configured uses, on a manual clock: the
  test moves time with `bundled.clock.advance(seconds)`.
- `sandbox`, `shared_sandbox` and `sandbox_factory(*serve_flags)` are served exactly as
  `makini sandbox serve` serves (background scheduler, stored clock at --clock-speed), and
  are reached the way CI reaches Makini: MAKINI_BASE_URL + client credentials.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from makini_cli.context import AppContext
from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import SandboxSettings
from tests.handles import SandboxHandle


@dataclass
class Sandbox(SandboxHandle):
    """A sandbox in this process; `clock` when it runs on a manual clock."""

    clock: ManualClock | None = field(default=None, kw_only=True)


def settings_from_flags(data_dir: Path, flags: tuple[str, ...]) -> SandboxSettings:
    """The `makini sandbox serve` flags the tests use, as SandboxSettings."""
    options: dict[str, Any] = {}
    args = list(flags)
    while args:
        flag = args.pop(0)
        if flag == "--no-extensions":
            options["extensions"] = False
        elif flag == "--clock-speed":
            options["clock_speed"] = float(args.pop(0))
        elif flag == "--rate-limit":
            options["rate_limit_per_minute"] = int(args.pop(0))
        else:
            raise ValueError(f"unsupported sandbox flag in a test: {flag}")
    return SandboxSettings(data_dir=data_dir, **options)


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    with contextlib.ExitStack() as stack:
        count = 0

        def factory(*flags: str) -> Sandbox:
            nonlocal count
            count += 1
            data_dir = tmp_path / f"served-{count}"
            running = stack.enter_context(
                EmbeddedSandbox(settings_from_flags(data_dir, flags), embedded=False)
            )
            return Sandbox(running.base_url, data_dir)

        yield factory


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory()


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One server for a module's read-only tests; tests that change state use `sandbox`."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    with EmbeddedSandbox(SandboxSettings(data_dir=data_dir), embedded=False) as running:
        yield Sandbox(running.base_url, data_dir)


@pytest.fixture
def bundled(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The bundled sandbox of a run with nothing configured, on a manual clock, in the
    data dir the run would use (MAKINI_SANDBOX_DIR, set per test)."""
    clock = ManualClock()
    data_dir = isolated_env / "sandbox"
    with EmbeddedSandbox(SandboxSettings(data_dir=data_dir), clock=clock) as running:
        monkeypatch.setattr(AppContext, "sandbox_url", running.base_url)
        yield Sandbox(running.base_url, data_dir, clock=clock)
