"""Fixtures that serve the real sandbox with `makini sandbox serve` on 127.0.0.1."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.handles import SandboxHandle

DEMO_ID = "sandbox-client"
DEMO_SECRET = "sandbox-secret"


@dataclass
class Served(SandboxHandle):
    """A `makini sandbox serve` subprocess."""

    process: subprocess.Popen[str] = field(kw_only=True)


def start_sandbox(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Served:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MAKINI_")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "makini_cli", "sandbox", "serve", "--port", "0",
         "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 30
    url = ""
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            url = proc.stdout.readline().strip()
            break
        if proc.poll() is not None:
            break
    selector.close()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise RuntimeError(f"sandbox did not start: {url!r}\n{err}")
    return Served(url, data_dir, process=proc)


def stop_sandbox(served: Served) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGINT)
        try:
            served.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(timeout=5)
    for stream in (served.process.stdout, served.process.stderr):
        if stream:
            stream.close()


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def factory(*extra: str, name: str = "sandbox-data") -> Served:
        served = start_sandbox(tmp_path / name, *extra)
        started.append(served)
        return served

    yield factory
    for served in started:
        stop_sandbox(served)


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Served]) -> Served:
    return sandbox_factory()


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for a module's read-only tests; tests that change state use `sandbox`."""
    served = start_sandbox(tmp_path_factory.mktemp("shared") / "data")
    yield served
    stop_sandbox(served)
