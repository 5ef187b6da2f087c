"""The pieces under the HTTP surface: clock, store, listing and the scheduler step."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from makini_cli.sandbox import idempotency, ratelimit, scheduler, tokens
from makini_cli.sandbox.clock import ManualClock, StoredClock, iso, real_seconds
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.listing import paginate
from makini_cli.sandbox.settings import (
    DATA_DIR_ENV,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    SandboxSettings,
    default_data_dir,
)
from makini_cli.sandbox.store import MIGRATIONS, Store


class FakeRealTime:
    def __init__(self) -> None:
        self.value = 1_700_000_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "data")


def test_store_dir_is_private_and_migrations_are_applied_once(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "nested" / "data")
    assert stat.S_IMODE((tmp_path / "nested" / "data").stat().st_mode) == 0o700
    assert first.schema_version == len(MIGRATIONS)
    first.close()
    again = Store.open(tmp_path / "nested" / "data")
    assert again.schema_version == len(MIGRATIONS)
    with again.connection() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()
    with pytest.raises(RuntimeError), again.transaction():
        pass


def test_store_transactions_do_not_lose_concurrent_writes(store: Store) -> None:
    def spend() -> None:
        for _ in range(25):
            with store.transaction() as conn:
                ratelimit.take(conn, "shared", 0.0, 1_000)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.transaction() as conn:
        assert ratelimit.take(conn, "shared", 0.0, 1_000).remaining == 1_000 - 200 - 1


def test_stored_clock_keeps_time_across_speed_changes_and_instances(store: Store) -> None:
    real = FakeRealTime()
    clock = StoredClock(store, real_time=real)
    clock.initialize()
    start = clock.now()
    assert start == datetime.fromtimestamp(real.value, UTC)
    real.value += 10
    clock.set_speed(60)
    assert (clock.now() - start).total_seconds() == 10  # no jump when the speed changes
    real.value += 1
    assert (clock.now() - start).total_seconds() == 70
    clock.jump(3_600)
    assert (clock.now() - start).total_seconds() == 3_670
    # Another process (another instance) reads the same anchor.
    other = StoredClock(store, real_time=real)
    other.initialize()
    assert other.now() == clock.now() and other.speed == 60
    other.initialize(speed=1)
    assert clock.speed == 1 and (clock.now() - start).total_seconds() == 3_670
    with pytest.raises(ValueError):
        clock.jump(-1)
    with pytest.raises(ValueError):
        clock.set_speed(0)


def test_manual_clock_and_real_seconds() -> None:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    clock.advance(90)
    assert iso(clock.now().timestamp()) == "2025-01-01T00:01:30Z"
    assert real_seconds(clock, 0.2) == 1
    clock.set_speed(60)
    assert real_seconds(clock, 600) == 10
    assert real_seconds(clock, 1) == 1


def test_scheduler_step_purges_what_expired_and_is_idempotent(store: Store) -> None:
    with store.transaction() as conn:
        pair = tokens.issue_pair(conn, 0.0, "admin", "client")
        idempotency.begin(conn, "admin:client", "k", "print", 0.0)
        ratelimit.take(conn, "bucket", 0.0, 10)
    report = scheduler.advance(store, 60.0)
    assert set(report.done.values()) == {0}
    late = tokens.REFRESH_TTL + scheduler.EXPIRED_TOKEN_GRACE_SECONDS + 1
    report = scheduler.advance(store, late)
    purged = {"purge_idempotency": 1, "purge_tokens": 2, "purge_rate_limits": 1}
    assert report.done.items() >= purged.items()
    assert set(scheduler.advance(store, late).done.values()) == {0}
    with store.connection() as conn, pytest.raises(ApiError):
        tokens.authenticate(conn, late, pair.access_token)


def test_listing_compares_lists_nulls_numbers_and_times() -> None:
    items = [
        {"key": "a", "tags": ["x", "y"], "n": 5, "at": "2024-01-02T00:00:00Z", "opt": None},
        {"key": "b", "tags": [], "n": 10, "at": "2024-03-01T12:00:00Z", "opt": "set"},
        {"key": "c", "tags": ["y"], "n": 7, "at": "2023-12-31T23:59:59Z", "opt": None},
    ]
    fields = ("key", "tags", "n", "at", "opt")

    def keys(*query: tuple[str, str]) -> list[str]:
        page = paginate(items, query, "http://h/list?x=1", fields=fields, updated_field="at")
        return [item["key"] for item in page["data"]]

    assert keys(("filter[tags]", "y")) == ["a", "c"]
    assert keys(("filter[n:gt]", "6"), ("sort[n]", "1")) == ["b", "c"]
    assert keys(("filter[at:gteq]", "2024-01-02")) == ["a", "b"]
    assert keys(("modified_after", "2024-01-02T00:00:00+00:00")) == ["b"]
    assert keys(("filter[opt]", "null")) == ["a", "c"]
    assert keys(("sort[opt]", "0"), ("sort[key]", "1")) == ["c", "a", "b"]
    page = paginate(items, [("per_page", "2"), ("page", "2")], "http://h/list?x=1", fields=fields)
    assert page["links"]["prev"] == "http://h/list?x=1&page=1"
    assert page["meta"]["from"] == 3 and page["meta"]["to"] == 3
    with pytest.raises(ApiError) as raised:
        keys(("filter[missing]", "1"))
    assert raised.value.status == 400


def test_settings_defaults_and_data_dir_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "custom"))
    assert default_data_dir() == tmp_path / "custom"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert default_data_dir().parts[-2:] == ("makini", "sandbox")
    settings = SandboxSettings(tmp_path)
    assert (settings.client_id, settings.client_secret) == (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
    assert settings.rate_limit_per_minute == 600 and settings.extensions
    assert DEMO_CLIENT_SECRET not in repr(settings)
    with pytest.raises(ValueError):
        SandboxSettings(tmp_path, clock_speed=0)
    with pytest.raises(ValueError):
        SandboxSettings(tmp_path, rate_limit_per_minute=0)
