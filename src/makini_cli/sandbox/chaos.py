"""Random faults (`makini sandbox serve --faults SPEC`): rehearse failures with any client.

Armed faults (`faults.py`, `POST /sandbox/faults`) hit the next N matching requests
exactly; these hit any request with a probability, from a seeded generator, so a run can
be repeated. The spec is comma-separated `name=value` settings; a bare word continues
the list of the setting before it (`modes=429,503,drip`):

- `rate=P`: the share of requests that meet a fault, 0 < P <= 1 (default 0.1);
- `seed=N`: the generator's seed (default: random, printed at startup to repeat a run);
- `modes=M,…`: which faults, each drawn with equal odds (default: all of them):
  - `429`: RATE_LIMIT_EXCEEDED with `Retry-After`;
  - `500`, `503`: the error envelope (503 with `Retry-After`);
  - `502`, `504`: a gateway's HTML page, as a load balancer in front of an API sends;
  - `latency`: the answer is late by `latency=` (the request is handled normally);
  - `drip`: the answer's body trickles out in pieces over `drip=`;
  - `reset`: the connection is reset before the request is handled (nothing happened);
  - `drop`: the request is handled, then the connection closes without an answer
    (it happened, the client cannot know: what Idempotency-Key is for);
- `latency=D`, `drip=D`: durations such as 500ms, 2s, 1m (default 2s; at most 60s);
- `retry_after=S`: the Retry-After seconds of 429 and 503 (default 1);
- `path=P,…`: only requests whose path starts with one of these (default: all).

The `/sandbox/` control routes never meet a fault. Draws happen on the event loop, one
per request in arrival order, so a client that sends one request at a time sees the same
faults for the same seed.

This module stays import-light: `settings.py` names `ChaosPlan`, and the CLI parses the
spec before it knows a server will start.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["429", "500", "502", "503", "504", "latency", "drip", "reset", "drop"]
MODES: tuple[Mode, ...] = ("429", "500", "502", "503", "504", "latency", "drip", "reset", "drop")
STATUS_MODES: frozenset[str] = frozenset({"429", "500", "502", "503", "504"})

DEFAULT_RATE = 0.1
DEFAULT_DELAY_SECONDS = 2.0
#: Longer would outlive an idempotency lease (`idempotency.LEASE_SECONDS`): a delayed
#: request must still own its key when it finishes.
MAX_DELAY_SECONDS = 60.0
DEFAULT_RETRY_AFTER = 1
_LIST_SETTINGS = ("modes", "path")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


class ChaosSpecError(ValueError):
    """A `--faults` spec that cannot be used; the message names the part at fault."""


@dataclass(frozen=True)
class ChaosPlan:
    rate: float = DEFAULT_RATE
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))
    modes: tuple[Mode, ...] = MODES
    latency: float = DEFAULT_DELAY_SECONDS
    drip: float = DEFAULT_DELAY_SECONDS
    retry_after: int = DEFAULT_RETRY_AFTER
    paths: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the startup banner, itself a spec that repeats this run."""
        parts = [f"rate={self.rate:g}", f"seed={self.seed}", "modes=" + ",".join(self.modes)]
        if "latency" in self.modes:
            parts.append(f"latency={self.latency:g}s")
        if "drip" in self.modes:
            parts.append(f"drip={self.drip:g}s")
        if {"429", "503"} & set(self.modes):
            parts.append(f"retry_after={self.retry_after}")
        if self.paths:
            parts.append("path=" + ",".join(self.paths))
        return ",".join(parts)

    def applies_to(self, path: str) -> bool:
        return not self.paths or any(path.startswith(prefix) for prefix in self.paths)


