"""Fixtures: a real sandbox served by uvicorn on 127.0.0.1 (ephemeral port), per test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.sandbox.clock import ManualClock
from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, SandboxSettings

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"

OFFLINE_KEY = "10000593048226"
ACTIVE_KEY = "10000482937115"


@pytest.fixture
def settings(tmp_path: Path) -> SandboxSettings:
    return SandboxSettings(data_dir=tmp_path / "sandbox")


@pytest.fixture
def sandbox(settings: SandboxSettings) -> Iterator[EmbeddedSandbox]:
    # embedded=False: the app runs exactly as `makini sandbox serve` runs it.
    with EmbeddedSandbox(settings, embedded=False) as running:
        yield running


@pytest.fixture
def client(sandbox: EmbeddedSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_sandbox(tmp_path: Path) -> Iterator[Callable[..., httpx.Client]]:
    """Start more sandboxes (own data dir, settings, clock); all stop after the test."""
    with contextlib.ExitStack() as stack:

        def make(
            name: str, *, clock: ManualClock | None = None, embedded: bool = True, **options: Any
        ) -> httpx.Client:
            settings = SandboxSettings(data_dir=tmp_path / name, **options)
            running = stack.enter_context(EmbeddedSandbox(settings, clock=clock, embedded=embedded))
            return stack.enter_context(httpx.Client(base_url=running.base_url, timeout=10))

        yield make


def token_pair(client: httpx.Client, **overrides: str) -> dict[str, Any]:
    body = {
        "grant_type": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        **overrides,
    }
    response = client.post("/link/token", json=body)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(client: httpx.Client) -> dict[str, str]:
    return bearer(token_pair(client)["access_token"])


def connection_token(client: httpx.Client, admin: dict[str, str], key: str) -> dict[str, str]:
    response = client.post(f"/api/system/connections/{key}/token", headers=admin)
    assert response.status_code == 200, response.text
    return bearer(response.json()["data"]["token"])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """`response` is the contract's error answer: envelope, request id, rate-limit headers."""
    assert response.status_code == status, response.text
    body = response.json()
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "type", "message", "request_id", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert response.headers["X-Request-Id"].startswith("req_")
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert response.headers[header].isdigit()
    return error


def all_pages(client: httpx.Client, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        items += response.json()["data"]
        url = response.json()["links"]["next"]
    return items


def assert_backed_off_until(rows: list[Any], recovery: float) -> tuple[Any, list[Any]]:
    """`rows` (a connection's syncs, oldest first) are the failures of an outage retried
    with the contract's backoff (1 min, doubling, capped at 1 h; the probe that saw the
    system back at `recovery` cut the last wait short), then the retry at `recovery`, which
    worked. Returns that retry and the failed rows."""
    failed = [row for row in rows if row["status"] == "failed"]
    assert failed and all(row["error_code"] == "SYSTEM_UNREACHABLE" for row in failed)
    assert [row["attempt"] for row in failed] == list(range(1, len(failed) + 1))
    retry = rows[len(failed)]
    for earlier, following in zip(failed, [*failed[1:], retry], strict=True):
        assert following["created_at"] == earlier["next_retry_at"]
    backoffs = [row["next_retry_at"] - row["finished_at"] for row in failed]
    assert backoffs[:-1] == [60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, 3600.0]
    assert 0 < backoffs[-1] < 3600
    assert (retry["trigger"], retry["status"], retry["created_at"]) == (
        "retry",
        "succeeded",
        recovery,
    )
    return retry, failed
