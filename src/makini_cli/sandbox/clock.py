"""The sandbox's one notion of time.

Every time-based rule (token expiry, rate-limit refill, idempotency windows, and later
syncs, schedules and retries) reads a `SandboxClock`. The stored clock maps real time to
sandbox time as `sandbox_origin + (real_now - real_origin) * speed`; the three numbers
live in the database so every process on a data dir agrees on the time. Changing the
speed or jumping forward re-anchors the origin, so time never runs backwards.

Only this module reads the wall clock for domain time. Transport-level waits (uvicorn,
Retry-After in real seconds) may use real time; see `real_seconds`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from makini_cli.sandbox.store import Store, get_meta, set_meta

_CLOCK_META_KEY = "clock"
MAX_SPEED = 1_000_000.0
# Slower than this and a real-second answer (Retry-After) would not fit in an integer.
MIN_SPEED = 0.001


class SandboxClock(Protocol):
    def now(self) -> datetime:
        """The current sandbox time, UTC-aware."""
        ...

    @property
    def speed(self) -> float:
        """Sandbox seconds per real second."""
        ...

    def jump(self, seconds: float) -> None:
        """Move sandbox time forward by `seconds` at once."""
        ...

    def set_speed(self, speed: float) -> None:
        """Run at `speed` from now on, without a jump."""
        ...


def timestamp(clock: SandboxClock) -> float:
    """The current sandbox time as Unix seconds: how the store keeps times."""
    return clock.now().timestamp()


def real_seconds(clock: SandboxClock, sandbox_seconds: float) -> int:
    """A sandbox duration as whole real seconds (rounded up, at least 1).

    Clients wait in real time, so Retry-After must be real seconds: at speed 60 a
    sandbox minute is one real second.
    """
    return max(1, math.ceil(sandbox_seconds / clock.speed))


def iso(ts: float | None) -> str | None:
    """Unix seconds → ISO-8601 UTC with a `Z`, second precision, as Makini writes them."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_speed(speed: float) -> float:
    if not (MIN_SPEED <= speed <= MAX_SPEED) or math.isnan(speed):
        raise ValueError(f"clock speed must be in [{MIN_SPEED:g}, {MAX_SPEED:g}]")
    return float(speed)


@dataclass(frozen=True)
class ClockAnchor:
    real_origin: float
    sandbox_origin: float
    speed: float

    def at(self, real: float) -> float:
        return self.sandbox_origin + (real - self.real_origin) * self.speed


class ManualClock:
    """A clock that moves only when told to: for tests."""

    def __init__(self, start: datetime | None = None, *, speed: float = 1.0) -> None:
        start = start or datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._speed = _check_speed(speed)

    def now(self) -> datetime:
        return self._now

    @property
    def speed(self) -> float:
        return self._speed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time never runs backwards")
        self._now = datetime.fromtimestamp(self._now.timestamp() + seconds, UTC)

    def jump(self, seconds: float) -> None:
        self.advance(seconds)

    def set_speed(self, speed: float) -> None:
        # A manual clock does not run; the speed only scales real-second answers.
        self._speed = _check_speed(speed)


class StoredClock:
    """Real time × speed from an origin stored in the data dir."""

    def __init__(self, store: Store, *, real_time: Callable[[], float] = time.time) -> None:
        self._store = store
        self._real_time = real_time

    def initialize(self, speed: float | None = None) -> None:
        """Anchor a fresh data dir at the wall clock; apply `speed` if one is given."""
        with self._store.transaction() as conn:
            anchor = _load_anchor(get_meta(conn, _CLOCK_META_KEY))
            real = self._real_time()
            if anchor is None:
                anchor = ClockAnchor(real, real, _check_speed(speed or 1.0))
            elif speed is not None and speed != anchor.speed:
                anchor = ClockAnchor(real, anchor.at(real), _check_speed(speed))
            else:
                return
            set_meta(conn, _CLOCK_META_KEY, _dump_anchor(anchor))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._anchor().at(self._real_time()), UTC)

    @property
    def speed(self) -> float:
        return self._anchor().speed

    def jump(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time never runs backwards")
        self._reanchor(lambda anchor, real: (anchor.at(real) + seconds, anchor.speed))

    def set_speed(self, speed: float) -> None:
        speed = _check_speed(speed)
        self._reanchor(lambda anchor, real: (anchor.at(real), speed))

    def _reanchor(self, change: Callable[[ClockAnchor, float], tuple[float, float]]) -> None:
        with self._store.transaction() as conn:
            anchor = _load_anchor(get_meta(conn, _CLOCK_META_KEY))
            if anchor is None:
                raise RuntimeError("the sandbox clock was never initialised")
            real = self._real_time()
            sandbox_now, speed = change(anchor, real)
            set_meta(conn, _CLOCK_META_KEY, _dump_anchor(ClockAnchor(real, sandbox_now, speed)))

    def _anchor(self) -> ClockAnchor:
        with self._store.connection() as conn:
            anchor = _load_anchor(get_meta(conn, _CLOCK_META_KEY))
        if anchor is None:
            raise RuntimeError("the sandbox clock was never initialised")
        return anchor


def _load_anchor(raw: str | None) -> ClockAnchor | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return ClockAnchor(
        float(data["real_origin"]), float(data["sandbox_origin"]), float(data["speed"])
    )


def _dump_anchor(anchor: ClockAnchor) -> str:
    return json.dumps(
        {
            "real_origin": anchor.real_origin,
            "sandbox_origin": anchor.sandbox_origin,
            "speed": anchor.speed,
        }
    )