class Chaos:
    """The draws of one server process."""

    def __init__(self, plan: ChaosPlan) -> None:
        self.plan = plan
        # Reproducible on purpose (the seed repeats a run): nothing here is a secret.
        self._random = random.Random(plan.seed)  # noqa: S311

    def draw(self, path: str) -> Mode | None:
        """The fault this request meets, if any."""
        if not self.plan.applies_to(path):
            return None
        # Two draws per request whatever the outcome, so one request's luck never shifts
        # the faults the next requests meet.
        hit = self._random.random() < self.plan.rate
        mode = self.plan.modes[self._random.randrange(len(self.plan.modes))]
        return mode if hit else None


def parse_spec(spec: str) -> ChaosPlan:
    """`rate=0.3,seed=7,modes=429,503,drip` → a `ChaosPlan`; `ChaosSpecError` if unusable."""
    values: dict[str, list[str]] = {}
    current: str | None = None
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if sep:
            current = name.strip().lower().replace("-", "_")
            if current in values:
                raise ChaosSpecError(f"{current!r} is given twice")
            values[current] = [value.strip()] if value.strip() else []
        elif current in _LIST_SETTINGS:
            values[current].append(item)
        else:
            raise ChaosSpecError(f"{item!r} is not name=value (only modes= and path= take a list)")
    if not values:
        raise ChaosSpecError("the spec is empty")
    unknown = set(values) - {"rate", "seed", "modes", "latency", "drip", "retry_after", "path"}
    if unknown:
        raise ChaosSpecError(
            f"unknown setting {sorted(unknown)[0]!r}; "
            "use rate, seed, modes, latency, drip, retry_after, path"
        )
    plan = ChaosPlan()
    rate = _number(values, "rate", plan.rate)
    if not 0 < rate <= 1:
        raise ChaosSpecError(f"rate must be above 0 and at most 1, not {rate:g}")
    seed = int(_number(values, "seed", plan.seed, whole=True))
    modes = _modes(values.get("modes"))
    retry_after = int(_number(values, "retry_after", DEFAULT_RETRY_AFTER, whole=True))
    if not 0 <= retry_after <= 3_600:
        raise ChaosSpecError("retry_after must be 0 to 3600 seconds")
    paths = tuple(values.get("path", ()))
    if "path" in values and (not paths or not all(p.startswith("/") for p in paths)):
        raise ChaosSpecError("path= takes path prefixes that start with /, e.g. path=/api/")
    return ChaosPlan(
        rate=rate,
        seed=seed,
        modes=modes,
        latency=_duration(values, "latency"),
        drip=_duration(values, "drip"),
        retry_after=retry_after,
        paths=paths,
    )


def _single(values: dict[str, list[str]], name: str) -> str | None:
    given = values.get(name)
    if given is None:
        return None
    if len(given) != 1:
        raise ChaosSpecError(f"{name}= takes one value")
    return given[0]


def _number(
    values: dict[str, list[str]], name: str, default: float, *, whole: bool = False
) -> float:
    text = _single(values, name)
    if text is None:
        return default
    try:
        return float(int(text)) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise ChaosSpecError(f"{name}={text!r} is not {kind}") from None


def _duration(values: dict[str, list[str]], name: str) -> float:
    text = _single(values, name)
    if text is None:
        return DEFAULT_DELAY_SECONDS
    match = _DURATION.match(text)
    if match is None:
        raise ChaosSpecError(f"{name}={text!r} is not a duration such as 500ms, 2s or 1m")
    seconds = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    if seconds > MAX_DELAY_SECONDS:
        raise ChaosSpecError(f"{name}= can be at most {MAX_DELAY_SECONDS:g}s")
    return seconds


def _modes(given: list[str] | None) -> tuple[Mode, ...]:
    if given is None:
        return MODES
    if not given:
        raise ChaosSpecError("modes= needs at least one mode")
    chosen: list[Mode] = []
    for name in given:
        mode = next((m for m in MODES if m == name.lower()), None)
        if mode is None:
            raise ChaosSpecError(f"unknown mode {name!r}; choose from {', '.join(MODES)}")
        if mode not in chosen:
            chosen.append(mode)
    return tuple(chosen)
